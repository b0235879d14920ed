#pragma once

// Timers of many owners that need no precision finer than one tick (the
// keepalive of every session of a node, which counts in seconds): kept in
// buckets of one tick, served by one periodic timer of the host while any
// is pending. A CAF timer per session cost CAF's clock an entry and a
// pending message, about 240 B per connected client, and an entry set
// through the clock's thread at every CONNECT.

#include <cstddef>
#include <cstdint>
#include <map>
#include <utility>
#include <vector>

namespace starling::broker {

template <class Key>
class timer_wheel {
public:
  explicit timer_wheel(std::int64_t tick_ms) : tick_ms_(tick_ms) {
  }

  /// `key` falls due at `due_ms`; it comes out of the first tick at or
  /// after that (never early, at most one tick late). Returns true when
  /// the host is to start ticking: nothing was pending and no tick runs.
  bool add(std::int64_t due_ms, Key key) {
    // The host ticks exactly while a key is pending (tick() says so).
    bool start = buckets_.empty();
    auto bucket = due_ms / tick_ms_ + (due_ms % tick_ms_ > 0 ? 1 : 0);
    buckets_[bucket].push_back(std::move(key));
    return start;
  }

  /// The host's tick at `now_ms`: the keys that fell due, oldest first
  /// (the host checks whether each still matters), and whether to tick
  /// again; once it says no, the next `add` starts the ticks again.
  std::pair<std::vector<Key>, bool> tick(std::int64_t now_ms) {
    std::vector<Key> due;
    while (!buckets_.empty() && buckets_.begin()->first * tick_ms_ <= now_ms) {
      for (auto& k : buckets_.begin()->second)
        due.push_back(std::move(k));
      buckets_.erase(buckets_.begin());
    }
    return {std::move(due), !buckets_.empty()};
  }

  /// Keys pending (counted each time: only tests ask).
  std::size_t size() const noexcept {
    std::size_t n = 0;
    for (const auto& [tick, keys] : buckets_)
      n += keys.size();
    return n;
  }

private:
  std::int64_t tick_ms_;
  std::map<std::int64_t, std::vector<Key>> buckets_; ///< by tick number
};

} // namespace starling::broker
