#include "starling/runtime/db/sqlite_store.hpp"

#include <array>
#include <filesystem>

#include <sqlite3.h>

namespace starling::runtime::db {

namespace {

// Bumped when the SQL layout changes; a file from a newer Starling is
// refused rather than misread.
constexpr int format_version = 1;

// WAL with synchronous=NORMAL: a commit appends to the log without an
// fsync (the WAL is synced at checkpoints). A power loss may drop the last
// commits but never tears one, so the file still holds a prefix of each
// shard's history, which is all recovery needs: the rest comes from peers.
//
// locking_mode=EXCLUSIVE, set before WAL is entered: the node takes the
// file's lock once and holds it until it closes the file, instead of
// taking and releasing POSIX locks around every transaction (fcntl calls
// were 8 % of a following core's CPU), and the WAL index lives in the
// heap rather than in a shared -shm file. A second process that opens the
// file while the node runs (a node started twice on one data dir) is
// refused at open.
constexpr const char* setup_sql = R"(
PRAGMA locking_mode=EXCLUSIVE;
PRAGMA journal_mode=WAL;
PRAGMA synchronous=NORMAL;
CREATE TABLE IF NOT EXISTS records(
  tbl TEXT NOT NULL, key BLOB NOT NULL, value BLOB NOT NULL,
  PRIMARY KEY(tbl, key)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS shards(
  shard TEXT PRIMARY KEY, seqno INTEGER NOT NULL,
  history TEXT NOT NULL DEFAULT '') WITHOUT ROWID;
)";

// Keys and values are arbitrary bytes, so they travel as blobs; table and
// shard names as text so the file reads well in the sqlite3 shell.
// SQLITE_STATIC: every statement is stepped before the strings go away.
void bind_text(sqlite3_stmt* st, int i, const std::string& s) {
  sqlite3_bind_text(st, i, s.data(), static_cast<int>(s.size()),
                    SQLITE_STATIC);
}

void bind_blob(sqlite3_stmt* st, int i, const std::string& s) {
  sqlite3_bind_blob(st, i, s.data(), static_cast<int>(s.size()),
                    SQLITE_STATIC);
}

std::string column_string(sqlite3_stmt* st, int i) {
  auto* p = static_cast<const char*>(sqlite3_column_blob(st, i));
  return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(st, i)))
           : std::string();
}

bool exec(sqlite3* db, const char* sql, std::string& why) {
  char* msg = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &msg) == SQLITE_OK)
    return true;
  why = msg ? msg : sqlite3_errmsg(db);
  sqlite3_free(msg);
  return false;
}

/// Runs a one-off query, calling `row` for each result row.
template <class F>
bool query(sqlite3* db, const char* sql, F&& row, std::string& why) {
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db, sql, -1, &st, nullptr) != SQLITE_OK) {
    why = sqlite3_errmsg(db);
    return false;
  }
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW)
    row(st);
  if (rc != SQLITE_DONE)
    why = sqlite3_errmsg(db);
  sqlite3_finalize(st);
  return rc == SQLITE_DONE;
}

bool setup(sqlite3* db, std::string& why) {
  if (!exec(db, setup_sql, why))
    return false;
  int version = 0;
  if (!query(db, "PRAGMA user_version",
             [&](sqlite3_stmt* st) { version = sqlite3_column_int(st, 0); },
             why))
    return false;
  if (version > format_version) {
    why = "written by a newer Starling (format " + std::to_string(version)
          + ", this one reads up to " + std::to_string(format_version) + ")";
    return false;
  }
  return version == format_version
         || exec(db, "PRAGMA user_version=1", why);
}

bool is_disc(const table_spec* spec) {
  return spec != nullptr && spec->store == storage::disc;
}

} // namespace

struct sqlite_store::statements {
  sqlite3* db;
  sqlite3_stmt* begin = nullptr;
  sqlite3_stmt* commit = nullptr;
  sqlite3_stmt* rollback = nullptr;
  sqlite3_stmt* put = nullptr;
  sqlite3_stmt* erase = nullptr;
  sqlite3_stmt* clear = nullptr;
  sqlite3_stmt* erase_if = nullptr;
  sqlite3_stmt* set_seqno = nullptr;
  sqlite3_stmt* set_history = nullptr;

  explicit statements(sqlite3* d) : db(d) {}
  ~statements() {
    for (auto [st, sql] : all())
      sqlite3_finalize(*st); // null is a no-op
  }

  std::array<std::pair<sqlite3_stmt**, const char*>, 9> all() {
    return {{
      {&begin, "BEGIN IMMEDIATE"},
      {&commit, "COMMIT"},
      {&rollback, "ROLLBACK"},
      {&put, "INSERT OR REPLACE INTO records(tbl, key, value) VALUES(?1, ?2, ?3)"},
      {&erase, "DELETE FROM records WHERE tbl = ?1 AND key = ?2"},
      {&clear, "DELETE FROM records WHERE tbl = ?1"},
      {&erase_if, "DELETE FROM records WHERE tbl = ?1 AND key = ?2 AND value = ?3"},
      {&set_seqno, "INSERT INTO shards(shard, seqno) VALUES(?1, ?2) "
                   "ON CONFLICT(shard) DO UPDATE SET seqno = excluded.seqno"},
      {&set_history, "INSERT INTO shards(shard, seqno, history) VALUES(?1, 0, ?2) "
                     "ON CONFLICT(shard) DO UPDATE SET history = excluded.history"},
    }};
  }

  bool prepare(std::string& why) {
    for (auto [st, sql] : all())
      if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, st,
                             nullptr)
          != SQLITE_OK) {
        why = sqlite3_errmsg(db);
        return false;
      }
    return true;
  }

  /// Steps a statement that returns no rows and resets it for reuse.
  bool run(sqlite3_stmt* st, std::string& why) {
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
      why = sqlite3_errmsg(db); // read before reset, which may replace it
    sqlite3_reset(st);
    return rc == SQLITE_DONE || rc == SQLITE_ROW;
  }

  bool write(const std::string& table, const std::string& key,
             const std::string& value, std::string& why) {
    bind_text(put, 1, table);
    bind_blob(put, 2, key);
    bind_blob(put, 3, value);
    return run(put, why);
  }

  bool clear_table(const std::string& table, std::string& why) {
    bind_text(clear, 1, table);
    return run(clear, why);
  }

  bool apply(const op& o, std::string& why) {
    switch (o.kind) {
      case op::write:
        return write(o.table, o.key, o.value, why);
      case op::erase:
        bind_text(erase, 1, o.table);
        bind_blob(erase, 2, o.key);
        return run(erase, why);
      case op::clear:
        return clear_table(o.table, why);
      case op::erase_if:
        bind_text(erase_if, 1, o.table);
        bind_blob(erase_if, 2, o.key);
        bind_blob(erase_if, 3, o.value);
        return run(erase_if, why);
    }
    why = "unknown operation kind " + std::to_string(o.kind);
    return false;
  }

  bool store_seqno(const std::string& shard, uint64_t seqno,
                   std::string& why) {
    bind_text(set_seqno, 1, shard);
    sqlite3_bind_int64(set_seqno, 2, static_cast<sqlite3_int64>(seqno));
    return run(set_seqno, why);
  }

  bool store_history(const std::string& shard, const std::string& history,
                     std::string& why) {
    bind_text(set_history, 1, shard);
    bind_text(set_history, 2, history);
    return run(set_history, why);
  }

  /// Commits when `ok`; otherwise (or if the commit fails) rolls back, so
  /// the connection is never left inside a transaction.
  bool finish(bool ok, std::string& why) {
    if (ok && run(commit, why))
      return true;
    std::string ignored; // keep the first error, not the rollback's
    run(rollback, ignored);
    return false;
  }
};

sqlite_store::sqlite_store(sqlite3* db, std::string path)
    : db_(db), path_(std::move(path)),
      st_(std::make_unique<statements>(db)) {}

sqlite_store::~sqlite_store() {
  st_.reset(); // statements are finalized before the connection closes
  sqlite3_close_v2(db_);
}

std::unique_ptr<sqlite_store> sqlite_store::open(const std::string& path,
                                                 std::string& error) {
  auto fail = [&](const std::string& why) -> std::unique_ptr<sqlite_store> {
    error = "cannot open database '" + path + "': " + why;
    return nullptr;
  };
  std::error_code ec;
  auto dir = std::filesystem::path(path).parent_path();
  if (!dir.empty())
    std::filesystem::create_directories(dir, ec);
  if (ec)
    return fail("cannot create directory '" + dir.string()
                + "': " + ec.message());
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE
                             | SQLITE_OPEN_NOMUTEX,
                           nullptr);
  // Owned from here, so every failure below closes the handle.
  std::unique_ptr<sqlite_store> store(new sqlite_store(db, path));
  std::string why;
  if (rc != SQLITE_OK)
    return fail(db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
  if (!setup(db, why) || !store->st_->prepare(why))
    return fail(sqlite3_errcode(db) != SQLITE_BUSY
                  ? why
                  : why + ": another process has it open (is a node of the "
                          "same name running on this data dir?)");
  return store;
}

std::map<std::string, recovered_shard> sqlite_store::load(const schema& s,
                                                          std::string& error) {
  std::lock_guard<std::mutex> guard(mtx_);
  std::map<std::string, recovered_shard> out;
  auto seqno_row = [&](sqlite3_stmt* st) {
    auto& shard = out[column_string(st, 0)];
    shard.seqno = static_cast<uint64_t>(sqlite3_column_int64(st, 1));
    shard.history = column_string(st, 2);
  };
  // Rows of tables that are no longer disc tables (or no longer exist) are
  // left in the file but not recovered: the schema decides what is durable.
  auto record_row = [&](sqlite3_stmt* st) {
    std::string table = column_string(st, 0);
    const table_spec* spec = s.find(table);
    if (!is_disc(spec))
      return;
    out[spec->shard].records.push_back(
      {std::move(table), column_string(st, 1), column_string(st, 2)});
  };
  std::string why;
  // One read transaction, so seqnos and records are the same snapshot.
  bool ok = st_->run(st_->begin, why)
            && query(db_, "SELECT shard, seqno, history FROM shards", seqno_row, why)
            && query(db_, "SELECT tbl, key, value FROM records ORDER BY tbl, key",
                     record_row, why);
  if (!st_->finish(ok, why)) {
    error = "cannot load database '" + path_ + "': " + why;
    return {};
  }
  return out;
}

bool sqlite_store::store(const schema& s, const committed& c,
                         std::string& error) {
  std::lock_guard<std::mutex> guard(mtx_);
  std::string why;
  bool ok = st_->run(st_->begin, why);
  for (size_t i = 0; ok && i < c.txn.ops.size(); ++i)
    if (is_disc(s.find(c.txn.ops[i].table)))
      ok = st_->apply(c.txn.ops[i], why);
  // The seqno is stored even when no op touched a disc table, so recovery
  // knows how far the shard got.
  ok = ok && st_->store_seqno(c.txn.shard, c.seqno, why);
  if (!st_->finish(ok, why)) {
    error = "cannot store seqno " + std::to_string(c.seqno) + " of "
            + c.txn.shard + " in database '" + path_ + "': " + why;
    return false;
  }
  return true;
}

bool sqlite_store::set_history(const std::string& shard,
                               const std::string& history,
                               std::string& error) {
  std::lock_guard<std::mutex> guard(mtx_);
  std::string why;
  bool ok = st_->run(st_->begin, why) && st_->store_history(shard, history, why);
  if (!st_->finish(ok, why)) {
    error = "cannot store the history of " + shard + " in database '" + path_
            + "': " + why;
    return false;
  }
  return true;
}

bool sqlite_store::replace_shard(const schema& s, const std::string& shard,
                                 uint64_t seqno, const std::string& history,
                                 const std::vector<record>& records,
                                 std::string& error) {
  std::lock_guard<std::mutex> guard(mtx_);
  std::string why;
  bool ok = st_->run(st_->begin, why);
  for (const auto& spec : s.tables_of(shard))
    if (ok && spec.store == storage::disc)
      ok = st_->clear_table(spec.name, why);
  for (size_t i = 0; ok && i < records.size(); ++i) {
    const record& r = records[i];
    const table_spec* spec = s.find(r.table);
    if (is_disc(spec) && spec->shard == shard)
      ok = st_->write(r.table, r.key, r.value, why);
  }
  ok = ok && st_->store_seqno(shard, seqno, why)
       && st_->store_history(shard, history, why);
  if (!st_->finish(ok, why)) {
    error = "cannot replace shard " + shard + " in database '" + path_
            + "': " + why;
    return false;
  }
  return true;
}

} // namespace starling::runtime::db
