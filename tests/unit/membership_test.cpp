#include <doctest/doctest.h>

#include "starling/runtime/membership.hpp"

using namespace starling::runtime;

namespace {
member make(std::string name, int64_t started, node_role role = node_role::core,
            member_status status = member_status::up) {
  member m;
  m.name = std::move(name);
  m.host = "127.0.0.1";
  m.dist_port = 4370;
  m.role = role;
  m.status = status;
  m.started_at_ms = started;
  return m;
}
} // namespace

TEST_CASE("nodes() lists up peers; the node itself is always running") {
  membership v(make("a@h", 100));
  CHECK(v.nodes().empty());
  CHECK(v.running_nodes() == std::vector<std::string>{"a@h"});
  auto ev = v.upsert(make("c@h", 50), 1000);
  REQUIRE(ev);
  CHECK(*ev == membership_event{membership_event::nodeup, "c@h"});
  v.upsert(make("b@h", 70), 1000);
  CHECK(v.nodes() == std::vector<std::string>{"b@h", "c@h"});
  CHECK(v.running_nodes() == std::vector<std::string>{"a@h", "b@h", "c@h"});
}

TEST_CASE("a down peer stays a stopped member until removed") {
  membership v(make("a@h", 100));
  v.upsert(make("b@h", 70), 1000);
  auto ev = v.set_status("b@h", member_status::down, 2000);
  REQUIRE(ev);
  CHECK(ev->kind == membership_event::nodedown);
  CHECK(v.nodes().empty());
  CHECK(v.stopped_nodes() == std::vector<std::string>{"b@h"});
  CHECK_FALSE(v.set_status("b@h", member_status::down, 2500));
  CHECK(v.find("b@h")->since_ms == 2000);
  CHECK(v.remove("b@h"));
  CHECK_FALSE(v.remove("b@h"));
  CHECK(v.stopped_nodes().empty());
}

TEST_CASE("a restarted peer (new incarnation) comes back up") {
  membership v(make("a@h", 100));
  v.upsert(make("b@h", 70), 1000);
  v.set_status("b@h", member_status::down, 2000);
  auto ev = v.upsert(make("b@h", 3000), 3100);
  REQUIRE(ev);
  CHECK(ev->kind == membership_event::nodeup);
  CHECK(v.find("b@h")->started_at_ms == 3000);
  CHECK_FALSE(v.upsert(make("b@h", 3000), 3200)); // no change, no event
}

TEST_CASE("the oldest running core is the leader candidate") {
  membership v(make("a@h", 100));
  CHECK(v.oldest_core()->name == "a@h");
  v.upsert(make("b@h", 50), 1000);
  v.upsert(make("r@h", 10, node_role::replicant), 1000);
  CHECK(v.oldest_core()->name == "b@h"); // replicants never lead
  v.set_status("b@h", member_status::down, 2000);
  CHECK(v.oldest_core()->name == "a@h"); // down nodes never lead
  v.upsert(make("0@h", 100), 2000);
  CHECK(v.oldest_core()->name == "0@h"); // equal age: name decides
}

TEST_CASE("the node itself cannot be upserted, marked down or removed") {
  membership v(make("a@h", 100));
  CHECK_FALSE(v.upsert(make("a@h", 5), 1));
  CHECK_FALSE(v.set_status("a@h", member_status::down, 1));
  CHECK(v.find("a@h")->started_at_ms == 100);
  CHECK(v.self().status == member_status::up);
}

TEST_CASE("reset leaves the node alone") {
  membership v(make("a@h", 100));
  v.upsert(make("b@h", 70), 1000);
  v.reset();
  CHECK(v.members().size() == 1);
}

TEST_CASE("cluster status json has running, stopped and member details") {
  membership v(make("a@h", 1000));
  v.upsert(make("b@h", 500), 1000);
  v.upsert(make("c@h", 700), 1000);
  v.set_status("c@h", member_status::down, 5000);
  auto j = v.to_json(11000);
  CHECK(j["running_nodes"] == nlohmann::json({"a@h", "b@h"}));
  CHECK(j["stopped_nodes"] == nlohmann::json({"c@h"}));
  CHECK(j["members"].size() == 3);
  CHECK(j["members"][0]["uptime_s"] == 10);
  CHECK(j["members"][1]["oldest_core"] == true);
  CHECK(j["members"][2]["status"] == "down");
}

TEST_CASE("autoclean: a peer down at least that long, never before") {
  membership v(make("a@h", 100));
  v.upsert(make("b@h", 70), 1000);
  v.upsert(make("c@h", 80), 1000);
  v.set_status("b@h", member_status::down, 2000);
  v.set_status("c@h", member_status::down, 5000);
  CHECK(v.down_longer_than(10000, 11999).empty());
  CHECK(v.down_longer_than(10000, 12000) == std::vector<std::string>{"b@h"});
  CHECK(v.down_longer_than(10000, 15000)
        == std::vector<std::string>{"b@h", "c@h"});
  v.upsert(make("c@h", 80), 14000); // back up in time
  CHECK(v.down_longer_than(10000, 15000) == std::vector<std::string>{"b@h"});
}

TEST_CASE("removals are remembered until the node joins again") {
  membership v(make("a@h", 100));
  v.add_removal({"b@h", "force-left by a@h", 10});
  v.add_removal({"b@h", "autoclean", 20});
  REQUIRE(v.removed("b@h"));
  CHECK(v.removed("b@h")->reason == "autoclean");
  CHECK(v.removals().size() == 1);
  CHECK(v.clear_removal("b@h"));
  CHECK_FALSE(v.removed("b@h"));
  for (size_t i = 0; i < membership::max_removals + 5; ++i)
    v.add_removal({"n" + std::to_string(i) + "@h", "x", 0});
  CHECK(v.removals().size() == membership::max_removals);
  CHECK_FALSE(v.removed("n0@h"));
}
