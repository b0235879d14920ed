#pragma once

#include <memory>
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
};

} // namespace starling::actors::mqtt
