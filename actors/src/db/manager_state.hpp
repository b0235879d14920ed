#pragma once

// Private to the db manager's files (manager.cpp, manager_heal.cpp,
// manager_txn.cpp): its
// state and the functions they share.

#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "starling/actors/db/context.hpp"
#include "starling/actors/wire/db.hpp"
#include "starling/actors/wire/node.hpp"
#include "starling/runtime/db/lineage.hpp"

namespace starling::actors::db::manager_detail {

using namespace runtime::db;

constexpr const char* merge_key = "$merge";
/// How often a core compares its shards' histories with every other
/// core's (partition detection).
constexpr auto probe_interval = std::chrono::seconds(1);
/// How long after an operator's `cluster join` branched shards take the
/// joined cluster's data.
constexpr int64_t adopt_window_ms = 30000;

struct remote_node {
  member_wire member;
  std::map<std::string, caf::actor> actors; ///< shard (or $merge) -> actor
};

/// One shard of this core next to the same shard of a peer core.
struct shard_comparison {
  lineage_relation relation;
  std::string ours, theirs; ///< "lineage at seqno N", for the operator
};
/// Per peer core, per shard (a shard that did not answer is missing).
using comparison = std::map<std::string, std::map<std::string, shard_comparison>>;

struct manager_state {
  db_context* db = nullptr;
  std::string self_name;
  bool core = true;
  std::map<std::string, caf::actor> local; ///< shard (or $merge) -> actor
  std::map<std::string, remote_node> peers; ///< resolved running peers
  std::map<std::string, int64_t> running;   ///< name -> incarnation
  caf::actor agent; ///< the node agent (it sends us the membership)
  uint64_t txn_counter = 0;
  struct retry {
    transaction txn;
    std::function<void(caf::expected<uint64_t>)> done;
    uint32_t attempt;
  };
  std::map<std::string, retry> retries; ///< txn id -> what to send again
  // -- partitions --
  std::set<std::string> group; ///< cores of our database group
  std::string leader;          ///< its sequencer
  std::map<std::string, bool> agreement; ///< last told the agent, per core
  bool probing = false;
  bool probe_again = false;
  int64_t adopt_until_ms = 0;
  std::string report_path; ///< <data_dir>/<node>.heal-report.jsonl
  static inline const char* name = "db_manager";
};

using manager_actor = caf::stateful_actor<manager_state>;

/// Tells every local shard actor (and the merge server) who runs.
void publish_peers(manager_actor* self);

// manager_txn.cpp
using txn_callback = std::function<void(caf::expected<uint64_t>)>;
/// Sends `txn` to the local shard actor; a lost answer is retried with the
/// same id (db.write_retries), then `done`.
void submit(manager_actor* self, transaction txn, txn_callback done,
            uint32_t attempt);
std::string next_txn_id(manager_actor* self);
caf::result<uint64_t> transact(manager_actor* self, transaction txn);
/// `starling ctl db load`: COUNT writes, `concurrency` outstanding; the
/// answer is a JSON summary of their latencies.
caf::result<std::string> start_load(manager_actor* self,
                                    const std::string& table,
                                    const std::string& prefix, uint64_t count,
                                    uint32_t concurrency, uint32_t value_size);

// manager_heal.cpp
/// Compares every regular shard with the same shard of each of `cores`.
void compare_with(manager_actor* self, const std::vector<std::string>& cores,
                  std::function<void(comparison)> done);
/// One round of partition detection (cores): compares with every resolved
/// core and tells the node agent what changed.
void probe(manager_actor* self);
/// Discards the shards that branched from `winners` (autoheal).
caf::result<uint64_t> heal(manager_actor* self, const std::string& round,
                           const std::vector<std::string>& winners);
caf::result<std::string> heal_report(manager_actor* self);

} // namespace starling::actors::db::manager_detail
