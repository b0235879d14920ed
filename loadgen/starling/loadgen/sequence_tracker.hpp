#pragma once

#include <array>
#include <cstdint>
#include <unordered_map>

namespace starling::loadgen {

/// What one received message changed in the delivery counts.
struct delivery_delta {
  /// Messages newly known to be missing (a gap), or, when negative, missing
  /// messages that turned up late.
  std::int64_t lost = 0;
  std::uint64_t duplicates = 0;
  std::uint64_t out_of_order = 0;
};

/// Accounts for the messages one subscriber receives from each publisher:
/// gaps (lost), repeats (duplicates) and late arrivals (out of order).
///
/// The algorithm. Publishers number their messages 0, 1, 2, ... For each
/// publisher the tracker keeps `next` (one past the highest sequence seen)
/// and a bitmap of the last `window` sequences below `next`:
///   - seq == next: in order; mark it, advance next.
///   - seq >  next: the seq - next messages in between are missing for now
///     (lost += seq - next); mark seq, advance next past it.
///   - seq <  next, within the window: marked already -> a duplicate;
///     otherwise a late arrival filling a gap -> out of order, lost -= 1.
///   - seq <  next - window: too old to tell; counted as out of order (and
///     lost -= 1) while gaps remain, else as a duplicate.
/// A publisher's first message is expected to be seq 0 (subscribers start
/// before publishers), so messages lost at the start count too; messages
/// lost after a publisher's last received one cannot be seen here and are
/// found by comparing counts with the publisher's.
class sequence_tracker {
public:
  static constexpr std::uint64_t window = 1024;

  delivery_delta record(std::uint64_t source, std::uint64_t seq);

  /// Sum over publishers of the messages currently missing.
  std::uint64_t lost() const noexcept { return lost_; }
  std::uint64_t duplicates() const noexcept { return duplicates_; }
  std::uint64_t out_of_order() const noexcept { return out_of_order_; }
  std::size_t sources() const noexcept { return sources_.size(); }

private:
  struct source_state {
    std::uint64_t next = 0;
    std::uint64_t missing = 0;
    std::array<std::uint64_t, window / 64> seen{};

    bool test(std::uint64_t seq) const noexcept;
    void set(std::uint64_t seq) noexcept;
    void clear(std::uint64_t seq) noexcept;
  };

  delivery_delta apply(source_state& s, std::uint64_t seq);

  std::unordered_map<std::uint64_t, source_state> sources_;
  std::uint64_t lost_ = 0;
  std::uint64_t duplicates_ = 0;
  std::uint64_t out_of_order_ = 0;
};

} // namespace starling::loadgen
