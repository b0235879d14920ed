#include "starling/runtime/db/status.hpp"

#include <cstdio>

#include "starling/runtime/shell_text.hpp"

namespace starling::runtime::db {

namespace {

std::string hex(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

std::string str(const nlohmann::json& j, const char* key) {
  if (!j.contains(key))
    return "";
  auto& v = j.at(key);
  return v.is_string() ? v.get<std::string>() : v.dump();
}

} // namespace

nlohmann::json to_json(const shard_status& s) {
  nlohmann::json agents = nlohmann::json::array();
  for (auto& a : s.agents)
    agents.push_back({{"node", a.node},
                      {"core", a.core},
                      {"pending", a.pending},
                      {"in_flight", a.in_flight},
                      {"acked_seqno", a.acked_seqno}});
  return {{"shard", s.shard},
          {"role", s.role},
          {"leader", s.leader},
          {"leading", s.leading},
          {"state", s.state},
          {"upstream", s.upstream},
          {"history", s.history},
          {"lineage", s.lineage},
          {"healing", s.healing},
          {"seqno", s.seqno},
          {"upstream_seqno", s.upstream_seqno},
          {"lag", s.lag},
          {"replay_queue", s.replay_queue},
          {"bootstrap_ms", s.bootstrap_ms},
          {"bootstrap_records", s.bootstrap_records},
          {"bootstraps", s.bootstraps},
          {"resumes", s.resumes},
          {"gaps", s.gaps},
          {"duplicates", s.duplicates},
          {"stale", s.stale},
          {"mailbox", s.mailbox},
          {"records", s.records},
          {"checksum", hex(s.checksum)},
          {"log_first", s.log_first},
          {"log_last", s.log_last},
          {"pending_commits", s.pending_commits},
          {"agents", agents}};
}

nlohmann::json to_json(const merge_status& s) {
  return {{"table", s.table},
          {"records", s.records},
          {"keys", s.keys},
          {"own", s.own},
          {"checksum", hex(s.checksum)}};
}

std::string format_rlog_status(const nlohmann::json& status) {
  std::string out = "node " + str(status, "node") + ", role "
                    + str(status, "role") + "\n\n";
  std::vector<std::vector<std::string>> rows;
  for (auto& s : status.value("shards", nlohmann::json::array())) {
    std::string role = s.value("leading", false) ? "leader" : str(s, "state");
    rows.push_back({str(s, "shard"), role, str(s, "upstream"), str(s, "seqno"),
                    str(s, "lag"), str(s, "replay_queue"),
                    format_duration_ms(s.value("bootstrap_ms", int64_t{0})) + " / "
                      + str(s, "bootstrap_records"),
                    str(s, "mailbox"), str(s, "records"), str(s, "checksum")});
  }
  out += format_table({"SHARD", "STATE", "UPSTREAM", "SEQNO", "LAG", "REPLAY_Q",
                       "BOOTSTRAP(time/records)", "MQL", "RECORDS", "CHECKSUM"},
                      rows);
  std::vector<std::vector<std::string>> agents;
  for (auto& s : status.value("shards", nlohmann::json::array()))
    for (auto& a : s.value("agents", nlohmann::json::array()))
      agents.push_back({str(s, "shard"), str(a, "node"),
                        a.value("core", false) ? "core" : "replicant",
                        str(a, "pending"), str(a, "in_flight"),
                        str(a, "acked_seqno")});
  if (!agents.empty())
    out += "\nsubscribers (agents on this core):\n"
           + format_table({"SHARD", "NODE", "ROLE", "PENDING", "IN_FLIGHT",
                           "ACKED"},
                          agents);
  std::vector<std::vector<std::string>> merges;
  for (auto& m : status.value("merge_tables", nlohmann::json::array()))
    merges.push_back({str(m, "table"), str(m, "records"), str(m, "keys"),
                      str(m, "own"), str(m, "checksum")});
  if (!merges.empty())
    out += "\nmerge tables:\n"
           + format_table({"TABLE", "RECORDS", "KEYS", "OWN", "CHECKSUM"},
                          merges);
  return out;
}

} // namespace starling::runtime::db
