#pragma once

// broker::message as it travels on the data channel, and broker::session as
// it moves to another node in a takeover (flat, every field CAF can
// serialize). One definition each; a change bumps dist_protocol_version.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <caf/fwd.hpp>
#include <caf/meta/type_name.hpp>

#include "starling/broker/message.hpp"
#include "starling/broker/session.hpp"

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
  uint64_t id = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, message_wire& x) {
  return f(caf::meta::type_name("mqtt_message"), x.topic, x.payload, x.qos,
           x.retain, x.publisher, x.timestamp_ms, x.expires, x.expires_at_ms,
           x.has_props, x.payload_format, x.has_content_type, x.content_type,
           x.has_response_topic, x.response_topic, x.has_correlation,
           x.correlation, x.user, x.id);
}

/// A message forwarded to another node, with the shared subscription groups
/// ("$share/g/f") the sending node picked that node for.
struct forward_wire {
  message_wire msg;
  std::vector<std::string> groups;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, forward_wire& x) {
  return f(caf::meta::type_name("mqtt_forward"), x.msg, x.groups);
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

/// A session as bytes (CAF's binary format): what a node hands over when a
/// client it held connects to another node (subscriptions, inflight QoS 1/2
/// flows, queued messages, inbound QoS 2 ids, packet id and counters).
std::string encode_session(caf::actor_system& sys, broker::session& s);
/// Nullopt for bytes that are not an encoded session; `config` is the
/// receiving node's (the channel applies it again when it adopts).
std::optional<broker::session> decode_session(caf::actor_system& sys,
                                              const std::string& bytes,
                                              const broker::session_config& config);

/// Announces these types to an actor system (main and data).
void register_message_wire_types(caf::actor_system_config& cfg);

} // namespace starling::actors::mqtt
