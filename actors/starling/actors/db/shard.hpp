#pragma once

#include <string>

#include <caf/fwd.hpp>

namespace starling::actors::db {

struct db_context;

/// Spawns the actor that holds one regular shard on this node: on a core
/// the shard server ("shard_server:<shard>": sequencer when this core is
/// the oldest, follower of the sequencer otherwise, and server of the
/// replicas subscribed to it), on a replicant the replica
/// ("replica:<shard>"). See docs/architecture.md, "Replicated database".
caf::actor spawn_shard(db_context& db, const std::string& shard);

} // namespace starling::actors::db
