#include "starling/loadgen/wire.hpp"

#include <algorithm>
#include <cstring>

#include "starling/broker/codec.hpp"

namespace starling::loadgen {

std::variant<std::vector<std::uint8_t>, std::string>
encode_packet(const broker::packet& p, broker::protocol_version v) {
  std::vector<std::uint8_t> out;
  if (auto e = broker::encode(p, v, out))
    return "cannot encode " + std::string(broker::to_string(broker::type_of(p))) +
           ": " + e->message;
  return out;
}

std::variant<publish_template, std::string>
publish_template::make(const std::string& topic, broker::qos q,
                       broker::protocol_version v, std::uint32_t payload_size) {
  broker::publish p;
  p.qos = q;
  p.topic = topic;
  p.packet_id = q == broker::qos::at_most_once ? 0 : 1;
  p.payload.assign(payload_size, 0);
  auto encoded = encode_packet(p, v);
  if (auto* why = std::get_if<std::string>(&encoded))
    return *why;
  auto& bytes = std::get<std::vector<std::uint8_t>>(encoded);
  publish_template t;
  std::size_t payload_offset = bytes.size() - payload_size;
  // The Remaining Length ends at the first byte without the continuation
  // bit; the topic's two-byte length and the topic follow, then the packet
  // id.
  std::size_t vbi_end = 1;
  while (bytes[vbi_end] & 0x80)
    ++vbi_end;
  if (q != broker::qos::at_most_once)
    t.packet_id_offset_ = vbi_end + 1 + 2 + topic.size();
  std::size_t stamped = std::min<std::size_t>(payload_size, stamp::size);
  t.head_.assign(bytes.begin(), bytes.begin() + payload_offset + stamped);
  t.body_size_ = payload_size - stamped;
  return t;
}

void publish_template::write_head(std::uint8_t* out, std::uint16_t packet_id,
                                  const stamp& s) const noexcept {
  std::memcpy(out, head_.data(), head_.size());
  if (packet_id_offset_ != 0)
    put_u16(out + packet_id_offset_, packet_id);
  s.write(out + head_.size() - stamp::size);
}

broker::connect make_connect(const options& o, const std::string& client_id) {
  broker::connect c;
  c.version = o.protocol();
  c.clean_start = o.clean_start;
  c.keep_alive = o.keepalive_s;
  c.client_id = client_id;
  c.username = o.username;
  if (o.password)
    c.password = broker::binary(o.password->begin(), o.password->end());
  if (o.version == 5 && o.session_expiry_s > 0)
    c.props.session_expiry_interval = o.session_expiry_s;
  return c;
}

std::vector<std::uint8_t> encode_ack(broker::packet_type type,
                                     broker::protocol_version v) {
  auto with_id = [](auto ack) {
    ack.packet_id = 1;
    return broker::packet{std::move(ack)};
  };
  broker::packet p;
  switch (type) {
    case broker::packet_type::puback:
      p = with_id(broker::puback{});
      break;
    case broker::packet_type::pubrec:
      p = with_id(broker::pubrec{});
      break;
    case broker::packet_type::pubrel:
      p = with_id(broker::pubrel{});
      break;
    default:
      p = with_id(broker::pubcomp{});
      break;
  }
  // Cannot fail: a fixed, valid packet.
  return std::get<std::vector<std::uint8_t>>(encode_packet(p, v));
}

} // namespace starling::loadgen
