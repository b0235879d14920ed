#include <doctest/doctest.h>

#include <string>
#include <utility>
#include <vector>

#include "starling/broker/offline_sessions.hpp"

using starling::broker::offline_sessions;

TEST_CASE("offline sessions: sent away round robin, counted again after "
          "the timeout when nobody took them") {
  offline_sessions s(15'000);
  for (auto id : {"a", "b", "c", "d"})
    s.disconnected(id);
  CHECK(s.offline() == 4);
  using picks = std::vector<std::pair<std::string, size_t>>;
  CHECK(s.send_away(3, 2, 1000) == picks{{"a", 0}, {"b", 1}, {"c", 0}});
  CHECK(s.offline() == 1);
  CHECK(s.leaving() == 3);
  CHECK(s.away("a"));
  // "a" was taken (its session ended here); "b" reconnected here.
  s.forget("a");
  s.forget("b");
  CHECK(!s.away("b"));
  // A leaving session that loses its connection again stays leaving.
  s.disconnected("c");
  CHECK(s.leaving() == 1);
  CHECK(s.expire(15'999).empty());
  CHECK(s.expire(16'000) == std::vector<std::string>{"c"});
  CHECK(s.offline() == 2); // c and d
  CHECK(s.leaving() == 0);
}

TEST_CASE("offline sessions: nothing goes without a node to go to") {
  offline_sessions s;
  s.disconnected("a");
  CHECK(s.send_away(5, 0, 0).empty());
  CHECK(s.offline() == 1);
  CHECK(s.send_away(0, 3, 0).empty());
}
