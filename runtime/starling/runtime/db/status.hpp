#pragma once

// The figures `rlog status` prints, in one struct per shard, so that the
// status command, the shell and (later) the metrics endpoint read the same
// numbers (starling_mria_lag, ..._server_mql, ..._bootstrap_time, ...).

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace starling::runtime::db {

/// One subscriber of a core's shard (a replicant or a following core).
struct agent_status {
  std::string node;
  bool core = false;
  uint64_t pending = 0;   ///< queued, not yet sent
  uint64_t in_flight = 0; ///< sent, not yet acknowledged
  uint64_t acked_seqno = 0;
};

struct shard_status {
  std::string shard;
  std::string role;     ///< "core" or "replicant"
  std::string leader;   ///< cores: the shard's sequencer
  bool leading = false; ///< this core is the sequencer and in sync
  std::string state;    ///< replica state (disconnected, bootstrap, ...)
  std::string upstream; ///< the core we are fed by ("" on the leader)
  std::string history;  ///< the newest segment of the shard's history
  std::string lineage;  ///< every kept segment (db/lineage.hpp)
  bool healing = false; ///< reset by autoheal, waiting for the winners' data
  uint64_t seqno = 0;          ///< last applied
  uint64_t upstream_seqno = 0; ///< last seqno the upstream told us of
  uint64_t lag = 0;            ///< upstream_seqno - seqno
  uint64_t replay_queue = 0;   ///< buffered during bootstrap
  int64_t bootstrap_ms = 0;    ///< duration of the last bootstrap
  uint64_t bootstrap_records = 0;
  uint64_t bootstraps = 0, resumes = 0, gaps = 0, duplicates = 0, stale = 0;
  uint64_t mailbox = 0;        ///< message queue length of the shard actor
  uint64_t records = 0;
  uint64_t checksum = 0;
  uint64_t log_first = 0, log_last = 0;
  uint64_t pending_commits = 0; ///< leader: waiting for follower acks
  std::vector<agent_status> agents;
};

struct merge_status {
  std::string table;
  uint64_t records = 0;
  uint64_t keys = 0;
  uint64_t own = 0;
  uint64_t checksum = 0;
};

nlohmann::json to_json(const shard_status& s);
nlohmann::json to_json(const merge_status& s);

/// The text `rlog status` prints for the JSON the node returns
/// ({"node", "role", "shards": [...], "merge_tables": [...]}).
std::string format_rlog_status(const nlohmann::json& status);

} // namespace starling::runtime::db
