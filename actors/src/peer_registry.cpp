#include "starling/actors/peer_registry.hpp"

#include <algorithm>

namespace starling::actors {

void peer_registry::add(const caf::node_id& nid, peer p) {
  std::lock_guard<std::mutex> guard(mtx_);
  peers_[nid] = std::move(p);
}

std::optional<peer_registry::peer>
peer_registry::remove_by_anchor(const caf::actor_addr& anchor) {
  std::lock_guard<std::mutex> guard(mtx_);
  for (auto i = peers_.begin(); i != peers_.end(); ++i) {
    if (i->second.anchor == anchor) {
      auto result = std::move(i->second);
      peers_.erase(i);
      return result;
    }
  }
  return std::nullopt;
}

std::optional<peer_registry::peer>
peer_registry::find(const caf::node_id& nid) const {
  std::lock_guard<std::mutex> guard(mtx_);
  auto i = peers_.find(nid);
  if (i == peers_.end())
    return std::nullopt;
  return i->second;
}

bool peer_registry::allowed(const caf::strong_actor_ptr& sender) const {
  if (!sender)
    return false;
  if (sender->node() == self_)
    return true;
  std::lock_guard<std::mutex> guard(mtx_);
  return peers_.count(sender->node()) > 0;
}

std::vector<std::string> peer_registry::hidden_names() const {
  std::lock_guard<std::mutex> guard(mtx_);
  std::vector<std::string> result;
  for (auto& [nid, p] : peers_)
    if (p.hidden)
      result.push_back(p.name);
  std::sort(result.begin(), result.end());
  return result;
}

} // namespace starling::actors
