#pragma once

// The cluster's ordering rule, written once: a core's age is its own start
// time, and the name breaks ties. The oldest running core of a group is that
// group's leader everywhere it matters: the sequencer of every shard, the
// autoheal leader, the node that cleans the session registry of nodes that
// went down, and the node autocluster joins.

#include <cstdint>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

namespace starling::runtime::cluster {

/// A core as the ordering rule sees it.
struct core_age {
  std::string name;
  int64_t started_at_ms = 0;
};

/// Whether a is older than b (earlier start; the smaller name on a tie).
inline bool older(const core_age& a, const core_age& b) {
  return std::tie(a.started_at_ms, a.name) < std::tie(b.started_at_ms, b.name);
}

/// The oldest of `cores`, or nullopt when there is none.
std::optional<core_age> oldest(const std::vector<core_age>& cores);

} // namespace starling::runtime::cluster
