#include "starling/broker/offline_sessions.hpp"

namespace starling::broker {

std::vector<std::string> offline_sessions::expire(std::int64_t now_ms) {
  std::vector<std::string> back;
  for (auto i = leaving_.begin(); i != leaving_.end();) {
    if (now_ms - i->second < leave_timeout_ms_) {
      ++i;
      continue;
    }
    back.push_back(i->first);
    offline_.insert(i->first);
    i = leaving_.erase(i);
  }
  return back;
}

std::vector<std::pair<std::string, std::size_t>>
offline_sessions::send_away(std::uint64_t count, std::size_t targets,
                            std::int64_t now_ms) {
  std::vector<std::pair<std::string, std::size_t>> out;
  if (targets == 0)
    return out;
  for (auto i = offline_.begin(); i != offline_.end() && count > 0; --count) {
    out.emplace_back(*i, out.size() % targets);
    leaving_.emplace(*i, now_ms);
    i = offline_.erase(i);
  }
  return out;
}

} // namespace starling::broker
