#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include <caf/actor.hpp>

#include "starling/runtime/db/sqlite_store.hpp"
#include "starling/runtime/db/types.hpp"

namespace starling::actors {
struct node_context;
}

namespace starling::actors::db {

/// The rlog.* settings.
struct db_settings {
  size_t log_size = 100000;          ///< rlog entries kept per shard
  size_t batch_size = 500;           ///< records per bootstrap batch
  size_t agent_queue_limit = 100000; ///< queued per subscriber before a cut
  size_t agent_window = 1000;        ///< sent and unacknowledged
  uint32_t replicant_batch_ms = 20;  ///< a replicant's batch waits this long
  size_t replay_buffer_limit = 1000000;
  uint32_t write_retries = 5;
  uint32_t request_timeout_ms = 10000;
};

/// What the database actors of a node share; owned by run_node().
struct db_context {
  node_context* node = nullptr;
  runtime::db::schema schema = runtime::db::schema::builtin();
  db_settings settings;
  /// The node's SQLite file (cores only; nullptr on replicants).
  std::unique_ptr<runtime::db::sqlite_store> disk;
  /// What was read from it at start, shard -> seqno + disc records.
  std::map<std::string, runtime::db::recovered_shard> recovered;
  /// The db manager, once spawned (the node agent feeds it membership).
  caf::actor manager;
  /// The merge server (routes), once spawned.
  caf::actor merge_server;
  /// This node's actor for each regular shard, once spawned.
  std::map<std::string, caf::actor> shards;
};

/// Reads rlog.* and node.data_dir, opens the SQLite file on a core and
/// loads it. Returns an error sentence, or "" on success.
std::string open_db(db_context& db, node_context& node);

} // namespace starling::actors::db
