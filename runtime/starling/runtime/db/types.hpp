#pragma once

// The replicated database's vocabulary: tables, shards, operations,
// transactions. Plain data; the actors in actors/db carry it between nodes.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace starling::runtime::db {

/// Where a table lives on a core: `ram` is rebuilt from peers after a
/// restart, `disc` is also written to the node's SQLite file.
enum class storage { ram, disc };

/// `regular` tables are changed by transactions committed on the cores and
/// streamed to replicants; `merge` tables hold records owned by one node
/// each, written locally with no round trip (routes).
enum class table_type { regular, merge };

struct table_spec {
  std::string name;
  std::string shard;
  storage store = storage::ram;
  table_type type = table_type::regular;
};

/// One change. Every operation is idempotent (a counter travels as its new
/// value), so replaying an operation twice leaves the same contents: this is
/// what lets bootstrap overlap with the live stream.
///
/// `erase_if` removes the record only while its value is `value`: an owner
/// releasing a key (a session registry entry) cannot remove what another
/// node wrote there since. It is decided where it is applied, in seqno
/// order, so every replica decides the same.
struct op {
  enum kind_t : uint8_t { write = 0, erase = 1, clear = 2, erase_if = 3 } kind = write;
  std::string table;
  std::string key;   ///< empty for clear
  std::string value; ///< empty for erase and clear; the expected one for erase_if

  friend bool operator==(const op&, const op&) = default;
};

/// A group of operations on one shard, applied atomically. `id` is unique
/// in the cluster ("node#incarnation#counter"): the sequencer uses it to
/// recognise a retried transaction and answer with its first seqno instead
/// of committing it twice.
struct transaction {
  std::string id;
  std::string shard;
  std::vector<op> ops;

  friend bool operator==(const transaction&, const transaction&) = default;
};

/// A transaction as committed: its place in the shard's history. The seqno
/// is assigned once, by the shard's sequencer, and is the same on every core.
struct committed {
  uint64_t seqno = 0;
  transaction txn;

  friend bool operator==(const committed&, const committed&) = default;
};

/// One record as copied during bootstrap.
struct record {
  std::string table;
  std::string key;
  std::string value;

  friend bool operator==(const record&, const record&) = default;
};

/// The tables of the node and the shard each belongs to.
class schema {
public:
  explicit schema(std::vector<table_spec> tables);

  /// The tables Starling itself uses (routes, session registry, config, kv).
  static schema builtin();

  const table_spec* find(const std::string& table) const;
  /// Shard names, sorted.
  std::vector<std::string> shards() const;
  /// Tables of `shard`, sorted by name.
  std::vector<table_spec> tables_of(const std::string& shard) const;
  const std::vector<table_spec>& tables() const { return tables_; }

  /// Why `txn` cannot be committed (empty shard, unknown table, a table of
  /// another shard, a merge table, an op without a key), or nullopt.
  std::optional<std::string> check(const transaction& txn) const;

private:
  std::vector<table_spec> tables_;
};

} // namespace starling::runtime::db
