#include "starling/runtime/cluster/heal_report.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <tuple>

#include "starling/runtime/shell_text.hpp"

namespace starling::runtime::cluster {

namespace {

std::string op_name(db::op::kind_t k) {
  switch (k) {
    case db::op::write:
      return "write";
    case db::op::erase:
      return "erase";
    case db::op::clear:
      return "clear";
    case db::op::erase_if:
      return "erase_if";
  }
  return "?";
}

} // namespace

std::vector<nlohmann::json> report_lines(const discarded_shard& d,
                                         const std::string& node,
                                         const std::string& reason,
                                         int64_t at_ms) {
  std::vector<nlohmann::json> out;
  auto base = [&] {
    return nlohmann::json{{"at_ms", at_ms}, {"reason", reason},
                          {"node", node},   {"shard", d.shard},
                          {"history", d.history}};
  };
  uint64_t first_logged = d.entries.empty() ? d.seqno + 1 : d.entries.front().seqno;
  if (d.seqno > d.common && first_logged > d.common + 1) {
    auto j = base();
    j["gap"] = {{"from", d.common + 1}, {"to", first_logged - 1}};
    out.push_back(std::move(j));
  }
  for (auto& c : d.entries)
    for (auto& o : c.txn.ops) {
      auto j = base();
      j["seqno"] = c.seqno;
      j["txn"] = c.txn.id;
      j["op"] = op_name(o.kind);
      j["table"] = o.table;
      j["key"] = o.key;
      j["value"] = o.value;
      out.push_back(std::move(j));
    }
  return out;
}

bool append_report(const std::string& path,
                   const std::vector<nlohmann::json>& lines,
                   std::string& error) {
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(),
                                      ec);
  std::ofstream out(path, std::ios::app);
  for (auto& l : lines)
    out << l.dump() << "\n";
  out.flush();
  if (!out) {
    error = "cannot write the heal report " + path;
    return false;
  }
  return true;
}

std::vector<nlohmann::json> read_report(const std::string& path, size_t& bad) {
  std::vector<nlohmann::json> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty())
      continue;
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_object())
      out.push_back(std::move(j));
    else
      ++bad;
  }
  return out;
}

std::vector<nlohmann::json> merge_reports(
  const std::vector<std::vector<nlohmann::json>>& reports) {
  std::vector<nlohmann::json> all;
  std::set<std::string> seen;
  for (auto& r : reports)
    for (auto& l : r) {
      // One operation of one transaction of one branch: the same line on
      // every core of the losing side.
      auto key = l.value("shard", "") + "|" + l.value("history", "") + "|"
                 + (l.contains("gap") ? "gap" + l["gap"].dump()
                                      : std::to_string(l.value("seqno", 0)) + "|"
                                          + l.value("txn", "") + "|"
                                          + l.value("table", "") + "|"
                                          + l.value("key", "") + "|"
                                          + l.value("op", ""));
      if (seen.insert(key).second)
        all.push_back(l);
    }
  std::stable_sort(all.begin(), all.end(), [](auto& a, auto& b) {
    return std::make_tuple(a.value("at_ms", int64_t{0}), a.value("shard", ""),
                           a.value("seqno", uint64_t{0}))
           < std::make_tuple(b.value("at_ms", int64_t{0}), b.value("shard", ""),
                             b.value("seqno", uint64_t{0}));
  });
  return all;
}

std::string format_report(const std::vector<nlohmann::json>& lines,
                          int64_t now_ms) {
  if (lines.empty())
    return "no heal report: nothing was discarded\n";
  std::vector<std::vector<std::string>> rows;
  for (auto& l : lines) {
    auto ago = format_duration_ms(now_ms - l.value("at_ms", now_ms)) + " ago";
    if (l.contains("gap")) {
      rows.push_back({ago, l.value("node", ""), l.value("shard", ""),
                      l.value("history", ""),
                      std::to_string(l["gap"].value("from", 0)) + "-"
                        + std::to_string(l["gap"].value("to", 0)),
                      "(not in the rlog)", "", "", ""});
      continue;
    }
    rows.push_back({ago, l.value("node", ""), l.value("shard", ""),
                    l.value("history", ""),
                    std::to_string(l.value("seqno", uint64_t{0})),
                    l.value("op", ""), l.value("table", ""), l.value("key", ""),
                    l.value("value", "")});
  }
  std::set<std::string> reasons;
  for (auto& l : lines)
    reasons.insert(l.value("reason", ""));
  std::string text = format_table(
    {"WHEN", "NODE", "SHARD", "HISTORY", "SEQNO", "OP", "TABLE", "KEY", "VALUE"},
    rows);
  for (auto& r : reasons)
    text += "discarded by: " + r + "\n";
  return text;
}

} // namespace starling::runtime::cluster
