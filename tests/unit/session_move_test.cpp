#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "starling/broker/session_move.hpp"

using namespace starling::broker;

namespace {

using verdict = session_move::verdict;
using phase = session_move::phase;

message msg(uint64_t id, const std::string& topic = "t") {
  message m;
  m.id = id;
  m.topic = topic;
  return m;
}

std::vector<uint64_t> ids(const std::vector<session_move::held_message>& held) {
  std::vector<uint64_t> out;
  for (auto& h : held)
    out.push_back(h.first.id);
  return out;
}

/// A move that has fetched a session from the old node.
session_move arrived(session_move::limits l = {}) {
  session_move m(l);
  m.fetch();
  CHECK(m.fetching());
  CHECK(m.fetched(true) == std::optional<int64_t>(l.dedup_window_ms));
  CHECK(m.current() == phase::draining);
  return m;
}

} // namespace

TEST_CASE("session move: a session that started here delivers everything") {
  session_move m;
  CHECK(m.current() == phase::none);
  CHECK(m.direct(msg(1), {"t"}) == verdict::deliver);
  CHECK(m.direct(msg(1), {"t"}) == verdict::deliver); // no dedup here
  CHECK(m.via_old(2) == verdict::deliver);
  CHECK(m.old_done().empty());
  CHECK(m.window_closed().empty());
  CHECK(m.current() == phase::none);
}

TEST_CASE("session move: nothing to take over: the move is over at once") {
  session_move m;
  m.fetch();
  CHECK_FALSE(m.fetched(false));
  CHECK(m.current() == phase::settled);
  CHECK(m.direct(msg(1), {}) == verdict::deliver);
}

TEST_CASE("session move: direct messages wait for the old node, in order") {
  auto m = arrived();
  CHECK(m.direct(msg(10), {"a"}) == verdict::hold);
  CHECK(m.direct(msg(11), {"a"}) == verdict::hold);
  CHECK(m.held() == 2);
  // The old way passes on an earlier message: out at once.
  CHECK(m.via_old(9) == verdict::deliver);
  auto out = m.old_done();
  CHECK(ids(out) == std::vector<uint64_t>{10, 11});
  CHECK(out[0].second == std::vector<std::string>{"a"});
  CHECK(m.current() == phase::deduping);
  // After the old node is done, direct messages go out at once.
  CHECK(m.direct(msg(12), {"a"}) == verdict::deliver);
}

TEST_CASE("session move: a message that comes both ways is delivered once") {
  auto m = arrived();
  // Directly first (held), then the old way: out now, in the old way's
  // order, and skipped when the held ones go out.
  CHECK(m.direct(msg(5), {}) == verdict::hold);
  CHECK(m.via_old(5) == verdict::deliver);
  CHECK(m.old_done().empty());
  // The old way first, then directly: the direct copy is dropped.
  CHECK(m.via_old(6) == verdict::deliver);
  CHECK(m.direct(msg(6), {}) == verdict::drop);
  // Twice the old way (not expected, but not delivered twice either).
  CHECK(m.via_old(7) == verdict::deliver);
  CHECK(m.via_old(7) == verdict::drop);
  CHECK(m.second_copies() == 2);
}

TEST_CASE("session move: the window closes even if the old node never says it is done") {
  auto m = arrived();
  CHECK(m.direct(msg(1), {}) == verdict::hold);
  CHECK(ids(m.window_closed()) == std::vector<uint64_t>{1});
  CHECK(m.current() == phase::settled);
  // Settled: no dedup, nothing held.
  CHECK(m.direct(msg(1), {}) == verdict::deliver);
  CHECK(m.via_old(1) == verdict::deliver);
  CHECK(m.old_done().empty()); // a late handover_end changes nothing
}

TEST_CASE("session move: messages without an id are never held nor deduplicated") {
  auto m = arrived();
  CHECK(m.direct(msg(0), {}) == verdict::deliver);
  CHECK(m.direct(msg(0), {}) == verdict::deliver);
  CHECK(m.via_old(0) == verdict::deliver);
  CHECK(m.held() == 0);
}

TEST_CASE("session move: bounded: beyond max_held messages go out at once") {
  session_move::limits l;
  l.max_held = 2;
  l.dedup_capacity = 3;
  auto m = arrived(l);
  CHECK(m.direct(msg(1), {}) == verdict::hold);
  CHECK(m.direct(msg(2), {}) == verdict::hold);
  CHECK(m.direct(msg(3), {}) == verdict::deliver);
  // The id memory is full: a fourth id is not remembered, so its second
  // copy gets through (bounded memory before exactly-once).
  CHECK(m.direct(msg(4), {}) == verdict::deliver);
  CHECK(m.via_old(4) == verdict::deliver);
  CHECK(m.via_old(3) == verdict::drop);
}

TEST_CASE("session move: a session that leaves again takes what is held with it") {
  auto m = arrived();
  CHECK(m.direct(msg(1), {}) == verdict::hold);
  CHECK(ids(m.release()) == std::vector<uint64_t>{1});
  CHECK(m.held() == 0);
  CHECK(m.current() == phase::deduping);
  CHECK(std::string(to_string(m.current())) == "deduping");
}
