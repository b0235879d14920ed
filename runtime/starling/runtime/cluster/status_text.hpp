#pragma once

// The text `ctl cluster status` and remsh's partitions() print for the
// partition and healing part of the cluster status JSON.

#include <string>

#include <nlohmann/json.hpp>

namespace starling::runtime::cluster {

/// Lines on the partition alarm, autoheal, the last heal, members being
/// dialled and removed members ("" parts are left out).
std::string format_cluster_health(const nlohmann::json& status);

/// The text `ctl cluster discovery` prints for the autocluster JSON.
std::string format_discovery(const nlohmann::json& d);

} // namespace starling::runtime::cluster
