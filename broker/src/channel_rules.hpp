#pragma once

// Private to the channel: small rules shared by its source files.

#include <algorithm>
#include <cstdint>
#include <string_view>

#include "starling/broker/codec.hpp"
#include "starling/broker/packet.hpp"

namespace starling::broker::detail {

inline constexpr std::int64_t ms_per_second = 1000;

constexpr std::int64_t seconds_to_ms(std::uint32_t seconds) noexcept {
  return static_cast<std::int64_t>(seconds) * ms_per_second;
}

/// Whether `topic` is under `$SYS`, which only the broker publishes to.
constexpr bool is_sys_topic(std::string_view topic) noexcept {
  constexpr std::string_view sys = "$SYS";
  return topic.starts_with(sys)
         && (topic.size() == sys.size() || topic[sys.size()] == '/');
}

/// Whether `payload`, declared UTF-8 by its Payload Format Indicator, is
/// well-formed UTF-8 (§3.3.2.3.2). Unlike an MQTT string, a payload may hold
/// U+0000, so the string check runs on the runs between zero bytes.
inline bool is_utf8_payload(const binary& payload) noexcept {
  const auto* at = reinterpret_cast<const char*>(payload.data());
  const auto* end = at + payload.size();
  for (;;) {
    const auto* zero = std::find(at, end, '\0');
    if (!is_valid_mqtt_utf8(std::string_view(at, zero)))
      return false;
    if (zero == end)
      return true;
    at = zero + 1;
  }
}

} // namespace starling::broker::detail
