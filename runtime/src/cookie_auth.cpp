#include "starling/runtime/cookie_auth.hpp"

#include <stdexcept>
#include <vector>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

namespace starling::runtime {

namespace {

std::string to_hex(const unsigned char* data, size_t n) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  out.reserve(n * 2);
  for (size_t i = 0; i < n; ++i) {
    out += digits[data[i] >> 4];
    out += digits[data[i] & 0x0f];
  }
  return out;
}

bool is_nonce(const std::string& s) {
  if (s.size() != 64)
    return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
      return false;
  return true;
}

} // namespace

random_source system_random() {
  return [](unsigned char* buf, size_t n) {
    if (RAND_bytes(buf, static_cast<int>(n)) != 1)
      throw std::runtime_error("RAND_bytes failed");
  };
}

std::string make_nonce(const random_source& rnd) {
  unsigned char buf[32];
  rnd(buf, sizeof(buf));
  return to_hex(buf, sizeof(buf));
}

std::string handshake_proof(const std::string& cookie,
                            const std::string& direction,
                            const std::string& first_nonce,
                            const std::string& second_nonce,
                            const std::string& client_name,
                            const std::string& server_name) {
  // Fields are separated by '\n', which none of them may contain (nonces are
  // hex, names are validated), so the encoding is unambiguous.
  std::string msg = direction + "\n" + first_nonce + "\n" + second_nonce + "\n"
                    + client_name + "\n" + server_name;
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), cookie.data(), static_cast<int>(cookie.size()),
       reinterpret_cast<const unsigned char*>(msg.data()), msg.size(), mac,
       &len);
  return to_hex(mac, len);
}

bool proofs_equal(const std::string& a, const std::string& b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

handshake_server::handshake_server(std::string cookie, std::string server_name,
                                   random_source rnd, int64_t expiry_ms,
                                   size_t max_pending)
  : cookie_(std::move(cookie)),
    server_name_(std::move(server_name)),
    rnd_(std::move(rnd)),
    expiry_ms_(expiry_ms),
    max_pending_(max_pending) {
}

void handshake_server::expire(int64_t now_ms) {
  for (auto i = pending_.begin(); i != pending_.end();)
    i = i->second.expires_ms <= now_ms ? pending_.erase(i) : std::next(i);
}

std::optional<handshake_server::challenge>
handshake_server::hello(const std::string& peer, uint32_t version,
                        const std::string& client_name, bool hidden,
                        int64_t now_ms, std::string& error) {
  expire(now_ms);
  if (version != dist_protocol_version) {
    error = "protocol version mismatch: peer speaks "
            + std::to_string(version) + ", this node "
            + std::to_string(dist_protocol_version);
    return std::nullopt;
  }
  if (client_name.empty() || client_name.find('\n') != std::string::npos
      || client_name.size() > 255) {
    error = "invalid node name in handshake";
    return std::nullopt;
  }
  if (pending_.size() >= max_pending_ && !pending_.count(peer)) {
    error = "too many handshakes in progress";
    return std::nullopt;
  }
  pending_entry entry{client_name, make_nonce(rnd_), hidden,
                      now_ms + expiry_ms_};
  challenge result{server_name_, entry.server_nonce};
  pending_[peer] = std::move(entry);
  return result;
}

std::optional<handshake_server::accepted>
handshake_server::answer(const std::string& peer,
                         const std::string& client_nonce,
                         const std::string& client_proof, int64_t now_ms,
                         std::string& error) {
  expire(now_ms);
  auto i = pending_.find(peer);
  if (i == pending_.end()) {
    error = "no handshake in progress (hello first, answer within "
            + std::to_string(expiry_ms_ / 1000) + " s)";
    return std::nullopt;
  }
  auto entry = std::move(i->second);
  pending_.erase(i);
  if (!is_nonce(client_nonce)) {
    error = "malformed handshake nonce from " + entry.client_name;
    return std::nullopt;
  }
  auto expected = handshake_proof(cookie_, "client", entry.server_nonce,
                                  client_nonce, entry.client_name,
                                  server_name_);
  if (!proofs_equal(expected, client_proof)) {
    error = "authentication failed: the cookie of " + entry.client_name
            + " does not match the cookie of " + server_name_;
    return std::nullopt;
  }
  return accepted{entry.client_name, entry.hidden,
                  handshake_proof(cookie_, "server", client_nonce,
                                  entry.server_nonce, entry.client_name,
                                  server_name_)};
}

handshake_client::handshake_client(std::string cookie, std::string client_name,
                                   bool hidden, const random_source& rnd)
  : cookie_(std::move(cookie)),
    client_name_(std::move(client_name)),
    hidden_(hidden),
    nonce_(make_nonce(rnd)) {
}

std::string handshake_client::answer(const std::string& server_name,
                                     const std::string& server_nonce) {
  server_name_ = server_name;
  server_nonce_ = server_nonce;
  return handshake_proof(cookie_, "client", server_nonce, nonce_, client_name_,
                         server_name);
}

bool handshake_client::verify_welcome(const std::string& server_proof,
                                      std::string& error) const {
  auto expected = handshake_proof(cookie_, "server", nonce_, server_nonce_,
                                  client_name_, server_name_);
  if (!proofs_equal(expected, server_proof)) {
    error = "authentication failed: " + server_name_
            + " answered with a wrong proof (it does not share our cookie)";
    return false;
  }
  return true;
}

} // namespace starling::runtime
