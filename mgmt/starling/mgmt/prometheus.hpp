#pragma once

// Prometheus text exposition format (version 0.0.4) of the nodes' figures:
// the broker's gauges and counters and the Mria figures under EMQX's names
// with our prefix (starling_mria_lag, ..._server_mql, ...), every sample
// labelled by node (and shard). Each family has one HELP and one TYPE line
// and its samples together, as `promtool check metrics` requires.

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "starling/mgmt/node_stats.hpp"

namespace starling::mgmt {

struct node_figures {
  std::string node;
  node_stats stats;
  nlohmann::json rlog; ///< the node's rlog status JSON (may be null)
  uint64_t alarms = 0; ///< active alarms raised by the node
};

std::string render_prometheus(const std::vector<node_figures>& nodes);

/// A label value with \, " and newline escaped.
std::string prometheus_label(const std::string& value);

} // namespace starling::mgmt
