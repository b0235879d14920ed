#include "starling/runtime/db/rlog.hpp"

#include <algorithm>

namespace starling::runtime::db {

// A log of capacity 0 could never answer since(), so it keeps at least one
// entry: the last commit is always known.
rlog::rlog(size_t capacity) : capacity_(std::max<size_t>(capacity, 1)) {}

void rlog::append(committed c) {
  // A gap (or a step back) means this node was re-bootstrapped and now
  // continues from another point of the history: the entries we hold no
  // longer join up with the new ones, so serving them would hand a peer a
  // history with a hole. Start over at c.seqno.
  if (!entries_.empty() && c.seqno != last_seqno() + 1)
    clear();
  if (!c.txn.id.empty())
    ids_[c.txn.id] = c.seqno;
  entries_.push_back(std::move(c));
  while (entries_.size() > capacity_) {
    const committed& old = entries_.front();
    // Only forget the id if it still points at this entry (an id committed
    // twice must not lose its later seqno).
    auto i = ids_.find(old.txn.id);
    if (i != ids_.end() && i->second == old.seqno)
      ids_.erase(i);
    entries_.pop_front();
  }
}

std::optional<std::vector<committed>> rlog::since(uint64_t after) const {
  // Nothing newer than `after` (also when the caller is ahead of us: it
  // compares with last_seqno() itself).
  if (entries_.empty() || after >= last_seqno())
    return std::vector<committed>{};
  if (after + 1 < first_seqno())
    return std::nullopt;
  auto from = entries_.begin() + static_cast<ptrdiff_t>(after + 1 - first_seqno());
  return std::vector<committed>(from, entries_.end());
}

std::optional<uint64_t> rlog::find(const std::string& txn_id) const {
  auto i = ids_.find(txn_id);
  if (i == ids_.end())
    return std::nullopt;
  return i->second;
}

void rlog::clear() {
  entries_.clear();
  ids_.clear();
}

uint64_t rlog::first_seqno() const {
  return entries_.empty() ? 0 : entries_.front().seqno;
}

uint64_t rlog::last_seqno() const {
  return entries_.empty() ? 0 : entries_.back().seqno;
}

const committed* rlog::at(uint64_t seqno) const {
  if (entries_.empty() || seqno < first_seqno() || seqno > last_seqno())
    return nullptr;
  return &entries_[seqno - first_seqno()];
}

} // namespace starling::runtime::db
