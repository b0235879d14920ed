#pragma once

// What an operator asks for when starting a rebalance or an evacuation
// (ctl and POST /api/v5/load_rebalance/...), as JSON with EMQX's field
// names, checked field by field. Numbers may come as JSON numbers or as
// the ctl's text; waits are seconds or a duration ("60s", "500ms").
//
//   rebalance:  nodes, conn_evict_rate, sess_evict_rate, wait_health_check,
//               wait_takeover, abs_conn_threshold, rel_conn_threshold,
//               abs_sess_threshold, rel_sess_threshold
//   evacuation: redirect_to, migrate_to, conn_evict_rate, sess_evict_rate,
//               wait_health_check, wait_takeover

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "starling/broker/evacuation.hpp"
#include "starling/broker/rebalance.hpp"

namespace starling::broker {

/// Fills `out` and `nodes` (empty: every running node); the error names the
/// field and what is wrong with it.
std::optional<std::string> read_rebalance_request(const nlohmann::json& j,
                                                  rebalance_options& out,
                                                  std::vector<std::string>& nodes);

std::optional<std::string> read_evacuation_request(const nlohmann::json& j,
                                                   evacuation_options& out);

} // namespace starling::broker
