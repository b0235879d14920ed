#pragma once

// Messages between the MQTT actors of a node. Those between nodes (session
// takeover, rebalance, the message delivery channel) are in wire/mqtt.hpp.
//
//   listener (its connections) --(connect pkt)--> client manager
//   client manager --(connect pkt, connection)--> session (new or existing)
//   session --bind--> connection;  connection --packets--> session
//   session --bytes--> connection (encoded on the session's thread, so the
//                      I/O thread only frames and writes)

#include <cstdint>
#include <string>
#include <vector>

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>

#include "starling/broker/channel_effects.hpp"
#include "starling/broker/codec.hpp"
#include "starling/broker/message.hpp"
#include "starling/broker/packet.hpp"
#include "starling/actors/wire/mqtt.hpp"

namespace starling::actors::mqtt {

/// connection -> client manager -> session: (connect, broker::connect,
/// actor connection, client_origin)
using connect_atom = caf::atom_constant<caf::atom("m_connect")>;
/// connection -> session: (packet, broker::packet) for every packet after
/// CONNECT, in order.
using packet_atom = caf::atom_constant<caf::atom("m_packet")>;
/// session -> connection: (bind, actor session, string client_id)
using bind_atom = caf::atom_constant<caf::atom("m_bind")>;
/// session -> connection: (out, bytes, bool droppable). `droppable` marks a
/// QoS 0 PUBLISH, which the connection may drop when the client reads too
/// slowly (counted).
using out_atom = caf::atom_constant<caf::atom("m_out")>;
/// session -> connection: (close, string reason) after the last out.
using close_atom = caf::atom_constant<caf::atom("m_close")>;
/// connection -> session: (closed, string reason) when the socket closed
/// or failed underneath (the channel decides about the Will).
using closed_atom = caf::atom_constant<caf::atom("m_closed")>;
/// connection -> session: (decode_error, broker::codec_error, version)
/// after CONNECT; the connection reads nothing more and waits for close.
using decode_error_atom = caf::atom_constant<caf::atom("m_decerr")>;
/// session -> connection: (credit, uint32 n) n packets were processed. The
/// connection stops reading while too many are unprocessed, so a publisher
/// faster than its session is slowed by TCP instead of growing a mailbox.
using credit_atom = caf::atom_constant<caf::atom("m_credit")>;
/// connection -> session: (activity) bytes arrived that completed no packet
/// (keepalive counts any traffic).
using activity_atom = caf::atom_constant<caf::atom("m_active")>;

// -- session <-> client manager -------------------------------------------------
using register_atom = caf::atom_constant<caf::atom("m_register")>;
/// session -> manager: (register, client_id) for an id the channel assigned,
/// and after every CONNECT it accepted: the manager records the client in
/// the cluster's session registry (table `session_registry`, id -> node).
/// session -> manager: (unregister, client_id, bool moved) -> ok; the
/// session exits after the answer and bounces any CONNECT forwarded to it
/// meanwhile. The registry entry goes unless the session `moved` to another
/// node (which has written its own).
using unregister_atom = caf::atom_constant<caf::atom("m_unreg")>;

/// (m_supersed, string node, int64 decided_at_ms) manager -> session: the
/// registry has named `node` for this client id for a while (two CONNECTs
/// on two nodes at once, each unaware of the other): the session here gives
/// way, unless it opened (and registered again) since the decision: one
/// decided while it was being taken over from another node waited in its
/// mailbox and must not end the session that just arrived.
using superseded_atom = caf::atom_constant<caf::atom("m_supersed")>;

// -- session <-> router ---------------------------------------------------------
/// session -> router: (publish, broker::message)
using publish_atom = caf::atom_constant<caf::atom("m_publish")>;
/// session -> router: (subscribe, broker::subscribe_filter, client_id)
using subscribe_atom = caf::atom_constant<caf::atom("m_sub")>;
/// session -> router: (unsubscribe, broker::unsubscribe_filter)
using unsubscribe_atom = caf::atom_constant<caf::atom("m_unsub")>;
/// router -> session: (deliver, broker::message, vector<string> keys)
using deliver_atom = caf::atom_constant<caf::atom("m_deliver")>;
/// router -> session: (retained, broker::message, string key)
using retained_atom = caf::atom_constant<caf::atom("m_retained")>;
/// session -> itself: (timer, uint8 kind, uint64 generation); the keepalive
/// comes from the client manager, sent as the session (keepalive_tick_atom)
using timer_atom = caf::atom_constant<caf::atom("m_timer")>;
/// (m_katick): the client manager's tick of every session's keepalive timer
/// (mqtt_context::keepalive), every keepalive_timers::tick_ms while any is set.
using keepalive_tick_atom = caf::atom_constant<caf::atom("m_katick")>;

// -- shell ----------------------------------------------------------------------
/// -> manager: (clients) -> string table; (client, id) -> string detail
using clients_atom = caf::atom_constant<caf::atom("m_clients")>;
using client_atom = caf::atom_constant<caf::atom("m_client")>;
/// -> router: (subscriptions) / (routes) -> string table
using subscriptions_atom = caf::atom_constant<caf::atom("m_subs")>;
using routes_atom = caf::atom_constant<caf::atom("m_routes")>;

// -- management API (inside a node) ----------------------------------------------
/// -> manager: (m_clientsj) -> string JSON array of every client here;
/// -> session: (m_clientsj) -> string JSON of the client.
using client_json_atom = caf::atom_constant<caf::atom("m_clientj")>;
using clients_json_atom = caf::atom_constant<caf::atom("m_clientsj")>;
/// -> manager: (m_kick, id) -> bool kicked; -> session: (m_kick) -> bool.
using kick_atom = caf::atom_constant<caf::atom("m_kick")>;
/// -> router: (m_subsj) / (m_routesj) -> string JSON array.
using subscriptions_json_atom = caf::atom_constant<caf::atom("m_subsj")>;
using routes_json_atom = caf::atom_constant<caf::atom("m_routesj")>;
/// -> manager: (m_agents) -> (vector<string> nodes, vector<actor> agents):
/// the running members' node agents, as the node agent last told it.
using peer_agents_atom = caf::atom_constant<caf::atom("m_agents")>;

// -- moving clients off a node (rebalance, evacuation; balancer.hpp) ------------
/// session -> manager: (m_offline, id) its connection went, the session
/// stays (a register_atom says it is connected again).
using offline_atom = caf::atom_constant<caf::atom("m_offline")>;
/// balancer -> manager: (m_evictc, uint64 count, string server_reference):
/// disconnect that many connected clients (MQTT 5: 0x9C + reference);
/// manager -> session: (m_evictc, string server_reference).
using evict_conns_atom = caf::atom_constant<caf::atom("m_evictc")>;
/// balancer -> manager: (m_evicts, uint64 count, vector<string> nodes):
/// move that many disconnected sessions to those nodes, round robin.
using evict_sessions_atom = caf::atom_constant<caf::atom("m_evicts")>;
/// balancer -> itself: (m_rbtick, uint64 generation) the rebalance's
/// timer, (m_evtick, uint64 generation) the evacuation's.
using rb_tick_atom = caf::atom_constant<caf::atom("m_rbtick")>;
using ev_tick_atom = caf::atom_constant<caf::atom("m_evtick")>;

// -- the message delivery channel (data_plane.hpp) -------------------------------
/// (m_remote, vector<remote_message>) inbox -> router: a batch a peer
/// forwarded; delivered to local subscribers (and the picked groups) only.
using remote_publish_atom = caf::atom_constant<caf::atom("m_remote")>;
/// (m_attach, actor router, actor outbox) to the inbox; (m_attach, actor
/// outbox, actor inbox) to the router.
using attach_atom = caf::atom_constant<caf::atom("m_attach")>;
/// (m_peers, vector<member_wire>) node agent -> outbox: running members.
using data_peers_atom = caf::atom_constant<caf::atom("m_peers")>;

/// Where a CONNECT came from: what the authenticate and authorize hooks
/// need besides the packet.
struct client_origin {
  std::string peer_host; ///< "127.0.0.1" (IPv4-mapped addresses unmapped)
  std::string peer;      ///< "127.0.0.1:51234", for logs
  std::string listener;  ///< tcp, ssl, ws, wss
  /// The CONNECT's username was replaced by the CN of the client
  /// certificate TLS verified (mqtt.ssl.peer_cert_as_username = cn).
  bool username_from_certificate = false;
};

/// A message another node forwarded, with the shared groups ($share/g/f)
/// it picked this node for.
struct remote_message {
  broker::message msg;
  std::vector<std::string> groups;
};

/// Packets handed to the session and not yet credited back above which the
/// connection stops reading (it reads again at half of it).
inline constexpr uint32_t max_unprocessed_packets = 1000;
/// How many processed packets the session credits back at once.
inline constexpr uint32_t credit_batch = 32;

/// Limits a connection enforces on its own (the rest is the channel's),
/// taken from broker_settings.
struct connection_limits {
  uint32_t max_packet_size = 0;
  /// A socket that has not sent a complete CONNECT by then is closed.
  int64_t connect_timeout_ms = 0;
  /// Above this many unsent bytes, QoS 0 PUBLISHes to the client are dropped.
  uint64_t high_watermark = 0;
  /// Above this many unsent bytes the client is disconnected.
  uint64_t hard_limit = 0;
};

} // namespace starling::actors::mqtt

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(starling::broker::packet)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(starling::broker::connect)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(starling::actors::mqtt::client_origin)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<uint8_t>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(starling::broker::message)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<starling::actors::mqtt::remote_message>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(starling::broker::subscribe_filter)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(starling::broker::unsubscribe_filter)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(starling::broker::codec_error)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::optional<starling::broker::protocol_version>)
