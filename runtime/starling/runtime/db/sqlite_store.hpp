#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "starling/runtime/db/types.hpp"

struct sqlite3;

namespace starling::runtime::db {

/// What a core recovers from its SQLite file at start, per shard.
struct recovered_shard {
  uint64_t seqno = 0;
  std::string history;         ///< the shard's history id ("" = none yet)
  std::vector<record> records; ///< disc tables only
};

/// The disc tables of one node in one SQLite file (WAL mode, locked by this
/// process from open to close: a second process cannot open it): one SQL table
/// `records(tbl, key, value, PRIMARY KEY(tbl, key))` and
/// `shards(shard PRIMARY KEY, seqno, history)`. Each committed transaction is stored
/// in one SQLite transaction together with the shard's new seqno, so after a
/// crash the file holds a prefix of the shard's history. Thread-safe: the
/// shard actors of a node share the one connection, each call holds a lock.
class sqlite_store {
public:
  /// Opens (creating directories and the file if needed) `path`. On failure
  /// returns nullptr and sets `error` to a sentence naming the path.
  static std::unique_ptr<sqlite_store> open(const std::string& path,
                                            std::string& error);
  ~sqlite_store();
  sqlite_store(const sqlite_store&) = delete;
  sqlite_store& operator=(const sqlite_store&) = delete;

  /// Everything stored, shard -> seqno + records of its disc tables.
  std::map<std::string, recovered_shard> load(const schema& s,
                                              std::string& error);

  /// Stores the ops of `c` that touch disc tables and the shard's seqno, in
  /// one SQLite transaction. Returns false with `error` set on failure.
  bool store(const schema& s, const committed& c, std::string& error);

  /// Replaces a shard's disc tables by `records` and sets its seqno and
  /// history (after a bootstrap), in one SQLite transaction.
  bool replace_shard(const schema& s, const std::string& shard,
                     uint64_t seqno, const std::string& history,
                     const std::vector<record>& records, std::string& error);

  /// Records the shard's history id (the sequencer started a new history).
  bool set_history(const std::string& shard, const std::string& history,
                   std::string& error);

  const std::string& path() const { return path_; }

private:
  /// The statements every commit runs, prepared once at open and reused:
  /// parsing SQL on each commit would cost more than the write itself.
  struct statements;

  sqlite_store(sqlite3* db, std::string path);
  sqlite3* db_;
  std::string path_;
  std::unique_ptr<statements> st_;
  std::mutex mtx_; ///< one SQLite transaction at a time
};

} // namespace starling::runtime::db
