#include "starling/broker/auth_failures.hpp"

namespace starling::broker {

void auth_failures::forget_old(std::deque<std::int64_t>& times,
                               std::int64_t now_ms) const {
  while (!times.empty() && times.front() + window_ms_ <= now_ms)
    times.pop_front();
}

bool auth_failures::blocked(std::string_view peer, std::int64_t now_ms) {
  if (max_ == 0)
    return false;
  auto i = peers_.find(std::string(peer));
  if (i == peers_.end())
    return false;
  forget_old(i->second, now_ms);
  if (i->second.empty()) {
    peers_.erase(i);
    return false;
  }
  return i->second.size() >= max_;
}

void auth_failures::failed(std::string_view peer, std::int64_t now_ms) {
  if (max_ == 0)
    return;
  if (peers_.size() >= max_tracked_)
    prune(now_ms);
  auto& times = peers_[std::string(peer)];
  forget_old(times, now_ms);
  times.push_back(now_ms);
  if (times.size() > max_)
    times.pop_front();
}

void auth_failures::succeeded(std::string_view peer) {
  peers_.erase(std::string(peer));
}

void auth_failures::prune(std::int64_t now_ms) {
  for (auto i = peers_.begin(); i != peers_.end();) {
    forget_old(i->second, now_ms);
    i = i->second.empty() ? peers_.erase(i) : std::next(i);
  }
  // Still full (a flood of distinct addresses): start over rather than
  // grow without bound; each address is then only limited afresh.
  if (peers_.size() >= max_tracked_)
    peers_.clear();
}

} // namespace starling::broker
