#include <doctest/doctest.h>

#include "starling/runtime/db/merge_table.hpp"

using namespace starling::runtime::db;

using kv = std::map<std::string, std::string>;

TEST_CASE("db merge table: a key has one record per owner") {
  merge_table t("routes");
  CHECK(t.name() == "routes");
  CHECK(t.put("a/#", "n1", "1"));
  CHECK(t.put("a/#", "n2", "1"));
  CHECK(t.put("b", "n1", "1"));
  CHECK_FALSE(t.put("b", "n1", "1")); // no change
  CHECK(t.size() == 3);
  CHECK(t.key_count() == 2);
  CHECK(t.owners("a/#") == kv{{"n1", "1"}, {"n2", "1"}});
  CHECK(t.owned_by("n1") == kv{{"a/#", "1"}, {"b", "1"}});
  CHECK(t.keys() == std::vector<std::string>{"a/#", "b"});
  CHECK(t.put("b", "n1", "2")); // new value
  CHECK(t.owners("b") == kv{{"n1", "2"}});
  CHECK(t.size() == 3);
}

TEST_CASE("db merge table: erase removes one owner's record") {
  merge_table t("routes");
  t.put("a", "n1", "1");
  t.put("a", "n2", "1");
  CHECK(t.erase("a", "n1"));
  CHECK_FALSE(t.erase("a", "n1"));
  CHECK_FALSE(t.erase("zz", "n1"));
  CHECK(t.owners("a") == kv{{"n2", "1"}});
  CHECK(t.owned_by("n1").empty());
  CHECK(t.erase("a", "n2"));
  CHECK(t.key_count() == 0); // no empty key left behind
  CHECK(t.keys().empty());
  CHECK(t.size() == 0);
  CHECK(t.checksum() == 0);
}

TEST_CASE("db merge table: replace_owner installs exactly the new set") {
  merge_table t("routes");
  t.put("a", "n1", "1");
  t.put("b", "n1", "1");
  t.put("c", "n1", "1");
  t.put("b", "n2", "1");
  // a: removed, b: unchanged, c: new value, d: new key.
  size_t changes = t.replace_owner("n1", {{"b", "1"}, {"c", "2"}, {"d", "1"}});
  CHECK(changes == 3);
  CHECK(t.owned_by("n1") == kv{{"b", "1"}, {"c", "2"}, {"d", "1"}});
  CHECK(t.owners("a").empty());
  CHECK(t.owners("b") == kv{{"n1", "1"}, {"n2", "1"}});
  CHECK(t.size() == 4);
  CHECK(t.replace_owner("n1", t.owned_by("n1")) == 0);
  CHECK(t.replace_owner("n3", {{"e", "1"}}) == 1);
  CHECK(t.replace_owner("n3", {}) == 1);
  CHECK(t.owned_by("n3").empty());
}

TEST_CASE("db merge table: drop_owner removes a down node's records") {
  merge_table t("routes");
  t.put("a", "n1", "1");
  t.put("b", "n1", "1");
  t.put("b", "n2", "1");
  uint64_t n2_only = [] {
    merge_table u("routes");
    u.put("b", "n2", "1");
    return u.checksum();
  }();
  CHECK(t.drop_owner("n1") == 2);
  CHECK(t.drop_owner("n1") == 0);
  CHECK(t.keys() == std::vector<std::string>{"b"});
  CHECK(t.size() == 1);
  CHECK(t.checksum() == n2_only);
  CHECK(t.drop_owner("n2") == 1);
  CHECK(t.key_count() == 0);
  CHECK(t.checksum() == 0);
}

TEST_CASE("db merge table: the checksum depends on records, not on order") {
  merge_table a("routes"), b("routes");
  a.put("a", "n1", "1");
  a.put("a", "n2", "1");
  a.put("b", "n1", "x");
  a.put("b", "n1", "1");

  b.replace_owner("n1", {{"b", "1"}, {"gone", "1"}});
  b.put("a", "n2", "1");
  b.erase("gone", "n1");
  b.put("a", "n1", "1");
  CHECK(a.checksum() != 0);
  CHECK(a.checksum() == b.checksum());
  b.put("a", "n2", "2");
  CHECK(a.checksum() != b.checksum());
  // Owner and key are not interchangeable.
  merge_table c("routes"), d("routes");
  c.put("n1", "a", "1");
  d.put("a", "n1", "1");
  CHECK(c.checksum() != d.checksum());
}
