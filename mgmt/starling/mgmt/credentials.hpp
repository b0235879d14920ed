#pragma once

// The API's credentials: passwords and API secrets kept as salted
// PBKDF2-SHA256 hashes, login tokens signed with a key derived from the
// cluster cookie (so any node accepts a token another node issued, with no
// table of tokens to replicate), and the login rate limiter.

#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "starling/runtime/cookie_auth.hpp"

namespace starling::mgmt {

/// PBKDF2-SHA256 rounds for new hashes (each verification costs as much).
inline constexpr uint32_t pbkdf2_rounds = 100000;

struct password_hash {
  std::string salt;  ///< hex
  std::string hash;  ///< hex, 32 bytes
  uint32_t iterations = pbkdf2_rounds;

  nlohmann::json to_json() const;
  static std::optional<password_hash> from_json(const nlohmann::json& j);
};

password_hash hash_password(const std::string& password,
                            const runtime::random_source& rnd,
                            uint32_t iterations = pbkdf2_rounds);
/// The same with a given salt (the default user's, the same on every node).
password_hash hash_password_salted(const std::string& password, const std::string& salt,
                                   uint32_t iterations = pbkdf2_rounds);
/// Constant-time comparison of the derived key.
bool verify_password(const std::string& password, const password_hash& h);

/// SHA-256 of `data`, hex.
std::string sha256_hex(const std::string& data);
std::optional<std::string> base64_decode(const std::string& text);

/// A dashboard user as the table `admin_user` holds it (key: username).
struct user_record {
  std::string username;
  password_hash password;
  std::string description;
  bool must_change = false; ///< the default password: change it first
  int64_t created_at_ms = 0;

  nlohmann::json to_json() const; ///< the stored value (hash included)
  static std::optional<user_record> from_json(const std::string& username,
                                              const std::string& text);
};

/// An API key as the table `api_key` holds it (key: the key id).
struct api_key_record {
  std::string key;
  std::string name;
  std::string description;
  bool enable = true;
  int64_t expired_at_ms = 0; ///< 0: never
  int64_t created_at_ms = 0;
  password_hash secret;

  nlohmann::json to_json() const;
  /// What listings show: everything but the secret's hash.
  nlohmann::json to_public_json() const;
  static std::optional<api_key_record> from_json(const std::string& key,
                                                 const std::string& text);
};

/// Names users and API keys may have: 1-64 of [A-Za-z0-9_-.@]; "" when
/// valid, else why not.
std::string check_name(const std::string& what, const std::string& name);
/// New passwords: 8-128 characters with at least two of letters, digits and
/// other characters (EMQX's rule); "" when acceptable.
std::string check_new_password(const std::string& password);

/// Login tokens: "user.expiry_ms.pwv.mac" where pwv names the password in
/// force (a changed password voids older tokens) and mac is an HMAC-SHA256
/// under a key derived from the cookie.
class token_signer {
public:
  explicit token_signer(const std::string& cookie);

  std::string issue(const std::string& username, const std::string& pwv,
                    int64_t expires_ms) const;

  struct claims {
    std::string username;
    std::string pwv;
    int64_t expires_ms = 0;
  };
  /// The claims of a well-formed token with a valid signature (expiry is
  /// the caller's to check against its clock).
  std::optional<claims> verify(const std::string& token) const;

private:
  std::string mac(const std::string& payload) const;
  std::string key_;
};

/// The version of a password a token carries: a prefix of its hash.
std::string password_version(const user_record& u);

/// Failed logins per source address: `max_attempts` failures within
/// `interval_ms` lock the address for `lock_ms`. Thread-safe (HTTP threads).
class login_limiter {
public:
  struct settings {
    uint32_t max_attempts = 5;
    int64_t interval_ms = 300000;
    int64_t lock_ms = 600000;
  };

  /// Milliseconds until `who` may try again; 0 when it may now.
  int64_t locked_for(const std::string& who, int64_t now_ms);
  void failed(const std::string& who, int64_t now_ms, const settings& s);
  void succeeded(const std::string& who);

private:
  struct entry {
    std::deque<int64_t> failures;
    int64_t locked_until = 0;
  };
  std::mutex mtx_;
  std::map<std::string, entry> entries_;
};

} // namespace starling::mgmt
