#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "starling/broker/evacuation.hpp"

using namespace starling::broker;

namespace {

using phase = evacuation::phase;
using kind = evacuation_effect::kind;

const evacuation_effect* find(const evacuation_effects& fx, kind k) {
  for (auto& e : fx)
    if (e.what == k)
      return &e;
  return nullptr;
}

evacuation_options opts() {
  evacuation_options o;
  o.redirect_to = "10.0.0.2:1883";
  o.conn_evict_rate = 300;
  o.sess_evict_rate = 40;
  o.wait_health_check_ms = 1000;
  o.wait_takeover_ms = 5000;
  return o;
}

} // namespace

TEST_CASE("evacuation: from the health check to prohibiting") {
  evacuation e;
  evacuation_effects fx;
  REQUIRE_FALSE(e.start(opts(), {"n2", "n3"}, 0, fx));
  CHECK(find(fx, kind::fail_health_check));
  CHECK(find(fx, kind::persist)->text.find("phase=waiting_health_check") == 0);
  CHECK(find(fx, kind::timer)->delay_ms == 1000);
  CHECK_FALSE(e.refusing()); // clients still accepted while LBs notice
  fx = e.on_timer(1000, 200, 1000);
  CHECK(e.current() == phase::evicting_conns);
  CHECK(find(fx, kind::refuse_connections));
  CHECK(e.refusing());
  // 300 a round, the last round only what is left.
  fx = e.on_timer(1000, 200, 1000);
  CHECK(find(fx, kind::evict_connections)->count == 300);
  fx = e.on_timer(100, 200, 4000);
  CHECK(find(fx, kind::evict_connections)->count == 100);
  fx = e.on_timer(0, 150, 5000);
  CHECK(e.current() == phase::waiting_takeover);
  CHECK(find(fx, kind::timer)->delay_ms == 5000);
  fx = e.on_timer(0, 120, 10000);
  CHECK(e.current() == phase::evicting_sessions);
  fx = e.on_timer(0, 120, 10000);
  auto* s = find(fx, kind::evict_sessions);
  REQUIRE(s);
  CHECK(s->count == 40);
  CHECK(s->to == std::vector<std::string>{"n2", "n3"});
  fx = e.on_timer(0, 0, 13000);
  CHECK(e.current() == phase::prohibiting);
  CHECK_FALSE(find(fx, kind::timer)); // it stays until stopped
  CHECK(e.refusing());
  CHECK(e.on_timer(0, 0, 20000).empty());
  fx.clear();
  CHECK_FALSE(e.stop(fx));
  CHECK(find(fx, kind::restore));
  CHECK(find(fx, kind::persist)->text.empty());
  CHECK_FALSE(e.refusing());
  CHECK(e.stop(fx) == "no evacuation is running");
}

TEST_CASE("evacuation: migrate_to must name running nodes; one at a time") {
  evacuation e;
  evacuation_effects fx;
  auto o = opts();
  o.migrate_to = {"n9"};
  CHECK(e.start(o, {"n2"}, 0, fx)
        == "cannot migrate sessions to n9: it is not a running node");
  o.migrate_to = {"n2"};
  CHECK_FALSE(e.start(o, {"n2", "n3"}, 0, fx));
  CHECK(e.start(o, {"n2", "n3"}, 0, fx) == "an evacuation is already running");
}

TEST_CASE("evacuation: a restarted node resumes and refuses clients at once") {
  evacuation e;
  evacuation_effects fx;
  REQUIRE_FALSE(e.start(opts(), {"n2"}, 0, fx));
  e.on_timer(10, 0, 1000); // evicting_conns
  auto saved = e.to_text();
  evacuation again;
  fx.clear();
  REQUIRE_FALSE(again.resume(saved, fx));
  CHECK(again.current() == phase::evicting_conns);
  CHECK(again.refusing());
  CHECK(find(fx, kind::refuse_connections));
  CHECK(again.options().redirect_to == "10.0.0.2:1883");
  CHECK(again.options().conn_evict_rate == 300);
  // Sessions still go where they went before the restart.
  again.on_timer(0, 5, 2000);
  again.on_timer(0, 5, 7000);
  fx = again.on_timer(0, 5, 7000);
  CHECK(find(fx, kind::evict_sessions)->to == std::vector<std::string>{"n2"});
  // A prohibiting node stays so, with no timer.
  evacuation done;
  fx.clear();
  REQUIRE_FALSE(done.resume("phase=prohibiting\nredirect_to=\nmigrate_to=\n"
                            "conn_evict_rate=500\nsess_evict_rate=500\n"
                            "wait_health_check_ms=60000\nwait_takeover_ms=60000\n",
                            fx));
  CHECK(done.current() == phase::prohibiting);
  CHECK_FALSE(find(fx, kind::timer));
  // A damaged file is named, not guessed at.
  evacuation bad;
  CHECK(bad.resume("phase=sideways\n", fx) == "not an evacuation state: phase 'sideways'");
  CHECK(bad.resume("garbage", fx) == "not an evacuation state: 'garbage'");
  CHECK(bad.resume("phase=prohibiting\nconn_evict_rate=x\n", fx)
        == "not an evacuation state: a rate or a wait is missing or not a number");
  CHECK(bad.current() == phase::disabled);
}

TEST_CASE("evacuation: with no other node the sessions stay, and it says so") {
  evacuation e;
  evacuation_effects fx;
  REQUIRE_FALSE(e.start(opts(), {}, 0, fx));
  e.on_timer(0, 3, 1000);
  e.on_timer(0, 3, 1000);
  e.on_timer(0, 3, 6000);
  fx = e.on_timer(0, 3, 6000);
  CHECK(e.current() == phase::prohibiting);
  CHECK(find(fx, kind::log)->text
        == "evacuation: no node to move the sessions to; they stay");
}
