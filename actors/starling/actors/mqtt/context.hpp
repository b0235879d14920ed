#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_control_block.hpp>

#include "starling/actors/mqtt/access.hpp"
#include "starling/actors/mqtt/metrics.hpp"
#include "starling/broker/broker_settings.hpp"
#include "starling/broker/timer_wheel.hpp"
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

/// Every session's keepalive timer, on the node's clock (the channel's):
/// a session adds its own, the client manager ticks them every `tick_ms`
/// while any is set and sends each due one to its session as the session's
/// own timer. One CAF timer per session cost about 240 B per client.
struct keepalive_timers {
  struct entry {
    caf::weak_actor_ptr session; ///< an ended session is not kept alive
    uint64_t gen = 0;            ///< the session's timer generation
  };
  static constexpr int64_t tick_ms = 250;
  std::mutex mu;
  broker::timer_wheel<entry> wheel{tick_ms}; ///< guarded by mu
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
  keepalive_timers keepalive;
};

} // namespace starling::actors::mqtt
