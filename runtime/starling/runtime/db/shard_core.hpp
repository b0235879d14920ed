#pragma once

// Every decision of one shard on one node, without actors: the sequencer
// role (commit, wait for the followers, catch up before sequencing, open a
// segment), following a core (the replica state machine and its effects),
// serving subscriptions (resume or bootstrap, never throwing a core's data
// away), choosing an upstream, and the reset autoheal asks for.
//
// The host contract (actors/src/db/shard*.cpp carries it out; the
// simulation in tests/sim does the same on a simulated network):
//
//   - Feed every input: the peers the db manager gives (on_peers), a
//     transaction from a local or remote caller (on_txn, with a caller id the
//     host maps to whoever waits), answers to the requests the core asked
//     for (on_subscribed, on_subscribe_failed, on_batch, on_survey), the live
//     stream (on_live, on_cut, on_upstream_lost), acknowledgements of its
//     followers (on_acked), timers (on_retry), a reset (reset).
//   - Carry out the effects in order. `answer` completes a caller;
//     `forward` hands the caller's transaction to another node's shard,
//     whose answer goes to the caller unchanged; `subscribe`,
//     `request_batch` and `survey` are requests whose answers come back as
//     inputs; `push` sends a committed transaction to every subscriber's
//     stream; `store*` write the disc; `watch_*` tell local watchers.
//   - A subscription served here (on_subscribe) returns the decision; the
//     host starts the subscriber's stream with it (see stream.hpp).
//
// Time and nothing else from outside: now_ms is passed in.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "starling/runtime/db/lineage.hpp"
#include "starling/runtime/db/replica_fsm.hpp"
#include "starling/runtime/db/rlog.hpp"
#include "starling/runtime/db/sequencer.hpp"
#include "starling/runtime/db/shard_store.hpp"
#include "starling/runtime/db/types.hpp"

namespace starling::runtime::db {

using caller_id = uint64_t;

struct shard_core_settings {
  size_t log_size = 100000;
  size_t agent_queue_limit = 100000;
  size_t replay_buffer_limit = 1000000;
  /// How long a shard reset by autoheal waits for a core of its group
  /// before it sequences on its own again (availability first).
  int64_t healing_timeout_ms = 30000;
  int64_t reconnect_delay_ms = 300;
  /// A replicant acknowledges every this many transactions.
  uint64_t replicant_ack_every = 32;
  /// A replicant following the sequencer looks this often for a following
  /// core that serves, and moves there (see pick_upstream).
  int64_t move_check_ms = 5000;
};

struct shard_effect {
  enum kind_t {
    answer,        ///< caller gets `seqno`, or `error` when not empty
    forward,       ///< `txn` of `caller` to `node`'s shard
    subscribe,     ///< subscribe at `node`: epoch, history, seqno, text (last id)
    request_batch, ///< records after `after` (from the start: nullopt)
    ack,           ///< to the upstream stream: epoch, seqno
    survey,        ///< ask `nodes` for a survey_answer each; `purpose`
    drop_stream,   ///< stop the subscriber stream of `node`
    drop_upstream, ///< stop following (the upstream stream goes)
    push,          ///< `c` to every subscriber stream
    store,         ///< `c` to the disc
    store_history, ///< the lineage to the disc
    replace_disk,  ///< the whole shard to the disc (records from the store)
    watch_change,  ///< `c` was applied: tell the watchers
    watch_reset,   ///< the watchers forget the shard's tables
    watch_resend,  ///< the watchers get every record again
    retry,         ///< call on_retry(epoch) after `delay_ms`
    log,           ///< `text`, `warning` or info
  } kind = log;
  caller_id caller = 0;
  uint64_t seqno = 0;
  std::string error;
  std::string node;
  std::vector<std::string> nodes;
  transaction txn;
  committed c;
  uint64_t epoch = 0;
  lineage history;
  std::string text;
  std::optional<record> after;
  int64_t delay_ms = 0;
  bool warning = false;
  enum purpose_t { catch_up, pick_upstream, move_upstream } purpose = catch_up;
};

using shard_effects = std::vector<shard_effect>;

/// A peer of this shard as the db manager gives it.
struct shard_peer_info {
  std::string name;
  bool core = true;
  int64_t started_at_ms = 0;
};

/// One answer of a survey.
struct survey_answer {
  std::string node;
  bool ok = false;
  std::string history; ///< lineage text
  uint64_t seqno = 0;
  uint64_t load = 0; ///< subscribers
  bool leading = false; ///< the node sequences the shard
  bool serving = false; ///< it feeds a subscriber what is committed now
};

/// What a served subscription gets: an error, or the reply and the stream
/// to start (entries first, then what is pushed).
struct subscription_decision {
  std::string error;
  bool resume = false;
  lineage history;
  uint64_t core_seqno = 0;
  std::vector<committed> entries;
};

struct reset_outcome {
  std::string history; ///< the discarded branch's newest segment
  std::vector<committed> discarded;
  uint64_t log_first = 0;
  uint64_t seqno = 0;
};

class shard_core {
public:
  /// `self`: this node; `core`: its role. The store (recovered records),
  /// and its history, are given; `disc`: whether the shard is on the disc.
  /// `new_id` gives a fresh random segment id (randomness from outside).
  shard_core(std::string shard, std::string self, bool core, bool disc,
             std::unique_ptr<shard_store> store, lineage history,
             const schema& s, shard_core_settings settings,
             std::function<std::string()> new_id);

  shard_effects on_peers(std::vector<shard_peer_info> peers,
                         const std::string& leader, int64_t now);
  shard_effects on_txn(const transaction& txn, caller_id caller, int64_t now);
  /// (The host checks the protocol version first.)
  subscription_decision on_subscribe(const std::string& node, bool is_core,
                                     const std::string& history, uint64_t seqno,
                                     const std::string& last_id,
                                     shard_effects& effects);
  shard_effects on_subscribed(uint64_t epoch, const std::string& core,
                              bool resume, const std::string& history,
                              uint64_t core_seqno, int64_t now);
  shard_effects on_subscribe_failed(uint64_t epoch, const std::string& core,
                                    const std::string& why);
  shard_effects on_batch(uint64_t epoch, const std::vector<record>& records,
                         int64_t now);
  shard_effects on_batch_failed(uint64_t epoch, const std::string& why);
  shard_effects on_live(uint64_t epoch, const std::vector<committed>& batch,
                        uint64_t latest, int64_t now);
  shard_effects on_cut(uint64_t epoch, const std::string& why);
  /// The upstream stream ended (its node went, or it quit).
  shard_effects on_upstream_lost(int64_t now);
  shard_effects on_acked(const std::string& node, uint64_t seqno);
  /// A subscriber's stream ended.
  shard_effects on_stream_lost(const std::string& node);
  shard_effects on_survey(shard_effect::purpose_t purpose, uint64_t epoch,
                          const std::vector<survey_answer>& answers, int64_t now);
  shard_effects on_retry(uint64_t epoch, int64_t now);
  reset_outcome reset(const std::string& reason, uint64_t common, int64_t now,
                      shard_effects& effects);

  // -- what status shows --
  const std::string& shard() const { return shard_; }
  bool core() const { return core_; }
  bool leading() const { return leading_; }
  /// A subscription here gets what is committed now: this core sequences,
  /// or follows the sequencer's stream (not catching up, not copying).
  bool serving() const;
  bool syncing() const { return syncing_; }
  bool healing() const { return healing_; }
  const std::string& leader() const { return leader_; }
  const shard_store& store() const { return *store_; }
  const replica_fsm& fsm() const { return *fsm_; }
  const rlog* log() const { return log_.get(); }
  const sequencer* seq() const { return seq_.get(); }
  uint64_t upstream_seqno() const { return upstream_seqno_; }
  bool following() const { return following_; }
  const std::map<std::string, bool>& subscribers() const { return subscribers_; }
  size_t stashed() const { return stash_.size(); }
  size_t waiting_callers() const { return callers_.size(); }

private:
  shard_effects run(std::vector<replica_effect> effects, int64_t now);
  void answer(shard_effects& out, const std::vector<uint64_t>& done);
  void route(const transaction& txn, caller_id caller, shard_effects& out);
  void commit(const transaction& txn, caller_id caller, shard_effects& out);
  void drain_stash(shard_effects& out);
  void become_leader(shard_effects& out, int64_t now);
  void finish_sync(shard_effects& out);
  void pick_upstream(shard_effects& out, int64_t now);
  /// A replicant following the sequencer (or a core that was not serving
  /// yet), with other cores about: look for a following core that serves
  /// to move to after settings_.move_check_ms.
  void schedule_move_check(shard_effects& out);
  std::optional<survey_answer> best_upstream(const std::vector<survey_answer>& answers) const;
  /// A survey of every core among the peers.
  shard_effect survey_of_cores(shard_effect::purpose_t purpose, uint64_t epoch) const;
  void drop_stream(const std::string& node, shard_effects& out);
  /// Every subscriber's stream: they subscribe again (a new history).
  void drop_all_streams(shard_effects& out);
  void connect(const std::string& core, shard_effects& out, int64_t now);
  void stop_following(shard_effects& out);
  bool has_core_peer() const;
  /// This core is the sequencer and catches up before it numbers anything.
  bool catching_up() const { return syncing_ && leader_ == self_; }
  /// Subscribe again after settings_.reconnect_delay_ms, in this epoch.
  void retry_later(shard_effects& out) const;
  void log(shard_effects& out, std::string text, bool warning = false);
  void applied(const committed& c, shard_effects& out);

  std::string shard_, self_;
  bool core_, disc_;
  const schema& schema_;
  shard_core_settings settings_;
  std::unique_ptr<shard_store> store_;
  std::unique_ptr<rlog> log_;
  std::unique_ptr<replica_fsm> fsm_;
  std::unique_ptr<sequencer> seq_;
  std::map<std::string, shard_peer_info> peers_;
  std::string leader_; ///< the sequencer the peers message names
  bool leading_ = false, syncing_ = false, took_over_ = false;
  bool healing_ = false;
  int64_t healing_until_ms_ = 0;
  uint64_t sync_target_ = 0;
  std::multimap<uint64_t, caller_id> callers_;
  std::vector<std::pair<transaction, caller_id>> stash_;
  std::map<std::string, bool> subscribers_; ///< node -> is a core
  bool following_ = false; ///< a subscription's stream feeds us
  uint64_t upstream_seqno_ = 0, unacked_ = 0;
  uint64_t survey_epoch_ = 0; ///< the running survey (stale answers ignored)
  /// A replicant's upstream was a following core that serves when last
  /// asked: no move check needed while it does not sequence (leader_).
  bool upstream_settled_ = false;
  /// The subscription epoch a move check's timer runs for.
  std::optional<uint64_t> move_check_epoch_;
  std::function<std::string()> new_id_;
};

} // namespace starling::runtime::db
