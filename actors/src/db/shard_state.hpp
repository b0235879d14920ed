#pragma once

// Private to the shard actor's files (shard.cpp: the behavior;
// shard_effects.cpp: carrying out runtime::db::shard_core's effects). The
// decisions are all in shard_core; these files only translate.

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "starling/actors/db/agent.hpp"
#include "starling/actors/db/context.hpp"
#include "starling/actors/wire/db.hpp"
#include "starling/runtime/db/shard_core.hpp"

namespace starling::actors::db::shard_detail {

using namespace runtime::db;

constexpr auto subscribe_timeout = std::chrono::seconds(5);

struct agent_entry {
  caf::actor handle;
  std::shared_ptr<agent_gauge> gauge;
};

struct shard_state {
  db_context* db = nullptr;
  std::string shard;
  std::string self_name;
  std::unique_ptr<shard_core> core;
  std::map<std::string, caf::actor> peers; ///< node -> its actor of the shard
  std::map<std::string, agent_entry> agents; ///< subscriber node -> agent
  /// Local actors following a table of this shard (the router: retained).
  std::vector<std::pair<std::string, caf::actor>> watchers;
  std::map<caller_id, caf::response_promise> callers;
  caller_id next_caller = 0;
  caf::actor upstream;       ///< the shard actor we follow
  caf::actor upstream_agent; ///< its agent streaming to us
  static inline const char* name = "shard";
};

using shard_actor = caf::stateful_actor<shard_state>;

/// Carries out `effects` in order.
void carry(shard_actor* self, shard_effects effects);
/// Sends `watcher` every record of `table` (after an rreset).
void send_table(shard_actor* self, const std::string& table,
                const caf::actor& watcher);

} // namespace starling::actors::db::shard_detail
