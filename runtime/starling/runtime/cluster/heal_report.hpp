#pragma once

// What autoheal (or a cluster join) threw away, so an operator can see it
// and re-apply it: one JSON line per discarded operation in
// <node.data_dir>/<node>.heal-report.jsonl on the node that discarded it.
//
//   {"at_ms":..., "reason":"autoheal round core1@h#1, winner core1@h, core2@h",
//    "node":"core3@h", "shard":"kv_shard", "history":"9c1e..", "seqno":131,
//    "txn":"core3@h#1765..#7", "op":"write", "table":"kv", "key":"side",
//    "value":"b"}
//
// A line with "gap" instead of an operation says that transactions from..to
// were no longer in the node's rlog (more than rlog.log_size were committed
// during the split, or the node restarted since: the rlog is in memory):
// they were discarded without their contents known.

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "starling/runtime/db/types.hpp"

namespace starling::runtime::cluster {

/// What one shard discarded.
struct discarded_shard {
  std::string shard;
  std::string history; ///< the discarded branch's newest segment
  uint64_t common = 0; ///< the last seqno shared with the winners
  uint64_t seqno = 0;  ///< where the branch had got to
  uint64_t log_first = 0; ///< oldest seqno still in the rlog (0: empty)
  std::vector<db::committed> entries; ///< (common, seqno] as far as logged
};

/// The report lines for one shard.
std::vector<nlohmann::json> report_lines(const discarded_shard& d,
                                         const std::string& node,
                                         const std::string& reason,
                                         int64_t at_ms);

/// Appends lines to the report file; false with `error` on failure.
bool append_report(const std::string& path,
                   const std::vector<nlohmann::json>& lines,
                   std::string& error);
/// Every line of the report file (none when it does not exist); lines that
/// do not parse are skipped and counted in `bad`.
std::vector<nlohmann::json> read_report(const std::string& path, size_t& bad);

/// Lines of several nodes' reports, in time order, each operation once
/// (every core of the losing side holds the same discarded transactions).
std::vector<nlohmann::json> merge_reports(
  const std::vector<std::vector<nlohmann::json>>& reports);

/// The table `cluster heal-report` prints.
std::string format_report(const std::vector<nlohmann::json>& lines,
                          int64_t now_ms);

} // namespace starling::runtime::cluster
