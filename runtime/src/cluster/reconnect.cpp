#include "starling/runtime/cluster/reconnect.hpp"

#include <algorithm>

namespace starling::runtime::cluster {

int64_t reconnect_schedule::interval(uint32_t failures) const {
  int64_t i = settings_.min_ms;
  for (uint32_t k = 0; k < failures && i < settings_.max_ms; ++k)
    i *= 2;
  return std::min(i, settings_.max_ms);
}

int64_t reconnect_schedule::wait(uint32_t failures, double jitter) const {
  auto i = interval(failures);
  jitter = std::clamp(jitter, 0.0, 1.0);
  return i / 2 + static_cast<int64_t>(static_cast<double>(i / 2) * jitter);
}

void reconnect_schedule::on_down(const std::string& node, int64_t now,
                                 double jitter) {
  entries_[node] = entry{0, now + wait(0, jitter), false};
}

void reconnect_schedule::on_up(const std::string& node) {
  entries_.erase(node);
}

std::vector<std::string> reconnect_schedule::due(int64_t now) {
  std::vector<std::string> out;
  for (auto& [node, e] : entries_)
    if (!e.in_flight && e.next_ms <= now) {
      e.in_flight = true;
      out.push_back(node);
    }
  return out;
}

void reconnect_schedule::on_failed(const std::string& node, int64_t now,
                                   double jitter) {
  auto i = entries_.find(node);
  if (i == entries_.end())
    return; // up or forgotten meanwhile
  auto& e = i->second;
  ++e.failures;
  e.in_flight = false;
  e.next_ms = now + wait(e.failures, jitter);
}

} // namespace starling::runtime::cluster
