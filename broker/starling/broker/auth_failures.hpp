#pragma once

// Failed authentications per peer address, so that a password cannot be
// guessed at connection speed: after `max_failures` failures within
// `window_ms` an address is blocked until the oldest of them is `window_ms`
// old (a sliding window). While blocked, its CONNECTs are refused without
// looking at the password, and they do not count as failures. Time is
// passed in.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <unordered_map>

namespace starling::broker {

class auth_failures {
public:
  /// `max_failures` 0 turns limiting off.
  auth_failures(std::uint32_t max_failures, std::int64_t window_ms,
                std::size_t max_tracked = 100000)
    : max_(max_failures), window_ms_(window_ms), max_tracked_(max_tracked) {
  }

  /// Whether `peer` may try now.
  bool blocked(std::string_view peer, std::int64_t now_ms);

  /// `peer` failed to authenticate at `now_ms`.
  void failed(std::string_view peer, std::int64_t now_ms);

  /// `peer` authenticated: its count starts again.
  void succeeded(std::string_view peer);

  std::size_t tracked() const noexcept {
    return peers_.size();
  }

private:
  void forget_old(std::deque<std::int64_t>& times, std::int64_t now_ms) const;
  void prune(std::int64_t now_ms);

  std::uint32_t max_;
  std::int64_t window_ms_;
  std::size_t max_tracked_;
  std::unordered_map<std::string, std::deque<std::int64_t>> peers_;
};

} // namespace starling::broker
