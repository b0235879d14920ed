#include "starling/actors/actor_directory.hpp"

#include <algorithm>

#include <caf/abstract_actor.hpp>
#include <caf/actor_addr.hpp>
#include <caf/actor_cast.hpp>

namespace starling::actors {

void actor_directory::add(const caf::actor& a, std::string name,
                          std::string kind) {
  {
    std::lock_guard<std::mutex> guard(mtx_);
    entries_.push_back({a.id(), std::move(name), std::move(kind), a});
  }
  auto addr = a.address();
  caf::actor_cast<caf::abstract_actor*>(a)->attach_functor(
    [this, addr] { remove(addr); });
}

void actor_directory::rename(const caf::actor_addr& a, std::string name) {
  std::lock_guard<std::mutex> guard(mtx_);
  for (auto& e : entries_)
    if (e.handle.address() == a)
      e.name = std::move(name);
}

std::vector<actor_directory::entry> actor_directory::list() const {
  std::lock_guard<std::mutex> guard(mtx_);
  return entries_;
}

std::optional<actor_directory::entry>
actor_directory::find(const std::string& id_or_name) const {
  std::lock_guard<std::mutex> guard(mtx_);
  for (auto& e : entries_)
    if (e.name == id_or_name || std::to_string(e.id) == id_or_name)
      return e;
  return std::nullopt;
}

void actor_directory::remove(const caf::actor_addr& a) {
  std::lock_guard<std::mutex> guard(mtx_);
  entries_.erase(std::remove_if(entries_.begin(), entries_.end(),
                                [&](const entry& e) { return e.handle.address() == a; }),
                 entries_.end());
}

void actor_directory::clear() {
  std::lock_guard<std::mutex> guard(mtx_);
  entries_.clear();
}

} // namespace starling::actors
