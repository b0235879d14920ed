#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "starling/broker/timer_wheel.hpp"

using starling::broker::timer_wheel;

TEST_CASE("timer wheel: keys come out at the first tick at or after their "
          "time, never early") {
  timer_wheel<std::string> w(250);
  CHECK(w.add(1000, "a"));        // the first starts the ticks
  CHECK_FALSE(w.add(1001, "b"));  // ticking already
  CHECK_FALSE(w.add(1250, "c"));
  CHECK_FALSE(w.add(90000, "far"));
  CHECK(w.size() == 4);
  auto [none, again] = w.tick(999);
  CHECK(none.empty());
  CHECK(again);
  auto [first, again2] = w.tick(1000);
  CHECK(first == std::vector<std::string>{"a"});
  CHECK(again2);
  // "b" (1001) waits for the tick at 1250, with "c": one tick late at most.
  auto [second, again3] = w.tick(1249);
  CHECK(second.empty());
  auto [third, again4] = w.tick(1250);
  CHECK(third == std::vector<std::string>{"b", "c"});
  CHECK(w.size() == 1);
  // A late tick takes everything due up to it, in order.
  CHECK_FALSE(w.add(2000, "d"));
  auto [late, again5] = w.tick(100000);
  CHECK(late == std::vector<std::string>{"d", "far"});
  CHECK_FALSE(again5); // nothing left: the host stops ticking
  CHECK(w.size() == 0);
  CHECK(w.add(200000, "e")); // and the next key starts it again
}

TEST_CASE("timer wheel: a key added while ticks run does not ask for a "
          "second tick") {
  timer_wheel<int> w(100);
  CHECK(w.add(50, 1));
  auto [due, again] = w.tick(100);
  CHECK(due == std::vector<int>{1});
  CHECK_FALSE(again);
  // The host stopped; keys added at the same time as a tick that empties
  // the wheel start it again, so none is left without a tick.
  CHECK(w.add(150, 2));
  CHECK_FALSE(w.add(90, 3));
  auto [both, again2] = w.tick(200);
  CHECK(both == std::vector<int>{3, 2}); // by time, not by arrival
  CHECK_FALSE(again2);
}
