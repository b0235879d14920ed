#pragma once

// Writes whose answer only confirms them (a seqno, a flag): the answer is
// matched to its request instead of straying into the asking actor's
// behaviour, and a failure is logged with what was being done.

#include <chrono>
#include <cstddef>
#include <deque>
#include <functional>
#include <string>
#include <utility>

#include <caf/all.hpp>

#include "starling/actors/wire/node.hpp"
#include "starling/runtime/log.hpp"

namespace starling::actors {

/// The confirmed writes of one actor to one other, at most `window` of them
/// in flight; the rest wait here in the order they were made. CAF 0.17
/// keeps an actor's open requests in an unsorted vector and searches it for
/// every answer, so a burst of writes all in flight (a million route
/// writes for a million subscriptions, a registry write per client of a
/// connect storm) cost time quadratic in their number: the 1M-filter
/// benchmark's router was busy for 4 minutes instead of seconds.
class confirmed_writes {
public:
  static constexpr size_t window = 256;
  /// An answer that never comes (its target died holding the request)
  /// gives its place back after this long, logged as a timeout.
  static constexpr std::chrono::seconds answer_timeout{60};

  /// Asks `to` with `xs...`; an `Answer` is the confirmation, an error is
  /// logged as "<what>: <reason>". `self` owns this object (in its state).
  template <class Answer, class Self, class... Ts>
  void send(Self* self, const caf::actor& to, runtime::logger* log,
            std::string what, Ts&&... xs) {
    auto go = [this, self, to, log, what = std::move(what),
               msg = caf::make_message(std::forward<Ts>(xs)...)]() mutable {
      ++in_flight_;
      self->request(to, answer_timeout, std::move(msg))
        .then([this](const Answer&) { done(); },
              [this, log, what = std::move(what)](caf::error& err) {
                log->warning(what + ": " + describe(err));
                done();
              });
    };
    if (in_flight_ < window)
      go();
    else
      waiting_.push_back(std::move(go));
  }

  size_t in_flight() const { return in_flight_; }
  size_t waiting() const { return waiting_.size(); }

private:
  void done() {
    --in_flight_;
    if (waiting_.empty())
      return;
    auto next = std::move(waiting_.front());
    waiting_.pop_front();
    next();
  }

  size_t in_flight_ = 0;
  std::deque<std::function<void()>> waiting_;
};

} // namespace starling::actors
