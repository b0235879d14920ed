#pragma once

#include <atomic>
#include <cstdint>

#include "starling/broker/sys_topics.hpp"

namespace starling::actors::mqtt {

/// The broker's figures, updated by the MQTT actors of a node and read by
/// $SYS, the shell and the management API (/stats, /metrics, Prometheus). Relaxed atomics: each
/// figure is exact, a snapshot is not a consistent cut (as in EMQX).
struct metrics {
  std::atomic<uint64_t> connections{0};
  std::atomic<uint64_t> sessions{0};
  std::atomic<uint64_t> subscriptions{0};
  std::atomic<uint64_t> topics{0};
  std::atomic<uint64_t> retained{0};
  std::atomic<uint64_t> messages_received{0};
  std::atomic<uint64_t> messages_sent{0};
  std::atomic<uint64_t> messages_dropped{0};
  std::atomic<uint64_t> bytes_received{0};
  std::atomic<uint64_t> bytes_sent{0};
  /// Routes in the cluster's table as this node holds it (own + others').
  std::atomic<uint64_t> routes{0};
  std::atomic<uint64_t> received_qos[3] = {0, 0, 0};
  std::atomic<uint64_t> sent_qos[3] = {0, 0, 0};
  /// messages_dropped by reason (their sum).
  std::atomic<uint64_t> dropped_no_subscribers{0}, dropped_queue_full{0},
    dropped_qos0_offline{0}, dropped_expired{0}, dropped_too_large{0},
    dropped_write_buffer{0};
  std::atomic<uint64_t> takeover_local{0}, takeover_from_remote{0},
    takeover_to_remote{0};

  broker::broker_stats snapshot() const {
    auto r = [](const std::atomic<uint64_t>& x) {
      return x.load(std::memory_order_relaxed);
    };
    return {r(connections),       r(sessions),      r(subscriptions),
            r(topics),            r(retained),      r(messages_received),
            r(messages_sent),     r(messages_dropped), r(bytes_received),
            r(bytes_sent)};
  }
};

inline void bump(std::atomic<uint64_t>& x, uint64_t n = 1) {
  x.fetch_add(n, std::memory_order_relaxed);
}

inline void drop(std::atomic<uint64_t>& x, uint64_t n = 1) {
  x.fetch_sub(n, std::memory_order_relaxed);
}

} // namespace starling::actors::mqtt
