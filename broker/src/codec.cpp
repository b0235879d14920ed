// The decoder's framing (fixed header, size limit, dispatch to the packet
// parsers) and `encode`'s dispatch to the packet writers. The algorithm and
// the full rule list are described above `class decoder` in codec.hpp.

#include <algorithm>

#include "codec_io.hpp"

namespace starling::broker {

namespace {

using detail::byte_reader;

bool known_version(protocol_version v) noexcept {
  return v == protocol_version::v3_1 || v == protocol_version::v3_1_1 ||
         v == protocol_version::v5;
}

/// Why the fixed-header flags are invalid for `type`, or nullopt.
std::optional<codec_error> flags_error(packet_type type, std::uint8_t flags,
                                       std::optional<protocol_version> v) {
  const auto malformed = [type](const char* what) {
    return codec_error{reason_code::malformed_packet,
                       std::string(to_string(type)) + what};
  };
  switch (type) {
  case packet_type::publish: {
    const unsigned qos_bits = (flags >> 1) & 3;
    if (qos_bits == 3)
      return malformed(" has QoS 3");
    if ((flags & 0x08) && qos_bits == 0)
      return malformed(" has DUP set with QoS 0");
    return std::nullopt;
  }
  case packet_type::pubrel:
  case packet_type::subscribe:
  case packet_type::unsubscribe:
    // MQTT 3.1 sent these with QoS 1 and set DUP on retries.
    if (flags == 0x02 || (v == protocol_version::v3_1 && flags == 0x0A))
      return std::nullopt;
    return malformed(" fixed header flags are not 0010");
  default:
    if (flags == 0)
      return std::nullopt;
    return malformed(" fixed header flags are not 0000");
  }
}

/// Parses the body of a packet of `type` other than CONNECT into `out`.
bool parse_body(byte_reader& r, packet_type type, std::uint8_t flags,
                protocol_version v, packet& out) {
  using namespace detail;
  switch (type) {
  case packet_type::connack:
    return decode_connack(r, v, out.emplace<connack>());
  case packet_type::publish:
    return decode_publish(r, flags, v, out.emplace<publish>());
  case packet_type::puback:
    return decode_puback(r, v, out.emplace<puback>());
  case packet_type::pubrec:
    return decode_pubrec(r, v, out.emplace<pubrec>());
  case packet_type::pubrel:
    return decode_pubrel(r, v, out.emplace<pubrel>());
  case packet_type::pubcomp:
    return decode_pubcomp(r, v, out.emplace<pubcomp>());
  case packet_type::subscribe:
    return decode_subscribe(r, v, out.emplace<subscribe>());
  case packet_type::suback:
    return decode_suback(r, v, out.emplace<suback>());
  case packet_type::unsubscribe:
    return decode_unsubscribe(r, v, out.emplace<unsubscribe>());
  case packet_type::unsuback:
    return decode_unsuback(r, v, out.emplace<unsuback>());
  case packet_type::pingreq:
    out.emplace<pingreq>();
    return true;
  case packet_type::pingresp:
    out.emplace<pingresp>();
    return true;
  case packet_type::disconnect:
    return decode_disconnect(r, v, out.emplace<disconnect>());
  case packet_type::auth:
    return decode_auth(r, out.emplace<auth>());
  case packet_type::connect:
    break; // decoded by the decoder itself: it sets the version
  }
  return r.fail(reason_code::malformed_packet, "unexpected packet type");
}

} // namespace

decoder::decoder(decoder_options options) noexcept
    : max_packet_size_(std::clamp(options.max_packet_size, std::uint32_t{2},
                                  max_packet_size_limit)),
      version_(options.version) {}

decode_result decoder::fail(codec_error error) {
  error_ = error;
  return error;
}

std::optional<codec_error> decoder::check_first_byte(std::uint8_t byte) const {
  const auto type = static_cast<packet_type>(byte >> 4);
  if (byte >> 4 == 0)
    return codec_error{reason_code::malformed_packet,
                       "packet type 0 is reserved"};
  if (!version_ && type != packet_type::connect)
    return codec_error{reason_code::protocol_error,
                       "the first packet is " + std::string(to_string(type)) +
                           ", not CONNECT"};
  if (version_ && type == packet_type::connect)
    return codec_error{reason_code::protocol_error,
                       "CONNECT on a connection that is already connected"};
  if (type == packet_type::auth && version_ != protocol_version::v5)
    return codec_error{reason_code::malformed_packet,
                       "packet type 15 (AUTH) is reserved before MQTT 5"};
  return flags_error(type, byte & 0x0F, version_);
}

decode_result decoder::decode(std::span<const std::uint8_t> input) {
  if (error_)
    return *error_;
  if (input.empty())
    return need_more{1};
  if (auto error = check_first_byte(input[0]))
    return fail(std::move(*error));
  // Remaining Length: 7 bits per byte, least significant first, bit 7 set
  // on every byte but the last; at most four bytes.
  std::uint32_t remaining = 0;
  std::size_t header = 1;
  for (;;) {
    if (header == 5)
      return fail({reason_code::malformed_packet,
                   "the remaining length is longer than four bytes"});
    if (header == input.size())
      return need_more{header + 1};
    const std::uint8_t byte = input[header];
    remaining |= std::uint32_t{byte & 0x7Fu} << (7 * (header - 1));
    ++header;
    if ((byte & 0x80) == 0)
      break;
  }
  const std::size_t size = header + remaining;
  if (size > max_packet_size_)
    return fail({reason_code::packet_too_large,
                 "a packet of " + std::to_string(size) +
                     " bytes exceeds the maximum packet size of " +
                     std::to_string(max_packet_size_)});
  if (input.size() < size)
    return need_more{size};
  return decode_body(input[0], input.subspan(header, remaining), size);
}

decode_result decoder::decode_body(std::uint8_t first_byte,
                                   std::span<const std::uint8_t> body,
                                   std::size_t packet_size) {
  const auto type = static_cast<packet_type>(first_byte >> 4);
  byte_reader r{body};
  packet pkt;
  bool ok = false;
  if (type == packet_type::connect) {
    std::optional<protocol_version> detected;
    ok = detail::decode_connect(r, std::get<connect>(pkt), detected);
    version_ = detected; // even if the rest is malformed; see codec.hpp
  } else {
    ok = parse_body(r, type, first_byte & 0x0F, *version_, pkt);
  }
  if (!ok)
    return fail(r.take_error());
  if (!r.at_end())
    return fail({reason_code::malformed_packet,
                 "the remaining length is longer than the " +
                     std::string(to_string(type)) + " fields"});
  return decoded{std::move(pkt), packet_size};
}

std::optional<codec_error> encode(const packet& p, protocol_version version,
                                  std::vector<std::uint8_t>& out) {
  if (!known_version(version))
    return codec_error{reason_code::unsupported_protocol_version,
                       "cannot encode for protocol level " +
                           detail::hex(static_cast<std::uint8_t>(version))};
  return std::visit(
      [&](const auto& x) { return detail::encode_one(x, version, out); }, p);
}

} // namespace starling::broker
