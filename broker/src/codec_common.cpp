// The codec's shared pieces: field reading, the MQTT UTF-8 string check,
// and the checks on packet identifiers, reason codes and topic names that
// several packet types share.

#include <array>
#include <cstring>
#include <initializer_list>

#include "codec_io.hpp"
#include "starling/broker/topic.hpp"

namespace starling::broker {

namespace {

/// Length of the well-formed UTF-8 sequence starting at `p` (RFC 3629
/// table 3-7), or 0 if there is none. Rejecting E0 80..9F, ED A0..BF, F0
/// 80..8F and F4 90..BF excludes overlong forms, the UTF-16 surrogates
/// U+D800..U+DFFF and code points above U+10FFFF.
std::size_t utf8_sequence_length(const unsigned char* p,
                                 const unsigned char* end) noexcept {
  const unsigned lead = *p;
  std::size_t length = 0;
  unsigned low = 0x80;
  unsigned high = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    low = lead == 0xE0 ? 0xA0 : 0x80;
    high = lead == 0xED ? 0x9F : 0xBF;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    low = lead == 0xF0 ? 0x90 : 0x80;
    high = lead == 0xF4 ? 0x8F : 0xBF;
  } else {
    return 0;
  }
  if (static_cast<std::size_t>(end - p) < length || p[1] < low || p[1] > high)
    return 0;
  for (std::size_t i = 2; i < length; ++i)
    if ((p[i] & 0xC0) != 0x80)
      return 0;
  return length;
}

/// A set of reason codes, one bit per byte value.
struct code_set {
  std::array<std::uint64_t, 4> bits{};

  constexpr code_set(std::initializer_list<std::uint8_t> codes) {
    for (auto c : codes)
      bits[c / 64] |= std::uint64_t{1} << (c % 64);
  }
  constexpr bool contains(std::uint8_t c) const {
    return (bits[c / 64] >> (c % 64)) & 1;
  }
};

// The reason codes each packet type may carry (MQTT 5 §3.2.2.2, §3.4.2.1,
// §3.5.2.1, §3.6.2.1, §3.7.2.1, §3.9.3, §3.11.3, §3.14.2.1, §3.15.2.1).
constexpr code_set connack_codes{0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86,
                                 0x87, 0x88, 0x89, 0x8A, 0x8C, 0x90, 0x95, 0x97,
                                 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F};
constexpr code_set puback_codes{0x00, 0x10, 0x80, 0x83, 0x87,
                                0x90, 0x91, 0x97, 0x99};
constexpr code_set pubrel_codes{0x00, 0x92};
constexpr code_set suback_codes{0x00, 0x01, 0x02, 0x80, 0x83, 0x87,
                                0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2};
constexpr code_set unsuback_codes{0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91};
constexpr code_set disconnect_codes{
    0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D,
    0x8E, 0x8F, 0x90, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99,
    0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2};
constexpr code_set auth_codes{0x00, 0x18, 0x19};

} // namespace

bool is_valid_mqtt_utf8(std::string_view text) noexcept {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const auto* end = p + text.size();
  constexpr std::uint64_t high_bits = 0x8080808080808080ULL;
  constexpr std::uint64_t low_bits = 0x0101010101010101ULL;
  while (p != end) {
    // Topics are mostly ASCII: take eight bytes at once when none has the
    // high bit set and none is NUL (the classic has-zero-byte test, exact
    // when no high bit is set).
    if (end - p >= 8) {
      std::uint64_t word;
      std::memcpy(&word, p, sizeof word);
      if ((word & high_bits) == 0 && ((word - low_bits) & high_bits) == 0) {
        p += 8;
        continue;
      }
    }
    if (*p < 0x80) {
      if (*p == 0)
        return false;
      ++p;
      continue;
    }
    auto length = utf8_sequence_length(p, end);
    if (length == 0)
      return false;
    p += length;
  }
  return true;
}

namespace detail {

std::string hex(std::uint32_t value) {
  static constexpr char digits[] = "0123456789ABCDEF";
  std::string text;
  do {
    text.insert(text.begin(), digits[value & 0x0F]);
    text.insert(text.begin(), digits[(value >> 4) & 0x0F]);
    value >>= 8;
  } while (value != 0);
  return "0x" + text;
}

bool byte_reader::varint(std::uint32_t& v) {
  std::uint32_t value = 0;
  for (unsigned i = 0; i < 4; ++i) {
    std::uint8_t byte = 0;
    if (!u8(byte))
      return false;
    value |= std::uint32_t{byte & 0x7Fu} << (7 * i);
    if ((byte & 0x80) == 0) {
      v = value;
      return true;
    }
  }
  return fail(reason_code::malformed_packet,
              "a variable byte integer is longer than four bytes");
}

bool byte_reader::utf8(std::string& v) {
  std::uint16_t length = 0;
  if (!u16(length))
    return false;
  if (remaining() < length)
    return truncated();
  std::string_view text{reinterpret_cast<const char*>(in_.data() + pos_),
                        length};
  if (!is_valid_mqtt_utf8(text))
    return fail(reason_code::malformed_packet,
                "a string is not well-formed UTF-8 or contains U+0000");
  v.assign(text);
  pos_ += length;
  return true;
}

bool byte_reader::bytes(binary& v) {
  std::uint16_t length = 0;
  if (!u16(length))
    return false;
  if (remaining() < length)
    return truncated();
  auto first = in_.begin() + static_cast<std::ptrdiff_t>(pos_);
  v.assign(first, first + length);
  pos_ += length;
  return true;
}

bool byte_reader::fail(reason_code code, std::string message) {
  if (!error_)
    error_ = codec_error{code, std::move(message)};
  pos_ = in_.size();
  return false;
}

bool byte_reader::fail(byte_reader& part) {
  if (!part.error_)
    return fail(reason_code::malformed_packet, "a nested field is malformed");
  return fail(part.error_->code, std::move(part.error_->message));
}

bool reason_allowed(packet_type type, reason_code code) noexcept {
  const auto c = to_byte(code);
  switch (type) {
  case packet_type::connack:
    return connack_codes.contains(c);
  case packet_type::puback:
  case packet_type::pubrec:
    return puback_codes.contains(c);
  case packet_type::pubrel:
  case packet_type::pubcomp:
    return pubrel_codes.contains(c);
  case packet_type::suback:
    return suback_codes.contains(c);
  case packet_type::unsuback:
    return unsuback_codes.contains(c);
  case packet_type::disconnect:
    return disconnect_codes.contains(c);
  case packet_type::auth:
    return auth_codes.contains(c);
  default:
    return false;
  }
}

std::string reason_not_allowed(packet_type type, reason_code code) {
  return "reason code " + hex(to_byte(code)) + " is not allowed in " +
         std::string(to_string(type));
}

bool check_reason(byte_reader& r, packet_type type, reason_code code) {
  if (reason_allowed(type, code))
    return true;
  return r.fail(reason_code::malformed_packet, reason_not_allowed(type, code));
}

std::string zero_packet_id(packet_type type) {
  return std::string(to_string(type)) + " has packet identifier 0";
}

bool read_packet_id(byte_reader& r, packet_type type, std::uint16_t& id) {
  if (!r.u16(id))
    return false;
  if (id == 0)
    return r.fail(reason_code::malformed_packet, zero_packet_id(type));
  return true;
}

bool read_reason_and_properties(byte_reader& r, packet_type type,
                                reason_code& code, properties& props) {
  if (r.at_end())
    return true;
  std::uint8_t byte = 0;
  if (!r.u8(byte))
    return false;
  code = static_cast<reason_code>(byte);
  if (!check_reason(r, type, code))
    return false;
  return r.at_end() || decode_properties(r, property_scope{type}, props);
}

bool check_topic_name(byte_reader& r, std::string_view what,
                      std::string_view topic) {
  auto error = topic_name_error(topic);
  if (!error)
    return true;
  return r.fail(reason_code::topic_name_invalid,
                std::string(what) + ": " + *error);
}

} // namespace detail

} // namespace starling::broker
