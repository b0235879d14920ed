#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "starling/broker/rebalance.hpp"

using namespace starling::broker;

namespace {

using phase = rebalance::phase;
using kind = rebalance_effect::kind;

std::vector<node_load> loads(std::uint64_t a, std::uint64_t b, std::uint64_t c,
                             std::uint64_t sa = 0, std::uint64_t sb = 0,
                             std::uint64_t sc = 0) {
  return {{"n1", a, sa}, {"n2", b, sb}, {"n3", c, sc}};
}

const rebalance_effect* find(const rebalance_effects& fx, kind k,
                             const std::string& node = "") {
  for (auto& e : fx)
    if (e.what == k && (node.empty() || e.node == node))
      return &e;
  return nullptr;
}

rebalance_options small() {
  rebalance_options o;
  o.abs_conn_threshold = 10;
  o.rel_conn_threshold = 1.01;
  o.abs_sess_threshold = 10;
  o.rel_sess_threshold = 1.01;
  o.conn_evict_rate = 100;
  o.sess_evict_rate = 50;
  o.wait_health_check_ms = 2000;
  o.wait_takeover_ms = 3000;
  return o;
}

} // namespace

TEST_CASE("rebalance: the thresholds are absolute or relative") {
  CHECK(within_thresholds(1099, 100, 1000, 1.1));  // within 1000
  CHECK(within_thresholds(10900, 10000, 100, 1.1)); // within 10 %
  CHECK_FALSE(within_thresholds(2000, 100, 1000, 1.1));
}

TEST_CASE("rebalance: a balanced cluster has nothing to balance") {
  rebalance r;
  rebalance_effects fx;
  CHECK(r.start(small(), loads(100, 100, 100), 0, fx) == "nothing to balance");
  CHECK(r.start(small(), loads(105, 100, 100), 0, fx) == "nothing to balance");
  CHECK(r.start(small(), {{"n1", 3000, 0}}, 0, fx)
        == "a rebalance needs at least two nodes");
  CHECK(fx.empty());
  CHECK(r.current() == phase::disabled);
}

TEST_CASE("rebalance: disconnected sessions alone can make it worth it") {
  rebalance r;
  rebalance_effects fx;
  CHECK_FALSE(r.start(small(), loads(101, 100, 100, 500, 0, 0), 0, fx));
  CHECK(r.donors() == std::vector<std::string>{"n1"});
}

TEST_CASE("rebalance: the whole run, phase by phase") {
  rebalance r;
  rebalance_effects fx;
  // 3,000 clients all on n1.
  REQUIRE_FALSE(r.start(small(), loads(3000, 0, 0, 200, 0, 0), 1000, fx));
  CHECK(r.donors() == std::vector<std::string>{"n1"});
  CHECK(r.recipients() == std::vector<std::string>{"n2", "n3"});
  CHECK(r.current() == phase::wait_health_check);
  CHECK(find(fx, kind::fail_health_check));
  CHECK(find(fx, kind::timer)->delay_ms == 2000);
  // Health check waited out: donors refuse new clients.
  fx = r.on_timer(loads(3000, 0, 0, 200, 0, 0), 3000);
  CHECK(r.current() == phase::evicting_conns);
  CHECK(find(fx, kind::refuse_connections));
  // Rounds of 100 a second, while the clients reconnect to the others.
  fx = r.on_timer(loads(3000, 0, 0, 200, 0, 0), 3000);
  REQUIRE(find(fx, kind::evict_connections, "n1"));
  CHECK(find(fx, kind::evict_connections, "n1")->count == 100);
  CHECK(find(fx, kind::timer)->delay_ms == 1000);
  CHECK(r.donor_avg() == 3000);
  // Near the end a round takes only what is above the mean of all nodes
  // (the evicted clients land on the recipients).
  fx = r.on_timer(loads(1030, 985, 985, 200, 0, 0), 25000);
  CHECK(r.current() == phase::evicting_conns);
  CHECK(find(fx, kind::evict_connections, "n1")->count == 30);
  // Within the thresholds: wait for the takeovers.
  fx = r.on_timer(loads(1005, 998, 997, 200, 0, 0), 26000);
  CHECK(r.current() == phase::wait_takeover);
  CHECK(find(fx, kind::timer)->delay_ms == 3000);
  fx = r.on_timer(loads(1005, 998, 997, 200, 0, 0), 29000);
  CHECK(r.current() == phase::evicting_sessions);
  // Disconnected sessions move to the recipients, 50 a round.
  fx = r.on_timer(loads(1005, 998, 997, 200, 0, 0), 29000);
  auto* s = find(fx, kind::evict_sessions, "n1");
  REQUIRE(s);
  CHECK(s->count == 50);
  CHECK(s->to == std::vector<std::string>{"n2", "n3"});
  // Balanced: the donors are restored and it is over.
  fx = r.on_timer(loads(1005, 998, 997, 70, 65, 65), 33000);
  CHECK(r.current() == phase::disabled);
  CHECK(find(fx, kind::restore));
  CHECK(find(fx, kind::log)->text == "rebalance finished");
  // And another can start.
  rebalance_effects again;
  CHECK(r.start(small(), loads(1005, 998, 997, 70, 65, 65), 40000, again)
        == "nothing to balance");
}

TEST_CASE("rebalance: one at a time; stop; a participant that dies aborts it") {
  rebalance r;
  rebalance_effects fx;
  REQUIRE_FALSE(r.start(small(), loads(3000, 0, 0), 0, fx));
  CHECK(r.start(small(), loads(3000, 0, 0), 0, fx) == "a rebalance is already running");
  // A node that takes no part changes nothing.
  CHECK(r.node_down("n9").empty());
  CHECK(r.current() == phase::wait_health_check);
  // The donor is kill -9ed: over, cleanly; nothing left to restore on it.
  fx = r.node_down("n1");
  CHECK(r.current() == phase::disabled);
  CHECK(find(fx, kind::restore));
  CHECK(find(fx, kind::log)->text == "rebalance aborted: n1 went down");
  CHECK(r.donors().empty());
  CHECK(r.on_timer(loads(3000, 0, 0), 5000).empty()); // a stale timer
  // A new one can be started, and stopped.
  fx.clear();
  REQUIRE_FALSE(r.start(small(), loads(0, 3000, 0), 6000, fx));
  fx.clear();
  CHECK_FALSE(r.stop(fx));
  CHECK(find(fx, kind::restore));
  CHECK(r.stop(fx) == "no rebalance is running");
  CHECK(std::string(to_string(r.current())) == "disabled");
}

TEST_CASE("rebalance: two nodes meet at the mean instead of swapping their loads") {
  rebalance r;
  rebalance_effects fx;
  auto o = small();
  o.conn_evict_rate = 500;
  std::vector<node_load> two{{"n1", 400, 0}, {"n2", 200, 0}};
  REQUIRE_FALSE(r.start(o, two, 0, fx));
  r.on_timer(two, 2000); // the health check waited out
  fx = r.on_timer(two, 2000);
  auto* e = find(fx, kind::evict_connections, "n1");
  REQUIRE(e);
  // The rate would allow 500 and the recipients' average 200; the mean
  // is 300, so 100 go.
  CHECK(e->count == 100);
  fx = r.on_timer({{"n1", 300, 0}, {"n2", 300, 0}}, 3000);
  CHECK(r.current() == phase::wait_takeover);
}
