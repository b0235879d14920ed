#pragma once

#include <cstdint>

namespace starling::loadgen {

/// Paces events (messages, connection attempts) at a rate per second, with
/// the time passed in so the arithmetic is tested without a clock.
///
/// The algorithm is a token bucket: credit grows by rate * elapsed time and
/// each event spends one. The credit is capped at `burst_ns` worth of events
/// (at least one), so a loop that stalls for a while catches up by at most
/// that much instead of sending one huge burst; what the cap cuts off shows
/// up as a lower achieved rate, which the summary reports. The first event
/// is due at once. A rate of 0 means unlimited: every request is granted.
class pacer {
public:
  explicit pacer(double rate_per_s = 0, std::uint64_t burst_ns = 100'000'000);

  /// Starts the clock at `now_ns` with credit for one event.
  void start(std::uint64_t now_ns) noexcept;

  /// Changes the rate from now on (credit earned so far is kept).
  void set_rate(double rate_per_s, std::uint64_t now_ns) noexcept;

  /// Grants up to `want` events due at `now_ns` and spends their credit.
  std::uint64_t take(std::uint64_t now_ns, std::uint64_t want) noexcept;

  /// Returns credit for `n` granted events that could not be carried out
  /// (a full socket), still within the cap.
  void give_back(std::uint64_t n) noexcept;

  /// Nanoseconds from `now_ns` until the next event is due; 0 when one is
  /// due or the rate is unlimited.
  std::uint64_t ns_until_next(std::uint64_t now_ns) const noexcept;

  bool unlimited() const noexcept { return rate_ <= 0; }
  double rate() const noexcept { return rate_; }

private:
  void accrue(std::uint64_t now_ns) noexcept;
  double cap() const noexcept;

  double rate_;
  std::uint64_t burst_ns_;
  double credit_ = 0;
  std::uint64_t last_ns_ = 0;
};

} // namespace starling::loadgen
