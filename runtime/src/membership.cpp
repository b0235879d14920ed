#include "starling/runtime/membership.hpp"

#include <algorithm>

#include "starling/runtime/cluster/rules.hpp"

namespace starling::runtime {

std::string to_string(member_status status) {
  switch (status) {
    case member_status::joining:
      return "joining";
    case member_status::up:
      return "up";
    case member_status::down:
      return "down";
    case member_status::leaving:
      return "leaving";
  }
  return "unknown";
}

std::optional<member_status> member_status_from(const std::string& text) {
  for (auto s : {member_status::joining, member_status::up,
                 member_status::down, member_status::leaving})
    if (to_string(s) == text)
      return s;
  return std::nullopt;
}

membership::membership(member self) : self_(std::move(self)) {
  self_.status = member_status::up;
}

std::optional<membership_event> membership::upsert(member m, int64_t now_ms) {
  if (m.name == self_.name)
    return std::nullopt;
  auto i = std::lower_bound(
    peers_.begin(), peers_.end(), m.name,
    [](const member& x, const std::string& n) { return x.name < n; });
  bool was_up = false;
  if (i != peers_.end() && i->name == m.name) {
    was_up = i->status == member_status::up;
    if (m.status != i->status || m.started_at_ms != i->started_at_ms)
      m.since_ms = now_ms;
    else
      m.since_ms = i->since_ms;
    *i = std::move(m);
  } else {
    m.since_ms = now_ms;
    i = peers_.insert(i, std::move(m));
  }
  if (!was_up && i->status == member_status::up)
    return membership_event{membership_event::nodeup, i->name};
  if (was_up && i->status != member_status::up)
    return membership_event{membership_event::nodedown, i->name};
  return std::nullopt;
}

std::optional<membership_event>
membership::set_status(const std::string& name, member_status status,
                       int64_t now_ms) {
  auto p = find(name);
  if (p == nullptr || p == &self_)
    return std::nullopt;
  auto m = *p;
  m.status = status;
  return upsert(std::move(m), now_ms);
}

bool membership::remove(const std::string& name) {
  auto i = std::find_if(peers_.begin(), peers_.end(),
                        [&](const member& m) { return m.name == name; });
  if (i == peers_.end())
    return false;
  peers_.erase(i);
  return true;
}

void membership::reset() {
  peers_.clear();
}

const member* membership::find(const std::string& name) const {
  if (name == self_.name)
    return &self_;
  auto i = std::find_if(peers_.begin(), peers_.end(),
                        [&](const member& m) { return m.name == name; });
  return i == peers_.end() ? nullptr : &*i;
}

std::vector<std::string> membership::nodes() const {
  std::vector<std::string> result;
  for (auto& m : peers_)
    if (m.status == member_status::up)
      result.push_back(m.name);
  return result;
}

std::vector<std::string> membership::running_nodes() const {
  auto result = nodes();
  result.insert(std::lower_bound(result.begin(), result.end(), self_.name),
                self_.name);
  return result;
}

std::vector<std::string> membership::stopped_nodes() const {
  std::vector<std::string> result;
  for (auto& m : peers_)
    if (m.status == member_status::down)
      result.push_back(m.name);
  return result;
}

std::vector<member> membership::members() const {
  auto result = peers_;
  result.insert(std::lower_bound(result.begin(), result.end(), self_.name,
                                 [](const member& x, const std::string& n) {
                                   return x.name < n;
                                 }),
                self_);
  return result;
}

const member* membership::oldest_core() const {
  const member* best = nullptr;
  auto consider = [&](const member& m) {
    if (m.role != node_role::core || m.status != member_status::up)
      return;
    if (best == nullptr
        || cluster::older({m.name, m.started_at_ms},
                          {best->name, best->started_at_ms}))
      best = &m;
  };
  consider(self_);
  for (auto& m : peers_)
    consider(m);
  return best;
}

std::vector<std::string> membership::down_longer_than(int64_t ms,
                                                      int64_t now) const {
  std::vector<std::string> out;
  for (auto& m : peers_)
    if (m.status == member_status::down && now - m.since_ms >= ms)
      out.push_back(m.name);
  return out;
}

void membership::add_removal(removal r) {
  clear_removal(r.name);
  removals_.push_back(std::move(r));
  if (removals_.size() > max_removals)
    removals_.erase(removals_.begin());
}

bool membership::clear_removal(const std::string& name) {
  return std::erase_if(removals_, [&](auto& r) { return r.name == name; }) > 0;
}

const removal* membership::removed(const std::string& name) const {
  for (auto& r : removals_)
    if (r.name == name)
      return &r;
  return nullptr;
}

nlohmann::json membership::to_json(int64_t now_ms) const {
  auto oldest = oldest_core();
  auto list = nlohmann::json::array();
  for (auto& m : members()) {
    list.push_back({
      {"node", m.name},
      {"role", to_string(m.role)},
      {"status", to_string(m.status)},
      {"address", m.host + ":" + std::to_string(m.dist_port)},
      {"uptime_s", (now_ms - m.started_at_ms) / 1000},
      {"status_since_s", (now_ms - m.since_ms) / 1000},
      {"oldest_core", oldest != nullptr && oldest->name == m.name},
    });
  }
  return {{"self", self_.name},
          {"running_nodes", running_nodes()},
          {"stopped_nodes", stopped_nodes()},
          {"members", list}};
}

} // namespace starling::runtime
