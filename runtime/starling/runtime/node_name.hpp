#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace starling::runtime {

/// The distribution port of a node whose short name has no trailing number.
inline constexpr uint16_t base_dist_port = 4370;

/// An Erlang-style node name `name@host`, optionally with an explicit
/// distribution port (`name@host:port`).
///
/// There is no port mapper: like EMQX, the distribution port is derived from
/// the short name, 4370 + its trailing number (`core1` -> 4371, `starling` ->
/// 4370), so a peer can be reached knowing only its name.
struct node_name {
  std::string name;                 ///< short name, e.g. "core1"
  std::string host;                 ///< host name, IPv4 or IPv6 address
  std::optional<uint16_t> port;     ///< explicit port, if written

  /// `name@host` without the port (an IPv6 host in brackets:
  /// `name@[fd00::1]`).
  std::string str() const {
    return name + "@" + (host.find(':') != std::string::npos ? "[" + host + "]" : host);
  }

  /// The explicit port or the derived one.
  uint16_t dist_port() const;

  friend bool operator==(const node_name&, const node_name&) = default;
};

/// Parses `name@host` or `name@host:port` (an IPv6 host in brackets,
/// `name@[fd00::1]:4371`); on failure returns nullopt and sets
/// `error` to a sentence that says what is wrong with `text`.
std::optional<node_name> parse_node_name(const std::string& text,
                                         std::string& error);

/// 4370 + the trailing decimal number of `short_name` (0 if none); nullopt if
/// that would not be a valid TCP port.
std::optional<uint16_t> derived_dist_port(const std::string& short_name);

} // namespace starling::runtime
