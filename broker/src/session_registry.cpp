#include "starling/broker/session_registry.hpp"

#include <algorithm>

#include "starling/runtime/cluster/rules.hpp"

namespace starling::broker {

session_registry::session_registry(std::string me, bool core,
                                   int64_t started_at_ms)
  : me_(std::move(me)), core_(core), started_at_ms_(started_at_ms) {}

registry_effect session_registry::put_here(const std::string& id) const {
  return {registry_effect::put, id, me_, 0};
}

void session_registry::hold(const std::string& id) {
  held_.insert(id);
}

registry_effects session_registry::registered(const std::string& id) {
  held_.insert(id);
  if (auto i = table_.find(id); i != table_.end() && i->second == me_)
    return {};
  return {put_here(id)};
}

registry_effects session_registry::released(const std::string& id) {
  if (held_.erase(id) == 0)
    return {};
  return {{registry_effect::erase_if, id, me_, 0}};
}

registry_effects session_registry::changed(const std::string& id, bool present,
                                           const std::string& node) {
  if (!present) {
    table_.erase(id);
    // Erased while the session is still held here: the cleaner did not yet
    // count this node as running (just after a partition healed, say).
    // The holder writes it again.
    if (!held_.count(id))
      return {};
    ++stats_.registered_again;
    return {put_here(id)};
  }
  table_[id] = node;
  if (node == me_) {
    if (held_.count(id))
      return {};
    // It names this node for a session this node does not hold: a write
    // of ours that a retry or a heal brought back after the session ended
    // or moved on. It goes (erase_if: unless it has changed since), or it
    // would send takeovers here and supersede the session's real holder.
    ++stats_.stale_erased;
    return {{registry_effect::erase_if, id, me_, 0}};
  }
  if (!held_.count(id))
    return {};
  return {{registry_effect::check_later, id, node, supersede_after_ms}};
}

bool session_registry::gives_way(const std::string& id,
                                 const std::string& node) const {
  auto i = table_.find(id);
  return i != table_.end() && i->second == node && node != me_
         && held_.count(id) > 0;
}

registry_effects session_registry::synced() {
  registry_effects out;
  for (auto& id : held_)
    if (!table_.count(id))
      out.push_back(put_here(id));
  stats_.after_sync += out.size();
  return out;
}

bool session_registry::cleans() const {
  if (!core_)
    return false;
  runtime::cluster::core_age mine{me_, started_at_ms_};
  for (auto& m : running_)
    if (m.core && runtime::cluster::older({m.name, m.started_at_ms}, mine))
      return false;
  return true;
}

registry_effects session_registry::running(
  const std::vector<registry_member>& others) {
  running_ = others;
  registry_effects out;
  if (!cleans())
    return out;
  std::set<std::string> alive{me_};
  for (auto& m : running_)
    alive.insert(m.name);
  for (auto& [id, node] : table_)
    if (!alive.count(node))
      out.push_back({registry_effect::erase_if, id, node, 0});
  // In id order: the table is a hash map, the effects are deterministic.
  std::sort(out.begin(), out.end(),
            [](auto& x, auto& y) { return x.id < y.id; });
  stats_.cleaned += out.size();
  return out;
}

const std::string* session_registry::holder(const std::string& id) const {
  auto i = table_.find(id);
  return i == table_.end() ? nullptr : &i->second;
}

std::optional<std::string>
session_registry::holder_elsewhere(const std::string& id) const {
  auto i = table_.find(id);
  if (i == table_.end() || i->second == me_)
    return std::nullopt;
  return i->second;
}

} // namespace starling::broker
