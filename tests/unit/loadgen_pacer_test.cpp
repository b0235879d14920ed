#include <doctest/doctest.h>

#include <cstdint>

#include "starling/loadgen/pacer.hpp"

using starling::loadgen::pacer;

namespace {
constexpr std::uint64_t ms = 1'000'000;
constexpr std::uint64_t t0 = 5'000'000'000; // an arbitrary clock origin
} // namespace

TEST_CASE("loadgen pacer: 10k/s in 1 ms ticks sends 10k per second") {
  pacer p(10'000);
  p.start(t0);
  std::uint64_t sent = 0;
  for (std::uint64_t t = t0; t <= t0 + 1000 * ms; t += ms)
    sent += p.take(t, 1'000'000);
  // One at start plus 10 per millisecond.
  CHECK(sent == 10'001);
}

TEST_CASE("loadgen pacer: uneven ticks keep the average rate") {
  pacer p(1000);
  p.start(t0);
  std::uint64_t sent = 0;
  std::uint64_t t = t0;
  for (int i = 0; i < 1000; ++i) {
    t += (i % 3 == 0 ? 3 : 1) * ms / 2; // 0.5 ms and 1.5 ms steps
    sent += p.take(t, 1'000'000);
  }
  double elapsed_s = static_cast<double>(t - t0) / 1e9;
  CHECK(static_cast<double>(sent) == doctest::Approx(1000 * elapsed_s).epsilon(0.01));
}

TEST_CASE("loadgen pacer: a stall catches up by at most the burst") {
  pacer p(1000, 100 * ms); // burst: 100 events
  p.start(t0);
  CHECK(p.take(t0, 1000) == 1);
  CHECK(p.take(t0 + 5000 * ms, 1000) == 100);
  CHECK(p.take(t0 + 5000 * ms, 1000) == 0);
}

TEST_CASE("loadgen pacer: want limits the grant and give_back returns credit") {
  pacer p(1000);
  p.start(t0);
  CHECK(p.take(t0 + 10 * ms, 4) == 4); // 11 due, 4 taken
  CHECK(p.take(t0 + 10 * ms, 100) == 7);
  p.give_back(3);
  CHECK(p.take(t0 + 10 * ms, 100) == 3);
}

TEST_CASE("loadgen pacer: time until the next event") {
  pacer p(100); // one per 10 ms
  p.start(t0);
  CHECK(p.ns_until_next(t0) == 0);
  CHECK(p.take(t0, 10) == 1);
  CHECK(p.ns_until_next(t0) == 10 * ms);
  CHECK(p.ns_until_next(t0 + 4 * ms) == 6 * ms);
  CHECK(p.ns_until_next(t0 + 10 * ms) == 0);
}

TEST_CASE("loadgen pacer: unlimited grants everything, rate changes apply") {
  pacer u;
  u.start(t0);
  CHECK(u.unlimited());
  CHECK(u.take(t0, 12345) == 12345);
  CHECK(u.ns_until_next(t0) == 0);

  pacer p(0.0001); // effectively stopped
  p.start(t0);
  CHECK(p.take(t0, 10) == 1);
  p.set_rate(1000, t0 + 1000 * ms);
  CHECK(p.take(t0 + 1010 * ms, 100) == 10);
}
