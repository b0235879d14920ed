#include "starling/loadgen/histogram.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

namespace starling::loadgen {

histogram::histogram() : buckets_(bucket_count, 0) {}

std::size_t histogram::bucket_of(std::uint64_t value) noexcept {
  if (value < sub_buckets)
    return static_cast<std::size_t>(value);
  unsigned m = 63u - static_cast<unsigned>(std::countl_zero(value));
  unsigned shift = m - sub_bits;
  return (shift + 1) * sub_buckets + (value >> shift) - sub_buckets;
}

std::uint64_t histogram::bucket_low(std::size_t index) noexcept {
  if (index < sub_buckets)
    return index;
  std::size_t shift = index / sub_buckets - 1;
  std::uint64_t top = sub_buckets + index % sub_buckets;
  return top << shift;
}

std::uint64_t histogram::bucket_high(std::size_t index) noexcept {
  if (index < sub_buckets)
    return index;
  std::size_t shift = index / sub_buckets - 1;
  // Written as low + (width - 1) so the last bucket does not overflow.
  return bucket_low(index) + ((std::uint64_t{1} << shift) - 1);
}

void histogram::record(std::uint64_t value) noexcept {
  std::size_t i = bucket_of(value);
  ++buckets_[i];
  used_end_ = std::max(used_end_, i + 1);
  min_ = count_ ? std::min(min_, value) : value;
  max_ = std::max(max_, value);
  ++count_;
  sum_ += static_cast<long double>(value);
}

void histogram::merge(const histogram& other) noexcept {
  if (other.count_ == 0)
    return;
  for (std::size_t i = 0; i < other.used_end_; ++i)
    buckets_[i] += other.buckets_[i];
  used_end_ = std::max(used_end_, other.used_end_);
  min_ = count_ ? std::min(min_, other.min_) : other.min_;
  max_ = std::max(max_, other.max_);
  count_ += other.count_;
  sum_ += other.sum_;
}

void histogram::reset() noexcept {
  std::fill(buckets_.begin(), buckets_.begin() + used_end_, 0);
  used_end_ = 0;
  count_ = 0;
  min_ = 0;
  max_ = 0;
  sum_ = 0;
}

double histogram::mean() const noexcept {
  return count_ ? static_cast<double>(sum_ / count_) : 0.0;
}

std::uint64_t histogram::percentile(double p) const noexcept {
  if (count_ == 0)
    return 0;
  p = std::clamp(p, 0.0, 100.0);
  // The tiny shave keeps 99.9 % of 1000 at 999 although 99.9 is not exact
  // in binary (99.9 / 100 * 1000 = 999.0000000000001).
  auto want = static_cast<std::uint64_t>(
      std::ceil(p / 100.0 * static_cast<double>(count_) * (1 - 1e-12)));
  want = std::max<std::uint64_t>(want, 1);
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < used_end_; ++i) {
    seen += buckets_[i];
    if (seen >= want)
      return std::clamp(bucket_high(i), min_, max_);
  }
  return max_;
}

percentiles summarize(const histogram& h) {
  percentiles p;
  p.count = h.count();
  p.min = h.min();
  p.p50 = h.percentile(50);
  p.p90 = h.percentile(90);
  p.p99 = h.percentile(99);
  p.p999 = h.percentile(99.9);
  p.max = h.max();
  p.mean = h.mean();
  return p;
}

} // namespace starling::loadgen
