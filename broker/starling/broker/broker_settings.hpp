#pragma once

#include <cstdint>

#include <string>
#include <vector>

#include "starling/broker/access_control.hpp"
#include "starling/broker/channel_config.hpp"
#include "starling/broker/shared_group.hpp"
#include "starling/runtime/node_config.hpp"

namespace starling::broker {

/// Everything the MQTT side of a node is configured with, read from the
/// node's validated `mqtt.*` settings. The defaults live in one place, the
/// config schema (runtime/node_config.cpp; docs/config.md lists them), so
/// the fields here have none.
/// One MQTT listener (`mqtt.listener.<name>` and its limits).
struct listener_settings {
  std::string name; ///< tcp, ssl, ws, wss
  runtime::listen_address address;
  bool tls = false;
  bool websocket = false;
  std::uint64_t max_connections = 0; ///< 0: unlimited
  std::uint64_t max_conn_rate = 0;   ///< per second; 0: unlimited
};

/// The TLS listeners' `mqtt.ssl.*`.
struct tls_settings {
  std::string certfile, keyfile, cacertfile;
  bool verify_peer = false;
  bool fail_if_no_peer_cert = false;
  bool peer_cert_as_username = false; ///< = cn
};

struct broker_settings {
  runtime::listen_address tcp;
  /// Every listener that is on: tcp first, then ssl, ws, wss when set.
  std::vector<listener_settings> listeners;
  tls_settings ssl;
  access_settings access;
  std::string password_file; ///< authn.password_file ("" = none)
  std::string acl_file;      ///< authz.file ("" = none)
  channel_config channel;
  uint32_t connect_timeout_ms = 0;
  uint64_t write_high_watermark = 0;
  uint64_t write_hard_limit = 0;
  shared_strategy shared = shared_strategy::round_robin;
  uint32_t sys_interval_ms = 0;
};

/// Converts; the values were range-checked when the config was loaded.
broker_settings broker_settings_from(const runtime::node_config& cfg);

} // namespace starling::broker
