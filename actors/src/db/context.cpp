#include "starling/actors/db/context.hpp"

#include <filesystem>

#include "starling/actors/node_context.hpp"

namespace starling::actors::db {

std::string open_db(db_context& db, node_context& node) {
  db.node = &node;
  auto& cfg = node.cfg;
  db.settings.log_size = cfg.number("rlog.log_size");
  db.settings.batch_size = cfg.number("rlog.bootstrap_batch_size");
  db.settings.agent_queue_limit = cfg.number("rlog.agent_queue_limit");
  db.settings.write_retries = cfg.number("rlog.write_retries");
  db.settings.replicant_batch_ms
    = static_cast<uint32_t>(cfg.number("rlog.replicant_batch_ms"));
  if (cfg.role != runtime::node_role::core)
    return ""; // replicants keep nothing on disk: they bootstrap
  auto path = std::filesystem::path(cfg.text("node.data_dir"))
              / (cfg.name.str() + ".sqlite");
  std::string err;
  db.disk = runtime::db::sqlite_store::open(path.string(), err);
  if (!db.disk)
    return err;
  db.recovered = db.disk->load(db.schema, err);
  if (!err.empty())
    return err;
  for (auto& [shard, r] : db.recovered)
    if (r.seqno > 0 || !r.records.empty())
      node.log->info("recovered shard " + shard + " from " + path.string()
                   + ": seqno " + std::to_string(r.seqno) + ", "
                   + std::to_string(r.records.size()) + " records");
  return "";
}

} // namespace starling::actors::db
