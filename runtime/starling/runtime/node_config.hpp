#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "starling/runtime/node_name.hpp"

namespace starling::runtime {

enum class node_role { core, replicant };

std::string to_string(node_role role);

/// What values a key takes; checked for every key before anything starts.
enum class config_kind {
  text,        ///< any string (node.* keys have their own checks)
  unsigned_int,///< decimal in [min, max]
  boolean,     ///< true/false/on/off/1/0
  choice,      ///< one of `choices`
  listen_addr, ///< "port" or "host:port"
  duration,    ///< a number with a unit: 500ms, 30s, 5m, 24h, 7d; 0 = off
};

/// One configuration key: its name as written in a config file
/// (`section.key`), its built-in default ("" = none), what it does, and the
/// values it accepts.
struct config_key {
  std::string name;
  std::string default_value;
  std::string help;
  config_kind kind = config_kind::text;
  uint64_t min = 0;
  uint64_t max = 0;
  std::vector<std::string> choices = {};
  /// Can change while the node runs (online configuration, applied on every
  /// node of the cluster); the others are read once at start.
  bool online = false;
};

/// A listen address: host (default 0.0.0.0) and port.
struct listen_address {
  std::string host;
  uint16_t port = 0;
};

/// Parses "1883" or "127.0.0.1:1883"; nullopt when malformed.
std::optional<listen_address> parse_listen_address(const std::string& text);

/// Parses a boolean setting value; nullopt when it is not one.
std::optional<bool> parse_bool(const std::string& text);

/// Parses a duration ("500ms", "30s", "5m", "24h", "7d", or "0") into
/// milliseconds; nullopt when malformed.
std::optional<uint64_t> parse_duration_ms(const std::string& text);

/// Every key the node understands. A key not listed here is rejected.
const std::vector<config_key>& config_schema();

/// The schema entry of `key`, or nullptr.
const config_key* find_config_key(const std::string& key);

/// What is wrong with `value` for `key` taken alone (its kind and range,
/// as checked at start-up), or "" when it is valid. An unknown key is an
/// error too.
std::string validate_key(const std::string& key, const std::string& value);

/// The built-in configuration as an ini text, so `starling` starts with no
/// file at all (and `starling -print-config` can show it).
std::string embedded_default_config();

/// The cookie used when none is configured; the node warns about it.
inline constexpr const char* default_cookie = "starlingsecretcookie";

/// A validated node configuration.
struct node_config {
  node_name name;
  std::string cookie;
  bool cookie_is_default = false;
  node_role role = node_role::core;
  uint16_t dist_port = base_dist_port;
  /// Port of the message delivery channel (node.data_port).
  uint16_t data_port = base_dist_port + 1000;
  /// Links per pair of nodes (node.data_pool_size): link i on data_port + i.
  uint16_t data_pool_size = 1;
  uint32_t tick_ms = 2000;
  /// Every key's final value and where it came from ("default", the config
  /// file's path, an environment variable, "command line"). All values have
  /// been checked against their key's kind, so the typed getters below
  /// cannot fail.
  std::map<std::string, std::pair<std::string, std::string>> settings;

  const std::string& text(const std::string& key) const;
  uint64_t number(const std::string& key) const;
  bool flag(const std::string& key) const;
  listen_address address(const std::string& key) const;
  uint64_t duration_ms(const std::string& key) const;
  /// "invalid value for KEY: 'VALUE' (from SOURCE): WHY", for errors found
  /// after loading (a certificate file that does not load, an ACL file
  /// that does not parse).
  std::string invalid(const std::string& key, const std::string& why) const;
};

/// Distribution over mutual TLS (node.dist_tls, node.ssl.*), for a node's
/// actor systems and for ctl/remsh connecting to such a node.
struct dist_tls_settings {
  bool enabled = false;
  std::string certfile, keyfile, cacertfile;
};

dist_tls_settings dist_tls_of(const node_config& cfg);

/// What the process environment and host look like, passed in so tests can
/// drive the loader without touching the real ones.
struct config_inputs {
  std::vector<std::string> args;        ///< command-line arguments (no argv[0])
  std::vector<std::string> environment; ///< "KEY=VALUE" entries
  std::string hostname;                 ///< used by -sname
};

struct config_result {
  std::optional<node_config> config;
  std::string error;   ///< set when config is empty and help is false
  bool help = false;   ///< -help was given; usage is in help_text
  std::string help_text;
};

/// Layers embedded defaults < config file (-config) < environment
/// (STARLING_NODE__COOKIE for node.cookie) < command line, then validates.
/// Every error names the offending key and where its value came from.
config_result load_node_config(const config_inputs& in);

/// `base` with `overrides` (key -> value) laid on top, validated as at
/// start-up (every key's kind and range, then the rules between keys);
/// `source` names where the overrides came from in errors. The loader's
/// own layers stay as they were for the keys not overridden.
config_result apply_overrides(const node_config& base,
                              const std::map<std::string, std::string>& overrides,
                              const std::string& source);

/// Environment variable name for a config key: node.cookie ->
/// STARLING_NODE__COOKIE.
std::string env_var_for(const std::string& key);

} // namespace starling::runtime
