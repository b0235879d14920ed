#include "starling/mgmt/node_stats.hpp"

namespace starling::mgmt {

namespace {

/// EMQX's key for each counter, once for both directions (to JSON and back).
struct field {
  const char* key;
  uint64_t node_stats::*member;
};

constexpr field stats_fields[] = {
  {"connections.count", &node_stats::connections},
  {"sessions.count", &node_stats::sessions},
  {"subscriptions.count", &node_stats::subscriptions},
  {"topics.count", &node_stats::topics},
  {"routes.count", &node_stats::routes},
  {"retained.count", &node_stats::retained},
};

constexpr field metrics_fields[] = {
  {"messages.dropped.no_subscribers", &node_stats::dropped_no_subscribers},
  {"messages.dropped.queue_full", &node_stats::dropped_queue_full},
  {"messages.dropped.qos0_offline", &node_stats::dropped_qos0_offline},
  {"messages.dropped.expired", &node_stats::dropped_expired},
  {"messages.dropped.too_large", &node_stats::dropped_too_large},
  {"messages.dropped.write_buffer", &node_stats::dropped_write_buffer},
  {"bytes.received", &node_stats::bytes_received},
  {"bytes.sent", &node_stats::bytes_sent},
  {"session.takenover.local", &node_stats::takeover_local},
  {"session.takenover.from_remote", &node_stats::takeover_from_remote},
  {"session.takenover.to_remote", &node_stats::takeover_to_remote},
};

std::string qos_key(int q, const char* what) {
  return "messages.qos" + std::to_string(q) + "." + what;
}

} // namespace

nlohmann::json node_stats::stats_json() const {
  nlohmann::json j = nlohmann::json::object();
  for (auto& f : stats_fields)
    j[f.key] = this->*f.member;
  j["live_connections.count"] = connections;
  return j;
}

nlohmann::json node_stats::metrics_json() const {
  nlohmann::json j{{"messages.received", received_total()},
                   {"messages.sent", sent_total()},
                   {"messages.dropped", dropped_total()}};
  for (auto& f : metrics_fields)
    j[f.key] = this->*f.member;
  for (int q = 0; q < 3; ++q) {
    j[qos_key(q, "received")] = received[q];
    j[qos_key(q, "sent")] = sent[q];
  }
  return j;
}

nlohmann::json node_stats::to_json() const {
  auto j = stats_json();
  j.update(metrics_json());
  return j;
}

node_stats node_stats::from_json(const nlohmann::json& j) {
  node_stats s;
  for (auto& f : stats_fields)
    s.*f.member = j.value(f.key, uint64_t{0});
  for (auto& f : metrics_fields)
    s.*f.member = j.value(f.key, uint64_t{0});
  for (int q = 0; q < 3; ++q) {
    s.received[q] = j.value(qos_key(q, "received"), uint64_t{0});
    s.sent[q] = j.value(qos_key(q, "sent"), uint64_t{0});
  }
  return s;
}

} // namespace starling::mgmt
