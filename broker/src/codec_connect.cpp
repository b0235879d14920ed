// CONNECT and CONNACK (MQTT 5 §3.1, §3.2; 3.1.1 §3.1, §3.2; 3.1 §3.1, §3.2).
//
// CONNECT is the only packet whose layout does not depend on a version
// already known: its protocol name and level come first and decide the rest
// (properties in MQTT 5, whether a password may come without a user name).

#include "codec_io.hpp"

namespace starling::broker::detail {

namespace {

// CONNECT flags (§3.1.2.3).
constexpr std::uint8_t reserved_flag = 0x01;
constexpr std::uint8_t clean_start_flag = 0x02;
constexpr std::uint8_t will_flag = 0x04;
constexpr unsigned will_qos_shift = 3;
constexpr std::uint8_t will_retain_flag = 0x20;
constexpr std::uint8_t password_flag = 0x40;
constexpr std::uint8_t username_flag = 0x80;

/// Bit 7 of the protocol level marks a bridge (mosquitto's try_private).
constexpr std::uint8_t bridge_bit = 0x80;

constexpr property_scope connect_scope{packet_type::connect};
constexpr property_scope will_scope{packet_type::connect, true};
constexpr property_scope connack_scope{packet_type::connack};

std::optional<protocol_version> version_for(std::string_view name,
                                            std::uint8_t level) {
  if (name == "MQIsdp" && level == 3)
    return protocol_version::v3_1;
  if (name == "MQTT" && level == 4)
    return protocol_version::v3_1_1;
  if (name == "MQTT" && level == 5)
    return protocol_version::v5;
  return std::nullopt;
}

std::string_view protocol_name(protocol_version version) {
  return version == protocol_version::v3_1 ? "MQIsdp" : "MQTT";
}

bool read_protocol(byte_reader& r, connect& out,
                   std::optional<protocol_version>& detected) {
  std::string name;
  std::uint8_t level = 0;
  if (!r.utf8(name) || !r.u8(level))
    return false;
  const auto base_level = static_cast<std::uint8_t>(level & ~bridge_bit);
  const auto version = version_for(name, base_level);
  if (!version)
    return r.fail(reason_code::unsupported_protocol_version,
                  "protocol name and level " + hex(base_level) +
                      " are not MQIsdp 3, MQTT 4 or MQTT 5");
  out.version = *version;
  out.bridge = (level & bridge_bit) != 0;
  detected = version;
  return true;
}

bool read_connect_flags(byte_reader& r, connect& out, std::uint8_t& flags) {
  if (!r.u8(flags) || !r.u16(out.keep_alive))
    return false;
  const auto fail = [&r](const char* message) {
    return r.fail(reason_code::malformed_packet, message);
  };
  const unsigned will_qos = (flags >> will_qos_shift) & 3;
  if (flags & reserved_flag)
    return fail("CONNECT reserved flag is set");
  if (!(flags & will_flag) && (will_qos != 0 || (flags & will_retain_flag)))
    return fail("CONNECT has will QoS or will retain without the will flag");
  if (will_qos == 3)
    return fail("CONNECT will QoS is 3");
  if (out.version != protocol_version::v5 && (flags & password_flag) &&
      !(flags & username_flag))
    return fail("CONNECT has a password without a user name");
  out.clean_start = (flags & clean_start_flag) != 0;
  return true;
}

bool read_will(byte_reader& r, protocol_version version, std::uint8_t flags,
               will_message& will) {
  will.qos = static_cast<qos>((flags >> will_qos_shift) & 3);
  will.retain = (flags & will_retain_flag) != 0;
  if (version == protocol_version::v5 &&
      !decode_properties(r, will_scope, will.props))
    return false;
  return r.utf8(will.topic) && check_topic_name(r, "will topic", will.topic) &&
         r.bytes(will.payload);
}

/// The connect flags byte for `c`, or the reason `c` cannot be encoded.
std::optional<codec_error> connect_flags(const connect& c,
                                         std::uint8_t& flags) {
  unsigned bits = c.clean_start ? clean_start_flag : 0;
  if (c.will) {
    if (c.will->qos > qos::exactly_once)
      return encode_error("CONNECT will QoS is not 0, 1 or 2");
    if (c.will->topic.empty())
      return codec_error{reason_code::topic_name_invalid,
                         "CONNECT will topic is empty"};
    bits |= will_flag;
    bits |= static_cast<unsigned>(c.will->qos) << will_qos_shift;
    bits |= c.will->retain ? will_retain_flag : 0;
  }
  if (c.password && !c.username && c.version != protocol_version::v5)
    return encode_error("MQTT 3.x CONNECT cannot have a password without a "
                        "user name");
  bits |= c.username ? username_flag : 0;
  bits |= c.password ? password_flag : 0;
  flags = static_cast<std::uint8_t>(bits);
  return std::nullopt;
}

template <class Sink>
void put_connect(Sink& s, const connect& c, std::uint8_t flags) {
  const bool v5 = c.version == protocol_version::v5;
  s.utf8(protocol_name(c.version));
  s.u8(static_cast<std::uint8_t>(c.version) | (c.bridge ? bridge_bit : 0));
  s.u8(flags);
  s.u16(c.keep_alive);
  if (v5)
    put_properties(s, c.props, connect_scope);
  s.utf8(c.client_id);
  if (c.will) {
    if (v5)
      put_properties(s, c.will->props, will_scope);
    s.utf8(c.will->topic);
    s.bytes(c.will->payload);
  }
  if (c.username)
    s.utf8(*c.username);
  if (c.password)
    s.bytes(*c.password);
}

} // namespace

bool decode_connect(byte_reader& r, connect& out,
                    std::optional<protocol_version>& detected) {
  std::uint8_t flags = 0;
  if (!read_protocol(r, out, detected) || !read_connect_flags(r, out, flags))
    return false;
  if (out.version == protocol_version::v5 &&
      !decode_properties(r, connect_scope, out.props))
    return false;
  if (!r.utf8(out.client_id))
    return false;
  if ((flags & will_flag) &&
      !read_will(r, out.version, flags, out.will.emplace()))
    return false;
  if ((flags & username_flag) && !r.utf8(out.username.emplace()))
    return false;
  return !(flags & password_flag) || r.bytes(out.password.emplace());
}

bool decode_connack(byte_reader& r, protocol_version v, connack& out) {
  std::uint8_t flags = 0;
  std::uint8_t code = 0;
  if (!r.u8(flags) || !r.u8(code))
    return false;
  // In 3.1 the first byte is reserved and unused, with no session present.
  if (v != protocol_version::v3_1) {
    if (flags & 0xFE)
      return r.fail(reason_code::malformed_packet,
                    "CONNACK reserved flags are set");
    out.session_present = (flags & 1) != 0;
  }
  if (v == protocol_version::v5) {
    out.code = static_cast<reason_code>(code);
    if (!check_reason(r, packet_type::connack, out.code))
      return false;
  } else if (auto mapped = from_connack_return_code(code)) {
    out.code = *mapped;
  } else {
    return r.fail(reason_code::malformed_packet,
                  "CONNACK return code " + hex(code) + " is reserved");
  }
  if (out.session_present && is_failure(out.code))
    return r.fail(reason_code::protocol_error,
                  "CONNACK has session present with a failure code");
  return v != protocol_version::v5 ||
         decode_properties(r, connack_scope, out.props);
}

encode_status encode_one(const connect& p, protocol_version v,
                         byte_buffer& out) {
  if (p.version != v)
    return encode_error(
        "a CONNECT for MQTT " + std::string(to_string(p.version)) +
        " cannot be encoded as MQTT " + std::string(to_string(v)));
  std::uint8_t flags = 0;
  if (auto error = connect_flags(p, flags))
    return error;
  return encode_framed(
      header_byte(packet_type::connect),
      [&](auto& sink) { put_connect(sink, p, flags); }, out);
}

encode_status encode_one(const connack& p, protocol_version v,
                         byte_buffer& out) {
  if (!reason_allowed(packet_type::connack, p.code))
    return encode_error(reason_not_allowed(packet_type::connack, p.code));
  if (p.session_present && is_failure(p.code))
    return codec_error{reason_code::protocol_error,
                       "CONNACK cannot have session present with a failure "
                       "code"};
  const bool v5 = v == protocol_version::v5;
  const bool session_present = p.session_present && v != protocol_version::v3_1;
  const auto code =
      v5 ? to_byte(p.code)
         : static_cast<std::uint8_t>(to_connack_return_code(p.code));
  return encode_framed(
      header_byte(packet_type::connack),
      [&](auto& sink) {
        sink.u8(session_present ? 1 : 0);
        sink.u8(code);
        if (v5)
          put_properties(sink, p.props, connack_scope);
      },
      out);
}

} // namespace starling::broker::detail
