#pragma once

// Private to the shard actor's files (shard.cpp, shard_replica.cpp,
// shard_sequencer.cpp): its state and the functions they share.

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "starling/actors/db/agent.hpp"
#include "starling/actors/db/context.hpp"
#include "starling/actors/db/wire.hpp"
#include "starling/runtime/db/replica_fsm.hpp"
#include "starling/runtime/db/sequencer.hpp"

namespace starling::actors::db::shard_detail {

using namespace runtime::db;

constexpr auto reconnect_delay = std::chrono::milliseconds(300);
constexpr auto subscribe_timeout = std::chrono::seconds(5);
/// A replicant acknowledges every this many transactions, so its agent's
/// window (rlog window, far larger) keeps moving.
constexpr uint64_t replicant_ack_every = 32;

struct agent_entry {
  caf::actor handle;
  std::shared_ptr<agent_gauge> gauge;
};

struct shard_state {
  db_context* db = nullptr;
  std::string shard;
  bool core = true;
  bool disc = false;
  std::string self_name;
  int64_t self_started = 0;
  std::unique_ptr<shard_store> store;
  std::unique_ptr<rlog> log;
  std::unique_ptr<replica_fsm> fsm;
  std::unique_ptr<sequencer> seq;
  std::map<std::string, shard_peer> peers; ///< running peers
  // -- core: the sequencer role --
  std::string leader;
  bool leading = false;
  bool syncing = false;
  bool took_over = false; ///< leading after another core did
  uint64_t sync_target = 0;
  std::multimap<uint64_t, caf::response_promise> callers;
  std::vector<std::pair<transaction, caf::response_promise>> stash;
  std::map<std::string, agent_entry> agents; ///< subscriber node -> agent
  /// Local actors following a table of this shard (the router: retained).
  std::vector<std::pair<std::string, caf::actor>> watchers;
  // -- following a core --
  caf::actor upstream;
  caf::actor upstream_agent;
  uint64_t upstream_seqno = 0;
  uint64_t unacked = 0;
  static inline const char* name = "shard";
};

using shard_actor = caf::stateful_actor<shard_state>;
bool trusted(shard_actor* self);
caf::error refused();
std::string new_history(shard_actor* self);
const shard_peer* find_peer(shard_actor* self, const std::string& name);
/// Stops the agent of `node`'s replica (it resubscribed, or went down).
void drop_subscriber(shard_actor* self, const std::string& node);

// shard_replica.cpp: following a core.
void run(shard_actor* self, std::vector<replica_effect> effects);
void on_applied(shard_actor* self, const committed& c);
void schedule_reconnect(shard_actor* self);
/// Sends `watcher` every record of `table` (after an rreset).
void send_table(shard_actor* self, const std::string& table,
                const caf::actor& watcher);

// shard_sequencer.cpp: the sequencer and serving subscribers.
void answer(shard_actor* self, const std::vector<uint64_t>& done);
void route_txn(shard_actor* self, const transaction& txn,
               caf::response_promise rp);
void drain_stash(shard_actor* self);
void finish_sync(shard_actor* self);
void become_leader(shard_actor* self);
caf::result<bool, std::string, uint64_t, caf::actor>
on_subscribe(shard_actor* self, uint32_t version, const std::string& node,
             bool is_core, uint64_t epoch, const std::string& history,
             uint64_t seqno, const std::string& last_id,
             const caf::actor& replica);

} // namespace starling::actors::db::shard_detail
