#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include <caf/actor.hpp>

#include "starling/actors/mqtt/access.hpp"
#include "starling/actors/mqtt/metrics.hpp"
#include "starling/broker/broker_settings.hpp"
#include "starling/runtime/shared_value.hpp"

namespace starling::actors {
struct node_context;
}

namespace starling::transport {
class tls_context;
}

namespace starling::actors::mqtt {

/// Whether this node sends its clients elsewhere (rebalance donor,
/// evacuation): set by the balancer (balancer.hpp), read by every
/// connection at CONNECT (CONNACK 0x9C, MQTT 3: 3 server unavailable).
struct moving_clients {
  std::atomic<bool> refusing{false};
  /// HOST:PORT for MQTT 5 clients (the Server Reference); empty: none.
  runtime::shared_value<std::string> server_reference;
};

/// What the MQTT actors of a node share; owned by run_node(), which
/// outlives the actor system.
struct mqtt_context {
  node_context* node = nullptr;
  /// The settings at start (the listener's are fixed there).
  broker::broker_settings settings;
  /// The settings in force: `settings` with the cluster's online changes,
  /// read by every new connection's channel (and the router).
  runtime::shared_value<broker::broker_settings> live;
  mqtt::metrics stats;
  caf::actor router;
  caf::actor manager;
  /// Users, bans, the password file and the ACL, read by every session's
  /// hooks; kept up to date by `access_actor` (access.hpp).
  access_guard access;
  caf::actor access_actor;
  /// The ssl and wss listeners' TLS context (mqtt.ssl.*), loaded at start.
  std::shared_ptr<transport::tls_context> tls;
  /// The message delivery channel's outboxes, one per link of the pool
  /// (data_plane.hpp).
  std::vector<caf::actor> outboxes;
  /// Rebalance and evacuation on this node (balancer.hpp).
  caf::actor balancer;
  moving_clients moving;
};

} // namespace starling::actors::mqtt
