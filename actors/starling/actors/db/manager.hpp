#pragma once

#include <caf/fwd.hpp>

namespace starling::actors::db {

struct db_context;

/// Spawns the node's database manager ("db_manager"): it starts one shard
/// actor per regular shard and the merge server, learns from the node agent
/// which nodes run (and, through their agents, their database actors), and
/// tells every shard actor. It is also the local API: transactions with
/// retries, reads, `rlog status`, and the `db` operator commands.
caf::actor spawn_db_manager(db_context& db);

} // namespace starling::actors::db
