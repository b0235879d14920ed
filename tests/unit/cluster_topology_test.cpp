#include <doctest/doctest.h>

#include <algorithm>
#include <random>

#include "starling/runtime/cluster/topology.hpp"

using namespace starling::runtime::cluster;

namespace {

using names = std::vector<std::string>;

/// Views of cores c1..cn (c1 oldest) where `links` are the live links and
/// `branched` the pairs whose shards disagree.
view_table make_views(int n, const std::set<std::pair<int, int>>& links,
                      const std::set<std::pair<int, int>>& branched = {}) {
  view_table t;
  auto has = [](auto& set, int a, int b) {
    return set.count({std::min(a, b), std::max(a, b)}) > 0;
  };
  for (int i = 1; i <= n; ++i) {
    core_view v;
    v.node = "c" + std::to_string(i);
    v.started_at_ms = 1000 + i;
    for (int j = 1; j <= n; ++j) {
      if (i == j || !has(links, i, j))
        continue;
      v.connected.push_back("c" + std::to_string(j));
      if (!has(branched, i, j))
        v.agreeing.push_back("c" + std::to_string(j));
    }
    std::sort(v.connected.begin(), v.connected.end());
    std::sort(v.agreeing.begin(), v.agreeing.end());
    t[v.node] = v;
  }
  return t;
}

std::set<std::pair<int, int>> full(int n) {
  std::set<std::pair<int, int>> s;
  for (int i = 1; i <= n; ++i)
    for (int j = i + 1; j <= n; ++j)
      s.insert({i, j});
  return s;
}

} // namespace

TEST_CASE("one core cut off: the two others win, the third re-syncs") {
  // The link came back, but c3 ran its own database meanwhile.
  auto views = make_views(3, full(3), {{1, 3}, {2, 3}});
  auto d = heal_plan(views);
  CHECK(d.winner == names{"c1", "c2"});
  CHECK(d.losers == names{"c3"});
  CHECK(d.left.empty());
  CHECK(group_of(views, "c1") == db_group{{"c1", "c2"}, "c1"});
  CHECK(group_of(views, "c3") == db_group{{"c3"}, "c3"});
}

TEST_CASE("the oldest core cut off alone loses to the larger side") {
  auto views = make_views(3, full(3), {{1, 2}, {1, 3}});
  auto d = heal_plan(views);
  CHECK(d.winner == names{"c2", "c3"});
  CHECK(d.losers == names{"c1"});
  CHECK(group_of(views, "c2").leader == "c2");
}

TEST_CASE("1-1-1 split: the side with the oldest core wins") {
  auto views = make_views(3, full(3), {{1, 2}, {1, 3}, {2, 3}});
  auto d = heal_plan(views);
  CHECK(d.winner == names{"c1"});
  CHECK(d.losers == names{"c2", "c3"});
}

TEST_CASE("2-2-1 split: a tie of two pairs goes to the pair with the oldest") {
  // {c2,c3} and {c4,c5} and {c1}: c1 is oldest but alone.
  auto views = make_views(5, full(5),
                          {{1, 2}, {1, 3}, {1, 4}, {1, 5}, {2, 4}, {2, 5},
                           {3, 4}, {3, 5}});
  auto d = heal_plan(views);
  CHECK(d.winner == names{"c2", "c3"});
  CHECK(d.losers == names{"c1", "c4", "c5"});
}

TEST_CASE("asymmetric split: a clique wins, not the connected component") {
  // c1 sees c2 and c3; c2 and c3 do not see each other. All agree.
  std::set<std::pair<int, int>> links{{1, 2}, {1, 3}};
  auto views = make_views(3, links);
  auto d = heal_plan(views);
  CHECK(d.winner == names{"c1", "c2"}); // tie: both hold c1; c2 < c3
  CHECK(d.losers.empty());
  CHECK(d.left == names{"c3"}); // cannot reach c2: left alone, no flapping
  // The database groups: c3 runs its own until the c2-c3 link returns.
  CHECK(group_of(views, "c1") == db_group{{"c1", "c2"}, "c1"});
  CHECK(group_of(views, "c2") == db_group{{"c1", "c2"}, "c1"});
  CHECK(group_of(views, "c3") == db_group{{"c3"}, "c3"});
  // When it returns (c3 having branched meanwhile), c3 loses and re-syncs.
  auto healed = make_views(3, full(3), {{1, 3}, {2, 3}});
  CHECK(heal_plan(healed).losers == names{"c3"});
}

TEST_CASE("a missing or stale view cannot make an edge") {
  auto views = make_views(3, full(3));
  views.erase("c3"); // c3's view never arrived
  CHECK(group_of(views, "c1").members == names{"c1", "c2"});
  // c2's view is older than its link loss: it still lists c3, but c3's
  // fresh view does not list c2 any more.
  auto v = make_views(3, full(3));
  v["c3"].connected = {"c1"};
  v["c3"].agreeing = {"c1"};
  CHECK(group_of(v, "c1").members == names{"c1", "c2"});
}

TEST_CASE("gossip keeps the newest view per origin; a node owns its own") {
  topology a("c1", 1001);
  CHECK(a.set_own({"c2"}, {"c2"}));
  CHECK_FALSE(a.set_own({"c2"}, {"c2"}));
  core_view v2{"c2", 1002, 5, {"c1"}, {"c1"}};
  CHECK(a.merge({v2}));
  auto old = v2;
  old.version = 4;
  old.agreeing = {};
  CHECK_FALSE(a.merge({old}));
  CHECK(a.views().at("c2").agreeing == names{"c1"});
  core_view fake_self{"c1", 1001, 99, {}, {}};
  CHECK_FALSE(a.merge({fake_self}));
  CHECK(a.own().connected == names{"c2"});
  CHECK(a.group() == db_group{{"c1", "c2"}, "c1"});
  // A restarted c2 (later start) replaces its old incarnation at version 1.
  core_view reborn{"c2", 5000, 1, {}, {}};
  CHECK(a.merge({reborn}));
  CHECK(a.group() == db_group{{"c1"}, "c1"});
}

namespace {

bool is_clique(const view_table& views, const names& c) {
  auto g = agreement_graph(views);
  for (auto& a : c)
    for (auto& b : c)
      if (a != b && !g[a].count(b))
        return false;
  return true;
}

size_t max_clique_size(const view_table& views) {
  // Brute force over subsets (n <= 7).
  std::vector<std::string> all;
  for (auto& [n, v] : views)
    all.push_back(n);
  size_t best = 0;
  for (uint32_t mask = 1; mask < (1u << all.size()); ++mask) {
    names c;
    for (size_t i = 0; i < all.size(); ++i)
      if (mask & (1u << i))
        c.push_back(all[i]);
    if (c.size() > best && is_clique(views, c))
      best = c.size();
  }
  return best;
}

} // namespace

TEST_CASE("winner over random graphs: a largest clique, order-free, oldest on ties") {
  for (uint32_t seed = 1; seed <= 500; ++seed) {
    std::mt19937 rng(seed);
    int n = 2 + static_cast<int>(rng() % 6);
    std::set<std::pair<int, int>> links, branched;
    for (int i = 1; i <= n; ++i)
      for (int j = i + 1; j <= n; ++j) {
        if (rng() % 4 != 0)
          links.insert({i, j});
        if (rng() % 3 == 0)
          branched.insert({i, j});
      }
    auto views = make_views(n, links, branched);
    // One-sided views (a sees b, b does not see a) happen while a link
    // goes down: drop some entries on one side only.
    for (auto& [name, v] : views)
      if (rng() % 5 == 0 && !v.agreeing.empty())
        v.agreeing.erase(v.agreeing.begin() + rng() % v.agreeing.size());
    auto d = heal_plan(views);
    INFO("seed " << seed);
    REQUIRE(is_clique(views, d.winner));
    REQUIRE(d.winner.size() == max_clique_size(views));
    // Ties go to a clique holding the oldest core (c1) whenever one of the
    // largest size holds it.
    // (The best clique within c1's neighbourhood always holds c1: it is the
    // largest clique holding c1.)
    auto g0 = agreement_graph(views);
    auto around = g0["c1"];
    around.insert("c1");
    bool c1_in_some_largest =
      best_clique(g0, around, views).size() == d.winner.size();
    if (c1_in_some_largest)
      REQUIRE(std::find(d.winner.begin(), d.winner.end(), "c1") != d.winner.end());
    // The same answer whatever order the views arrive in (gossip merge).
    std::vector<core_view> list;
    for (auto& [name, v] : views)
      list.push_back(v);
    for (int round = 0; round < 5; ++round) {
      std::shuffle(list.begin(), list.end(), rng);
      topology t("c1", views.at("c1").started_at_ms);
      t.set_own(views.at("c1").connected, views.at("c1").agreeing);
      for (auto& v : list)
        t.merge({v});
      REQUIRE(heal_plan(t.views()) == d);
      REQUIRE(t.group() == group_of(views, "c1"));
    }
    // Every core that can reach the winner's clique members directly is
    // either in it or a loser; the groups partition the reachable cores.
    auto g = agreement_graph(views);
    auto parts = decompose(g, reachable(g, "c1"), views);
    size_t total = 0;
    for (auto& p : parts) {
      REQUIRE(is_clique(views, p));
      total += p.size();
    }
    REQUIRE(total == reachable(g, "c1").size());
  }
}

TEST_CASE("a core that dies is left out at once: no split brain while the others notice") {
  // c2 died; c3 noticed, c1 not yet. Views as c3 holds them: c1's still
  // lists c2 and c3, c2's (stale) lists c1 and c3, c3's own lists c1.
  view_table t;
  t["c1"] = {"c1", 1001, 5, {"c2", "c3"}, {"c2", "c3"}};
  t["c2"] = {"c2", 1002, 5, {"c1", "c3"}, {"c1", "c3"}};
  t["c3"] = {"c3", 1003, 6, {"c1"}, {"c1"}};
  // Counting c2, c3 would be outside the best clique ({c1,c2}) and lead
  // alone; leaving out what it sees as down, it follows c1.
  CHECK(group_of(t, "c3") == db_group{{"c3"}, "c3"});
  std::set<std::string> alive3{"c1"};
  CHECK(group_of(t, "c3", &alive3) == db_group{{"c1", "c3"}, "c1"});
  // c1, which still sees c2, keeps c1 as the sequencer too.
  std::set<std::string> alive1{"c2", "c3"};
  CHECK(group_of(t, "c1", &alive1).leader == "c1");
}

TEST_CASE("asymmetric: a leader that cannot see every core decides with the gossiped views") {
  // c2 (older than c3) cannot reach c1 (oldest); c3 sees both and follows
  // c1; c2 branched. From c2's reach alone, {c2} would beat {c3}; with c1's
  // gossiped view, {c1, c3} wins and c2 is left alone (it cannot reach c1).
  view_table t;
  t["c1"] = {"c1", 1001, 5, {"c3"}, {"c3"}};
  t["c2"] = {"c2", 1002, 5, {"c3"}, {}};
  t["c3"] = {"c3", 1003, 6, {"c1", "c2"}, {"c1"}};
  view_table reach{{"c2", t["c2"]}, {"c3", t["c3"]}};
  CHECK(heal_plan(reach).losers == names{"c3"}); // the wrong answer
  auto d = heal_plan(t);
  CHECK(d.winner == names{"c1", "c3"});
  CHECK(d.losers.empty());
  CHECK(d.left == names{"c2"});
}
