#pragma once

#include <cstdint>
#include <functional>

#include "starling/runtime/cookie_auth.hpp"
#include "starling/runtime/log.hpp"
#include "starling/runtime/node_config.hpp"

namespace caf {
class actor_system;
}

namespace starling::actors {

class actor_directory;
class peer_registry;
namespace mqtt {
struct mqtt_context;
}
namespace db {
struct db_context;
}
namespace mgmt {
struct mgmt_context;
}

/// What every actor of a node shares. Owned by run_node(), which outlives
/// the actor system; time and randomness come from here, never from globals.
struct node_context {
  caf::actor_system* sys = nullptr;
  runtime::node_config cfg;
  runtime::logger* log = nullptr;
  actor_directory* directory = nullptr;
  peer_registry* peers = nullptr;
  std::function<int64_t()> now_ms;
  runtime::random_source rnd;
  int64_t started_at_ms = 0;
  /// The MQTT side (router, client manager), once started.
  mqtt::mqtt_context* mqtt = nullptr;
  /// The replicated database (db manager, shard actors, SQLite file).
  db::db_context* db = nullptr;
  /// The management API's side (its actors, the HTTP server's tables).
  mgmt::mgmt_context* mgmt = nullptr;
};

} // namespace starling::actors
