#pragma once

// One node's broker figures as the management API reports them (/stats,
// /metrics, Prometheus). The node fills it from its relaxed atomic
// counters; every other node reads it as JSON.

#include <array>
#include <cstdint>

#include <nlohmann/json.hpp>

namespace starling::mgmt {

struct node_stats {
  uint64_t connections = 0, sessions = 0, subscriptions = 0, topics = 0,
           routes = 0, retained = 0;
  std::array<uint64_t, 3> received{}; ///< PUBLISHes from clients, by QoS
  std::array<uint64_t, 3> sent{};     ///< PUBLISHes to clients, by QoS
  uint64_t dropped_no_subscribers = 0, dropped_queue_full = 0,
           dropped_qos0_offline = 0, dropped_expired = 0,
           dropped_too_large = 0, dropped_write_buffer = 0;
  uint64_t bytes_received = 0, bytes_sent = 0;
  /// Sessions taken over on this node from a connection of this node, from
  /// another node, and handed to another node.
  uint64_t takeover_local = 0, takeover_from_remote = 0, takeover_to_remote = 0;

  uint64_t received_total() const { return received[0] + received[1] + received[2]; }
  uint64_t sent_total() const { return sent[0] + sent[1] + sent[2]; }
  uint64_t dropped_total() const {
    return dropped_no_subscribers + dropped_queue_full + dropped_qos0_offline
           + dropped_expired + dropped_too_large + dropped_write_buffer;
  }

  /// EMQX's /stats keys ("connections.count", ...).
  nlohmann::json stats_json() const;
  /// EMQX's /metrics keys ("messages.received", "messages.qos1.sent", ...).
  nlohmann::json metrics_json() const;
  /// Every field, for the wire between nodes.
  nlohmann::json to_json() const;
  static node_stats from_json(const nlohmann::json& j);
};

} // namespace starling::mgmt
