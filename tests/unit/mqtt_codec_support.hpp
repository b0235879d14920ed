#pragma once

// Helpers for the MQTT codec tests: building wire bytes by hand and running
// the codec with doctest checks.

#include <doctest/doctest.h>

#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "starling/broker/codec.hpp"

namespace mqtt_codec_test {

using namespace starling::broker;

using bytes = std::vector<std::uint8_t>;

inline constexpr auto v3_1 = protocol_version::v3_1;
inline constexpr auto v3_1_1 = protocol_version::v3_1_1;
inline constexpr auto v5 = protocol_version::v5;
inline constexpr protocol_version all_versions[] = {v3_1, v3_1_1, v5};

// --- Building wire bytes by hand ---------------------------------------------

inline bytes cat(std::initializer_list<bytes> parts) {
  bytes out;
  for (const auto& part : parts)
    out.insert(out.end(), part.begin(), part.end());
  return out;
}

inline bytes text(std::string_view s) {
  return bytes(s.begin(), s.end());
}

/// A two-byte length prefixed string.
inline bytes str(std::string_view s) {
  return cat({{static_cast<std::uint8_t>(s.size() >> 8),
               static_cast<std::uint8_t>(s.size())},
              text(s)});
}

inline bytes vbi(std::size_t n) {
  bytes out;
  do {
    auto byte = static_cast<std::uint8_t>(n % 128);
    n /= 128;
    out.push_back(n ? byte | 0x80 : byte);
  } while (n);
  return out;
}

/// A fixed header with the right Remaining Length, then `body`.
inline bytes frame(std::uint8_t first, const bytes& body) {
  return cat({{first}, vbi(body.size()), body});
}

/// A property block: Property Length, then the properties.
inline bytes props(const bytes& list) {
  return cat({vbi(list.size()), list});
}

/// A CONNECT with the given flags, properties (v5 only) and payload.
inline bytes connect_bytes(protocol_version v, std::uint8_t flags,
                           const bytes& payload,
                           const bytes& property_block = {0}) {
  const bool is_v5 = v == v5;
  return frame(0x10, cat({str(v == v3_1 ? "MQIsdp" : "MQTT"),
                          {static_cast<std::uint8_t>(v), flags, 0, 60},
                          is_v5 ? property_block : bytes{},
                          payload}));
}

/// An MQTT 5 PUBLISH QoS 0 with the given topic and properties.
inline bytes publish_v5(std::string_view topic, const bytes& property_list) {
  return frame(0x30, cat({str(topic), props(property_list), text("x")}));
}

// --- Running the codec -------------------------------------------------------

inline bytes encoded(const packet& p, protocol_version v) {
  bytes out;
  if (auto error = encode(p, v, out))
    FAIL("encode failed: " << error->message);
  return out;
}

/// A decoder for packets of `p`'s kind: CONNECT sets the version itself.
inline decoder decoder_for(const packet& p, protocol_version v,
                           std::uint32_t max = max_packet_size_limit) {
  if (std::holds_alternative<connect>(p))
    return decoder{{max, std::nullopt}};
  return decoder{{max, v}};
}

inline packet decode_one(decoder& d, const bytes& wire) {
  auto result = d.decode(wire);
  if (auto* error = std::get_if<codec_error>(&result))
    FAIL("decode failed: " << error->message);
  auto* got = std::get_if<decoded>(&result);
  REQUIRE(got);
  CHECK(got->consumed == wire.size());
  return std::move(got->pkt);
}

inline packet round_trip(const packet& p, protocol_version v) {
  auto d = decoder_for(p, v);
  return decode_one(d, encoded(p, v));
}

/// The error decoding `wire` gives, on a connection of version `v` (unset:
/// before CONNECT).
inline codec_error decode_error(const bytes& wire,
                                std::optional<protocol_version> v,
                                std::uint32_t max = max_packet_size_limit) {
  decoder d{{max, v}};
  auto result = d.decode(wire);
  auto* error = std::get_if<codec_error>(&result);
  REQUIRE_MESSAGE(error, "decoding succeeded or needs more input");
  INFO(error->message);
  CHECK_FALSE(error->message.empty());
  return *error;
}

inline reason_code error_code(const bytes& wire,
                              std::optional<protocol_version> v) {
  return decode_error(wire, v).code;
}

/// Why `wire` does not decode to a packet, or "" if it does. Compared with
/// "" so that a failing CHECK shows the reason.
inline std::string refusal(const bytes& wire,
                           std::optional<protocol_version> v) {
  decoder d{{max_packet_size_limit, v}};
  auto result = d.decode(wire);
  if (auto* error = std::get_if<codec_error>(&result))
    return error->message;
  if (std::holds_alternative<need_more>(result))
    return "needs more input";
  return "";
}

} // namespace mqtt_codec_test
