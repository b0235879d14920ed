#pragma once

// Which of a node's sessions have no connection, and which of those it
// asked another node to take (rebalance and evacuation move disconnected
// sessions, EMQX's emqx_eviction_agent). A session asked to move stops
// counting here at once; if it is still here after `leave_timeout_ms`
// (the other node did not take it), it counts again. The client manager
// keeps one, tells it what its sessions do, and sends away what it picks.

#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace starling::broker {

class offline_sessions {
public:
  explicit offline_sessions(std::int64_t leave_timeout_ms = 15'000)
    : leave_timeout_ms_(leave_timeout_ms) {
  }

  /// The client connected again, or its session ended or moved here.
  void forget(const std::string& id) {
    offline_.erase(id);
    leaving_.erase(id);
  }

  /// The session lost its connection (unless it is already on its way).
  void disconnected(const std::string& id) {
    if (!leaving_.count(id))
      offline_.insert(id);
  }

  /// Whether `id` is offline here or on its way elsewhere.
  bool away(const std::string& id) const {
    return offline_.count(id) || leaving_.count(id);
  }

  /// Sessions asked to move longer than the timeout ago count again: their
  /// ids, to log.
  std::vector<std::string> expire(std::int64_t now_ms);

  /// Picks up to `count` offline sessions to send, round robin, to
  /// `targets` nodes: (id, target index). They count as leaving from now.
  std::vector<std::pair<std::string, std::size_t>>
  send_away(std::uint64_t count, std::size_t targets, std::int64_t now_ms);

  std::size_t offline() const noexcept {
    return offline_.size();
  }
  std::size_t leaving() const noexcept {
    return leaving_.size();
  }

private:
  std::int64_t leave_timeout_ms_;
  std::set<std::string> offline_;
  std::map<std::string, std::int64_t> leaving_; ///< id -> when asked
};

} // namespace starling::broker
