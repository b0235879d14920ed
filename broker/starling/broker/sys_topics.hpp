#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace starling::broker {

/// The broker's counters and gauges, kept in one place so `$SYS`, the shell
/// and (later) the Prometheus endpoint all read the same figures.
struct broker_stats {
  uint64_t connections = 0;        ///< connected clients now
  uint64_t sessions = 0;           ///< sessions, connected or not
  uint64_t subscriptions = 0;      ///< subscriptions of all sessions
  uint64_t topics = 0;             ///< distinct filters in the routing trie
  uint64_t retained = 0;           ///< retained messages stored
  uint64_t messages_received = 0;  ///< PUBLISH from clients
  uint64_t messages_sent = 0;      ///< PUBLISH to clients
  uint64_t messages_dropped = 0;   ///< no subscriber, queue full, expired, ...
  uint64_t bytes_received = 0;
  uint64_t bytes_sent = 0;
};

/// The `$SYS/brokers/<node>/...` topics and payloads EMQX publishes: version,
/// uptime, datetime, sysdescr, stats/* and metrics/*. `now_ms` is Unix time.
std::vector<std::pair<std::string, std::string>>
sys_topics(const std::string& node, const std::string& version,
           int64_t uptime_ms, int64_t now_ms, const broker_stats& stats);

} // namespace starling::broker
