#include <doctest/doctest.h>

#include <cstdint>
#include <limits>

#include "starling/loadgen/histogram.hpp"

using starling::loadgen::histogram;

TEST_CASE("loadgen histogram: small values are exact") {
  histogram h;
  for (std::uint64_t v = 1; v <= 100; ++v)
    h.record(v);
  CHECK(h.count() == 100);
  CHECK(h.min() == 1);
  CHECK(h.max() == 100);
  CHECK(h.percentile(50) == 50);
  CHECK(h.percentile(90) == 90);
  CHECK(h.percentile(99) == 99);
  CHECK(h.percentile(100) == 100);
  CHECK(h.mean() == doctest::Approx(50.5));
}

TEST_CASE("loadgen histogram: buckets tile the range with < 1% width") {
  // Every bucket starts one past the previous one's end, and is at most
  // 1/128 of its low value wide.
  for (std::size_t i = 1; i < histogram::bucket_count; ++i) {
    INFO(i);
    REQUIRE(histogram::bucket_low(i) == histogram::bucket_high(i - 1) + 1);
    auto low = histogram::bucket_low(i);
    auto width = histogram::bucket_high(i) - low + 1;
    REQUIRE(width * histogram::sub_buckets <= std::max<std::uint64_t>(low, 128));
  }
  CHECK(histogram::bucket_high(histogram::bucket_count - 1) ==
        std::numeric_limits<std::uint64_t>::max());
  for (std::uint64_t v : {0ull, 127ull, 128ull, 255ull, 256ull, 1000ull,
                          123456789ull, 1ull << 40, ~0ull}) {
    INFO(v);
    auto b = histogram::bucket_of(v);
    CHECK(histogram::bucket_low(b) <= v);
    CHECK(v <= histogram::bucket_high(b));
  }
}

TEST_CASE("loadgen histogram: large values within 1%, max exact") {
  histogram h;
  // 1..1,000,000 us in ns: p50 is 500 ms, p99 990 ms, p99.9 999 ms.
  for (std::uint64_t us = 1; us <= 1'000'000; ++us)
    h.record(us * 1000);
  auto near = [](std::uint64_t got, double want) {
    INFO(got << " vs " << want);
    return got >= want * 0.99 && got <= want * 1.01;
  };
  CHECK(near(h.percentile(50), 500e6));
  CHECK(near(h.percentile(90), 900e6));
  CHECK(near(h.percentile(99), 990e6));
  CHECK(near(h.percentile(99.9), 999e6));
  CHECK(h.percentile(100) == 1'000'000'000);
  CHECK(h.max() == 1'000'000'000);
  CHECK(h.min() == 1000);
}

TEST_CASE("loadgen histogram: one outlier shows at p99.9 and max only") {
  histogram h;
  for (int i = 0; i < 999; ++i)
    h.record(100);
  h.record(50'000'000);
  CHECK(h.percentile(50) == 100);
  CHECK(h.percentile(99) == 100);
  CHECK(h.percentile(99.9) == 100);
  CHECK(h.percentile(99.95) == 50'000'000);
  CHECK(h.max() == 50'000'000);
}

TEST_CASE("loadgen histogram: merge equals recording everything in one") {
  histogram a, b, all;
  for (std::uint64_t v = 0; v < 5000; v += 7) {
    (v % 2 ? a : b).record(v * 13);
    all.record(v * 13);
  }
  a.merge(b);
  CHECK(a.count() == all.count());
  CHECK(a.min() == all.min());
  CHECK(a.max() == all.max());
  for (double p : {1.0, 50.0, 90.0, 99.0, 99.9, 100.0})
    CHECK(a.percentile(p) == all.percentile(p));
  a.reset();
  CHECK(a.count() == 0);
  CHECK(a.percentile(99) == 0);
  CHECK(a.max() == 0);
}

TEST_CASE("loadgen histogram: empty answers zero") {
  histogram h;
  CHECK(h.percentile(50) == 0);
  CHECK(h.min() == 0);
  CHECK(h.mean() == 0);
  auto s = starling::loadgen::summarize(h);
  CHECK(s.count == 0);
  CHECK(s.p99 == 0);
}
