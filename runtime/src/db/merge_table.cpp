#include "starling/runtime/db/merge_table.hpp"

#include <algorithm>

#include "starling/runtime/db/shard_store.hpp"

namespace starling::runtime::db {

// Records are indexed twice, by key (for lookups: who subscribes to this
// filter) and by owner (to drop or replace a node's records at once). A
// record lives in its key's slot; the owner's index holds pointers to the
// keys (a std::map's keys do not move). Neither keeps an empty slot. The
// checksum hashes a record as record_hash(key, owner, value), the same
// function shard_store uses, with the key in the table slot.

namespace {

/// `owner`'s record in a key's slot (end() when it has none).
template <class Slot>
auto find_owned(Slot& slot, uint32_t owner) {
  return std::find_if(slot.begin(), slot.end(),
                      [owner](const auto& o) { return o.owner == owner; });
}

} // namespace

merge_table::owner_id merge_table::intern(const std::string& owner) {
  auto [i, added] = owner_ids_.try_emplace(owner,
                                           static_cast<owner_id>(owner_names_.size()));
  if (added) {
    owner_names_.push_back(owner);
    by_owner_.emplace_back();
  }
  return i->second;
}

const merge_table::owner_id*
merge_table::find_owner(const std::string& owner) const {
  auto i = owner_ids_.find(owner);
  return i == owner_ids_.end() ? nullptr : &i->second;
}

bool merge_table::put(const std::string& key, const std::string& owner,
                      const std::string& value) {
  auto id = intern(owner);
  auto k = by_key_.try_emplace(key).first;
  auto& slot = k->second;
  auto r = find_owned(slot, id);
  if (r != slot.end()) {
    if (r->value == value)
      return false;
    checksum_ ^= record_hash(key, owner, r->value);
    r->value = value;
  } else {
    slot.push_back({id, value});
    by_owner_[id].insert(&k->first);
    ++size_;
  }
  checksum_ ^= record_hash(key, owner, value);
  return true;
}

void merge_table::erase_record(std::map<std::string, slot>::iterator k,
                               slot::iterator r) {
  checksum_ ^= record_hash(k->first, owner_names_[r->owner], r->value);
  --size_;
  k->second.erase(r);
  if (k->second.empty())
    by_key_.erase(k);
}

bool merge_table::erase(const std::string& key, const std::string& owner) {
  auto id = find_owner(owner);
  auto k = by_key_.find(key);
  if (!id || k == by_key_.end())
    return false;
  auto r = find_owned(k->second, *id);
  if (r == k->second.end())
    return false;
  by_owner_[*id].erase(&k->first);
  erase_record(k, r);
  return true;
}

size_t merge_table::replace_owner(
  const std::string& owner, const std::map<std::string, std::string>& records) {
  size_t changes = 0;
  // Erase first what the owner no longer has (the keys copied: erase edits
  // the owner's index while we walk it).
  std::vector<std::string> gone;
  if (auto id = find_owner(owner))
    for (auto key : by_owner_[*id])
      if (!records.contains(*key))
        gone.push_back(*key);
  for (const auto& key : gone)
    changes += erase(key, owner) ? 1 : 0;
  for (const auto& [key, value] : records)
    changes += put(key, owner, value) ? 1 : 0;
  return changes;
}

size_t merge_table::drop_owner(const std::string& owner) {
  auto id = find_owner(owner);
  if (!id)
    return 0;
  auto keys = std::move(by_owner_[*id]);
  by_owner_[*id].clear();
  for (auto key : keys) {
    auto k = by_key_.find(*key);
    erase_record(k, find_owned(k->second, *id));
  }
  return keys.size();
}

std::map<std::string, std::string> merge_table::owners(
  const std::string& key) const {
  std::map<std::string, std::string> out;
  if (auto k = by_key_.find(key); k != by_key_.end())
    for (auto& o : k->second)
      out.emplace(owner_names_[o.owner], o.value);
  return out;
}

std::map<std::string, std::string> merge_table::owned_by(
  const std::string& owner) const {
  std::map<std::string, std::string> out;
  auto id = find_owner(owner);
  if (!id)
    return out;
  for (auto key : by_owner_[*id]) {
    auto& slot = by_key_.find(*key)->second;
    out.emplace(*key, find_owned(slot, *id)->value);
  }
  return out;
}

std::vector<std::string> merge_table::keys() const {
  std::vector<std::string> out;
  out.reserve(by_key_.size());
  for (const auto& [key, slot] : by_key_)
    out.push_back(key);
  return out;
}

} // namespace starling::runtime::db
