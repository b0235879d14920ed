#pragma once

// Private to the codec: the byte reader and the two byte sinks that the
// per-packet parsers and writers in codec_*.cpp are built from, and the
// declarations that connect those files.
//
// Encoding runs each packet writer twice, once into a `size_counter` and once
// into a `byte_writer`. The counting pass yields the Remaining Length (and
// the Property Length of nested property blocks) before any byte is written,
// so the output needs no back-patching or shifting, and it is also where the
// writers report a packet that cannot be encoded: the writing pass runs the
// same code on the same packet, so it cannot fail.

#include <algorithm>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "starling/broker/codec.hpp"

namespace starling::broker::detail {

/// Longest UTF-8 string or Binary Data: a two-byte length prefix.
inline constexpr std::size_t max_field_length = 65535;

/// Bytes a Variable Byte Integer takes for `v` (at most max_remaining_length).
constexpr std::size_t varint_size(std::uint32_t v) noexcept {
  return v < 128 ? 1 : v < 16'384 ? 2 : v < 2'097'152 ? 3 : 4;
}

constexpr std::uint8_t to_byte(reason_code code) noexcept {
  return static_cast<std::uint8_t>(code);
}

/// Reads the fields of one packet body. Every read checks the bounds. The
/// first failure is recorded (later ones are ignored) and leaves the reader
/// at its end, so parsers simply `return false` and the caller collects the
/// error with `take_error`.
class byte_reader {
public:
  byte_reader() noexcept = default;
  explicit byte_reader(std::span<const std::uint8_t> input) noexcept
      : in_(input) {}

  std::size_t remaining() const noexcept { return in_.size() - pos_; }
  bool at_end() const noexcept { return pos_ == in_.size(); }

  bool u8(std::uint8_t& v) {
    if (remaining() < 1)
      return truncated();
    v = in_[pos_++];
    return true;
  }

  bool u16(std::uint16_t& v) {
    if (remaining() < 2)
      return truncated();
    v = static_cast<std::uint16_t>((in_[pos_] << 8) | in_[pos_ + 1]);
    pos_ += 2;
    return true;
  }

  bool u32(std::uint32_t& v) {
    if (remaining() < 4)
      return truncated();
    v = (std::uint32_t{in_[pos_]} << 24) |
        (std::uint32_t{in_[pos_ + 1]} << 16) |
        (std::uint32_t{in_[pos_ + 2]} << 8) | std::uint32_t{in_[pos_ + 3]};
    pos_ += 4;
    return true;
  }

  /// A Variable Byte Integer of at most four bytes.
  bool varint(std::uint32_t& v);

  /// A UTF-8 Encoded String, validated with `is_valid_mqtt_utf8`.
  bool utf8(std::string& v);

  /// Two-byte length prefixed Binary Data.
  bool bytes(binary& v);

  /// Everything left (the PUBLISH payload).
  void rest(binary& v) {
    v.assign(in_.begin() + static_cast<std::ptrdiff_t>(pos_), in_.end());
    pos_ = in_.size();
  }

  /// Moves the next `n` bytes into `part`, a reader of their own.
  bool split(std::size_t n, byte_reader& part) {
    if (remaining() < n)
      return truncated();
    part = byte_reader{in_.subspan(pos_, n)};
    pos_ += n;
    return true;
  }

  /// Records `code` and `message` unless an error is already recorded.
  /// Always returns false.
  bool fail(reason_code code, std::string message);

  /// Takes over the error of a reader made by `split`. Returns false.
  bool fail(byte_reader& part);

  /// The recorded error, after a read failed.
  codec_error take_error() {
    if (!error_)
      return codec_error{reason_code::malformed_packet, "malformed packet"};
    return std::move(*error_);
  }

private:
  bool truncated() {
    return fail(reason_code::malformed_packet,
                "the remaining length ends inside a field");
  }

  std::span<const std::uint8_t> in_;
  std::size_t pos_ = 0;
  std::optional<codec_error> error_;
};

/// Appends fields to the output. Its `fail` does nothing because the
/// counting pass has already run the same writer on the same packet.
class byte_writer {
public:
  explicit byte_writer(std::vector<std::uint8_t>& out) noexcept : out_(out) {}

  void u8(std::uint8_t v) { out_.push_back(v); }
  void u16(std::uint16_t v) {
    out_.push_back(static_cast<std::uint8_t>(v >> 8));
    out_.push_back(static_cast<std::uint8_t>(v));
  }
  void u32(std::uint32_t v) {
    u16(static_cast<std::uint16_t>(v >> 16));
    u16(static_cast<std::uint16_t>(v));
  }
  void varint(std::uint32_t v) {
    do {
      auto byte = static_cast<std::uint8_t>(v & 0x7F);
      v >>= 7;
      out_.push_back(v ? static_cast<std::uint8_t>(byte | 0x80) : byte);
    } while (v);
  }
  void utf8(std::string_view s) {
    u16(static_cast<std::uint16_t>(s.size()));
    out_.insert(out_.end(), s.begin(), s.end());
  }
  void bytes(std::span<const std::uint8_t> b) {
    u16(static_cast<std::uint16_t>(b.size()));
    raw(b);
  }
  void raw(std::span<const std::uint8_t> b) {
    out_.insert(out_.end(), b.begin(), b.end());
  }
  void fail(reason_code, std::string_view) noexcept {}

private:
  std::vector<std::uint8_t>& out_;
};

/// Counts what a `byte_writer` would append and records the first reason
/// the packet cannot be encoded.
class size_counter {
public:
  void u8(std::uint8_t) noexcept { size_ += 1; }
  void u16(std::uint16_t) noexcept { size_ += 2; }
  void u32(std::uint32_t) noexcept { size_ += 4; }
  void varint(std::uint32_t v) {
    if (v > max_remaining_length)
      fail(reason_code::malformed_packet,
           "a variable byte integer exceeds 268435455");
    size_ += varint_size(v);
  }
  void utf8(std::string_view s) { field(s.size()); }
  void bytes(std::span<const std::uint8_t> b) { field(b.size()); }
  void raw(std::span<const std::uint8_t> b) noexcept { size_ += b.size(); }
  void fail(reason_code code, std::string_view message) {
    if (!error_)
      error_ = codec_error{code, std::string(message)};
  }

  std::size_t size() const noexcept { return size_; }
  const std::optional<codec_error>& error() const noexcept { return error_; }

private:
  void field(std::size_t n) {
    if (n > max_field_length)
      fail(reason_code::malformed_packet,
           "a string or binary field is longer than 65535 bytes");
    size_ += 2 + n;
  }

  std::size_t size_ = 0;
  std::optional<codec_error> error_;
};

/// Appends one packet: counts the body written by `body(sink)`, then writes
/// the fixed header and the body. `body` is called with a `size_counter&`
/// and then a `byte_writer&`.
template <class Body>
std::optional<codec_error> encode_framed(std::uint8_t first_byte, Body&& body,
                                         std::vector<std::uint8_t>& out) {
  size_counter counter;
  body(counter);
  if (counter.error())
    return counter.error();
  if (counter.size() > max_remaining_length)
    return codec_error{reason_code::packet_too_large,
                       "the packet is longer than MQTT can frame"};
  const auto remaining = static_cast<std::uint32_t>(counter.size());
  const std::size_t needed =
      out.size() + 1 + varint_size(remaining) + remaining;
  // Grow geometrically: callers append many packets to one buffer.
  if (out.capacity() < needed)
    out.reserve(std::max(needed, 2 * out.capacity()));
  byte_writer writer{out};
  writer.u8(first_byte);
  writer.varint(remaining);
  body(writer);
  return std::nullopt;
}

constexpr std::uint8_t header_byte(packet_type type,
                                   std::uint8_t flags = 0) noexcept {
  return static_cast<std::uint8_t>((static_cast<std::uint8_t>(type) << 4) |
                                   flags);
}

// --- Properties (codec_properties.cpp) ---------------------------------------

/// Where a property block sits: a packet type, or the Will Properties.
struct property_scope {
  packet_type type;
  bool will = false;
};

/// Reads a Property Length and the properties it covers into `out`,
/// enforcing every property rule of the codec.hpp rule list.
bool decode_properties(byte_reader& r, property_scope scope, properties& out);

/// Writes Property Length and properties; in the counting pass, reports
/// properties that `scope` does not allow or whose values are invalid.
template <class Sink>
void put_properties(Sink& sink, const properties& props, property_scope scope);

extern template void put_properties(size_counter&, const properties&,
                                    property_scope);
extern template void put_properties(byte_writer&, const properties&,
                                    property_scope);

// --- Shared checks (codec_common.cpp) ----------------------------------------

/// "0x" and two (or more) upper-case hex digits, for error messages.
std::string hex(std::uint32_t value);

/// Whether `code` may appear in a `type` packet under MQTT 5.
bool reason_allowed(packet_type type, reason_code code) noexcept;

/// "reason code 0x.. is not allowed in TYPE".
std::string reason_not_allowed(packet_type type, reason_code code);

/// Fails `r` with 0x81 unless `code` may appear in a `type` packet.
bool check_reason(byte_reader& r, packet_type type, reason_code code);

/// Reads a packet identifier; fails with 0x81 if it is 0.
bool read_packet_id(byte_reader& r, packet_type type, std::uint16_t& id);

/// "TYPE has packet identifier 0".
std::string zero_packet_id(packet_type type);

/// Fails `r` with 0x90 unless `topic` is a valid (non-empty) topic name.
bool check_topic_name(byte_reader& r, std::string_view what,
                      std::string_view topic);

/// Reads the optional tail of PUBACK ... PUBCOMP, DISCONNECT and AUTH in
/// MQTT 5: a reason code (0x00 if absent) and properties (none if absent).
bool read_reason_and_properties(byte_reader& r, packet_type type,
                                reason_code& code, properties& props);

/// Writes that tail in its shortest form: nothing for success without
/// properties, the reason code alone without properties.
template <class Sink>
void put_reason_and_properties(Sink& s, packet_type type, reason_code code,
                               const properties& props, bool has_props) {
  if (code == reason_code::success && !has_props)
    return;
  s.u8(to_byte(code));
  if (has_props)
    put_properties(s, props, property_scope{type});
}

/// An encode error with code 0x81.
inline codec_error encode_error(std::string message) {
  return codec_error{reason_code::malformed_packet, std::move(message)};
}

// --- Per-packet parsers and writers (codec_<family>.cpp) ---------------------

/// Sets `detected` as soon as the protocol name and level are known.
bool decode_connect(byte_reader& r, connect& out,
                    std::optional<protocol_version>& detected);
bool decode_connack(byte_reader& r, protocol_version v, connack& out);
bool decode_publish(byte_reader& r, std::uint8_t flags, protocol_version v,
                    publish& out);
bool decode_puback(byte_reader& r, protocol_version v, puback& out);
bool decode_pubrec(byte_reader& r, protocol_version v, pubrec& out);
bool decode_pubrel(byte_reader& r, protocol_version v, pubrel& out);
bool decode_pubcomp(byte_reader& r, protocol_version v, pubcomp& out);
bool decode_subscribe(byte_reader& r, protocol_version v, subscribe& out);
bool decode_suback(byte_reader& r, protocol_version v, suback& out);
bool decode_unsubscribe(byte_reader& r, protocol_version v, unsubscribe& out);
bool decode_unsuback(byte_reader& r, protocol_version v, unsuback& out);
bool decode_disconnect(byte_reader& r, protocol_version v, disconnect& out);
bool decode_auth(byte_reader& r, auth& out);

using encode_status = std::optional<codec_error>;
using byte_buffer = std::vector<std::uint8_t>;

encode_status encode_one(const connect& p, protocol_version v,
                         byte_buffer& out);
encode_status encode_one(const connack& p, protocol_version v,
                         byte_buffer& out);
encode_status encode_one(const publish& p, protocol_version v,
                         byte_buffer& out);
encode_status encode_one(const puback& p, protocol_version v, byte_buffer& out);
encode_status encode_one(const pubrec& p, protocol_version v, byte_buffer& out);
encode_status encode_one(const pubrel& p, protocol_version v, byte_buffer& out);
encode_status encode_one(const pubcomp& p, protocol_version v,
                         byte_buffer& out);
encode_status encode_one(const subscribe& p, protocol_version v,
                         byte_buffer& out);
encode_status encode_one(const suback& p, protocol_version v, byte_buffer& out);
encode_status encode_one(const unsubscribe& p, protocol_version v,
                         byte_buffer& out);
encode_status encode_one(const unsuback& p, protocol_version v,
                         byte_buffer& out);
encode_status encode_one(const pingreq& p, protocol_version v,
                         byte_buffer& out);
encode_status encode_one(const pingresp& p, protocol_version v,
                         byte_buffer& out);
encode_status encode_one(const disconnect& p, protocol_version v,
                         byte_buffer& out);
encode_status encode_one(const auth& p, protocol_version v, byte_buffer& out);

} // namespace starling::broker::detail
