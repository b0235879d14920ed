#pragma once

// broker::message as it travels on the data channel (flat, every field
// CAF can serialize). One definition; a change bumps dist_protocol_version.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <caf/fwd.hpp>
#include <caf/meta/type_name.hpp>

#include "starling/broker/message.hpp"

namespace starling::actors::mqtt {

struct message_wire {
  std::string topic;
  /// Bytes in a string: CAF 0.17's BASP delivered a std::vector<uint8_t>
  /// field empty (strings are serialized as raw bytes, reliably).
  std::string payload;
  uint8_t qos = 0;
  bool retain = false;
  std::string publisher;
  int64_t timestamp_ms = 0;
  bool expires = false;
  int64_t expires_at_ms = 0;
  bool has_props = false;
  uint8_t payload_format = 255; ///< 255: absent
  bool has_content_type = false;
  std::string content_type;
  bool has_response_topic = false;
  std::string response_topic;
  bool has_correlation = false;
  std::string correlation;
  std::vector<std::string> user; ///< key, value, key, value, ...
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, message_wire& x) {
  return f(caf::meta::type_name("mqtt_message"), x.topic, x.payload, x.qos,
           x.retain, x.publisher, x.timestamp_ms, x.expires, x.expires_at_ms,
           x.has_props, x.payload_format, x.has_content_type, x.content_type,
           x.has_response_topic, x.response_topic, x.has_correlation,
           x.correlation, x.user);
}

message_wire to_wire(const broker::message& m);
/// Nullopt when a field is out of range (a malformed message).
std::optional<broker::message> from_wire(message_wire w);

/// A message as bytes (CAF's binary format of message_wire): how retained
/// messages are stored in the replicated `retained` table.
std::string encode_message(caf::actor_system& sys, const broker::message& m);
/// Nullopt for bytes that are not an encoded message.
std::optional<broker::message> decode_message(caf::actor_system& sys,
                                              const std::string& bytes);

} // namespace starling::actors::mqtt
