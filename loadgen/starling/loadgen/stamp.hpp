#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace starling::loadgen {

/// What a publisher writes at the start of every payload, so a subscriber
/// can measure end-to-end latency and account for every message.
///
/// Layout (24 bytes, host byte order: publisher and subscriber run on the
/// same machine, which the shared CLOCK_MONOTONIC needs anyway):
///   0..7    sent_ns     CLOCK_MONOTONIC when the message left the publisher
///   8..15   seq         0, 1, 2, ... per publisher
///   16..19  run         random per `starling bench pub` process
///   20..23  publisher   the publisher's client index
/// `run` keeps two publisher processes with the same indices apart.
struct stamp {
  std::uint64_t sent_ns = 0;
  std::uint64_t seq = 0;
  std::uint32_t run = 0;
  std::uint32_t publisher = 0;

  static constexpr std::size_t size = 24;

  /// The publisher's identity for sequence tracking.
  std::uint64_t source() const noexcept {
    return (std::uint64_t{run} << 32) | publisher;
  }

  void write(std::uint8_t* out) const noexcept {
    std::memcpy(out, &sent_ns, 8);
    std::memcpy(out + 8, &seq, 8);
    std::memcpy(out + 16, &run, 4);
    std::memcpy(out + 20, &publisher, 4);
  }

  /// Whether this can be a stamp read at `now_ns` on the publisher's
  /// host: sent at most an hour ago and not in the future (1 s of slack
  /// between clock reads). A payload of another client, say 64 'x', reads
  /// as a time centuries away and is counted as unstamped instead of
  /// feeding nonsense into the loss and latency figures.
  bool plausible(std::uint64_t now_ns) const noexcept {
    constexpr std::uint64_t hour = 3'600'000'000'000, second = 1'000'000'000;
    return sent_ns > now_ns ? sent_ns - now_ns <= second
                            : now_ns - sent_ns <= hour;
  }

  /// Reads a stamp from at least `size` bytes.
  static stamp read(const std::uint8_t* in) noexcept {
    stamp s;
    std::memcpy(&s.sent_ns, in, 8);
    std::memcpy(&s.seq, in + 8, 8);
    std::memcpy(&s.run, in + 16, 4);
    std::memcpy(&s.publisher, in + 20, 4);
    return s;
  }
};

} // namespace starling::loadgen
