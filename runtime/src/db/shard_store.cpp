#include "starling/runtime/db/shard_store.hpp"

namespace starling::runtime::db {

namespace {

constexpr uint64_t fnv_offset = 14695981039346656037ull;
constexpr uint64_t fnv_prime = 1099511628211ull;

uint64_t fnv_byte(uint64_t h, unsigned char c) { return (h ^ c) * fnv_prime; }

uint64_t fnv_add(uint64_t h, const std::string& s) {
  for (unsigned char c : s)
    h = fnv_byte(h, c);
  return h;
}

} // namespace

uint64_t record_hash(const std::string& table, const std::string& key,
                     const std::string& value) {
  // The zero bytes keep ("ab", "c") and ("a", "bc") apart.
  uint64_t h = fnv_byte(fnv_add(fnv_offset, table), 0);
  h = fnv_byte(fnv_add(h, key), 0);
  return fnv_add(h, value);
}

// The checksum is a XOR, so removing a record is XOR-ing its hash again:
// every change below costs one or two hashes, never a walk of the table.
void shard_store::apply(const op& o) {
  // The store does not know the schema: an op on a table it has not seen
  // creates the table, so a replica follows whatever the cores commit.
  auto& table = tables_[o.table];
  switch (o.kind) {
    case op::write: {
      auto [i, inserted] = table.try_emplace(o.key, o.value);
      if (inserted) {
        ++size_;
      } else {
        checksum_ ^= record_hash(o.table, o.key, i->second);
        i->second = o.value;
      }
      checksum_ ^= record_hash(o.table, o.key, o.value);
      break;
    }
    case op::erase:
    case op::erase_if: {
      auto i = table.find(o.key);
      if (i == table.end() || (o.kind == op::erase_if && i->second != o.value))
        break;
      checksum_ ^= record_hash(o.table, o.key, i->second);
      table.erase(i);
      --size_;
      break;
    }
    case op::clear:
      for (const auto& [k, v] : table)
        checksum_ ^= record_hash(o.table, k, v);
      size_ -= table.size();
      table.clear();
      break;
  }
}

void shard_store::apply(const committed& c) {
  for (const auto& o : c.txn.ops)
    apply(o);
  seqno_ = c.seqno;
}

void shard_store::put(const record& r) {
  apply(op{op::write, r.table, r.key, r.value});
}

void shard_store::reset() {
  tables_.clear();
  seqno_ = 0;
  size_ = 0;
  checksum_ = 0;
}

std::optional<std::string> shard_store::read(const std::string& table,
                                             const std::string& key) const {
  auto t = tables_.find(table);
  if (t == tables_.end())
    return std::nullopt;
  auto i = t->second.find(key);
  if (i == t->second.end())
    return std::nullopt;
  return i->second;
}

std::vector<record> shard_store::match(const std::string& table,
                                       const std::string& prefix,
                                       size_t limit) const {
  std::vector<record> out;
  auto t = tables_.find(table);
  if (t == tables_.end())
    return out;
  for (auto i = t->second.lower_bound(prefix);
       i != t->second.end() && out.size() < limit
       && i->first.compare(0, prefix.size(), prefix) == 0;
       ++i)
    out.push_back({table, i->first, i->second});
  return out;
}

std::vector<record> shard_store::batch_after(const std::optional<record>& after,
                                             size_t n) const {
  std::vector<record> out;
  auto t = after ? tables_.lower_bound(after->table) : tables_.begin();
  for (bool first = true; t != tables_.end() && out.size() < n;
       ++t, first = false) {
    const auto& rows = t->second;
    // Resume inside the table of `after` only; later tables start at the
    // beginning. `after`'s table may have been dropped or emptied meanwhile.
    auto i = first && after && t->first == after->table
               ? rows.upper_bound(after->key)
               : rows.begin();
    for (; i != rows.end() && out.size() < n; ++i)
      out.push_back({t->first, i->first, i->second});
  }
  return out;
}

size_t shard_store::size(const std::string& table) const {
  auto t = tables_.find(table);
  return t == tables_.end() ? 0 : t->second.size();
}

} // namespace starling::runtime::db
