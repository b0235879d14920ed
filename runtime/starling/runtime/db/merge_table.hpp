#pragma once

#include <cstdint>
#include <map>
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
  std::string name_;
  std::map<std::string, std::map<std::string, std::string>> by_key_;
  std::map<std::string, std::map<std::string, std::string>> by_owner_;
  size_t size_ = 0;
  uint64_t checksum_ = 0;
};

} // namespace starling::runtime::db
