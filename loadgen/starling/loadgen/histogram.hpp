#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace starling::loadgen {

/// A log-linear histogram of non-negative integers (latencies in ns), in the
/// manner of HdrHistogram.
///
/// The algorithm. Values below `sub_buckets` (128) get a bucket each, so
/// they are exact. Every range [2^m, 2^(m+1)) above that is split into
/// `sub_buckets` equal buckets of width 2^m / 128, so a value is known to
/// within 1/128 (< 0.8 %) of itself whatever its magnitude, with a fixed
/// number of buckets (7,424 for the whole 64-bit range) and an O(1) record:
///
///     m     = index of the highest set bit of v
///     shift = m - 7                (0 for v < 256)
///     index = (shift + 1) * 128 + (v >> shift) - 128     for v >= 128
///
/// A percentile walks the buckets until the cumulative count reaches
/// ceil(p/100 * count) and answers that bucket's highest value, clamped to
/// the largest value recorded (so p100 is the exact maximum), as
/// HdrHistogram's `getValueAtPercentile` does.
class histogram {
public:
  static constexpr unsigned sub_bits = 7;
  static constexpr std::uint64_t sub_buckets = 1u << sub_bits;
  static constexpr std::size_t bucket_count = (64 - sub_bits + 1) * sub_buckets;

  histogram();

  void record(std::uint64_t value) noexcept;

  /// Adds every value recorded in `other`.
  void merge(const histogram& other) noexcept;

  /// Forgets every value.
  void reset() noexcept;

  std::uint64_t count() const noexcept { return count_; }
  /// 0 when empty.
  std::uint64_t min() const noexcept { return count_ ? min_ : 0; }
  std::uint64_t max() const noexcept { return max_; }
  /// The exact mean of the recorded values; 0 when empty.
  double mean() const noexcept;

  /// The value at percentile `p` (0 < p <= 100); 0 when empty.
  std::uint64_t percentile(double p) const noexcept;

  /// The bucket holding `value`.
  static std::size_t bucket_of(std::uint64_t value) noexcept;
  /// The smallest and the largest value bucket `index` holds.
  static std::uint64_t bucket_low(std::size_t index) noexcept;
  static std::uint64_t bucket_high(std::size_t index) noexcept;

private:
  std::vector<std::uint64_t> buckets_;
  std::uint64_t count_ = 0;
  std::uint64_t min_ = 0;
  std::uint64_t max_ = 0;
  /// The sum as long double: 2^64 ns sums overflow after ~5 hours of
  /// one-second latencies at a million messages per second.
  long double sum_ = 0;
  /// Buckets at or above this index are all zero: reset and merge touch
  /// only the part in use.
  std::size_t used_end_ = 0;
};

/// The figures a summary reports, in the histogram's unit.
struct percentiles {
  std::uint64_t count = 0;
  std::uint64_t min = 0;
  std::uint64_t p50 = 0;
  std::uint64_t p90 = 0;
  std::uint64_t p99 = 0;
  std::uint64_t p999 = 0;
  std::uint64_t max = 0;
  double mean = 0;
};

percentiles summarize(const histogram& h);

} // namespace starling::loadgen
