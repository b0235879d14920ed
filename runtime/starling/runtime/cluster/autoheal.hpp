#pragma once

// Autoheal: after a partition, the cores that ran a database without each
// other meet again with branched histories; this picks the side that keeps
// its data and tells the others to re-sync from it.
//
// Every core runs two parts:
//
// partition_alarm (every core): the database says, per peer core, whether
//   its shards agree with ours. A peer that does not raises the `partition`
//   alarm (logged once) and is reported to the leader, the oldest running
//   core. The report is sent again to a new leader, and after a heal that
//   left the partition in place, so a leader that dies mid-heal is replaced
//   by the next oldest, which finishes the job.
//
// autoheal (acting on the leader only):
//
//   idle --report--> waiting --quiet for delay_ms--> collecting
//     ^                 ^  \--report: wait again       | every core's view
//     |                 |                              | (or the deadline)
//     |                 +--- a report came meanwhile --+--> heal_plan():
//     |                                                |   no losers: done
//     +------- every loser confirmed / deadline ---- healing <-- order losers
//
//   Losing leadership (a dead leader is replaced by the next oldest core)
//   drops the round; the new leader starts from the reports it gets.
//
// The decision itself is heal_plan() in topology.hpp. Losers throw away the
// branched shards and re-sync from the winners without restarting (the
// actors do that); they confirm with the number of transactions discarded.

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "starling/runtime/cluster/topology.hpp"

namespace starling::runtime::cluster {

struct autoheal_settings {
  bool enabled = true;
  /// Quiet period after the last report before the views are collected.
  int64_t delay_ms = 5000;
  /// How long the leader waits for views, then for the losers.
  int64_t collect_timeout_ms = 5000;
  int64_t heal_timeout_ms = 60000;
};

enum class heal_phase { idle, waiting, collecting, healing };
std::string to_string(heal_phase p);

/// What a heal did (the last one is shown by `cluster status`).
struct heal_record {
  std::string round;
  std::string leader;
  int64_t started_ms = 0;
  int64_t finished_ms = 0;
  std::vector<std::string> winner;
  std::vector<std::string> losers;
  std::vector<std::string> left;       ///< could not reach every winner
  std::vector<std::string> unanswered; ///< losers that did not confirm
  uint64_t discarded = 0; ///< transactions the losers discarded, in all
  std::string outcome;    ///< "healed", "incomplete", "nothing to heal"
  friend bool operator==(const heal_record&, const heal_record&) = default;
};

struct heal_effect {
  enum kind_t {
    request_views, ///< ask `nodes` for their view (round)
    order_heal,    ///< tell `nodes` (the losers) to re-sync from `winner`
    finished,      ///< the round is over: `record`
  } kind = finished;
  std::string round;
  std::vector<std::string> nodes;
  std::vector<std::string> winner;
  heal_record record;
};

class autoheal {
public:
  autoheal(std::string self, autoheal_settings settings);

  /// Whether this core is the leader now.
  void set_leader(bool leading, int64_t now);
  /// A core (this one included) reports a partition.
  std::vector<heal_effect> on_report(const std::string& from, int64_t now);
  /// Timers; `cores` are the running cores to ask (this one included).
  std::vector<heal_effect> on_tick(int64_t now,
                                   const std::vector<std::string>& cores);
  std::vector<heal_effect> on_view(const std::string& round,
                                   const core_view& view, int64_t now);
  std::vector<heal_effect> on_healed(const std::string& round,
                                     const std::string& from,
                                     uint64_t discarded, int64_t now);
  /// The gossiped views (used for cores the round could not ask).
  void set_known(view_table known);

  heal_phase phase() const { return phase_; }
  bool leading() const { return leading_; }
  const std::string& round() const { return round_; }
  /// The round being run (when not idle).
  const heal_record& current() const { return record_; }
  /// When the quiet period ends (waiting) or the deadline (collecting,
  /// healing).
  int64_t deadline() const { return deadline_; }

private:
  std::vector<heal_effect> decide(int64_t now);
  std::vector<heal_effect> finish(std::string outcome, int64_t now);

  std::string self_;
  autoheal_settings settings_;
  bool leading_ = false;
  heal_phase phase_ = heal_phase::idle;
  int64_t deadline_ = 0;
  bool again_ = false; ///< a report came during a round
  uint64_t counter_ = 0;
  std::string round_;
  heal_record record_;
  std::set<std::string> asked_;
  view_table views_;
  view_table known_;
  std::set<std::string> awaiting_;
};

/// The partition alarm of one core and its reports to the leader.
class partition_alarm {
public:
  explicit partition_alarm(std::string self) : self_(std::move(self)) {}

  struct peer_state {
    int64_t since_ms = 0;
    std::string detail; ///< which shards branched and where
  };
  struct effect {
    enum kind_t {
      raised,  ///< the alarm went on (log it, once)
      cleared, ///< it went off
      report,  ///< report to `leader`
    } kind;
    std::string leader;
  };

  /// The database compared our shards with `peer`'s.
  std::vector<effect> on_compared(const std::string& peer, bool agrees,
                                  const std::string& detail, int64_t now);
  /// `peer` is not running any more (down, left, removed).
  std::vector<effect> on_gone(const std::string& peer);
  /// The leader is now `leader` ("" when unknown).
  std::vector<effect> on_leader(const std::string& leader);
  /// The leader finished a round. Report again when it did not settle a
  /// disagreement of ours that a heal can settle. Settled: this core or the
  /// peer lost and confirmed (it takes the winners' data). Not for a heal
  /// to settle: a peer or this core in `left` (not connected to every
  /// winner), or a peer the round did not see (the leader cannot reach it),
  /// waits for the links to change, which a new comparison reports;
  /// reporting it again would only start round after round.
  std::vector<effect> on_heal_finished(const heal_record& r);
  /// A disagreement still there this long after the last report is
  /// reported again (a round that should have settled it did not).
  std::vector<effect> on_tick(int64_t now);
  static constexpr int64_t report_again_after_ms = 30000;

  bool active() const { return !peers_.empty(); }
  const std::map<std::string, peer_state>& peers() const { return peers_; }
  int64_t since_ms() const { return since_ms_; }

private:
  std::vector<effect> report();

  std::string self_;
  std::map<std::string, peer_state> peers_; ///< peers we disagree with
  int64_t since_ms_ = 0;
  std::string leader_;
  std::string reported_to_;
  int64_t reported_at_ = 0;
  int64_t now_ = 0; ///< the latest time we were told
};

} // namespace starling::runtime::cluster
