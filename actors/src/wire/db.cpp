#include "starling/actors/wire/db.hpp"

namespace starling::actors::db {

void register_db_wire_types(caf::actor_system_config& cfg) {
  using namespace runtime::db;
  cfg.add_message_type<op>("starling.db.op");
  cfg.add_message_type<std::vector<op>>("starling.db.ops");
  cfg.add_message_type<transaction>("starling.db.txn");
  cfg.add_message_type<committed>("starling.db.committed");
  cfg.add_message_type<std::vector<committed>>("starling.db.committeds");
  cfg.add_message_type<record>("starling.db.record");
  cfg.add_message_type<std::vector<record>>("starling.db.records");
  cfg.add_message_type<shard_peer>("starling.db.shard_peer");
  cfg.add_message_type<std::vector<shard_peer>>("starling.db.shard_peers");
}

} // namespace starling::actors::db
