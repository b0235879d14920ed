#pragma once

// The state machine of one shard's replica: a replicant's copy of a shard,
// fed by one core, and a core following the shard's sequencer.
//
//   disconnected --connect--> (subscribing) --reply: bootstrap--> bootstrap
//        ^                         |                                  |
//        |                         +--reply: resume--+                | last batch
//        |                                           v                v
//        +--- upstream down / cut / gap ------- normal <------- local_replay
//
// Subscribing atomically fixes the core's seqno S: every transaction after S
// reaches us on the live stream. A resume sends (our seqno, S] first; a
// bootstrap copies the tables in batches while the live stream is buffered,
// and local_replay then applies the buffer. Operations are idempotent, so a
// record copied after a later transaction changed it is simply written again
// by the replay. A seqno gap or a continuity break is never skipped: the
// replica resubscribes (resuming from its last seqno when the core's log
// still holds it). Messages of an older subscription (epoch) are ignored.

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "starling/runtime/db/lineage.hpp"
#include "starling/runtime/db/rlog.hpp"
#include "starling/runtime/db/shard_store.hpp"
#include "starling/runtime/db/types.hpp"

namespace starling::runtime::db {

enum class replica_state { disconnected, bootstrap, local_replay, normal };

std::string to_string(replica_state s);

/// A core's answer to a subscription.
struct subscription_reply {
  bool resume = false;            ///< false: bootstrap
  lineage history;                ///< the shard's history on the core
  uint64_t core_seqno = 0;        ///< S: the live stream starts at S + 1
  /// Resume: (our seqno, S], or empty when the core streams them first
  /// on the live stream.
  std::vector<committed> entries;
  /// How the replica's history relates to the core's (decided on the core).
  lineage_relation relation;
};

/// Decides, on the core, how a replica that last applied `their_seqno` of
/// history `their_history` joins the stream: resume when its history is a
/// prefix of the core's (an empty replica is a prefix of anything) and the
/// log holds everything after its seqno.
/// `their_last_id`, the id of the last transaction the replica applied
/// (when known), must match the log's entry at their_seqno: a replica fed a
/// transaction that a dying sequencer never got acknowledged by the other
/// cores is on a branch this core does not have, and bootstraps.
subscription_reply decide_subscription(const shard_store& store,
                                       const lineage& history,
                                       const rlog& log,
                                       const lineage& their_history,
                                       uint64_t their_seqno,
                                       const std::string& their_last_id = "");

/// Something the actor carries out, in order.
struct replica_effect {
  enum kind_t {
    subscribe,     ///< subscribe at `core` with epoch, from, history
    request_batch, ///< ask the upstream for records after `after`
    applied,       ///< `c` was applied to the store (persist, forward)
    bootstrapped,  ///< the store was rebuilt at seqno `from` (persist all)
    discarded,     ///< the store was emptied to be rebuilt (persist all)
  } kind;
  std::string core;
  uint64_t epoch = 0;
  uint64_t from = 0;
  lineage history;
  std::string last_id; ///< subscribe: id of the last transaction applied
  std::optional<record> after;
  committed c;
};

/// Counters and timings the status command and metrics show.
struct replica_stats {
  uint64_t bootstraps = 0;
  uint64_t resumes = 0;
  uint64_t duplicates = 0; ///< live transactions already applied, skipped
  uint64_t gaps = 0;       ///< continuity breaks that forced a resubscribe
  uint64_t stale = 0;      ///< messages of an old subscription, ignored
  int64_t last_bootstrap_ms = 0;      ///< duration of the last bootstrap
  uint64_t last_bootstrap_records = 0;
};

class replica_fsm {
public:
  /// `store` outlives the fsm. `history` is the store's history (empty for
  /// an empty store). `max_buffer` bounds the transactions buffered while
  /// bootstrapping; past it the bootstrap restarts.
  replica_fsm(shard_store& store, lineage history, size_t max_buffer);

  /// Subscribes at `core` (from any state: a new epoch starts).
  std::vector<replica_effect> connect(const std::string& core);
  std::vector<replica_effect> on_subscribed(uint64_t epoch,
                                            subscription_reply reply,
                                            int64_t now_ms);
  /// The sequencer starts a new history on an empty shard, or a new
  /// segment of it when it starts sequencing.
  void set_history(lineage history);
  /// The core refused or did not answer the subscription.
  void on_subscribe_failed(uint64_t epoch);
  /// A bootstrap batch; an empty one ends the bootstrap.
  std::vector<replica_effect> on_batch(uint64_t epoch,
                                       const std::vector<record>& records,
                                       int64_t now_ms);
  /// A transaction on the live stream.
  std::vector<replica_effect> on_live(uint64_t epoch, const committed& c);
  /// The upstream core went down or cut us off: back to disconnected.
  void on_upstream_lost(const std::string& core);
  /// Forgets the store (a core that joins another cluster): disconnected,
  /// empty, new history on the next subscription.
  void reset();

  replica_state state() const { return state_; }
  const std::string& upstream() const { return upstream_; }
  const lineage& history() const { return history_; }
  uint64_t epoch() const { return epoch_; }
  uint64_t seqno() const { return store_.seqno(); }
  /// The seqno to tell others: 0 while a bootstrap rebuilds the store (its
  /// history is empty then too), as for a store emptied to be rebuilt, so
  /// that no core catching up takes this one for a source meanwhile.
  uint64_t reported_seqno() const { return staging_ ? 0 : store_.seqno(); }
  size_t buffered() const { return buffer_.size(); }
  /// The copy a bootstrap is building (null when none runs).
  const shard_store* copy_in_progress() const { return staging_.get(); }
  const replica_stats& stats() const { return stats_; }
  /// The states the fsm entered, in order (for property tests): all of
  /// them up to `max_trace`, then the latest ones.
  const std::vector<replica_state>& trace() const { return trace_; }
  static constexpr size_t max_trace = 1024;

private:
  void enter(replica_state s);
  std::vector<replica_effect> resubscribe(bool force_bootstrap);
  /// A bootstrap in progress is cut off: the copy goes, the store stays.
  void abandon_bootstrap();
  std::vector<replica_effect> replay_buffer();
  bool apply_next(const committed& c, std::vector<replica_effect>& out);

  shard_store& store_;
  lineage history_;
  /// A bootstrap copies into here and replaces the store only once the
  /// copy is complete: one cut off halfway leaves the store (and what the
  /// core's file holds) as it was, history included.
  std::unique_ptr<shard_store> staging_;
  lineage history_before_; ///< restored when a bootstrap is cut off
  std::string last_id_; ///< of the last transaction applied ("" = unknown)
  size_t max_buffer_;
  replica_state state_ = replica_state::disconnected;
  std::string upstream_;
  uint64_t epoch_ = 0;
  bool subscribing_ = false;
  uint64_t snapshot_seqno_ = 0; ///< S of the running bootstrap
  lineage reply_history_;       ///< the core's history, adopted at the end
  std::deque<committed> buffer_;
  std::optional<record> last_record_;
  int64_t bootstrap_started_ms_ = 0;
  uint64_t bootstrap_records_ = 0;
  replica_stats stats_;
  std::vector<replica_state> trace_;
};

} // namespace starling::runtime::db
