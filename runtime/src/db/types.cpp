#include "starling/runtime/db/types.hpp"

#include <algorithm>
#include <set>

namespace starling::runtime::db {

schema::schema(std::vector<table_spec> tables) : tables_(std::move(tables)) {
  // Sorted by name so find() is a binary search and tables_of() needs no
  // sort of its own. A duplicate name keeps its first definition.
  std::stable_sort(tables_.begin(), tables_.end(),
                   [](const table_spec& a, const table_spec& b) {
                     return a.name < b.name;
                   });
  auto dup = std::unique(tables_.begin(), tables_.end(),
                         [](const table_spec& a, const table_spec& b) {
                           return a.name == b.name;
                         });
  tables_.erase(dup, tables_.end());
}

schema schema::builtin() {
  using enum storage;
  using enum table_type;
  return schema({
    {"cluster_config", "conf_shard", disc, regular},
    {"kv", "kv_shard", disc, regular},
    {"kv_ram", "kv_ram_shard", ram, regular},
    {"session_registry", "cm_shard", ram, regular},
    {"routes", "route_shard", ram, merge},
    {"retained", "retain_shard", disc, regular},
    // MQTT users (username -> password hash) and bans (kind:value -> JSON):
    // written by ctl on any node, mirrored by every node's access actor.
    {"mqtt_user", "auth_shard", disc, regular},
    {"banned", "auth_shard", disc, regular},
    // The management API's users and API keys (salted PBKDF2 hashes).
    {"admin_user", "mgmt_shard", disc, regular},
    {"api_key", "mgmt_shard", disc, regular},
  });
}

const table_spec* schema::find(const std::string& table) const {
  auto i = std::lower_bound(
    tables_.begin(), tables_.end(), table,
    [](const table_spec& t, const std::string& n) { return t.name < n; });
  if (i == tables_.end() || i->name != table)
    return nullptr;
  return &*i;
}

std::vector<std::string> schema::shards() const {
  std::set<std::string> names;
  for (const auto& t : tables_)
    names.insert(t.shard);
  return {names.begin(), names.end()};
}

std::vector<table_spec> schema::tables_of(const std::string& shard) const {
  std::vector<table_spec> out;
  for (const auto& t : tables_)
    if (t.shard == shard)
      out.push_back(t);
  return out;
}

namespace {

// What is wrong with one op taken alone, or nullopt.
std::optional<std::string> check_op(const op& o, const table_spec* spec) {
  if (spec == nullptr)
    return "unknown table '" + o.table + "'";
  if (spec->type == table_type::merge)
    return "'" + o.table
           + "' is a merge table: write it with a dirty write on its owner";
  if (o.kind == op::write && o.key.empty())
    return "write to '" + o.table + "' needs a key";
  if ((o.kind == op::erase || o.kind == op::erase_if) && o.key.empty())
    return "erase from '" + o.table + "' needs a key";
  if (o.kind != op::write && o.kind != op::erase && o.kind != op::clear
      && o.kind != op::erase_if)
    return "operation on '" + o.table + "' has an unknown kind";
  return std::nullopt;
}

} // namespace

std::optional<std::string> schema::check(const transaction& txn) const {
  if (txn.ops.empty())
    return "empty transaction";
  if (txn.shard.empty())
    return "transaction names no shard";
  const table_spec* first = nullptr;
  for (const auto& o : txn.ops) {
    const table_spec* spec = find(o.table);
    if (auto why = check_op(o, spec))
      return why;
    if (first == nullptr)
      first = spec;
    else if (spec->shard != first->shard)
      return "transaction touches tables of two shards: " + first->shard
             + " (" + first->name + ") and " + spec->shard + " ("
             + spec->name + ")";
  }
  if (first->shard != txn.shard)
    return "transaction is addressed to shard " + txn.shard
           + " but its tables are in " + first->shard;
  return std::nullopt;
}

} // namespace starling::runtime::db
