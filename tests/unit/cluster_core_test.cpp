#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "starling/runtime/cluster/cluster_core.hpp"

using namespace starling::runtime::cluster;

namespace {

using names = std::vector<std::string>;

// c1 started first, then c2, then c3; this is c2.
cluster_core make_c2() {
  return cluster_core("c2", 20, true, autoheal_settings{}, reconnect_schedule::settings{});
}

std::vector<running_member> running(const names& cores) {
  std::vector<running_member> out;
  for (auto& n : cores)
    out.push_back({n, true, n == "c1" ? 10 : n == "c3" ? 30 : 40});
  return out;
}

// The view `node` gossips: it sees and agrees with `others`.
core_view view_of(const std::string& node, int64_t started, names others) {
  std::sort(others.begin(), others.end());
  return {node, started, 1, others, others};
}

bool has(const cluster_effects& out, cluster_effect::kind_t kind) {
  return std::any_of(out.begin(), out.end(), [&](auto& e) { return e.kind == kind; });
}

} // namespace

TEST_CASE("cluster_core: the oldest core leads, and the database group is the "
          "cores that agree in every view") {
  auto c2 = make_c2();
  c2.on_members(running({"c1", "c3"}), 0);
  CHECK(c2.leader() == "c1");
  c2.on_compared("c1", true, "", 0);
  c2.on_compared("c3", true, "", 0);
  c2.on_gossip({view_of("c1", 10, {"c2", "c3"})}, "c1");
  auto out = c2.on_gossip({view_of("c3", 30, {"c1", "c2"})}, "c3");
  CHECK(has(out, cluster_effect::new_group));
  CHECK(c2.group().members == names{"c1", "c2", "c3"});
  CHECK(c2.group().leader == "c1");

  // c1 dies: c1's old view (it still lists c2 and c3) must not keep it in
  // the group; c2, the oldest left, leads and sequences.
  c2.on_down("c1", 100, 0.5);
  out = c2.on_members(running({"c3"}), 100);
  CHECK(c2.leader() == "c2");
  CHECK(c2.group().members == names{"c2", "c3"});
  CHECK(c2.group().leader == "c2");
}

TEST_CASE("cluster_core: a core whose database branched leaves the group and "
          "raises the alarm once") {
  auto c2 = make_c2();
  c2.on_members(running({"c1", "c3"}), 0);
  c2.on_compared("c1", true, "", 0);
  c2.on_compared("c3", true, "", 0);
  c2.on_gossip({view_of("c1", 10, {"c2", "c3"}), view_of("c3", 30, {"c1", "c2"})}, "c1");
  REQUIRE(c2.group().members == names{"c1", "c2", "c3"});
  auto out = c2.on_compared("c3", false, "kv_shard branched after seqno 7", 10);
  auto found = std::count_if(out.begin(), out.end(), [](auto& e) {
    return e.kind == cluster_effect::log && e.text.find("partition: ") == 0;
  });
  auto alarm = std::count_if(out.begin(), out.end(), [](auto& e) {
    return e.kind == cluster_effect::log && e.text.find("partition alarm raised") == 0;
  });
  CHECK(found == 1);
  CHECK(alarm == 1);
  CHECK(c2.alarm().peers().count("c3") == 1);
  CHECK(std::find(c2.group().members.begin(), c2.group().members.end(), "c3")
        == c2.group().members.end());
  // The same finding again is no news.
  out = c2.on_compared("c3", false, "kv_shard branched after seqno 7", 20);
  CHECK(std::none_of(out.begin(), out.end(), [](auto& e) {
    return e.kind == cluster_effect::log && e.text.find("partition") == 0;
  }));
}

TEST_CASE("cluster_core: a member that went down is dialled again after a "
          "bounded wait; one that was removed never") {
  auto c2 = make_c2();
  c2.on_members(running({"c1", "c3"}), 0);
  c2.on_down("c3", 1000, 0.0);
  c2.on_members(running({"c1"}), 1000);
  CHECK(c2.on_tick(1000).dial.empty());
  auto later = c2.on_tick(1000 + reconnect_schedule::settings{}.max_ms);
  CHECK(later.dial == names{"c3"});
  c2.on_dialed("c3", false, "connection refused", 7000, 0.0);
  c2.on_removed("c3");
  CHECK(c2.on_tick(100000).dial.empty());
}
