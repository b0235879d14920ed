#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace starling::runtime::db {

/// A merge table: every record is owned by one node, which alone writes it
/// (locally, no round trip) and streams it to the others. When a node goes
/// down its records are dropped everywhere; when it comes back it re-sends
/// all of them. The route table (filter -> nodes) is one: a key has one
/// record per owning node.
class merge_table {
public:
  explicit merge_table(std::string name) : name_(std::move(name)) {}

  const std::string& name() const { return name_; }

  /// Sets owner's record for key; returns whether anything changed.
  bool put(const std::string& key, const std::string& owner,
           const std::string& value);
  /// Removes owner's record for key; returns whether it existed.
  bool erase(const std::string& key, const std::string& owner);
  /// Replaces every record of `owner` by `records` (key -> value): what a
  /// node sends when it (re)connects. Returns the number of changes.
  size_t replace_owner(const std::string& owner,
                       const std::map<std::string, std::string>& records);
  /// Drops every record of `owner` (it went down); returns how many.
  size_t drop_owner(const std::string& owner);

  /// owner -> value for `key` (empty when none).
  std::map<std::string, std::string> owners(const std::string& key) const;
  /// key -> value of the records `owner` owns.
  std::map<std::string, std::string> owned_by(const std::string& owner) const;
  /// Every key with at least one record, sorted.
  std::vector<std::string> keys() const;

  size_t size() const { return size_; }      ///< records
  size_t key_count() const { return by_key_.size(); }
  /// XOR of record_hash(key, owner, value) over all records: equal on
  /// every node that has seen the same records.
  uint64_t checksum() const { return checksum_; }

private:
  /// Every node holds every node's routes, one record per subscribed
  /// filter of the cluster, so a record is kept once: its value in the
  /// key's list of owners, the owner as a small number (a node name is a
  /// few dozen bytes), and the owner's index only points at the key.
  using owner_id = uint32_t;
  struct owned {
    owner_id owner;
    std::string value;
  };
  using slot = std::vector<owned>; ///< most keys have one owner
  using key_ref = const std::string*; ///< a key of by_key_ (map keys stay put)

  owner_id intern(const std::string& owner);
  const owner_id* find_owner(const std::string& owner) const;
  /// Erases the record `r` of the slot of `k` (its checksum and count too),
  /// and the slot when it is empty then; the owner's index is the caller's.
  void erase_record(std::map<std::string, slot>::iterator k, slot::iterator r);

  std::string name_;
  std::map<std::string, slot> by_key_;
  std::vector<std::string> owner_names_;         ///< owner_id -> name
  std::map<std::string, owner_id> owner_ids_;    ///< name -> owner_id
  std::vector<std::set<key_ref>> by_owner_;      ///< owner_id -> its keys
  size_t size_ = 0;
  uint64_t checksum_ = 0;
};

} // namespace starling::runtime::db
