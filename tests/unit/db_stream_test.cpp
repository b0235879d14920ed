#include <doctest/doctest.h>

#include <string>

#include "starling/runtime/db/stream.hpp"

using namespace starling::runtime::db;

namespace {

committed txn(uint64_t seqno) {
  return {seqno, {"c1#" + std::to_string(seqno), "s",
                  {{op::write, "t1", "k" + std::to_string(seqno), "v"}}}};
}

size_t sent(const subscriber_stream::output& out) {
  size_t n = 0;
  for (auto& b : out.batches)
    n += b.size();
  return n;
}

} // namespace

TEST_CASE("stream: nothing is sent before the subscriber's first acknowledgement") {
  subscriber_stream s("r1", false, 7, {}, 10, 100, 1000);
  CHECK(s.push(txn(11)).batches.empty());
  auto out = s.ack(7, 0);
  REQUIRE(out.batches.size() == 1);
  CHECK(out.batches[0].front().seqno == 11);
  CHECK(out.latest == 11);
}

TEST_CASE("stream: held pushes leave together as one batch at release") {
  subscriber_stream s("r1", false, 7, {}, 10, 100, 1000);
  s.ack(7, 0);
  for (uint64_t i = 11; i <= 20; ++i)
    s.hold(txn(i));
  CHECK(s.pending() == 10);
  auto out = s.release();
  REQUIRE(out.batches.size() == 1);
  CHECK(out.batches[0].size() == 10);
  CHECK(out.batches[0].front().seqno == 11);
  CHECK(out.batches[0].back().seqno == 20);
  CHECK(out.latest == 20);
  CHECK(s.pending() == 0);
  CHECK(s.in_flight() == 10);
  // Pushed one at a time, each leaves on its own.
  CHECK(s.push(txn(21)).batches.size() == 1);
}

TEST_CASE("stream: a release keeps to the window and to the batch size") {
  subscriber_stream s("r1", false, 1, {}, 0, 100, 1000);
  s.ack(1, 0);
  for (uint64_t i = 1; i <= 150; ++i)
    s.hold(txn(i));
  auto out = s.release();
  CHECK(sent(out) == 100); // the window
  REQUIRE(out.batches.size() == 2);
  CHECK(out.batches[0].size() == subscriber_stream::max_batch);
  CHECK(s.pending() == 50);
  // The subscriber acknowledges: the rest goes.
  CHECK(sent(s.ack(1, 100)) == 50);
}

TEST_CASE("stream: a release past the queue limit cuts the subscriber off") {
  subscriber_stream s("r1", false, 1, {}, 0, 100, 5);
  // Not started: everything stays queued.
  for (uint64_t i = 1; i <= 5; ++i)
    CHECK_FALSE(s.hold(txn(i)));
  CHECK(s.hold(txn(6))); // past the limit: the agent releases at once
  auto out = s.release();
  CHECK(out.cut);
  CHECK(out.why.find("rlog.agent_queue_limit") != std::string::npos);
  CHECK(out.batches.empty());
}

TEST_CASE("stream: a following core's acknowledgement is passed to the shard") {
  subscriber_stream s("c2", true, 3, {}, 0, 100, 1000);
  s.ack(3, 0);
  s.hold(txn(1));
  s.hold(txn(2));
  CHECK(s.release().batches.size() == 1);
  auto out = s.ack(3, 2);
  CHECK(out.acked);
  CHECK(out.acked_seqno == 2);
  CHECK_FALSE(s.ack(2, 5).acked); // an old epoch's
}
