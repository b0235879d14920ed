#pragma once

// A listener's limits (EMQX's `max_connections` and `max_conn_rate`): the
// decision for each accepted socket. The rate is a token bucket holding up
// to one second's worth of connections, refilled continuously; time is
// passed in. A refused client is told with a CONNACK reason code (MQTT 5
// 0x97 quota exceeded, 0x9F connection rate exceeded; 3.x: 3, server
// unavailable) and does not count as a connection.

#include <cstdint>
#include <string>

#include "starling/broker/reason_codes.hpp"

namespace starling::broker {

enum class admission : std::uint8_t {
  accepted,
  too_many_connections, ///< max_connections reached
  rate_exceeded,        ///< max_conn_rate reached
  moved,                ///< clients are moved off this node (rebalance,
                        ///< evacuation): MQTT 5 0x9C use another server
};

/// The CONNACK reason code of a refusal (success for `accepted`).
reason_code refusal_code(admission a) noexcept;
std::string describe(admission a);

class listener_guard {
public:
  /// 0 means unlimited, for either.
  listener_guard(std::uint64_t max_connections, std::uint64_t max_conn_rate)
    : max_connections_(max_connections), max_conn_rate_(max_conn_rate),
      tokens_milli_(max_conn_rate * 1000) {
  }

  /// A socket was accepted at `now_ms`: admit it (it then counts until
  /// `release`) or say why not.
  admission admit(std::int64_t now_ms);

  /// An admitted connection closed.
  void release() noexcept {
    if (current_ > 0)
      --current_;
  }

  std::uint64_t current() const noexcept {
    return current_;
  }
  std::uint64_t max_connections() const noexcept {
    return max_connections_;
  }
  std::uint64_t max_conn_rate() const noexcept {
    return max_conn_rate_;
  }
  std::uint64_t refused() const noexcept {
    return refused_;
  }

  /// "3/100 connections, max_conn_rate 50/s, 2 refused" (for remsh).
  std::string summary() const;

private:
  std::uint64_t max_connections_;
  std::uint64_t max_conn_rate_;
  std::uint64_t current_ = 0;
  std::uint64_t refused_ = 0;
  /// Tokens in thousandths, so that refilling at a rate per second has
  /// millisecond resolution without floating point.
  std::uint64_t tokens_milli_;
  std::int64_t last_ms_ = -1;
};

} // namespace starling::broker
