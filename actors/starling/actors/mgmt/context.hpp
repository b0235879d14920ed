#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <caf/actor.hpp>

#include "starling/mgmt/api.hpp"
#include "starling/mgmt/auth_store.hpp"
#include "starling/mgmt/health.hpp"
#include "starling/mgmt/http_server.hpp"
#include "starling/runtime/online_config.hpp"

namespace starling::actors {
struct node_context;
}

namespace starling::actors::mgmt {

/// What the management side of a node shares: its two actors, the tables
/// they mirror for the HTTP threads, and the configuration in force. Owned
/// by run_node(), which outlives the actor system and the HTTP server.
struct mgmt_context {
  node_context* node = nullptr;
  starling::mgmt::auth_store auth;
  starling::mgmt::health_state health;
  caf::actor agent;  ///< the node agent
  caf::actor actor;  ///< "mgmt": queries, fan-out to peers
  caf::actor tables; ///< "mgmt_tables": cluster_config, admin_user, api_key

  /// The start-up configuration with the cluster's values on top.
  runtime::node_config config() const {
    std::lock_guard g(mtx);
    return conf->effective();
  }
  mutable std::mutex mtx; ///< guards conf
  std::unique_ptr<runtime::online_config> conf;
};

/// Spawns both actors (they watch their shards at once).
void spawn_mgmt_actors(mgmt_context& ctx);

/// The HTTP side: the API on a backend that asks the actors (bridge.cpp).
std::unique_ptr<starling::mgmt::backend> make_backend(mgmt_context& ctx);

} // namespace starling::actors::mgmt
