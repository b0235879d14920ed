#pragma once

// Who may connect and what they may do: the decisions behind the channel's
// `authenticate` and `authorize` hooks, in one plain class with time passed
// in. The host mirrors the replicated tables into it (users, bans), loads
// the files (password file, ACL) and calls it from the hooks; it is not
// thread-safe (the host guards it).
//
// CONNECT, in order:
//   1. banned (client id, username, peer host)       -> 0x8A   (3.x: 5)
//   2. peer blocked after repeated failures         -> 0x86   (3.x: 4)
//   3. username given and known to a source (the built-in database first,
//      then the password file): the password decides -> ok or 0x86 (3.x: 4)
//   4. otherwise (no username, or one no source knows), including a
//      username taken from a verified client certificate (its CN, with
//      mqtt.ssl.peer_cert_as_username = cn): authn.allow_anonymous decides
//      -> ok, or 0x86 (3.x: 4) when a username was given, 0x87 (3.x: 5)
//      when none was; a certificate-verified username is always let in:
//      the TLS handshake authenticated it.
// Failures at 3 and 4 count against the peer address (auth_failures).
//
// PUBLISH / SUBSCRIBE: the ACL's first matching rule, else authz.no_match.

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "starling/broker/acl.hpp"
#include "starling/broker/auth_failures.hpp"
#include "starling/broker/ban_list.hpp"
#include "starling/broker/password.hpp"
#include "starling/broker/reason_codes.hpp"

namespace starling::broker {

struct access_settings {
  bool allow_anonymous = true;
  bool no_match_allows = true;       ///< authz.no_match
  bool disconnect_on_deny = false;   ///< authz.deny_action = disconnect
  std::uint32_t max_failures = 10;   ///< authn.max_failures (0: off)
  std::int64_t failure_window_ms = 60000;
};

struct authn_request {
  std::string_view client_id;
  std::optional<std::string_view> username;
  std::optional<std::span<const std::uint8_t>> password;
  std::string_view peer_host;
  /// The username is the CN of a client certificate TLS verified.
  bool username_from_certificate = false;
};

struct authn_result {
  reason_code code = reason_code::success;
  /// Why, for the log ("wrong password for user 'alice'").
  std::string why;
};

class access_control {
public:
  explicit access_control(access_settings s = {})
    : settings_(s), failures_(s.max_failures, s.failure_window_ms) {
  }

  authn_result authenticate(const authn_request& r, std::int64_t now_ms,
                            std::int64_t now_s);

  /// Whether `who` may `action` `topic` (the ACL, else no_match).
  bool authorize(const acl_client& who, access_action action,
                 std::string_view topic) const;

  // -- sources -----------------------------------------------------------------
  /// The built-in database (table `mqtt_user`: username -> stored hash).
  void put_user(std::string_view username, std::string_view hash);
  void erase_user(std::string_view username);
  void clear_users() {
    users_.clear();
  }
  std::size_t user_count() const noexcept {
    return users_.size();
  }
  /// The built-in database's usernames, sorted.
  std::vector<std::string> user_names() const;
  void set_password_file(std::optional<password_file> file) {
    password_file_ = std::move(file);
  }
  ban_list& bans() noexcept {
    return bans_;
  }
  const ban_list& bans() const noexcept {
    return bans_;
  }
  /// nullopt: no ACL file (no_match decides everything).
  void set_acl(std::optional<acl> rules) {
    acl_ = std::move(rules);
  }
  const std::optional<acl>& rules() const noexcept {
    return acl_;
  }
  const access_settings& settings() const noexcept {
    return settings_;
  }

private:
  /// The stored hash of `username` in the first source that knows it.
  const std::string* find_user(std::string_view username) const;

  access_settings settings_;
  auth_failures failures_;
  std::map<std::string, std::string, std::less<>> users_;
  std::optional<password_file> password_file_;
  ban_list bans_;
  std::optional<acl> acl_;
};

} // namespace starling::broker
