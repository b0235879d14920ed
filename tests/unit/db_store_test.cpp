#include <doctest/doctest.h>

#include "starling/runtime/db/shard_store.hpp"

using namespace starling::runtime::db;

namespace {

op w(std::string table, std::string key, std::string value) {
  return {op::write, std::move(table), std::move(key), std::move(value)};
}
op del(std::string table, std::string key) {
  return {op::erase, std::move(table), std::move(key), {}};
}
op clr(std::string table) { return {op::clear, std::move(table), {}, {}}; }

// Every record, in (table, key) order, by walking batch_after to the end.
std::vector<record> walk(const shard_store& s, size_t batch) {
  std::vector<record> all;
  std::optional<record> after;
  for (;;) {
    auto b = s.batch_after(after, batch);
    CHECK(b.size() <= batch);
    if (b.empty())
      return all;
    all.insert(all.end(), b.begin(), b.end());
    after = b.back();
  }
}

} // namespace

TEST_CASE("db store: write, overwrite, erase and clear keep size and reads") {
  shard_store s("kv_shard");
  s.apply(w("kv", "a", "1"));
  s.apply(w("kv", "b", "2"));
  s.apply(w("kv_ram", "a", "x"));
  CHECK(s.size() == 3);
  CHECK(s.size("kv") == 2);
  CHECK(s.read("kv", "a") == "1");
  s.apply(w("kv", "a", "1b")); // overwrite: same size
  CHECK(s.size() == 3);
  CHECK(s.read("kv", "a") == "1b");
  s.apply(del("kv", "a"));
  s.apply(del("kv", "a")); // idempotent
  s.apply(del("nowhere", "a"));
  CHECK(s.size() == 2);
  CHECK_FALSE(s.read("kv", "a"));
  CHECK_FALSE(s.read("nowhere", "a"));
  s.apply(clr("kv"));
  CHECK(s.size() == 1);
  CHECK(s.size("kv") == 0);
  CHECK(s.read("kv_ram", "a") == "x");
  CHECK(s.size("unknown") == 0);
}

TEST_CASE("db store: erase_if removes a record only while it has the value") {
  shard_store s("cm_shard");
  s.apply(w("session_registry", "c1", "n1"));
  auto before = s.checksum();
  s.apply({op::erase_if, "session_registry", "c1", "n2"}); // n2 no longer owns it
  CHECK(s.read("session_registry", "c1") == "n1");
  CHECK(s.checksum() == before);
  s.apply({op::erase_if, "session_registry", "c1", "n1"});
  CHECK_FALSE(s.read("session_registry", "c1"));
  CHECK(s.size() == 0);
  s.apply({op::erase_if, "session_registry", "c1", "n1"}); // idempotent
  CHECK(s.size() == 0);
}

TEST_CASE("db store: applying a committed transaction sets the seqno") {
  shard_store s("kv_shard");
  s.apply(committed{7, {"n#1#1", "kv_shard", {w("kv", "k", "v")}}});
  CHECK(s.seqno() == 7);
  CHECK(s.read("kv", "k") == "v");
  s.put({"kv", "j", "w"});
  CHECK(s.size() == 2);
  s.reset();
  CHECK(s.seqno() == 0);
  CHECK(s.size() == 0);
  CHECK(s.checksum() == 0);
  CHECK(s.batch_after(std::nullopt, 10).empty());
}

TEST_CASE("db store: match returns the keys with a prefix in order") {
  shard_store s("kv_shard");
  for (auto k : {"a/1", "a/2", "a/3", "ab", "b/1", "a"})
    s.apply(w("kv", k, "v"));
  auto m = s.match("kv", "a/");
  REQUIRE(m.size() == 3);
  CHECK(m[0].key == "a/1");
  CHECK(m[2].key == "a/3");
  CHECK(s.match("kv", "a/", 2).size() == 2);
  CHECK(s.match("kv", "").size() == 6);
  CHECK(s.match("kv", "z").empty());
  CHECK(s.match("other", "a").empty());
}

TEST_CASE("db store: batch_after visits every record once across tables") {
  shard_store s("kv_shard");
  for (int i = 0; i < 5; ++i)
    s.apply(w("t1", "k" + std::to_string(i), "v"));
  s.apply(w("t2", "only", "v"));
  s.apply(w("t3", "x", "v"));
  s.apply(clr("t3")); // an empty table in the middle
  for (int i = 0; i < 4; ++i)
    s.apply(w("t4", "k" + std::to_string(i), "v"));
  auto all = s.match("t1", "");
  for (auto t : {"t2", "t4"})
    for (auto& r : s.match(t, ""))
      all.push_back(r);
  REQUIRE(all.size() == 10);
  for (size_t batch : {1, 2, 3, 4, 7, 10, 100})
    CHECK(walk(s, batch) == all);
}

TEST_CASE("db store: batch_after resumes after a key or table that is gone") {
  shard_store s("kv_shard");
  s.apply(w("a", "1", "v"));
  s.apply(w("c", "1", "v"));
  s.apply(w("c", "3", "v"));
  // The last key sent was erased meanwhile: resume at the next one.
  auto b = s.batch_after(record{"c", "2", ""}, 10);
  REQUIRE(b.size() == 1);
  CHECK(b[0].key == "3");
  // The table of the last key no longer exists: resume at the next table.
  b = s.batch_after(record{"b", "zz", ""}, 10);
  REQUIRE(b.size() == 2);
  CHECK(b[0] == record{"c", "1", "v"});
  CHECK(s.batch_after(record{"c", "3", "v"}, 10).empty());
}

TEST_CASE("db store: the checksum depends on contents, not on history") {
  shard_store a("s");
  a.apply(w("t", "k1", "v1"));
  a.apply(w("t", "k2", "old"));
  a.apply(w("u", "k1", "v1"));
  a.apply(w("t", "k2", "v2"));

  shard_store b("s");
  b.apply(w("u", "k1", "v1"));
  b.apply(w("t", "gone", "x"));
  b.apply(w("t", "k2", "v2"));
  b.apply(del("t", "gone"));
  b.apply(w("t", "k1", "v1"));
  CHECK(a.checksum() != 0);
  CHECK(a.checksum() == b.checksum());

  b.apply(w("t", "k2", "v3"));
  CHECK(a.checksum() != b.checksum());
  b.apply(w("t", "k2", "v2"));
  CHECK(a.checksum() == b.checksum());
  // Same key and value in another table is another record.
  b.apply(del("u", "k1"));
  b.apply(w("v", "k1", "v1"));
  CHECK(a.checksum() != b.checksum());

  a.apply(clr("t"));
  a.apply(clr("u"));
  CHECK(a.size() == 0);
  CHECK(a.checksum() == 0);
}

TEST_CASE("db store: record_hash separates the fields") {
  CHECK(record_hash("ab", "c", "") != record_hash("a", "bc", ""));
  CHECK(record_hash("t", "k", "v") == record_hash("t", "k", "v"));
  CHECK(record_hash("t", "k", "v") != record_hash("t", "kv", ""));
}
