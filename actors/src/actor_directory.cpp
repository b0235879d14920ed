#include "starling/actors/actor_directory.hpp"

#include <algorithm>

#include <caf/abstract_actor.hpp>
#include <caf/actor_cast.hpp>

#include "starling/runtime/shell_text.hpp"

namespace starling::actors {

void actor_directory::label_system(const caf::node_id& system,
                                   std::string label) {
  std::lock_guard<std::mutex> guard(mtx_);
  labels_.emplace_back(system, std::move(label));
}

void actor_directory::add(const caf::actor& a, std::string name,
                          std::string kind) {
  auto* ptr = caf::actor_cast<caf::abstract_actor*>(a);
  key k{a.id(), ptr};
  {
    std::lock_guard<std::mutex> guard(mtx_);
    auto interned = &*kinds_.insert(std::move(kind)).first;
    entries_[k] = {std::move(name), interned, a};
  }
  ptr->attach_functor([this, k] { remove(k); });
}

void actor_directory::rename(const caf::abstract_actor* a, std::string name) {
  std::lock_guard<std::mutex> guard(mtx_);
  if (auto i = entries_.find({a->id(), a}); i != entries_.end())
    i->second.name = std::move(name);
}

actor_directory::entry actor_directory::listed(const stored& s) const {
  std::string label;
  for (auto& [system, l] : labels_)
    if (system == s.handle.node())
      label = l;
  return {s.handle.id(), runtime::actor_ref(label, s.handle.id()), s.name,
          *s.kind, s.handle};
}

std::vector<actor_directory::entry> actor_directory::list() const {
  std::lock_guard<std::mutex> guard(mtx_);
  std::vector<entry> out;
  out.reserve(entries_.size());
  for (auto& [k, s] : entries_)
    out.push_back(listed(s));
  return out;
}

std::optional<actor_directory::entry>
actor_directory::find(const std::string& id_or_name) const {
  std::lock_guard<std::mutex> guard(mtx_);
  for (auto& [k, s] : entries_)
    if (s.name == id_or_name)
      return listed(s);
  for (auto& [k, s] : entries_)
    if (auto e = listed(s); e.ref == id_or_name)
      return e;
  return std::nullopt;
}

void actor_directory::remove(key k) {
  std::lock_guard<std::mutex> guard(mtx_);
  entries_.erase(k);
}

void actor_directory::clear() {
  std::map<key, stored> dropped;
  {
    std::lock_guard<std::mutex> guard(mtx_);
    dropped.swap(entries_);
  }
  // Released outside the lock and the map: a last handle ends its actor,
  // whose attached functor calls remove().
}

actor_directory::~actor_directory() {
  clear();
}

} // namespace starling::actors
