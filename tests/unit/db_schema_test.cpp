#include <doctest/doctest.h>

#include "starling/runtime/db/types.hpp"

using namespace starling::runtime::db;

namespace {

transaction txn(std::string shard, std::vector<op> ops) {
  return {"n#1#1", std::move(shard), std::move(ops)};
}

op w(std::string table, std::string key = "k") {
  return {op::write, std::move(table), std::move(key), "v"};
}

} // namespace

TEST_CASE("db schema: the builtin tables and their shards") {
  auto s = schema::builtin();
  CHECK(s.shards()
        == std::vector<std::string>{"auth_shard", "cm_shard", "conf_shard",
                                    "kv_ram_shard", "kv_shard", "mgmt_shard",
                                    "retain_shard",
                                    "route_shard"});
  // Every built-in shard is all disc or all ram, so a recovered disc shard
  // is complete at its seqno and can resume.
  auto kv = s.tables_of("kv_shard");
  REQUIRE(kv.size() == 1);
  CHECK(kv[0].name == "kv");
  CHECK(kv[0].store == storage::disc);
  CHECK(s.find("kv_ram")->shard == "kv_ram_shard");
  CHECK(s.find("kv_ram")->store == storage::ram);
  const table_spec* routes = s.find("routes");
  REQUIRE(routes);
  CHECK(routes->shard == "route_shard");
  CHECK(routes->type == table_type::merge);
  CHECK(s.find("cluster_config")->store == storage::disc);
  CHECK(s.find("session_registry")->shard == "cm_shard");
  CHECK(s.find("nope") == nullptr);
  CHECK(s.tables_of("nope").empty());
  CHECK(s.find("admin_user")->shard == "mgmt_shard");
  CHECK(s.find("api_key")->store == storage::disc);
  CHECK(s.tables().size() == 10);
  CHECK(s.find("retained")->store == storage::disc);
  CHECK(s.find("mqtt_user")->shard == "auth_shard");
  CHECK(s.find("banned")->shard == "auth_shard");
  CHECK(s.find("mqtt_user")->store == storage::disc);
}

TEST_CASE("db schema: tables are sorted and a duplicate keeps the first") {
  schema s({{"b", "s1"}, {"a", "s2", storage::disc}, {"a", "s3"}});
  REQUIRE(s.tables().size() == 2);
  CHECK(s.tables()[0].name == "a");
  CHECK(s.find("a")->shard == "s2");
  CHECK(s.shards() == std::vector<std::string>{"s1", "s2"});
}

TEST_CASE("db schema: check accepts a well-formed transaction") {
  schema s({{"kv", "kv_shard", storage::disc}, {"kv_ram", "kv_shard"}});
  CHECK_FALSE(s.check(txn("kv_shard", {w("kv"), w("kv_ram")})));
  CHECK_FALSE(s.check(txn("kv_shard", {{op::erase, "kv", "k", ""},
                                       {op::clear, "kv_ram", "", ""}})));
}

TEST_CASE("db schema: check explains what is wrong") {
  auto s = schema::builtin();
  CHECK(s.check(txn("kv_shard", {})) == "empty transaction");
  CHECK(s.check(txn("", {w("kv")})) == "transaction names no shard");
  CHECK(s.check(txn("kv_shard", {w("kv"), w("x")})) == "unknown table 'x'");
  CHECK(s.check(txn("route_shard", {w("routes")}))
        == "'routes' is a merge table: write it with a dirty write on its "
           "owner");
  CHECK(s.check(txn("kv_shard", {w("kv", "")})) == "write to 'kv' needs a key");
  CHECK(s.check(txn("kv_shard", {{op::erase, "kv", "", ""}}))
        == "erase from 'kv' needs a key");
  CHECK(s.check(txn("kv_shard", {w("kv"), w("session_registry")}))
        == "transaction touches tables of two shards: kv_shard (kv) and "
           "cm_shard (session_registry)");
  CHECK(s.check(txn("cm_shard", {w("kv")}))
        == "transaction is addressed to shard cm_shard but its tables are in "
           "kv_shard");
}
