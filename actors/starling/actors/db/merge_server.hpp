#pragma once

#include <caf/fwd.hpp>

namespace starling::actors::db {

struct db_context;

/// Spawns the node's merge server ("merge_server"): it holds every merge
/// table of the schema. Local actors write this node's own records with
/// (put, table, key, value) and (erase, table, key); each change is applied
/// at once and streamed to every running node. When a node comes up each
/// side sends it all of its own records (msync) and asks for the other's
/// (mpull); when a node goes down its records are dropped (auto-clean).
caf::actor spawn_merge_server(db_context& db);

} // namespace starling::actors::db
