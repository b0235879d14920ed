// PINGREQ, PINGRESP, DISCONNECT and AUTH (MQTT 5 §3.12-§3.15).
//
// PINGREQ and PINGRESP have no body; neither does DISCONNECT before MQTT 5.
// The decoder rejects any bytes these leave unread, so nothing is read here.

#include "codec_io.hpp"

namespace starling::broker::detail {

namespace {

/// DISCONNECT and AUTH share their MQTT 5 layout: an optional reason code
/// and optional properties, both omitted for success without properties.
encode_status encode_reason_packet(packet_type type, reason_code code,
                                   const properties& props, byte_buffer& out) {
  if (!reason_allowed(type, code))
    return encode_error(reason_not_allowed(type, code));
  const bool has_props = !props.empty();
  return encode_framed(
      header_byte(type),
      [&](auto& sink) {
        put_reason_and_properties(sink, type, code, props, has_props);
      },
      out);
}

encode_status encode_empty(packet_type type, byte_buffer& out) {
  return encode_framed(
      header_byte(type), [](auto&) {}, out);
}

} // namespace

bool decode_disconnect(byte_reader& r, protocol_version v, disconnect& out) {
  return v != protocol_version::v5 ||
         read_reason_and_properties(r, packet_type::disconnect, out.code,
                                    out.props);
}

bool decode_auth(byte_reader& r, auth& out) {
  return read_reason_and_properties(r, packet_type::auth, out.code, out.props);
}

encode_status encode_one(const pingreq&, protocol_version, byte_buffer& out) {
  return encode_empty(packet_type::pingreq, out);
}

encode_status encode_one(const pingresp&, protocol_version, byte_buffer& out) {
  return encode_empty(packet_type::pingresp, out);
}

encode_status encode_one(const disconnect& p, protocol_version v,
                         byte_buffer& out) {
  if (v != protocol_version::v5)
    return encode_empty(packet_type::disconnect, out);
  return encode_reason_packet(packet_type::disconnect, p.code, p.props, out);
}

encode_status encode_one(const auth& p, protocol_version v, byte_buffer& out) {
  if (v != protocol_version::v5)
    return encode_error("AUTH exists only in MQTT 5");
  return encode_reason_packet(packet_type::auth, p.code, p.props, out);
}

} // namespace starling::broker::detail
