#include <doctest/doctest.h>

#include <filesystem>

#include "starling/runtime/cluster/heal_report.hpp"
#include "starling/runtime/cluster/status_text.hpp"

using namespace starling::runtime;
using namespace starling::runtime::cluster;

namespace {
db::committed txn(uint64_t seqno, std::string key, std::string value) {
  return {seqno, {"c3#1#" + std::to_string(seqno), "kv_shard",
                  {{db::op::write, "kv", std::move(key), std::move(value)}}}};
}
} // namespace

TEST_CASE("heal report: one line per discarded operation, a gap line for the unlogged") {
  discarded_shard d{"kv_shard", "9c1e", 10, 14, 12, {txn(12, "a", "1"), txn(13, "b", "2"),
                                                    txn(14, "a", "3")}};
  auto lines = report_lines(d, "c3@h", "autoheal round c1@h#1", 5000);
  REQUIRE(lines.size() == 4);
  CHECK(lines[0]["gap"]["from"] == 11);
  CHECK(lines[0]["gap"]["to"] == 11);
  CHECK(lines[1]["seqno"] == 12);
  CHECK(lines[1]["key"] == "a");
  CHECK(lines[1]["value"] == "1");
  CHECK(lines[1]["node"] == "c3@h");
  CHECK(lines[3]["value"] == "3");
  // Nothing past the fork point: no lines at all.
  discarded_shard none{"kv_shard", "9c1e", 10, 10, 1, {}};
  CHECK(report_lines(none, "c3@h", "r", 0).empty());
}

TEST_CASE("heal report: appended and read back; several cores' copies merge to one") {
  auto path = (std::filesystem::temp_directory_path() / "starling-heal-report-test.jsonl").string();
  std::filesystem::remove(path);
  discarded_shard d{"kv_shard", "9c1e", 0, 2, 1, {txn(1, "a", "1"), txn(2, "b", "2")}};
  std::string err;
  REQUIRE(append_report(path, report_lines(d, "c3@h", "r", 100), err));
  REQUIRE(append_report(path, report_lines(d, "c3@h", "r", 100), err)); // a crash-and-redo
  size_t bad = 0;
  auto mine = read_report(path, bad);
  CHECK(bad == 0);
  CHECK(mine.size() == 4);
  auto theirs = report_lines(d, "c4@h", "r", 100); // the other loser of the side
  auto merged = merge_reports({mine, theirs});
  CHECK(merged.size() == 2);
  auto text = format_report(merged, 60100);
  CHECK(text.find("1m") != std::string::npos);
  CHECK(text.find("discarded by: r") != std::string::npos);
  CHECK(format_report({}, 0) == "no heal report: nothing was discarded\n");
  std::filesystem::remove(path);
}

TEST_CASE("cluster health text: alarm, last heal, group, removed members") {
  auto s = nlohmann::json::parse(R"({
    "partition": {"alarm": true, "since_s": 5,
                  "peers": [{"node": "c3@h", "detail": "kv_shard branched after seqno 4"}]},
    "autoheal": {"enabled": true, "leader": "c1@h", "phase": "waiting",
                 "round": "c1@h#2", "healing_round": ""},
    "last_heal": {"round": "c1@h#1", "outcome": "healed", "ago_s": 60, "took_ms": 12,
                  "winner": ["c1@h", "c2@h"], "losers": ["c3@h"], "left": [],
                  "discarded": 7},
    "db_group": {"members": ["c1@h", "c2@h"], "sequencer": "c1@h"},
    "reconnecting": [], "removed": [{"node": "c9@h", "ago_s": 3600, "reason": "autoclean"}]
  })");
  auto t = format_cluster_health(s);
  CHECK(t.find("Partition alarm: raised") != std::string::npos);
  CHECK(t.find("c3@h: kv_shard branched after seqno 4") != std::string::npos);
  CHECK(t.find("round c1@h#2 waiting") != std::string::npos);
  CHECK(t.find("Last heal: round c1@h#1 healed") != std::string::npos);
  CHECK(t.find("losers c3@h; 7 transactions discarded") != std::string::npos);
  CHECK(t.find("Database group: c1@h, c2@h (sequencer c1@h)") != std::string::npos);
  CHECK(t.find("Removed: c9@h") != std::string::npos);
}
