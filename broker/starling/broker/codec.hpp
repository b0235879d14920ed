#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "starling/broker/packet.hpp"
#include "starling/broker/reason_codes.hpp"

namespace starling::broker {

/// The largest Remaining Length a four-byte Variable Byte Integer holds.
inline constexpr std::uint32_t max_remaining_length = 268'435'455;

/// The largest packet MQTT can frame: type byte, four length bytes, body.
inline constexpr std::uint32_t max_packet_size_limit =
    1 + 4 + max_remaining_length;

/// EMQX's default `mqtt.max_packet_size` (1 MiB).
inline constexpr std::uint32_t default_max_packet_size = 1024 * 1024;

/// Why bytes could not be decoded or a packet could not be encoded. `code` is
/// what an MQTT 5 peer is told in CONNACK or DISCONNECT (0x81 malformed
/// packet, 0x82 protocol error, 0x84 unsupported protocol version, 0x90 topic
/// name invalid, 0x94 topic alias invalid, 0x95 packet too large); `message`
/// is a sentence for logs and the Reason String.
struct codec_error {
  reason_code code = reason_code::malformed_packet;
  std::string message;

  friend bool operator==(const codec_error&, const codec_error&) = default;
};

/// Appends the wire form of `p` for `version` to `out`; nullopt on success.
///
/// MQTT 5 fields are dropped for 3.x (see packet.hpp), except that 3.x
/// reason codes are mapped: CONNACK via `to_connack_return_code`, SUBACK
/// failures to 0x80. A CONNECT is written for its own `version` field, which
/// must equal `version`.
///
/// The encoder refuses what the decoder would refuse on structure: a missing
/// or zero packet identifier, an empty SUBSCRIBE/UNSUBSCRIBE/SUBACK, a
/// property not allowed in the packet or with an invalid value, a reason code
/// the packet cannot carry, AUTH before MQTT 5, strings over 65535 bytes, a
/// packet over `max_packet_size_limit`. It does not re-check the contents of
/// strings (UTF-8, wildcards in topic names): those come from decoded and
/// validated input, and scanning every fan-out copy again would cost time on
/// the hottest path. On error `out` is left as it was.
[[nodiscard]] std::optional<codec_error> encode(const packet& p,
                                                protocol_version version,
                                                std::vector<std::uint8_t>& out);

/// One packet decoded from the front of the input.
struct decoded {
  packet pkt;
  std::size_t consumed =
      0; ///< the packet's size in bytes, fixed header included
};

/// The input ends inside a packet. Call `decode` again once the input holds
/// at least `total` bytes (counted from the start of the same input); `total`
/// is the whole packet's size once its fixed header is complete.
struct need_more {
  std::size_t total = 0;
};

using decode_result = std::variant<decoded, need_more, codec_error>;

struct decoder_options {
  /// Largest packet accepted, fixed header included; larger ones fail with
  /// 0x95 as soon as their fixed header is read. Clamped to
  /// [2, max_packet_size_limit].
  std::uint32_t max_packet_size = default_max_packet_size;
  /// The version spoken on the connection if already known (a client reading
  /// a server's packets, a test). Unset for a server: the CONNECT decides it.
  std::optional<protocol_version> version;
};

/// Incremental MQTT decoder for one connection, in either direction.
///
/// The algorithm. The caller keeps the received bytes in its own buffer and
/// calls `decode` with everything not yet consumed. `decode` looks only at
/// the front of that input:
///   1. Fixed header: the first byte gives the packet type and flags, which
///      are checked at once; then up to four bytes of Remaining Length. If the
///      input ends inside the fixed header the answer is `need_more`.
///   2. Size: header plus Remaining Length is the packet size. If it exceeds
///      `max_packet_size` the answer is 0x95 right away, so a peer cannot
///      make the caller buffer an oversized body. Otherwise, if the input
///      does not yet hold the whole packet, the answer is `need_more` with
///      that size, so the caller knows how much to read before calling again
///      and a large PUBLISH arriving in many reads costs one header parse per
///      read, never a body parse.
///   3. Body: with the whole packet present, the body is parsed in one pass
///      by the packet type's parser, bounded by the Remaining Length. It must
///      use exactly that many bytes. Strings are copied once into the packet
///      and the PUBLISH payload is copied once into `publish::payload`; no
///      allocation happens per byte.
/// The decoder holds no partial packet, so `need_more` is repeatable and the
/// caller may split its input anywhere. Its state is the protocol version,
/// whether CONNECT was seen, and the first error: after an error the stream
/// cannot be resynchronised (MQTT has no frame markers), the connection must
/// be closed, and every later call returns the same error.
///
/// Before a CONNECT (when no version was given) only CONNECT is accepted;
/// its protocol name and level set the version, which then decides how every
/// later packet is parsed, and a second CONNECT is a protocol error.
/// `version()` is set as soon as a CONNECT's name and level are read, even
/// if the rest of that CONNECT is malformed, so the caller can answer in the
/// client's dialect.
///
/// The rules, and the reason code each violation gets:
///  - 0x81 malformed packet: packet type 0, or 15 (AUTH) before MQTT 5;
///    fixed-header flags other than 0b0010 for PUBREL, SUBSCRIBE and
///    UNSUBSCRIBE (3.1 also allows its DUP retry bit there) and other than 0
///    for all but PUBLISH; PUBLISH with QoS 3 or with DUP on QoS 0; Remaining
///    Length over four bytes, or not equal to the length of the fields;
///    strings that are not well-formed UTF-8 or contain U+0000 (UTF-16
///    surrogates and overlong forms are not well-formed); a zero packet
///    identifier where one is required; CONNECT reserved flag, Will QoS 3,
///    Will QoS or Will Retain without the Will Flag, a password without a
///    user name in 3.x; CONNACK reserved flags (3.1.1 and 5); reserved bits
///    or QoS 3 in subscription options; a reason or return code the packet
///    type cannot carry; an unknown property identifier, or a property the
///    packet type may not carry.
///  - 0x82 protocol error: a packet other than CONNECT first, or a second
///    CONNECT; SUBSCRIBE or UNSUBSCRIBE without topic filters, SUBACK or
///    MQTT 5 UNSUBACK without reason codes; Retain Handling 3; CONNACK with
///    Session Present and a failure code; a property repeated that may
///    appear once (only User Property, and Subscription Identifier in
///    PUBLISH, may repeat); an invalid property value: Receive Maximum,
///    Maximum Packet Size or Subscription Identifier 0, Maximum QoS,
///    Payload Format Indicator or a yes/no property above 1, a Response Topic
///    that is not a valid topic name, Authentication Data without an
///    Authentication Method; an MQTT 5 PUBLISH with an empty topic and no
///    Topic Alias.
///  - 0x84 unsupported protocol version: a CONNECT whose protocol name and
///    level are not "MQIsdp" 3, "MQTT" 4 or "MQTT" 5.
///  - 0x90 topic name invalid: a PUBLISH or Will topic with a wildcard, an
///    empty Will topic, an empty PUBLISH topic in 3.x (as EMQX does; the
///    spec only says these are not allowed).
///  - 0x94 topic alias invalid: Topic Alias 0 (as EMQX does).
///  - 0x95 packet too large: see step 2.
/// Left to the channel, which has the session state these need: whether the
/// packet may travel in this direction, topic alias resolution and limits,
/// topic filter syntax (answered per filter in SUBACK/UNSUBACK), No Local on
/// shared subscriptions, client identifier rules, and validating a payload
/// declared UTF-8 (which the spec makes optional).
class decoder {
public:
  explicit decoder(decoder_options options = {}) noexcept;

  /// Decodes one packet from the front of `input`; see the class comment.
  decode_result decode(std::span<const std::uint8_t> input);

  /// The connection's version: given in the options or read from CONNECT.
  std::optional<protocol_version> version() const noexcept { return version_; }

  std::uint32_t max_packet_size() const noexcept { return max_packet_size_; }

private:
  decode_result fail(codec_error error);
  std::optional<codec_error> check_first_byte(std::uint8_t byte) const;
  decode_result decode_body(std::uint8_t first_byte,
                            std::span<const std::uint8_t> body,
                            std::size_t packet_size);

  std::uint32_t max_packet_size_;
  std::optional<protocol_version> version_;
  std::optional<codec_error> error_;
};

/// Whether `text` is an MQTT UTF-8 Encoded String (MQTT 5 §1.5.4):
/// well-formed UTF-8 (no overlong forms, no UTF-16 surrogates, nothing above
/// U+10FFFF) without U+0000. The length limit is not checked here.
bool is_valid_mqtt_utf8(std::string_view text) noexcept;

} // namespace starling::broker
