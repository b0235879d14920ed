#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "starling/broker/deadline_queue.hpp"

using starling::broker::deadline_queue;

TEST_CASE("deadline queue: one timer for the oldest serves every key") {
  deadline_queue<std::string> q(1000);
  CHECK(q.add("a", 0) == std::optional<int64_t>(1000)); // arm
  CHECK(q.add("b", 300) == std::nullopt);               // already armed
  CHECK(q.add("c", 900) == std::nullopt);
  // Early or on time: only what is due, and when to come back.
  auto [early, next_early] = q.fire(999);
  CHECK(early.empty());
  CHECK(next_early == std::optional<int64_t>(1));
  auto [due, next] = q.fire(1300);
  CHECK(due == std::vector<std::string>{"a", "b"});
  CHECK(next == std::optional<int64_t>(600));
  auto [last, none] = q.fire(1900);
  CHECK(last == std::vector<std::string>{"c"});
  CHECK(none == std::nullopt);
  CHECK(q.size() == 0);
  // Empty and not armed: the next key arms again.
  CHECK(q.add("d", 2000) == std::optional<int64_t>(1000));
}

TEST_CASE("deadline queue: a key added while the timer is pending does not "
          "arm a second one") {
  deadline_queue<int> q(50);
  CHECK(q.add(1, 0));
  auto [due, next] = q.fire(50);
  CHECK(due == std::vector<int>{1});
  CHECK(!next);
  // Fired and empty: disarmed.
  CHECK(q.add(2, 60) == std::optional<int64_t>(50));
  CHECK(!q.add(3, 70));
  CHECK(q.fire(109).first.empty()); // 2 falls due at 110
  CHECK(q.add(4, 115) == std::nullopt);
  CHECK(q.fire(120).first == std::vector<int>{2, 3});
}
