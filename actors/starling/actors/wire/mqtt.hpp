#pragma once

// The MQTT side's messages between nodes (wire/node.hpp says what this
// directory is): session takeover, rebalance and evacuation, the message
// delivery channel; broker::message as it travels on the data channel, and
// broker::session as it moves to another node in a takeover (flat, every
// field CAF can serialize). One definition each; a change bumps
// dist_protocol_version. Messages between a node's own MQTT actors are in
// mqtt/protocol.hpp.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <caf/atom.hpp>
#include <caf/fwd.hpp>
#include <caf/meta/type_name.hpp>

#include "starling/broker/message.hpp"
#include "starling/broker/session.hpp"

namespace starling::actors::mqtt {

// -- messages between nodes -----------------------------------------------------
// Session takeover (the session registry):
/// (m_takeover, string client_id, bool clean_start) new session -> the node
/// agent of the node the registry names -> its client manager -> the
/// session, which kicks its connection (MQTT 5: DISCONNECT 0x8E) and
/// answers (string session, actor old_session): the encoded session
/// (below), or empty when Clean Start discards it. An error
/// means there was no such session there.
using takeover_atom = caf::atom_constant<caf::atom("m_takeover")>;
/// (m_pdeliver, message_wire, vector<string> keys) old session -> new
/// session: a message routed to the old node while the session moved.
using peer_deliver_atom = caf::atom_constant<caf::atom("m_pdeliver")>;
/// (m_hoend) old session -> new session after its last m_pdeliver: what
/// the new node received directly meanwhile (held back) may go out now.
using handover_end_atom = caf::atom_constant<caf::atom("m_hoend")>;

// Rebalance and evacuation (balancer.hpp):
/// balancer -> manager: (m_load) -> (uint64 connections, uint64
/// disconnected sessions) of this node.
using load_atom = caf::atom_constant<caf::atom("m_load")>;

/// manager -> a peer's node agent -> its manager: (m_adopt, id): take this
/// disconnected session over from the sender and keep it until its client
/// comes back or it expires.
using adopt_atom = caf::atom_constant<caf::atom("m_adopt")>;
/// -> node agent: (m_balancer) -> actor, the node's balancer.
using balancer_atom = caf::atom_constant<caf::atom("m_balancer")>;
/// -> balancer: (m_rebal, string command, string JSON arguments) -> string
/// JSON (ctl, the management API, peers' balancers); commands:
/// rebalance_start, rebalance_stop, evacuation_start, evacuation_stop,
/// status, global_status. (m_rebal, command, arguments, string node): the
/// same, carried out by that node's balancer.
using rebalance_atom = caf::atom_constant<caf::atom("m_rebal")>;
/// coordinator -> participant's balancer: (m_rbrole, bool health_failing,
/// bool refusing): what a donor does now (both false: restored).
using rb_role_atom = caf::atom_constant<caf::atom("m_rbrole")>;
/// coordinator -> participant's balancer: (m_rbevict, uint64 count) evict
/// that many connections; (m_rbevict, uint64 count, vector<string> nodes)
/// move that many disconnected sessions to those nodes.
using rb_evict_atom = caf::atom_constant<caf::atom("m_rbevict")>;

// The message delivery channel (data_plane.hpp):
/// (m_forward, string node, message) router -> outbox;
/// (m_forward, message_wire) outbox -> the peer's inbox.
using forward_atom = caf::atom_constant<caf::atom("m_forward")>;
/// (m_intro, string node, actor inbox) a peer's outbox -> our inbox ->
/// our outbox: the peer's data inbox, so that our outbox reuses the link
/// it made instead of dialling a second (two nodes connecting to each
/// other at once would make BASP drop one link and what was in flight).
using intro_atom = caf::atom_constant<caf::atom("m_intro")>;


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
