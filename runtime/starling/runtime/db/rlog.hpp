#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "starling/runtime/db/types.hpp"

namespace starling::runtime::db {

/// The last `capacity` committed transactions of one shard, kept on every
/// core. A replicant (or a core catching up) that last applied seqno S can
/// resume without a bootstrap when the log still holds S+1; otherwise it
/// bootstraps. Also remembers the transaction ids in the window so a retried
/// transaction is recognised.
class rlog {
public:
  explicit rlog(size_t capacity);

  /// Appends `c`; its seqno must be last_seqno() + 1 (or anything when the
  /// log is empty). Drops the oldest entry past capacity.
  void append(committed c);

  /// Entries with seqno > `after`, in order; nullopt when the log no longer
  /// holds after + 1 (and after < last_seqno()). An `after` equal to
  /// last_seqno() gives an empty vector.
  std::optional<std::vector<committed>> since(uint64_t after) const;

  /// Seqno of a transaction id still in the window.
  std::optional<uint64_t> find(const std::string& txn_id) const;

  /// Forgets everything; the next append may start anywhere.
  void clear();

  /// The entry with `seqno`, if the log holds it.
  const committed* at(uint64_t seqno) const;

  uint64_t first_seqno() const; ///< 0 when empty
  uint64_t last_seqno() const;  ///< 0 when empty
  size_t size() const { return entries_.size(); }
  size_t capacity() const { return capacity_; }

private:
  size_t capacity_;
  std::deque<committed> entries_;
  std::unordered_map<std::string, uint64_t> ids_;
};

} // namespace starling::runtime::db
