#pragma once

// ACL rules in EMQX's `acl.conf` format (Erlang terms, one rule per line,
// each ending with a dot), so that an EMQX user's file works unchanged:
//
//   {allow, {username, {re, "^dashboard$"}}, subscribe, ["$SYS/#"]}.
//   {allow, {ipaddr, "127.0.0.1"}, all, ["$SYS/#", "#"]}.
//   {allow, {username, "dev1"}, publish, ["dev/%u/#"]}.
//   {deny, all, subscribe, ["$SYS/#", {eq, "#"}]}.
//   {allow, all}.
//
// Grammar (EMQX's -type comments in its default acl.conf):
//   rule       = {permission, who, action, topics} | {permission, all}
//   permission = allow | deny
//   who        = all | {user | username, S} | {client | clientid, S}
//              | {ipaddr, "A[/N]"} | {ipaddrs, ["A[/N]", ...]}
//              | {'and', [who, ...]} | {'or', [who, ...]}
//              where S is "text" or {re, "regex"}
//   action     = publish | subscribe | all
//   topics     = ["filter" | {eq, "filter"}, ...]
// `%` starts a comment. In a topic filter `%u`/`${username}` and
// `%c`/`${clientid}` are replaced by the client's; a rule naming `%u` does
// not match a client without a username. `{eq, F}` matches F literally
// (a subscription to exactly "#"), with no placeholders and no wildcards.
//
// Matching: rules are tried in order and the first rule whose who, action
// and topics all match decides. A PUBLISH's topic name matches a rule filter
// as MQTT matches it (§4.7: `#` does not match `$SYS/...`); a SUBSCRIBE's
// filter matches when the rule filter matches it with its wildcards taken
// as words (rule `a/+` covers a subscription to `a/#`, as in EMQX). For a
// shared subscription `$share/g/F`, F is what is checked. No rule: nullopt
// (the caller applies `authz.no_match`).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "starling/broker/channel_config.hpp"

namespace starling::broker {

/// Who is asking.
struct acl_client {
  std::string_view client_id;
  std::optional<std::string_view> username;
  std::string_view peer_host; ///< "127.0.0.1", "::1"
};

/// An IPv4 or IPv6 network ("10.0.0.0/8", "::1"); a bare address is /32 or
/// /128.
struct cidr {
  int family = 0; ///< AF_INET or AF_INET6
  std::uint8_t addr[16] = {};
  int prefix = 0;

  static std::optional<cidr> parse(std::string_view text);
  bool contains(std::string_view host) const;
};

class acl {
public:
  /// Parses the whole file; nullopt with `error` naming the line and what
  /// is wrong (`line 4: expected allow or deny, got 'permit'`).
  static std::optional<acl> parse(std::string_view text, std::string& error);

  /// The first matching rule's verdict: true allow, false deny; nullopt if
  /// no rule matches.
  std::optional<bool> check(const acl_client& who, access_action action,
                            std::string_view topic) const;

  /// The number of rules.
  std::size_t size() const noexcept;

  struct rule;
  acl();
  ~acl();
  acl(acl&&) noexcept;
  acl& operator=(acl&&) noexcept;
  acl(const acl&);
  acl& operator=(const acl&);

private:
  std::vector<rule> rules_;
};

} // namespace starling::broker
