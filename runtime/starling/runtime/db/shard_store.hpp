#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "starling/runtime/db/types.hpp"

namespace starling::runtime::db {

/// The contents of the regular tables of one shard on one node, and the
/// seqno of the last transaction applied to them. Keys are kept sorted so a
/// bootstrap can copy a table in batches, resuming after the last key sent.
///
/// The checksum is the XOR of a 64-bit FNV-1a hash of every (table, key,
/// value) and is kept up to date on every change: two nodes with the same
/// contents have the same checksum whatever order they got there in, and
/// `rlog status` can print it without walking the tables.
class shard_store {
public:
  explicit shard_store(std::string shard) : shard_(std::move(shard)) {}

  const std::string& shard() const { return shard_; }

  /// Applies one operation (idempotent).
  void apply(const op& o);
  /// Applies every op of `c` and sets seqno() to c.seqno.
  void apply(const committed& c);
  /// Writes a bootstrap record (same as a write op).
  void put(const record& r);
  /// Empties every table (before a bootstrap); seqno() becomes 0.
  void reset();

  std::optional<std::string> read(const std::string& table,
                                  const std::string& key) const;
  /// Records of `table` whose key starts with `prefix`, in key order, at
  /// most `limit`.
  std::vector<record> match(const std::string& table, const std::string& prefix,
                            size_t limit = SIZE_MAX) const;
  /// Up to `n` records in (table, key) order strictly after `after`
  /// (nullopt: from the start). An empty result means the end.
  std::vector<record> batch_after(const std::optional<record>& after,
                                  size_t n) const;

  uint64_t seqno() const { return seqno_; }
  void set_seqno(uint64_t s) { seqno_ = s; }
  size_t size() const { return size_; }
  size_t size(const std::string& table) const;
  uint64_t checksum() const { return checksum_; }

private:
  std::string shard_;
  std::map<std::string, std::map<std::string, std::string>> tables_;
  uint64_t seqno_ = 0;
  size_t size_ = 0;
  uint64_t checksum_ = 0;
};

/// 64-bit FNV-1a of table, key and value separated by zero bytes.
uint64_t record_hash(const std::string& table, const std::string& key,
                     const std::string& value);

} // namespace starling::runtime::db
