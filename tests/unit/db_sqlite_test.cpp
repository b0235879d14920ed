#include <doctest/doctest.h>

#include <atomic>
#include <filesystem>
#include <thread>
#include <fstream>
#include <unistd.h>

#include "starling/runtime/db/sqlite_store.hpp"

using namespace starling::runtime::db;
namespace fs = std::filesystem;

namespace {

// A fresh directory under /tmp, removed with everything in it at scope exit.
struct temp_dir {
  fs::path path;
  temp_dir() {
    static int counter = 0;
    path = fs::temp_directory_path()
           / ("starling-db-test-" + std::to_string(::getpid()) + "-"
              + std::to_string(++counter));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

committed commit(uint64_t seqno, std::string shard, std::vector<op> ops) {
  return {seqno, {"n#1#" + std::to_string(seqno), std::move(shard),
                  std::move(ops)}};
}

op w(std::string table, std::string key, std::string value) {
  return {op::write, std::move(table), std::move(key), std::move(value)};
}

std::unique_ptr<sqlite_store> open_ok(const std::string& path) {
  std::string error;
  auto db = sqlite_store::open(path, error);
  INFO(error);
  REQUIRE(db);
  CHECK(error.empty());
  return db;
}

std::map<std::string, recovered_shard> load_ok(sqlite_store& db,
                                               const schema& s) {
  std::string error;
  auto out = db.load(s, error);
  INFO(error);
  CHECK(error.empty());
  return out;
}

void store_ok(sqlite_store& db, const schema& s, const committed& c) {
  std::string error;
  INFO(error);
  CHECK(db.store(s, c, error));
}

} // namespace

TEST_CASE("db sqlite: stored transactions come back after reopening") {
  temp_dir dir;
  auto path = dir.file("sub/dir/node.db"); // directories are created
  auto s = schema::builtin();
  {
    auto db = open_ok(path);
    CHECK(db->path() == path);
    CHECK(load_ok(*db, s).empty());
    store_ok(*db, s, commit(1, "kv_shard", {w("kv", "a", "1"), w("kv", "b", "2")}));
    store_ok(*db, s, commit(2, "kv_shard", {w("kv", "c", "3"), w("kv", "a", "1b")}));
    store_ok(*db, s, commit(3, "kv_shard", {{op::erase, "kv", "b", ""},
                                            {op::erase_if, "kv", "c", "other"},
                                            w("kv", "d", "4"),
                                            {op::erase_if, "kv", "d", "4"}}));
    store_ok(*db, s, commit(1, "conf_shard", {w("cluster_config", "x", "y")}));
    store_ok(*db, s, commit(2, "conf_shard", {{op::clear, "cluster_config", "", ""}}));
    // Binary keys and values survive.
    store_ok(*db, s, commit(4, "kv_shard", {w("kv", std::string("z\0z", 3),
                                              std::string("\0\xff", 2))}));
  }
  auto db = open_ok(path);
  auto got = load_ok(*db, s);
  REQUIRE(got.size() == 2);
  CHECK(got["kv_shard"].seqno == 4);
  CHECK(got["kv_shard"].records
        == std::vector<record>{{"kv", "a", "1b"},
                               {"kv", "c", "3"},
                               {"kv", std::string("z\0z", 3),
                                std::string("\0\xff", 2)}});
  CHECK(got["conf_shard"].seqno == 2);
  CHECK(got["conf_shard"].records.empty());
}

/// A shard mixing disc and ram tables (the store supports it; the built-in
/// schema keeps its shards uniform).
schema mixed_schema() {
  return schema({{"kv", "kv_shard", storage::disc},
                 {"kv_ram", "kv_shard", storage::ram},
                 {"cluster_config", "conf_shard", storage::disc},
                 {"session_registry", "cm_shard", storage::ram}});
}

TEST_CASE("db sqlite: ram tables are not written, the seqno always is") {
  temp_dir dir;
  auto s = mixed_schema();
  auto db = open_ok(dir.file("node.db"));
  store_ok(*db, s, commit(1, "kv_shard", {w("kv_ram", "a", "1"), w("kv", "b", "2")}));
  store_ok(*db, s, commit(5, "cm_shard", {w("session_registry", "c1", "n1")}));
  auto got = load_ok(*db, s);
  CHECK(got["kv_shard"].records == std::vector<record>{{"kv", "b", "2"}});
  CHECK(got["kv_shard"].seqno == 1);
  CHECK(got["cm_shard"].seqno == 5); // no disc op, but recovery needs it
  CHECK(got["cm_shard"].records.empty());
}

TEST_CASE("db sqlite: replace_shard swaps a shard's contents") {
  temp_dir dir;
  auto s = mixed_schema();
  auto db = open_ok(dir.file("node.db"));
  store_ok(*db, s, commit(3, "kv_shard", {w("kv", "old", "1")}));
  store_ok(*db, s, commit(2, "conf_shard", {w("cluster_config", "keep", "1")}));
  std::string error;
  CHECK(db->replace_shard(s, "kv_shard", 90, "h1",
                          {{"kv", "new", "2"},
                           {"kv_ram", "ram", "3"},         // ram: skipped
                           {"cluster_config", "other", "4"}}, // other shard
                          error));
  CHECK(error.empty());
  db.reset();
  db = open_ok(dir.file("node.db"));
  auto got = load_ok(*db, s);
  CHECK(got["kv_shard"].seqno == 90);
  CHECK(got["kv_shard"].history == "h1");
  CHECK(got["kv_shard"].records == std::vector<record>{{"kv", "new", "2"}});
  CHECK(got["conf_shard"].records
        == std::vector<record>{{"cluster_config", "keep", "1"}});
}

TEST_CASE("db sqlite: the history id survives a reopen and later seqnos") {
  temp_dir dir;
  auto s = schema::builtin();
  auto db = open_ok(dir.file("node.db"));
  std::string error;
  CHECK(db->set_history("kv_shard", "abc", error));
  store_ok(*db, s, commit(1, "kv_shard", {w("kv", "a", "1")}));
  db.reset();
  db = open_ok(dir.file("node.db"));
  auto got = load_ok(*db, s);
  CHECK(got["kv_shard"].history == "abc");
  CHECK(got["kv_shard"].seqno == 1);
}

TEST_CASE("db sqlite: records of tables the schema no longer stores are skipped") {
  temp_dir dir;
  schema old({{"kv", "kv_shard", storage::disc},
              {"legacy", "kv_shard", storage::disc},
              {"kv_ram", "kv_shard", storage::disc}});
  auto db = open_ok(dir.file("node.db"));
  store_ok(*db, old, commit(1, "kv_shard", {w("kv", "a", "1"), w("legacy", "b", "2"),
                                            w("kv_ram", "c", "3")}));
  auto got = load_ok(*db, schema::builtin());
  CHECK(got["kv_shard"].records == std::vector<record>{{"kv", "a", "1"}});
  CHECK(load_ok(*db, old)["kv_shard"].records.size() == 3);
}

TEST_CASE("db sqlite: a file that is not a database is refused clearly") {
  temp_dir dir;
  auto path = dir.file("garbage.db");
  {
    std::ofstream f(path, std::ios::binary);
    for (int i = 0; i < 512; ++i)
      f << "this is not an SQLite file ";
  }
  std::string error;
  auto db = sqlite_store::open(path, error);
  CHECK_FALSE(db);
  CHECK(error.find(path) != std::string::npos);
  CHECK(error.find("not a database") != std::string::npos);
}

TEST_CASE("db sqlite: an unusable path is reported with its name") {
  temp_dir dir;
  auto blocker = dir.file("file");
  std::ofstream(blocker) << "x";
  std::string error;
  auto path = blocker + "/node.db"; // a directory would have to be a file
  CHECK_FALSE(sqlite_store::open(path, error));
  CHECK(error.find(path) != std::string::npos);
}

TEST_CASE("db sqlite: a file another connection holds is refused clearly") {
  // A node started twice on one data dir: the second is refused at open,
  // before it could write, and says why. The file is first created and
  // closed, so the holder below only reads at open, as a restarted node does.
  temp_dir dir;
  auto path = dir.file("node.db");
  schema s({{"kv", "kv_shard", storage::disc}});
  {
    auto first = open_ok(path);
    std::string error;
    REQUIRE(first->store(s, commit(1, "kv_shard", {w("kv", "a", "1")}), error));
  }
  auto holder = open_ok(path);
  std::string error;
  CHECK_FALSE(sqlite_store::open(path, error));
  CHECK(error.find(path) != std::string::npos);
  CHECK(error.find("database is locked: another process has it open")
        != std::string::npos);
  // The holder is unaffected, and once it closes the file opens again.
  CHECK(holder->store(s, commit(2, "kv_shard", {w("kv", "b", "2")}), error));
  holder.reset();
  auto again = open_ok(path);
  CHECK(load_ok(*again, s)["kv_shard"].seqno == 2);
}

TEST_CASE("db sqlite: shard actors on different threads share one file") {
  // Every shard actor of a node writes through the same store, each on its
  // own scheduler thread.
  temp_dir dir;
  schema s({{"t1", "s1", storage::disc}, {"t2", "s2", storage::disc},
            {"t3", "s3", storage::disc}, {"t4", "s4", storage::disc}});
  auto db = open_ok(dir.file("node.db"));
  std::vector<std::thread> writers;
  std::atomic<int> failures{0};
  for (int t = 1; t <= 4; ++t)
    writers.emplace_back([&, t] {
      auto shard = "s" + std::to_string(t);
      auto table = "t" + std::to_string(t);
      for (uint64_t i = 1; i <= 200; ++i) {
        std::string error;
        if (!db->store(s, commit(i, shard, {w(table, std::to_string(i), "v")}),
                       error))
          ++failures;
        if (i % 50 == 0 && !db->set_history(shard, "h" + shard, error))
          ++failures;
      }
    });
  for (auto& th : writers)
    th.join();
  CHECK(failures == 0);
  auto got = load_ok(*db, s);
  for (int t = 1; t <= 4; ++t) {
    auto& r = got["s" + std::to_string(t)];
    CHECK(r.seqno == 200);
    CHECK(r.records.size() == 200);
    CHECK(r.history == "hs" + std::to_string(t));
  }
}
