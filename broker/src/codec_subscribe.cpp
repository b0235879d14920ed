// SUBSCRIBE, SUBACK, UNSUBSCRIBE and UNSUBACK (MQTT 5 §3.8-§3.11; 3.1.1
// §3.8-§3.11).
//
// Topic filters are read as strings only: a filter with bad syntax is not a
// malformed packet but a per-filter failure the channel reports in SUBACK
// (0x8F) or UNSUBACK, leaving the other filters of the packet unaffected.

#include "codec_io.hpp"

namespace starling::broker::detail {

namespace {

constexpr property_scope subscribe_scope{packet_type::subscribe};
constexpr property_scope suback_scope{packet_type::suback};
constexpr property_scope unsubscribe_scope{packet_type::unsubscribe};
constexpr property_scope unsuback_scope{packet_type::unsuback};

// Subscription options byte (MQTT 5 §3.8.3.1); 3.x has the QoS bits only.
constexpr std::uint8_t qos_bits = 0x03;
constexpr std::uint8_t no_local_bit = 0x04;
constexpr std::uint8_t retain_as_published_bit = 0x08;
constexpr unsigned retain_handling_shift = 4;
constexpr std::uint8_t v5_reserved_bits = 0xC0;
constexpr std::uint8_t v3_reserved_bits = 0xFC;

/// The SUBACK byte for 3.x: the granted QoS, or 0x80 for any failure.
constexpr std::uint8_t v3_suback_code(reason_code code) {
  return is_failure(code) ? 0x80 : to_byte(code);
}

bool read_options(byte_reader& r, protocol_version v,
                  subscription_options& out) {
  std::uint8_t byte = 0;
  if (!r.u8(byte))
    return false;
  const bool v5 = v == protocol_version::v5;
  if (byte & (v5 ? v5_reserved_bits : v3_reserved_bits))
    return r.fail(reason_code::malformed_packet,
                  "subscription options have reserved bits set");
  if ((byte & qos_bits) == 3)
    return r.fail(reason_code::malformed_packet, "subscription QoS is 3");
  out.qos = static_cast<qos>(byte & qos_bits);
  if (!v5)
    return true;
  const unsigned retain_handling = (byte >> retain_handling_shift) & 3;
  if (retain_handling == 3)
    return r.fail(reason_code::protocol_error, "retain handling is 3");
  out.no_local = (byte & no_local_bit) != 0;
  out.retain_as_published = (byte & retain_as_published_bit) != 0;
  out.retain_handling = static_cast<broker::retain_handling>(retain_handling);
  return true;
}

std::uint8_t options_byte(const subscription_options& o, protocol_version v) {
  auto byte = static_cast<std::uint8_t>(o.qos);
  if (v != protocol_version::v5)
    return byte;
  byte |= o.no_local ? no_local_bit : 0;
  byte |= o.retain_as_published ? retain_as_published_bit : 0;
  byte |= static_cast<std::uint8_t>(static_cast<unsigned>(o.retain_handling)
                                    << retain_handling_shift);
  return byte;
}

std::optional<codec_error> subscribe_error(const subscribe& p) {
  if (p.packet_id == 0)
    return encode_error(zero_packet_id(packet_type::subscribe));
  if (p.subscriptions.empty())
    return codec_error{reason_code::protocol_error,
                       "SUBSCRIBE has no topic filters"};
  for (const auto& sub : p.subscriptions) {
    if (sub.options.qos > qos::exactly_once)
      return encode_error("subscription QoS is not 0, 1 or 2");
    if (sub.options.retain_handling > retain_handling::do_not_send)
      return codec_error{reason_code::protocol_error, "retain handling is 3"};
  }
  return std::nullopt;
}

/// Reads the reason codes that fill the rest of a SUBACK or MQTT 5 UNSUBACK.
bool read_codes(byte_reader& r, packet_type type, protocol_version v,
                std::vector<reason_code>& out) {
  out.reserve(r.remaining());
  while (!r.at_end()) {
    std::uint8_t byte = 0;
    if (!r.u8(byte))
      return false;
    const auto code = static_cast<reason_code>(byte);
    if (v == protocol_version::v5) {
      if (!check_reason(r, type, code))
        return false;
    } else if (byte > 2 && byte != 0x80) {
      return r.fail(reason_code::malformed_packet,
                    "SUBACK return code " + hex(byte) + " is reserved");
    }
    out.push_back(code);
  }
  if (out.empty())
    return r.fail(reason_code::protocol_error,
                  std::string(to_string(type)) + " has no reason codes");
  return true;
}

std::optional<codec_error> codes_error(packet_type type, std::uint16_t id,
                                       const std::vector<reason_code>& codes) {
  if (id == 0)
    return encode_error(zero_packet_id(type));
  if (codes.empty())
    return codec_error{reason_code::protocol_error,
                       std::string(to_string(type)) + " has no reason codes"};
  for (auto code : codes)
    if (!reason_allowed(type, code))
      return encode_error(reason_not_allowed(type, code));
  return std::nullopt;
}

} // namespace

bool decode_subscribe(byte_reader& r, protocol_version v, subscribe& out) {
  if (!read_packet_id(r, packet_type::subscribe, out.packet_id))
    return false;
  if (v == protocol_version::v5 &&
      !decode_properties(r, subscribe_scope, out.props))
    return false;
  while (!r.at_end()) {
    auto& sub = out.subscriptions.emplace_back();
    if (!r.utf8(sub.filter) || !read_options(r, v, sub.options))
      return false;
  }
  if (out.subscriptions.empty())
    return r.fail(reason_code::protocol_error,
                  "SUBSCRIBE has no topic filters");
  return true;
}

bool decode_suback(byte_reader& r, protocol_version v, suback& out) {
  if (!read_packet_id(r, packet_type::suback, out.packet_id))
    return false;
  if (v == protocol_version::v5 &&
      !decode_properties(r, suback_scope, out.props))
    return false;
  return read_codes(r, packet_type::suback, v, out.codes);
}

bool decode_unsubscribe(byte_reader& r, protocol_version v, unsubscribe& out) {
  if (!read_packet_id(r, packet_type::unsubscribe, out.packet_id))
    return false;
  if (v == protocol_version::v5 &&
      !decode_properties(r, unsubscribe_scope, out.props))
    return false;
  while (!r.at_end())
    if (!r.utf8(out.filters.emplace_back()))
      return false;
  if (out.filters.empty())
    return r.fail(reason_code::protocol_error,
                  "UNSUBSCRIBE has no topic filters");
  return true;
}

bool decode_unsuback(byte_reader& r, protocol_version v, unsuback& out) {
  if (!read_packet_id(r, packet_type::unsuback, out.packet_id))
    return false;
  // A 3.x UNSUBACK is the packet identifier alone.
  if (v != protocol_version::v5)
    return true;
  if (!decode_properties(r, unsuback_scope, out.props))
    return false;
  return read_codes(r, packet_type::unsuback, v, out.codes);
}

encode_status encode_one(const subscribe& p, protocol_version v,
                         byte_buffer& out) {
  if (auto error = subscribe_error(p))
    return error;
  return encode_framed(
      header_byte(packet_type::subscribe, 0x02),
      [&](auto& sink) {
        sink.u16(p.packet_id);
        if (v == protocol_version::v5)
          put_properties(sink, p.props, subscribe_scope);
        for (const auto& sub : p.subscriptions) {
          sink.utf8(sub.filter);
          sink.u8(options_byte(sub.options, v));
        }
      },
      out);
}

encode_status encode_one(const suback& p, protocol_version v,
                         byte_buffer& out) {
  if (auto error = codes_error(packet_type::suback, p.packet_id, p.codes))
    return error;
  const bool v5 = v == protocol_version::v5;
  return encode_framed(
      header_byte(packet_type::suback),
      [&](auto& sink) {
        sink.u16(p.packet_id);
        if (v5)
          put_properties(sink, p.props, suback_scope);
        for (auto code : p.codes)
          sink.u8(v5 ? to_byte(code) : v3_suback_code(code));
      },
      out);
}

encode_status encode_one(const unsubscribe& p, protocol_version v,
                         byte_buffer& out) {
  if (p.packet_id == 0)
    return encode_error(zero_packet_id(packet_type::unsubscribe));
  if (p.filters.empty())
    return codec_error{reason_code::protocol_error,
                       "UNSUBSCRIBE has no topic filters"};
  return encode_framed(
      header_byte(packet_type::unsubscribe, 0x02),
      [&](auto& sink) {
        sink.u16(p.packet_id);
        if (v == protocol_version::v5)
          put_properties(sink, p.props, unsubscribe_scope);
        for (const auto& filter : p.filters)
          sink.utf8(filter);
      },
      out);
}

encode_status encode_one(const unsuback& p, protocol_version v,
                         byte_buffer& out) {
  if (v != protocol_version::v5) {
    if (p.packet_id == 0)
      return encode_error(zero_packet_id(packet_type::unsuback));
    return encode_framed(
        header_byte(packet_type::unsuback),
        [&](auto& sink) { sink.u16(p.packet_id); }, out);
  }
  if (auto error = codes_error(packet_type::unsuback, p.packet_id, p.codes))
    return error;
  return encode_framed(
      header_byte(packet_type::unsuback),
      [&](auto& sink) {
        sink.u16(p.packet_id);
        put_properties(sink, p.props, unsuback_scope);
        for (auto code : p.codes)
          sink.u8(to_byte(code));
      },
      out);
}

} // namespace starling::broker::detail
