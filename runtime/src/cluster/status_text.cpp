#include "starling/runtime/cluster/status_text.hpp"

#include "starling/runtime/shell_text.hpp"

namespace starling::runtime::cluster {

namespace {

std::string names(const nlohmann::json& list) {
  std::string out;
  if (list.is_array())
    for (auto& n : list)
      out += (out.empty() ? "" : ", ") + n.get<std::string>();
  return out.empty() ? "none" : out;
}

std::string ago(const nlohmann::json& j, const char* key) {
  return format_duration_ms(j.value(key, int64_t{0}) * 1000) + " ago";
}

} // namespace

std::string format_cluster_health(const nlohmann::json& s) {
  std::string out;
  auto p = s.value("partition", nlohmann::json::object());
  if (p.value("alarm", false)) {
    out += "Partition alarm: raised " + ago(p, "since_s") + "\n";
    for (auto& peer : p.value("peers", nlohmann::json::array()))
      out += "  " + peer.value("node", "") + ": " + peer.value("detail", "")
             + "\n";
  } else {
    out += "Partition alarm: none\n";
  }
  auto h = s.value("autoheal", nlohmann::json::object());
  if (!h.is_null() && !h.empty()) {
    out += "Autoheal: " + std::string(h.value("enabled", false) ? "on" : "off")
           + ", leader " + h.value("leader", std::string("none"));
    auto phase = h.value("phase", std::string("idle"));
    if (phase != "idle")
      out += ", round " + h.value("round", "") + " " + phase;
    if (!h.value("healing_round", "").empty())
      out += ", this node re-syncing (round " + h.value("healing_round", "")
             + ")";
    out += "\n";
  }
  auto last = s.value("last_heal", nlohmann::json());
  if (last.is_object()) {
    out += "Last heal: round " + last.value("round", "") + " "
           + last.value("outcome", "") + " " + ago(last, "ago_s") + " (took "
           + std::to_string(last.value("took_ms", int64_t{0})) + " ms): winner "
           + names(last["winner"]) + "; losers " + names(last["losers"]) + "; "
           + std::to_string(last.value("discarded", uint64_t{0}))
           + " transactions discarded";
    if (last.contains("left") && !last["left"].empty())
      out += "; left alone " + names(last["left"]);
    out += "\n";
  } else {
    out += "Last heal: none\n";
  }
  if (auto g = s.value("db_group", nlohmann::json()); g.is_object())
    out += "Database group: " + names(g["members"]) + " (sequencer "
           + g.value("sequencer", std::string("none")) + ")\n";
  for (auto& r : s.value("reconnecting", nlohmann::json::array())) {
    out += "Reconnecting to " + r.value("node", "") + ": "
           + std::to_string(r.value("failures", 0)) + " failed attempts";
    if (!r.value("last_error", "").empty())
      out += ", last: " + r.value("last_error", "");
    out += "\n";
  }
  for (auto& r : s.value("removed", nlohmann::json::array()))
    out += "Removed: " + r.value("node", "") + " " + ago(r, "ago_s") + " ("
           + r.value("reason", "") + ")\n";
  return out;
}

std::string format_discovery(const nlohmann::json& d) {
  auto strategy = d.value("strategy", std::string("manual"));
  if (strategy == "manual")
    return "Discovery: manual (nodes join with 'cluster join')\n";
  std::string out = "Discovery: " + strategy + ", " + d.value("phase", "") + ", "
                    + std::to_string(d.value("rounds", uint64_t{0})) + " rounds\n";
  out += "Discovered: " + names(d.value("discovered", nlohmann::json::array())) + "\n";
  out += std::string("Settled: ") + (d.value("settled", false) ? "yes" : "no");
  if (strategy == "etcd")
    out += std::string(", registered: ") + (d.value("registered", false) ? "yes" : "no");
  out += "\n";
  auto err = d.value("last_error", std::string());
  out += "Last error: " + (err.empty() ? std::string("none") : err) + "\n";
  out += "Next round in: "
         + format_duration_ms(d.value("next_round_in_ms", int64_t{0})) + "\n";
  return out;
}

} // namespace starling::runtime::cluster
