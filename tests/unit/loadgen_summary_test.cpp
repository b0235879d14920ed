#include <doctest/doctest.h>

#include "starling/loadgen/summary.hpp"

using namespace starling::loadgen;

TEST_CASE("bench summary: the receive rate counts from the first publication") {
  summary s;
  s.totals.received = 500'000;
  s.totals.first_receive_ns = 1'000'000'000; // 1 s after the first publish
  s.totals.last_receive_ns = 1'050'000'000;  // all within 50 ms
  // Without stamps, only the receipts: the burst's rate.
  CHECK(s.receive_rate() == doctest::Approx(10'000'000));
  // Published at 0: the whole delivery took 1.05 s.
  s.totals.first_stamp_ns = 0;
  CHECK(s.receive_rate() == doctest::Approx(10'000'000)); // 0 means none
  s.totals.first_stamp_ns = 1;
  CHECK(s.receive_rate() == doctest::Approx(500'000 / 1.049999999));
  // A stamp later than the first receipt (another publisher's) changes
  // nothing.
  s.totals.first_stamp_ns = 1'010'000'000;
  CHECK(s.receive_rate() == doctest::Approx(10'000'000));
}

TEST_CASE("bench stats: merging keeps the earliest stamp") {
  engine_stats a, b;
  a.first_stamp_ns = 500;
  b.first_stamp_ns = 200;
  a.merge(b);
  CHECK(a.first_stamp_ns == 200);
  engine_stats none;
  a.merge(none);
  CHECK(a.first_stamp_ns == 200);
}
