#pragma once

// A session taken over from another node, as its new node sees it. The new
// session asks the old node for it (fetching); once it arrives, the old
// node keeps its subscriptions for a grace period and passes on what is
// still routed there, so a message can come twice (directly and the old
// way) and the direct way can overtake the old one. Until the old node says
// it is done (draining), direct messages are held, so per-topic order
// holds across the move; for a window after the arrival, second copies are
// dropped by message id (draining, then deduping); then the move is over
// (settled). The session actor asks this class what to do with each
// message and carries it out.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "starling/broker/channel.hpp"
#include "starling/broker/message.hpp"
#include "starling/broker/session.hpp"

namespace starling::broker {

class session_move {
public:
  enum class phase {
    none,     ///< not moved here (a session that started on this node)
    fetching, ///< asked the old node, waiting for its answer
    draining, ///< arrived; the old node still passes messages on
    deduping, ///< the old node is done; second copies still dropped
    settled,  ///< the move is over
  };

  struct limits {
    int64_t dedup_window_ms = 5000; ///< second copies dropped this long
    size_t dedup_capacity = 100000; ///< ids remembered meanwhile
    /// Direct messages held while draining; beyond, they go out at once
    /// (order across the move is then no longer kept).
    size_t max_held = 100000;
  };

  /// A message waiting for the old node: routed here, with the
  /// subscription keys it matched; or, for a session that came back, as
  /// its queue had it.
  struct held_message {
    message msg;
    std::vector<std::string> keys;
    std::optional<delivery> queued;
  };

  /// What to do with one message.
  enum class verdict { deliver, hold, drop };

  session_move() = default;
  explicit session_move(limits l) : limits_(l) {}

  phase current() const { return phase_; }
  bool fetching() const { return phase_ == phase::fetching; }
  /// Whether a move is on (arrived, and the dedup window still open).
  bool moving() const {
    return phase_ == phase::draining || phase_ == phase::deduping;
  }

  /// The session is asked for from the old node.
  void fetch();
  /// The old node answered. `arrived`: it sent the session (and passes
  /// messages on from now); the result is the delay after which
  /// window_closed() is due. Otherwise (nothing to take, no answer) the
  /// session starts anew here and the move is over.
  std::optional<int64_t> fetched(bool arrived);
  /// After fetched(true), with the session that arrived: the messages it
  /// brought (inflight, queued) count as seen, so that their copies still
  /// routed here directly or passed on are dropped. Without it a client
  /// that comes back to a node within the grace period, whose route there
  /// never went, got such messages twice.
  void arrived_with(const session& s);
  /// A client came back to this node within the grace period after moving
  /// away, and its session came back (fetched(true)) with `s`: as
  /// arrived_with(s), and the messages queued in `s` wait with the direct
  /// ones, which they go out merged with in publish order. Direct messages
  /// published before them may have reached this node first, and still
  /// wait in the session's mailbox behind the takeover's answer (seed 43
  /// of session_sim --slow-links).
  void came_back_with(session& s, int64_t now_ms);
  /// The same for the ids the node before had seen while its own move was
  /// open (seen_ids() there, handed over with the session): copies of
  /// messages the session received and completed there count as seen.
  void arrived_with(const std::vector<uint64_t>& seen);
  /// The message ids this move has seen, while it is open (draining or
  /// deduping; empty otherwise): handed over with the session when it
  /// moves on, so that the next node drops their late copies.
  std::vector<uint64_t> seen_ids() const;

  /// A message routed to this node directly. `hold` keeps it here until
  /// old_done() or window_closed() returns it.
  verdict direct(const message& m, const std::vector<std::string>& keys);
  /// A message the old node passed on. Delivered now if it was also held
  /// from the direct way (it is then skipped when the held ones go out).
  verdict via_old(uint64_t id);

  /// Before a message `m` the old node passed on is delivered: the held
  /// messages of the same publisher and topic with a smaller id, by id.
  /// They were published on the same node before `m` (ids grow per node)
  /// and reached this node directly because its route was there already:
  /// a client that came back to a node within the grace period, over a
  /// slow link. They go first, so that the topic keeps its order.
  std::vector<held_message> older_held(const message& m);
  /// The old node has passed on everything routed to it: the held
  /// messages not yet delivered, in arrival order except that those of one
  /// publisher and topic go by id (ids grow per node).
  std::vector<held_message> old_done();
  /// Takeovers asked for while draining wait for old_done(), then are
  /// served in the order they came, except that one from the old node's
  /// own session (a client back there within the grace period) goes
  /// first: that session holds what was still routed to it while it asked,
  /// older than anything here. Served after another, the session went out
  /// through that other connection first, and the older messages reached
  /// the client after newer ones. `from_old(w)`: whether `w` came from it.
  template <class Takeover, class FromOld>
  static void serve_order(std::vector<Takeover>& waiting, FromOld from_old) {
    std::stable_partition(waiting.begin(), waiting.end(), from_old);
  }
  /// The dedup window closed (the old node may never have said it was
  /// done): what is still held, and the move is over.
  std::vector<held_message> window_closed();
  /// The session leaves this node again: what is held goes into it first.
  std::vector<held_message> release();
  /// After release(): a message still routed here (directly, or passed on
  /// by the node before) that the session now elsewhere should get. A
  /// second copy of one seen here is dropped: the session took the first
  /// with it, and its new node has not seen its id.
  verdict pass_on(uint64_t id);

  uint64_t second_copies() const { return second_copies_; }
  size_t held() const { return open_ ? open_->held.size() : 0; }

private:
  bool second_copy(uint64_t id);
  /// Counts `id` as seen (within the dedup capacity).
  void remember(uint64_t id);
  std::vector<held_message> take_held();

  /// What a move holds while it is open: on the heap, since every session
  /// has a session_move and most never move (176 B per idle client).
  struct open_move {
    std::unordered_set<uint64_t> seen;
    std::vector<held_message> held;
    std::unordered_set<uint64_t> held_ids; ///< held and not yet delivered
  };
  open_move& open() {
    if (!open_)
      open_ = std::make_unique<open_move>();
    return *open_;
  }

  limits limits_;
  phase phase_ = phase::none;
  uint64_t second_copies_ = 0;
  std::unique_ptr<open_move> open_;
};

const char* to_string(session_move::phase p);

/// Delivers a held message to `c`, as routed or as it was queued.
effect_list deliver(channel& c, session_move::held_message h, int64_t now_ms);

} // namespace starling::broker
