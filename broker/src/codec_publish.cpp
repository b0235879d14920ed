// PUBLISH and its acknowledgements PUBACK, PUBREC, PUBREL, PUBCOMP
// (MQTT 5 §3.3-§3.7; 3.1.1 §3.3-§3.7).
//
// The PUBLISH flags (DUP, QoS, RETAIN) are checked with the fixed header by
// the decoder; here they are only copied. The payload is whatever follows
// the variable header, copied once into the packet.

#include "codec_io.hpp"

namespace starling::broker::detail {

namespace {

constexpr property_scope publish_scope{packet_type::publish};

constexpr std::uint8_t publish_flags(const publish& p) {
  return static_cast<std::uint8_t>((p.dup ? 0x08 : 0) |
                                   (static_cast<unsigned>(p.qos) << 1) |
                                   (p.retain ? 0x01 : 0));
}

std::optional<codec_error> publish_error(const publish& p, protocol_version v) {
  if (p.qos > qos::exactly_once)
    return encode_error("PUBLISH QoS is not 0, 1 or 2");
  if (p.dup && p.qos == qos::at_most_once)
    return encode_error("PUBLISH cannot have DUP with QoS 0");
  if (p.qos != qos::at_most_once && p.packet_id == 0)
    return encode_error(zero_packet_id(packet_type::publish));
  if (p.topic.empty() &&
      (v != protocol_version::v5 || !p.props.topic_alias.has_value()))
    return codec_error{reason_code::topic_name_invalid,
                       "PUBLISH topic is empty without a topic alias"};
  return std::nullopt;
}

/// The flags of PUBREL in the fixed header are 0b0010, of the others 0.
template <class Ack>
encode_status encode_ack(const Ack& a, packet_type type, std::uint8_t flags,
                         protocol_version v, byte_buffer& out) {
  if (a.packet_id == 0)
    return encode_error(zero_packet_id(type));
  if (!reason_allowed(type, a.code))
    return encode_error(reason_not_allowed(type, a.code));
  const bool v5 = v == protocol_version::v5;
  const bool has_props = v5 && !a.props.empty();
  return encode_framed(
      header_byte(type, flags),
      [&](auto& sink) {
        sink.u16(a.packet_id);
        if (v5)
          put_reason_and_properties(sink, type, a.code, a.props, has_props);
      },
      out);
}

template <class Ack>
bool decode_ack(byte_reader& r, packet_type type, protocol_version v,
                Ack& out) {
  if (!read_packet_id(r, type, out.packet_id))
    return false;
  return v != protocol_version::v5 ||
         read_reason_and_properties(r, type, out.code, out.props);
}

} // namespace

bool decode_publish(byte_reader& r, std::uint8_t flags, protocol_version v,
                    publish& out) {
  out.dup = (flags & 0x08) != 0;
  out.qos = static_cast<qos>((flags >> 1) & 3);
  out.retain = (flags & 0x01) != 0;
  if (!r.utf8(out.topic))
    return false;
  if (out.qos != qos::at_most_once &&
      !read_packet_id(r, packet_type::publish, out.packet_id))
    return false;
  const bool v5 = v == protocol_version::v5;
  if (v5 && !decode_properties(r, publish_scope, out.props))
    return false;
  if (!out.topic.empty()) {
    if (!check_topic_name(r, "PUBLISH topic", out.topic))
      return false;
  } else if (!v5) {
    return r.fail(reason_code::topic_name_invalid, "PUBLISH topic is empty");
  } else if (!out.props.topic_alias) {
    // The alias itself is resolved by the channel, which knows the mapping.
    return r.fail(reason_code::protocol_error,
                  "PUBLISH topic is empty without a topic alias");
  }
  r.rest(out.payload);
  return true;
}

bool decode_puback(byte_reader& r, protocol_version v, puback& out) {
  return decode_ack(r, packet_type::puback, v, out);
}

bool decode_pubrec(byte_reader& r, protocol_version v, pubrec& out) {
  return decode_ack(r, packet_type::pubrec, v, out);
}

bool decode_pubrel(byte_reader& r, protocol_version v, pubrel& out) {
  return decode_ack(r, packet_type::pubrel, v, out);
}

bool decode_pubcomp(byte_reader& r, protocol_version v, pubcomp& out) {
  return decode_ack(r, packet_type::pubcomp, v, out);
}

encode_status encode_one(const publish& p, protocol_version v,
                         byte_buffer& out) {
  if (auto error = publish_error(p, v))
    return error;
  return encode_framed(
      header_byte(packet_type::publish, publish_flags(p)),
      [&](auto& sink) {
        sink.utf8(p.topic);
        if (p.qos != qos::at_most_once)
          sink.u16(p.packet_id);
        if (v == protocol_version::v5)
          put_properties(sink, p.props, publish_scope);
        sink.raw(p.payload);
      },
      out);
}

encode_status encode_one(const puback& p, protocol_version v,
                         byte_buffer& out) {
  return encode_ack(p, packet_type::puback, 0, v, out);
}

encode_status encode_one(const pubrec& p, protocol_version v,
                         byte_buffer& out) {
  return encode_ack(p, packet_type::pubrec, 0, v, out);
}

encode_status encode_one(const pubrel& p, protocol_version v,
                         byte_buffer& out) {
  return encode_ack(p, packet_type::pubrel, 0x02, v, out);
}

encode_status encode_one(const pubcomp& p, protocol_version v,
                         byte_buffer& out) {
  return encode_ack(p, packet_type::pubcomp, 0, v, out);
}

} // namespace starling::broker::detail
