#include "starling/runtime/cluster/rules.hpp"

namespace starling::runtime::cluster {

std::optional<core_age> oldest(const std::vector<core_age>& cores) {
  std::optional<core_age> best;
  for (auto& c : cores)
    if (!best || older(c, *best))
      best = c;
  return best;
}

} // namespace starling::runtime::cluster
