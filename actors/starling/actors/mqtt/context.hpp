#pragma once

#include <vector>

#include <caf/actor.hpp>

#include "starling/actors/mqtt/metrics.hpp"
#include "starling/broker/broker_settings.hpp"

namespace starling::actors {
struct node_context;
}

namespace starling::actors::mqtt {

/// What the MQTT actors of a node share; owned by run_node(), which
/// outlives the actor system.
struct mqtt_context {
  node_context* node = nullptr;
  broker::broker_settings settings;
  mqtt::metrics stats;
  caf::actor router;
  caf::actor manager;
  /// The message delivery channel's outboxes, one per link of the pool
  /// (data_plane.hpp).
  std::vector<caf::actor> outboxes;
};

} // namespace starling::actors::mqtt
