#pragma once

// The distribution handshake, as pure logic (the order of Erlang's):
//
//   client -> gatekeeper  hello(version, client_name, hidden)
//   gatekeeper -> client  challenge(server_name, server_nonce)
//   client -> gatekeeper  answer(client_nonce, client_proof =
//                           HMAC(cookie, "client" | server_nonce | client_nonce
//                                | client_name | server_name), anchor)
//   gatekeeper -> client  welcome(server_proof = HMAC(cookie, "server"
//                           | client_nonce | server_nonce | client_name
//                           | server_name), node agent) or a refusal
//   client checks server_proof: both sides have proven the cookie.
//
// The cookie never travels. Nonces are 32 fresh random bytes from the
// injected source; a server challenge is single-use and expires, so a
// recorded answer cannot be replayed. Both names are bound into the MAC, so a
// peer cannot claim another node's name.

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>

namespace starling::runtime {

/// Version of the distribution protocol; a peer with another version is
/// refused during the handshake with a message saying both versions.
/// 4: join says whether it is automatic, leave carries a reason, views,
/// partition reports and autoheal messages.
/// 5: a shard's seqno answer and survey say whether it leads and serves;
/// a takeover's answer carries the message ids the session's move has
/// seen; a session takes itself back from where it went.
inline constexpr uint32_t dist_protocol_version = 5;

/// Fills `n` random bytes; production passes OpenSSL's RAND_bytes.
using random_source = std::function<void(unsigned char*, size_t)>;

random_source system_random();

/// 32 random bytes as 64 hex characters.
std::string make_nonce(const random_source& rnd);

/// HMAC-SHA256 proof in hex; `direction` is "server" or "client".
std::string handshake_proof(const std::string& cookie,
                            const std::string& direction,
                            const std::string& first_nonce,
                            const std::string& second_nonce,
                            const std::string& client_name,
                            const std::string& server_name);

/// Constant-time comparison of two proofs.
bool proofs_equal(const std::string& a, const std::string& b);

/// Gatekeeper side: remembers the challenge issued to each connected peer
/// (keyed by an opaque peer key, e.g. the CAF node id as text).
class handshake_server {
public:
  struct challenge {
    std::string server_name;
    std::string server_nonce;
  };
  struct accepted {
    std::string client_name;
    bool hidden = false;
    std::string server_proof;
  };

  handshake_server(std::string cookie, std::string server_name,
                   random_source rnd, int64_t expiry_ms = 10000,
                   size_t max_pending = 1024);

  /// Handles hello; on failure returns nullopt with `error` set.
  std::optional<challenge> hello(const std::string& peer, uint32_t version,
                                 const std::string& client_name, bool hidden,
                                 int64_t now_ms, std::string& error);

  /// Checks the client's answer; consumes the pending challenge either way.
  std::optional<accepted> answer(const std::string& peer,
                                 const std::string& client_nonce,
                                 const std::string& client_proof,
                                 int64_t now_ms, std::string& error);

  size_t pending() const { return pending_.size(); }

private:
  struct pending_entry {
    std::string client_name;
    std::string server_nonce;
    bool hidden;
    int64_t expires_ms;
  };
  void expire(int64_t now_ms);

  std::string cookie_;
  std::string server_name_;
  random_source rnd_;
  int64_t expiry_ms_;
  size_t max_pending_;
  std::map<std::string, pending_entry> pending_;
};

/// Client side: answers the challenge and checks the server's proof.
class handshake_client {
public:
  handshake_client(std::string cookie, std::string client_name, bool hidden,
                   const random_source& rnd);

  const std::string& client_name() const { return client_name_; }
  const std::string& nonce() const { return nonce_; }
  bool hidden() const { return hidden_; }

  /// The proof to send in the answer to `server_name`'s challenge.
  std::string answer(const std::string& server_name,
                     const std::string& server_nonce);

  /// Checks the proof in the welcome; false (with `error`) when the server
  /// does not know our cookie.
  bool verify_welcome(const std::string& server_proof,
                      std::string& error) const;

private:
  std::string cookie_;
  std::string client_name_;
  bool hidden_;
  std::string nonce_;
  std::string server_name_;
  std::string server_nonce_;
};

} // namespace starling::runtime
