#include "starling/loadgen/pacer.hpp"

#include <algorithm>
#include <cmath>

namespace starling::loadgen {

pacer::pacer(double rate_per_s, std::uint64_t burst_ns)
  : rate_(rate_per_s), burst_ns_(burst_ns) {}

double pacer::cap() const noexcept {
  return std::max(1.0, rate_ * static_cast<double>(burst_ns_) / 1e9);
}

void pacer::start(std::uint64_t now_ns) noexcept {
  last_ns_ = now_ns;
  credit_ = 1.0;
}

void pacer::accrue(std::uint64_t now_ns) noexcept {
  if (now_ns > last_ns_) {
    credit_ += rate_ * static_cast<double>(now_ns - last_ns_) / 1e9;
    credit_ = std::min(credit_, cap());
  }
  last_ns_ = std::max(last_ns_, now_ns);
}

void pacer::set_rate(double rate_per_s, std::uint64_t now_ns) noexcept {
  accrue(now_ns);
  rate_ = rate_per_s;
  credit_ = std::min(credit_, cap());
}

std::uint64_t pacer::take(std::uint64_t now_ns, std::uint64_t want) noexcept {
  if (unlimited())
    return want;
  accrue(now_ns);
  auto whole = static_cast<std::uint64_t>(std::floor(credit_));
  auto n = std::min(whole, want);
  credit_ -= static_cast<double>(n);
  return n;
}

void pacer::give_back(std::uint64_t n) noexcept {
  if (!unlimited())
    credit_ = std::min(credit_ + static_cast<double>(n), cap());
}

std::uint64_t pacer::ns_until_next(std::uint64_t now_ns) const noexcept {
  if (unlimited())
    return 0;
  double credit = credit_;
  if (now_ns > last_ns_)
    credit += rate_ * static_cast<double>(now_ns - last_ns_) / 1e9;
  if (credit >= 1.0)
    return 0;
  return static_cast<std::uint64_t>(std::ceil((1.0 - credit) * 1e9 / rate_));
}

} // namespace starling::loadgen
