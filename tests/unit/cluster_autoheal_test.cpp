#include <doctest/doctest.h>

#include <deque>
#include <functional>
#include <random>

#include "starling/runtime/cluster/autoheal.hpp"
#include "starling/runtime/cluster/reconnect.hpp"

using namespace starling::runtime::cluster;

namespace {

using names = std::vector<std::string>;

autoheal_settings fast() {
  autoheal_settings s;
  s.delay_ms = 1000;
  s.collect_timeout_ms = 500;
  s.heal_timeout_ms = 2000;
  return s;
}

core_view view(std::string node, int64_t age, names connected, names agreeing) {
  return {std::move(node), age, 1, std::move(connected), std::move(agreeing)};
}

} // namespace

TEST_CASE("autoheal: quiet period, views, order, confirmation") {
  autoheal h("c1", fast());
  h.set_leader(true, 0);
  CHECK(h.on_report("c3", 0).empty());
  CHECK(h.phase() == heal_phase::waiting);
  CHECK(h.on_report("c2", 600).empty()); // a later report extends the quiet
  CHECK(h.on_tick(1500, {"c1", "c2", "c3"}).empty());
  auto e = h.on_tick(1600, {"c1", "c2", "c3"});
  REQUIRE(e.size() == 1);
  CHECK(e[0].kind == heal_effect::request_views);
  CHECK(e[0].nodes == names{"c1", "c2", "c3"});
  auto round = e[0].round;
  CHECK(h.on_view(round, view("c1", 1, {"c2", "c3"}, {"c2"}), 1700).empty());
  CHECK(h.on_view("other#1", view("c3", 3, {"c1", "c2"}, {}), 1700).empty());
  CHECK(h.on_view(round, view("c2", 2, {"c1", "c3"}, {"c1"}), 1700).empty());
  e = h.on_view(round, view("c3", 3, {"c1", "c2"}, {}), 1800);
  REQUIRE(e.size() == 1);
  CHECK(e[0].kind == heal_effect::order_heal);
  CHECK(e[0].nodes == names{"c3"});
  CHECK(e[0].winner == names{"c1", "c2"});
  CHECK(h.phase() == heal_phase::healing);
  CHECK(h.on_healed(round, "c2", 5, 1900).empty()); // not a loser
  e = h.on_healed(round, "c3", 7, 2000);
  REQUIRE(e.size() == 1);
  CHECK(e[0].kind == heal_effect::finished);
  CHECK(e[0].record.outcome == "healed");
  CHECK(e[0].record.discarded == 7);
  CHECK(e[0].record.losers == names{"c3"});
  CHECK(h.phase() == heal_phase::idle);
}

TEST_CASE("autoheal: a follower ignores reports; a missing view does not block") {
  autoheal f("c2", fast());
  CHECK(f.on_report("c3", 0).empty());
  CHECK(f.phase() == heal_phase::idle);
  autoheal h("c1", fast());
  h.set_leader(true, 0);
  h.on_report("c3", 0);
  auto e = h.on_tick(1000, {"c1", "c2", "c3"});
  auto round = e.at(0).round;
  h.on_view(round, view("c1", 1, {"c2", "c3"}, {"c2"}), 1100);
  h.on_view(round, view("c2", 2, {"c1", "c3"}, {"c1"}), 1100);
  e = h.on_tick(1600, {"c1", "c2", "c3"}); // c3 never answers
  REQUIRE(e.size() == 1);
  // Without c3's view, c3 is not a loser of this round: nothing to heal.
  CHECK(e[0].kind == heal_effect::finished);
  CHECK(e[0].record.outcome == "nothing to heal");
}

TEST_CASE("autoheal: an unanswered order ends the round as incomplete") {
  autoheal h("c1", fast());
  h.set_leader(true, 0);
  h.on_report("c1", 0);
  auto round = h.on_tick(1000, {"c1", "c3"}).at(0).round;
  h.on_view(round, view("c1", 1, {"c3"}, {}), 1000);
  auto e = h.on_view(round, view("c3", 3, {"c1"}, {}), 1000);
  REQUIRE(e.at(0).kind == heal_effect::order_heal);
  CHECK(e[0].nodes == names{"c3"}); // 1-1: the oldest wins
  CHECK(h.on_report("c3", 1500).empty()); // during the round: again later
  e = h.on_tick(3100, {"c1", "c3"});
  REQUIRE(e.size() == 1);
  CHECK(e[0].record.outcome == "incomplete");
  CHECK(e[0].record.unanswered == names{"c3"});
  CHECK(h.phase() == heal_phase::waiting);
}

TEST_CASE("partition alarm: raised once, reported to each new leader, cleared") {
  partition_alarm a("c2");
  auto e = a.on_compared("c3", false, "kv_shard branched after 10", 100);
  REQUIRE(e.size() == 1);
  CHECK(e[0].kind == partition_alarm::effect::raised);
  e = a.on_leader("c1");
  REQUIRE(e.size() == 1);
  CHECK(e[0].kind == partition_alarm::effect::report);
  CHECK(e[0].leader == "c1");
  CHECK(a.on_leader("c1").empty());
  CHECK(a.on_compared("c3", false, "kv_shard branched after 12", 200).empty());
  CHECK(a.peers().at("c3").since_ms == 100);
  e = a.on_compared("c4", false, "x", 300); // a second peer: leader hears it
  REQUIRE(e.size() == 1);
  CHECK(e[0].kind == partition_alarm::effect::report);
  CHECK(a.on_leader("c4").at(0).leader == "c4");
  CHECK(a.on_compared("c3", true, "", 400).empty());
  e = a.on_gone("c4");
  REQUIRE(e.size() == 1);
  CHECK(e[0].kind == partition_alarm::effect::cleared);
  CHECK_FALSE(a.active());
}

TEST_CASE("partition alarm: no re-report for a disagreement a heal cannot settle") {
  partition_alarm a("c1");
  a.on_leader("c1");
  a.on_compared("c3", false, "x", 0);
  heal_record r;
  r.winner = {"c1", "c2"};
  r.left = {"c3"};
  r.outcome = "nothing to heal";
  CHECK(a.on_heal_finished(r).empty()); // waits for the links to change
  r.left.clear();
  CHECK(a.on_heal_finished(r).empty()); // the round did not see c3 at all
  r.losers = {"c3"};
  r.unanswered = {"c3"};
  r.outcome = "incomplete";
  CHECK(a.on_heal_finished(r).at(0).kind == partition_alarm::effect::report);
}

namespace {

/// Cores c1..c3 (c1 oldest) after c3 ran its own database: the alarm and
/// autoheal of every core, messages in a queue, time in steps. `kill_in`
/// stops the leader when its round reaches that phase (and drops every
/// message to it), as kill -9 of the leader mid-heal does.
struct sim {
  std::map<std::string, partition_alarm> alarms;
  std::map<std::string, autoheal> heals;
  std::set<std::string> alive{"c1", "c2", "c3"};
  std::set<std::string> healed; ///< cores that re-synced
  std::deque<std::function<void()>> queue;
  std::vector<heal_record> finished;
  int64_t now = 0;
  int heal_orders = 0;

  sim() {
    for (auto n : {"c1", "c2", "c3"}) {
      alarms.emplace(n, partition_alarm(n));
      heals.emplace(n, autoheal(n, fast()));
    }
  }

  int64_t age(const std::string& n) const { return n == "c1" ? 1 : n == "c2" ? 2 : 3; }
  std::string leader() const { return *alive.begin(); } // names sort by age

  bool agree(const std::string& a, const std::string& b) const {
    bool a3 = a == "c3" && !healed.count("c3");
    bool b3 = b == "c3" && !healed.count("c3");
    return a3 == b3;
  }

  core_view view_of(const std::string& n) const {
    core_view v{n, age(n), 1, {}, {}};
    for (auto& m : alive)
      if (m != n) {
        v.connected.push_back(m);
        if (agree(n, m))
          v.agreeing.push_back(m);
      }
    return v;
  }

  void alarm_effects(const std::string& at,
                     const std::vector<partition_alarm::effect>& es) {
    for (auto& e : es)
      if (e.kind == partition_alarm::effect::report)
        queue.push_back([this, at, to = e.leader] {
          if (alive.count(to))
            run(to, heals.at(to).on_report(at, now));
        });
  }

  void compare_all() {
    for (auto& a : alive)
      for (auto& b : alive)
        if (a != b)
          alarm_effects(a, alarms.at(a).on_compared(b, agree(a, b), "", now));
  }

  void elect() {
    for (auto& n : alive) {
      heals.at(n).set_leader(n == leader(), now);
      alarm_effects(n, alarms.at(n).on_leader(leader()));
    }
  }

  void run(const std::string& at, const std::vector<heal_effect>& es) {
    for (auto& e : es) {
      switch (e.kind) {
        case heal_effect::request_views:
          for (auto& n : e.nodes)
            queue.push_back([this, at, n, round = e.round] {
              if (alive.count(n) && alive.count(at))
                run(at, heals.at(at).on_view(round, view_of(n), now));
            });
          break;
        case heal_effect::order_heal:
          for (auto& n : e.nodes)
            queue.push_back([this, at, n, round = e.round] {
              if (!alive.count(n))
                return;
              ++heal_orders;
              healed.insert(n); // re-synced: it agrees from now on
              compare_all();
              queue.push_back([this, at, n, round] {
                if (alive.count(at))
                  run(at, heals.at(at).on_healed(round, n, 3, now));
              });
            });
          break;
        case heal_effect::finished:
          finished.push_back(e.record);
          for (auto& n : alive)
            alarm_effects(n, alarms.at(n).on_heal_finished(e.record));
          break;
      }
    }
  }

  /// Runs until quiet; `kill_in` (if set) kills the leader when its heal
  /// reaches that phase.
  void go(std::optional<heal_phase> kill_in) {
    elect();
    compare_all();
    for (int step = 0; step < 2000; ++step) {
      now += 50;
      if (kill_in && heals.at("c1").phase() == *kill_in && alive.count("c1")) {
        alive.erase("c1");
        for (auto& n : alive)
          alarm_effects(n, alarms.at(n).on_gone("c1"));
        elect();
      }
      while (!queue.empty()) {
        auto f = std::move(queue.front());
        queue.pop_front();
        f();
      }
      for (auto& n : alive) {
        std::vector<std::string> cores(alive.begin(), alive.end());
        run(n, heals.at(n).on_tick(now, cores));
      }
    }
  }
};

} // namespace

TEST_CASE("autoheal completes whatever state the leader dies in") {
  for (auto phase : {std::optional<heal_phase>{}, std::optional(heal_phase::idle),
                     std::optional(heal_phase::waiting),
                     std::optional(heal_phase::collecting),
                     std::optional(heal_phase::healing)}) {
    INFO("leader killed in " << (phase ? to_string(*phase) : "no phase"));
    sim s;
    s.go(phase);
    CHECK(s.healed.count("c3") == 1);
    for (auto& n : s.alive)
      CHECK_FALSE(s.alarms.at(n).active());
    for (auto& n : s.alive)
      CHECK(s.heals.at(n).phase() == heal_phase::idle);
    CHECK(s.heal_orders >= 1);
    CHECK(s.heal_orders <= 2); // at most once per leader
    if (!phase) {
      REQUIRE(s.finished.size() == 1);
      CHECK(s.finished[0].outcome == "healed");
      CHECK(s.finished[0].winner == names{"c1", "c2"});
    }
  }
}

TEST_CASE("reconnect: jittered, doubling, bounded, one attempt at a time") {
  reconnect_schedule r({1000, 5000});
  r.on_down("b", 0, 0.0);
  CHECK(r.due(499).empty());
  CHECK(r.due(500) == names{"b"});
  CHECK(r.due(10000).empty()); // in flight
  r.on_failed("b", 1000, 0.999);
  CHECK(r.entries().at("b").next_ms == 1000 + 1000 + 999);
  CHECK(r.interval(0) == 1000);
  CHECK(r.interval(1) == 2000);
  CHECK(r.interval(2) == 4000);
  CHECK(r.interval(3) == 5000);
  CHECK(r.interval(30) == 5000);
  std::mt19937 rng(7);
  int64_t now = 1000;
  for (int i = 0; i < 20; ++i) {
    auto due = r.due(now + 5000);
    REQUIRE(due == names{"b"});
    auto before = now;
    now += 5000;
    r.on_failed("b", now, std::uniform_real_distribution<>(0, 1)(rng));
    auto wait = r.entries().at("b").next_ms - now;
    auto interval = r.interval(r.entries().at("b").failures);
    CHECK(wait >= interval / 2);
    CHECK(wait < interval);
    CHECK(interval <= 5000);
    (void) before;
  }
  r.on_up("b");
  CHECK(r.entries().empty());
  r.on_failed("b", now, 0.5); // an answer for a member that came up: ignored
  CHECK(r.entries().empty());
}

TEST_CASE("partition alarm: settled by a heal it took part in; reported again when stuck") {
  partition_alarm a("c3");
  a.on_leader("c1");
  a.on_compared("c1", false, "x", 0);
  heal_record r;
  r.winner = {"c1", "c2"};
  r.losers = {"c3"};
  r.outcome = "healed";
  CHECK(a.on_heal_finished(r).empty()); // c3 took the winners' data
  CHECK(a.on_tick(29000).empty());
  auto e = a.on_tick(30000); // still disagreeing long after: again
  REQUIRE(e.size() == 1);
  CHECK(e[0].kind == partition_alarm::effect::report);
  partition_alarm w("c1"); // a winner whose loser confirmed
  w.on_leader("c1");
  w.on_compared("c3", false, "x", 0);
  CHECK(w.on_heal_finished(r).empty());
  r.unanswered = {"c3"};
  r.outcome = "incomplete";
  CHECK(w.on_heal_finished(r).at(0).kind == partition_alarm::effect::report);
}

TEST_CASE("autoheal: a dead core's kept view does not win the round") {
  autoheal h("c2", fast());
  h.set_leader(true, 0);
  // c1 died (the old leader); its view from before still names c2.
  h.set_known({{"c1", view("c1", 1, {"c2", "c3"}, {"c2"})}});
  h.on_report("c3", 0);
  auto round = h.on_tick(1000, {"c2", "c3"}).at(0).round;
  h.on_view(round, view("c2", 2, {"c3"}, {}), 1000);
  auto e = h.on_view(round, view("c3", 3, {"c2"}, {}), 1000);
  REQUIRE(e.at(0).kind == heal_effect::order_heal);
  CHECK(e[0].winner == names{"c2"});
  CHECK(e[0].nodes == names{"c3"});
}
