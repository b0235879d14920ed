#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <tuple>
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
    out.push_back(h.msg.id);
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
  CHECK(out[0].keys == std::vector<std::string>{"a"});
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

// Found by tests/sim/session_sim: a session that moved on while its own
// arrival was still open passed on late copies from the node before it,
// and its new node, which had never seen their ids, delivered them again
// (QoS 2 twice).
TEST_CASE("session move: after it left, a session passes on no second copies") {
  auto m = arrived();
  CHECK(m.direct(msg(1), {}) == verdict::hold);
  CHECK(ids(m.release()) == std::vector<uint64_t>{1});
  CHECK(m.pass_on(1) == verdict::drop); // the old node's copy of 1
  CHECK(m.pass_on(2) == verdict::deliver);
  CHECK(m.pass_on(2) == verdict::drop);
  CHECK(m.second_copies() == 2);
}

// Found by tests/sim/session_sim: a client that came back to a node within
// the grace period got the messages its session brought along a second
// time, routed there directly by the route that never went away.
TEST_CASE("session move: what the session brought, and what the node before "
          "had seen, count as seen") {
  session s("c", session_config{}, 60);
  delivery queued;
  queued.msg = msg(7);
  queued.qos = qos::at_least_once;
  s.enqueue(queued);
  delivery sent = queued;
  sent.msg = msg(8);
  s.track(sent);
  auto m = arrived();
  m.arrived_with(s);
  m.arrived_with(std::vector<uint64_t>{9});
  for (uint64_t id : {7, 8, 9})
    CHECK(m.direct(msg(id), {}) == verdict::drop);
  CHECK(m.direct(msg(10), {}) == verdict::hold);

  // The ids a move has seen go on with the session while it is open.
  auto seen = m.seen_ids();
  std::sort(seen.begin(), seen.end());
  CHECK(seen == std::vector<uint64_t>{7, 8, 9, 10});
  CHECK(ids(m.window_closed()) == std::vector<uint64_t>{10});
  CHECK(m.seen_ids().empty());
}

// Found by tests/sim/session_sim: a client came back within the grace
// period over a slow link; a message published before the move reached the
// node directly and waited, while newer ones of the same publisher came the
// old way and went out at once.
TEST_CASE("session move: older direct messages of the same publisher and topic "
          "go before one that came the old way") {
  auto m = arrived();
  auto from = [](uint64_t id, const std::string& topic, const std::string& pub) {
    auto x = msg(id, topic);
    x.publisher = pub;
    return x;
  };
  CHECK(m.direct(from(3, "t", "p"), {}) == verdict::hold);
  CHECK(m.direct(from(4, "u", "p"), {}) == verdict::hold); // another topic
  CHECK(m.direct(from(5, "t", "q"), {}) == verdict::hold); // another publisher
  CHECK(m.direct(from(9, "t", "p"), {}) == verdict::hold); // newer
  CHECK(ids(m.older_held(from(6, "t", "p"))) == std::vector<uint64_t>{3});
  CHECK(m.via_old(6) == verdict::deliver);
  CHECK(ids(m.old_done()) == std::vector<uint64_t>{4, 5, 9});
}

// Found by tests/sim/session_sim --slow-links (seed 43): a client came back
// to node A within the grace period. Messages the publisher sent before its
// route to node B was in place reached A directly and waited in the
// session's mailbox behind the takeover's answer; newer ones, which B had
// held and put into the session's queue, went out at once, before them.
TEST_CASE("session move: a session that came back holds its queue, merged "
          "with the direct messages by publisher and id") {
  auto from = [](uint64_t id, const std::string& topic, const std::string& pub) {
    auto x = msg(id, topic);
    x.publisher = pub;
    return x;
  };
  session s("c", session_config{}, 60);
  for (auto [id, topic, pub] : {std::tuple{96, "t", "p"}, {97, "t", "p"},
                                {50, "u", "q"}, {0, "t", "x"}}) {
    delivery d;
    d.msg = from(id, topic, pub);
    d.qos = qos::at_least_once;
    s.enqueue(d);
  }
  auto m = arrived();
  m.came_back_with(s, 0);
  // What has no id (not from a router) stays queued; the rest waits.
  REQUIRE(s.queue().size() == 1);
  CHECK(s.queue()[0].msg.publisher == "x");
  CHECK(m.held() == 3);

  // The older direct ones come after the answer; copies of the queued ones
  // are seconds.
  CHECK(m.direct(from(92, "t", "p"), {"t"}) == verdict::hold);
  CHECK(m.direct(from(93, "t", "p"), {"t"}) == verdict::hold);
  CHECK(m.direct(from(96, "t", "p"), {"t"}) == verdict::drop);
  CHECK(m.direct(from(51, "u", "q"), {"u"}) == verdict::hold);

  // A newer message the old way: the older ones of its publisher and topic
  // first, by id; those of another topic stay.
  CHECK(ids(m.older_held(from(99, "t", "p"))) == std::vector<uint64_t>{92, 93, 96, 97});
  CHECK(m.via_old(99) == verdict::deliver);
  // The rest when the old node is done; each group by id, in its places.
  CHECK(m.direct(from(40, "u", "q"), {"u"}) == verdict::hold);
  auto rest = m.old_done();
  CHECK(ids(rest) == std::vector<uint64_t>{40, 50, 51});
  CHECK(rest[0].keys == std::vector<std::string>{"u"});
  CHECK(rest[1].queued.has_value());
  CHECK(!rest[2].queued.has_value());
}

// session_sim --slow-links seed 2784: a client moved from A to B, and while
// B's session still drained what A passed on, the client connected to A
// again and then to C. Over a slow A-B link, A's request for the session
// reached B after C's. Served in arrival order, C took the session first;
// A's session, which held what was still routed to A, got it after, and
// passed its older messages on last: the client saw a publisher's 19 and
// 20 before its 17 and 18. The node before's request now goes first.
TEST_CASE("session move: a takeover from the node before is served before "
          "the others that waited, the rest in the order they came") {
  struct waiting {
    std::string to;
  };
  std::vector<waiting> w{{"c"}, {"d"}, {"a"}, {"e"}}; // "a": the node before
  session_move::serve_order(w, [](auto& x) { return x.to == "a"; });
  std::vector<std::string> order;
  for (auto& x : w)
    order.push_back(x.to);
  CHECK(order == std::vector<std::string>{"a", "c", "d", "e"});
  session_move::serve_order(w, [](auto& x) { return x.to == "z"; });
  CHECK(w.front().to == "a"); // none from the node before: order kept
}
