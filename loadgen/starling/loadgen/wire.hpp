#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "starling/broker/packet.hpp"
#include "starling/loadgen/options.hpp"
#include "starling/loadgen/stamp.hpp"

// The packets `starling bench` sends, all encoded by the broker's codec
// (broker/starling/broker/codec.hpp): there is one MQTT codec in the project.
// PUBLISH, the hot path, is encoded once per publisher and then patched in
// place; see publish_template.

namespace starling::loadgen {

/// One publisher's PUBLISH packet, encoded once with an all-zero payload.
///
/// A message on the wire is `head` (fixed header, topic, packet id, MQTT 5
/// properties, then the payload's 24-byte stamp) followed by the rest of the
/// payload, which is the same bytes for every message of every publisher.
/// So a message costs copying `head` and patching its packet id and stamp;
/// the payload body is never copied by us: it goes to the kernel straight
/// from one shared buffer through an iovec.
class publish_template {
public:
  /// The template, or the codec's complaint about the packet.
  static std::variant<publish_template, std::string>
  make(const std::string& topic, broker::qos q, broker::protocol_version v,
       std::uint32_t payload_size);

  std::size_t head_size() const noexcept { return head_.size(); }
  /// Payload bytes after the stamp (all zero).
  std::size_t body_size() const noexcept { return body_size_; }

  /// Writes the head of one message to `out` (head_size() bytes).
  void write_head(std::uint8_t* out, std::uint16_t packet_id,
                  const stamp& s) const noexcept;

private:
  std::vector<std::uint8_t> head_;
  std::size_t packet_id_offset_ = 0; ///< 0 for QoS 0 (no packet id)
  std::size_t body_size_ = 0;
};

/// The wire form of `p`, or the codec's error message.
std::variant<std::vector<std::uint8_t>, std::string>
encode_packet(const broker::packet& p, broker::protocol_version v);

/// CONNECT for one client of a run.
broker::connect make_connect(const options& o, const std::string& client_id);

/// A PUBACK/PUBREC/PUBREL/PUBCOMP with packet id 1, to be patched at
/// `ack_packet_id_offset` for every use.
std::vector<std::uint8_t> encode_ack(broker::packet_type type,
                                     broker::protocol_version v);
inline constexpr std::size_t ack_packet_id_offset = 2;

inline void put_u16(std::uint8_t* out, std::uint16_t v) noexcept {
  out[0] = static_cast<std::uint8_t>(v >> 8);
  out[1] = static_cast<std::uint8_t>(v & 0xff);
}

} // namespace starling::loadgen
