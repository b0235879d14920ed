#include "starling/runtime/db/merge_table.hpp"

#include "starling/runtime/db/shard_store.hpp"

namespace starling::runtime::db {

// Records are indexed twice, by key (for lookups: who subscribes to this
// filter) and by owner (to drop or replace a node's records at once). Both
// indexes hold the same (key, owner, value) triples and never keep an empty
// inner map. The checksum hashes a record as record_hash(key, owner, value),
// the same function shard_store uses, with the key in the table slot.

bool merge_table::put(const std::string& key, const std::string& owner,
                      const std::string& value) {
  auto& slot = by_key_[key];
  auto [i, inserted] = slot.try_emplace(owner, value);
  if (!inserted) {
    if (i->second == value)
      return false;
    checksum_ ^= record_hash(key, owner, i->second);
    i->second = value;
  } else {
    ++size_;
  }
  checksum_ ^= record_hash(key, owner, value);
  by_owner_[owner][key] = value;
  return true;
}

bool merge_table::erase(const std::string& key, const std::string& owner) {
  auto k = by_key_.find(key);
  if (k == by_key_.end())
    return false;
  auto i = k->second.find(owner);
  if (i == k->second.end())
    return false;
  checksum_ ^= record_hash(key, owner, i->second);
  --size_;
  k->second.erase(i);
  if (k->second.empty())
    by_key_.erase(k);
  auto o = by_owner_.find(owner);
  o->second.erase(key);
  if (o->second.empty())
    by_owner_.erase(o);
  return true;
}

size_t merge_table::replace_owner(
  const std::string& owner, const std::map<std::string, std::string>& records) {
  size_t changes = 0;
  // Erase first what the owner no longer has; copy the keys because erase
  // edits by_owner_[owner] while we walk it.
  std::vector<std::string> gone;
  if (auto o = by_owner_.find(owner); o != by_owner_.end())
    for (const auto& [key, value] : o->second)
      if (!records.contains(key))
        gone.push_back(key);
  for (const auto& key : gone)
    changes += erase(key, owner) ? 1 : 0;
  for (const auto& [key, value] : records)
    changes += put(key, owner, value) ? 1 : 0;
  return changes;
}

size_t merge_table::drop_owner(const std::string& owner) {
  auto o = by_owner_.find(owner);
  if (o == by_owner_.end())
    return 0;
  size_t n = o->second.size();
  for (const auto& [key, value] : o->second) {
    checksum_ ^= record_hash(key, owner, value);
    auto k = by_key_.find(key);
    k->second.erase(owner);
    if (k->second.empty())
      by_key_.erase(k);
  }
  by_owner_.erase(o);
  size_ -= n;
  return n;
}

std::map<std::string, std::string> merge_table::owners(
  const std::string& key) const {
  auto k = by_key_.find(key);
  return k == by_key_.end() ? std::map<std::string, std::string>{} : k->second;
}

std::map<std::string, std::string> merge_table::owned_by(
  const std::string& owner) const {
  auto o = by_owner_.find(owner);
  return o == by_owner_.end() ? std::map<std::string, std::string>{}
                              : o->second;
}

std::vector<std::string> merge_table::keys() const {
  std::vector<std::string> out;
  out.reserve(by_key_.size());
  for (const auto& [key, slot] : by_key_)
    out.push_back(key);
  return out;
}

} // namespace starling::runtime::db
