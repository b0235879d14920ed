#pragma once

// Writes whose answer only confirms them (a seqno, a flag): the answer is
// matched to its request instead of straying into the asking actor's
// behaviour, and a failure is logged with what was being done.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <utility>

#include <caf/all.hpp>

#include "starling/actors/wire/node.hpp"
#include "starling/runtime/log.hpp"

namespace starling::actors {

/// The owner's timer for its confirmed writes: `confirmed_writes::sweep`
/// with the number it carries.
using confirm_sweep_atom = caf::atom_constant<caf::atom("c_sweep")>;

/// The confirmed writes of one actor to one other, at most `window` of them
/// in flight; the rest wait here in the order they were made. CAF 0.17
/// keeps an actor's open requests in an unsorted vector and searches it for
/// every answer, so a burst of writes all in flight (a million route
/// writes for a million subscriptions, a registry write per client of a
/// connect storm) cost time quadratic in their number: the 1M-filter
/// benchmark's router was busy for 4 minutes instead of seconds.
///
/// The requests carry no CAF timeout: each would be an entry in CAF's
/// clock, set and cancelled through its thread (a connect storm makes two
/// writes per client). One timer of the owner's own instead, running while
/// writes are in flight, gives the place of an answer that never comes
/// back after `answer_timeout`. The owner's behaviour passes its
/// `confirm_sweep_atom` messages to `sweep`.
class confirmed_writes {
public:
  static constexpr size_t window = 256;
  /// An answer that never comes (its target died holding the request, or
  /// the node it ran on went away) gives its place back after this long,
  /// logged as a timeout.
  static constexpr std::chrono::seconds answer_timeout{60};

  /// Asks `to` with `xs...`; an `Answer` is the confirmation, an error is
  /// logged as "<what>: <reason>". `self` owns this object (in its state).
  template <class Answer, class Self, class... Ts>
  void send(Self* self, const caf::actor& to, runtime::logger* log,
            std::string what, Ts&&... xs) {
    auto go = [this, self, to, what = std::move(what),
               msg = caf::make_message(std::forward<Ts>(xs)...)]() mutable {
      auto seq = first_seq_ + open_.size();
      open_.push_back({self->clock().now(), std::move(what), false});
      ++in_flight_;
      arm(self);
      self->request(to, caf::infinite, std::move(msg))
        .then([this, seq](const Answer&) { done(seq); },
              [this, seq](caf::error& err) {
                if (auto e = unanswered(seq))
                  log_->warning(e->what + ": " + describe(err));
                done(seq);
              });
    };
    log_ = log; // the same for every write of the owner
    if (in_flight_ < window)
      go();
    else
      waiting_.push_back(std::move(go));
  }

  /// The owner's `confirm_sweep_atom` handler: when `which` is this
  /// object's timer, gives up the writes older than `answer_timeout`.
  template <class Self>
  void sweep(Self* self, uint64_t which) {
    if (which != id() || !armed_)
      return;
    auto now = self->clock().now();
    while (!open_.empty()
           && (open_.front().answered
               || now - open_.front().sent >= answer_timeout)) {
      auto& oldest = open_.front();
      if (!oldest.answered) {
        log_->warning(oldest.what + ": no answer within "
                      + std::to_string(answer_timeout.count()) + " s");
        --in_flight_;
        next();
      }
      open_.pop_front();
      ++first_seq_;
    }
    armed_ = false; // only now: writes started above set no timer of their own
    arm(self);
  }

  size_t in_flight() const { return in_flight_; }
  size_t waiting() const { return waiting_.size(); }

private:
  struct entry {
    caf::actor_clock::time_point sent;
    std::string what;
    bool answered;
  };

  uint64_t id() const { return reinterpret_cast<uintptr_t>(this); }

  /// The write `seq` while it waits for its answer (not once answered or
  /// given up).
  entry* unanswered(uint64_t seq) {
    if (seq < first_seq_ || seq - first_seq_ >= open_.size())
      return nullptr;
    auto& e = open_[seq - first_seq_];
    return e.answered ? nullptr : &e;
  }

  /// Sets the timer for the oldest write in flight, unless it is set.
  template <class Self>
  void arm(Self* self) {
    if (armed_ || open_.empty())
      return;
    armed_ = true;
    auto due = open_.front().sent + answer_timeout - self->clock().now();
    self->delayed_send(self, std::max(due, decltype(due)::zero()),
                       confirm_sweep_atom::value, id());
  }

  /// The answer to `seq` came (a late one, after its place was given up,
  /// is ignored).
  void done(uint64_t seq) {
    auto e = unanswered(seq);
    if (!e)
      return;
    e->answered = true;
    std::string{}.swap(e->what);
    while (!open_.empty() && open_.front().answered) {
      open_.pop_front();
      ++first_seq_;
    }
    --in_flight_;
    next();
  }

  /// Starts the first waiting write.
  void next() {
    if (waiting_.empty())
      return;
    auto go = std::move(waiting_.front());
    waiting_.pop_front();
    go();
  }

  size_t in_flight_ = 0;
  std::deque<std::function<void()>> waiting_;
  /// The writes sent and not yet given up, oldest first; `first_seq_` is
  /// the number of the first.
  std::deque<entry> open_;
  uint64_t first_seq_ = 0;
  bool armed_ = false;
  runtime::logger* log_ = nullptr;
};

} // namespace starling::actors
