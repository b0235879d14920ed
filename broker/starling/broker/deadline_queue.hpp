#pragma once

// Deadlines that all lie the same time after their start (a listener's
// connect timeout): they fall due in the order they were added, so a FIFO
// holds them, and one timer for the oldest serves them all. A timer per
// socket cost CAF's clock an entry and a pending message, about 200 B,
// for every client still connecting.

#include <cstdint>
#include <deque>
#include <optional>
#include <utility>
#include <vector>

namespace starling::broker {

template <class Key>
class deadline_queue {
public:
  explicit deadline_queue(std::int64_t after_ms) : after_ms_(after_ms) {
  }

  /// `key` started at `now_ms`; its deadline is `after_ms` later. Returns
  /// when to wake up if no timer is pending (the queue was empty).
  std::optional<std::int64_t> add(Key key, std::int64_t now_ms) {
    entries_.emplace_back(now_ms + after_ms_, std::move(key));
    if (entries_.size() == 1 && !armed_) {
      armed_ = true;
      return after_ms_;
    }
    return std::nullopt;
  }

  /// The timer fired at `now_ms`: the keys whose deadline passed, oldest
  /// first (the host checks whether each still matters), and when to wake
  /// up next, if anything is left.
  std::pair<std::vector<Key>, std::optional<std::int64_t>>
  fire(std::int64_t now_ms) {
    std::vector<Key> due;
    while (!entries_.empty() && entries_.front().first <= now_ms) {
      due.push_back(std::move(entries_.front().second));
      entries_.pop_front();
    }
    armed_ = !entries_.empty();
    std::optional<std::int64_t> next;
    if (armed_)
      next = entries_.front().first - now_ms;
    return {std::move(due), next};
  }

  std::size_t size() const noexcept {
    return entries_.size();
  }

private:
  std::int64_t after_ms_;
  bool armed_ = false;
  std::deque<std::pair<std::int64_t, Key>> entries_;
};

} // namespace starling::broker
