#pragma once

#include <caf/actor.hpp>
#include <caf/io/broker.hpp>
#include <caf/io/connection_handle.hpp>
#include <caf/monitorable_actor.hpp>
#include <caf/stateful_actor.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "starling/actors/mqtt/protocol.hpp"
#include "starling/broker/codec.hpp"
#include "starling/broker/deadline_queue.hpp"
#include "starling/broker/listener_guard.hpp"
#include "starling/transport/layer.hpp"

namespace starling::transport {
class tls_context;
}

namespace starling::actors {
struct node_context;
}

namespace starling::actors::mqtt {

/// What every connection of one listener shares (read-only).
struct listener_setup {
  std::string name; ///< tcp, ssl, ws, wss
  connection_limits limits;
  /// TLS listeners (ssl, wss): the server context.
  std::shared_ptr<transport::tls_context> tls;
  bool websocket = false;
  /// mqtt.ssl.peer_cert_as_username = cn.
  bool peer_cert_as_username = false;
};

/// One MQTT connection as an actor (EMQX's emqx_connection): an address
/// the session, the client manager and the shell send to, monitor and
/// link, but no mailbox, behaviour or scheduler slot of its own. What it is
/// sent goes, tagged with its socket, to the listener that owns the socket,
/// which runs it on CAF's I/O thread, where a broker per connection ran it
/// before: a broker actor cost 2 KB per idle client, this one about 200 B.
/// The listener ends it (`cleanup`) when the socket closes; monitors and
/// links then fire as for any actor, and what it is sent afterwards is
/// bounced like mail to any dead actor.
class connection_actor final : public caf::monitorable_actor {
public:
  connection_actor(caf::actor_config& cfg, caf::actor listener,
                   caf::io::connection_handle hdl);

  void enqueue(caf::mailbox_element_ptr what, caf::execution_unit* host) override;
  const char* name() const override;

private:
  caf::actor listener_;
  caf::io::connection_handle hdl_;
};

/// One socket of a listener: frames bytes into packets with the incremental
/// decoder and writes what its session sends, nothing more, because it runs
/// on CAF's single I/O thread (keepalive, protocol state and encoding live
/// in the session actor's channel). It enforces what only it can see: the
/// connect timeout and the write-side bound (unsent bytes above the high
/// watermark drop QoS 0 PUBLISHes, above the hard limit the client is
/// disconnected). On TLS and WebSocket listeners the bytes pass through a
/// transport stack (transport/layer.hpp) both ways; a failed TLS handshake
/// or WebSocket upgrade is logged with the peer and closes this connection
/// only. A connection the listener refused (over its limits) reads the
/// CONNECT only to answer it with the refusal's reason code. Kept small:
/// an idle fleet holds one per client.
struct connection_state {
  caf::actor self; ///< its connection_actor
  caf::actor session;
  caf::io::connection_handle hdl;
  transport::stack stack; ///< empty on plain TCP
  broker::decoder dec;
  std::vector<uint8_t> rx; ///< received, not yet decoded
  /// What arrived before the session bound this connection: rare (a client
  /// that pipelines behind its CONNECT), so on the heap.
  struct early {
    std::vector<broker::packet> packets;
    std::optional<broker::codec_error> error;
  };
  std::unique_ptr<early> held;
  std::string peer; ///< "ip:port"
  std::string client_id;
  broker::admission admitted = broker::admission::accepted;
  bool connect_seen = false;
  bool closing = false;
  bool failed = false; ///< a decode error was handed to the session
  bool paused = false; ///< reading halted for lack of credit
  uint32_t unprocessed = 0; ///< packets sent to the session, not credited
  uint32_t read_size = 0;   ///< current CAF read buffer size
  uint32_t pauses = 0;
  uint32_t resume_gen = 0;  ///< the current resume's re-arm checks
  uint64_t reads = 0;       ///< new_data events
  uint64_t resumed_at = 0;  ///< `reads` when reading was last resumed
  uint64_t unsent = 0;      ///< bytes handed to CAF and not yet written
  uint64_t bytes_in = 0, bytes_out = 0, packets_in = 0, dropped_qos0 = 0;

  /// "ip" of `peer`.
  std::string peer_host() const;
};

/// A listener: its acceptor and every socket it accepted (a CAF broker on
/// the I/O thread).
struct listener_state {
  node_context* ctx = nullptr;
  caf::actor manager;
  std::shared_ptr<const listener_setup> setup;
  std::unordered_map<caf::io::connection_handle, connection_state> conns;
  uint64_t accepted = 0;
  std::string where;
  std::optional<broker::listener_guard> guard;
  /// Sockets that must send CONNECT by their deadline, by handle and the
  /// id of their actor (a socket number is reused once closed).
  std::optional<broker::deadline_queue<std::pair<caf::io::connection_handle, caf::actor_id>>>
    connect_deadlines;
  static inline const char* name = "mqtt_listener";
};

using listener_broker = caf::stateful_actor<listener_state, caf::io::broker>;

/// Connect deadlines count on the steady clock: a wall clock set back
/// would hold silent sockets longer, one set forward would close clients
/// still connecting.
inline int64_t deadline_clock_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

/// CAF keeps a read buffer of the policy's size per socket. A connection
/// starts small (an idle fleet client's CONNECT, SUBSCRIBE and PINGREQ fit)
/// and takes the next size each time a read fills its buffer: a TLS
/// handshake or a long CONNECT the middle one, a publisher the large one.
inline constexpr uint32_t read_sizes[] = {256, 4096, 64 * 1024};

// What the listener does for its connections: open_connection in
// listener.cpp, the rest in connection.cpp.

/// A socket was accepted with the listener guard's verdict: its actor is
/// created and listed.
void open_connection(listener_broker* self, caf::io::connection_handle hdl,
                     broker::admission admitted);
/// Bytes read from a socket.
void connection_data(listener_broker* self, const caf::io::new_data_msg& msg);
/// CAF wrote bytes of a socket.
void connection_written(listener_broker* self,
                        const caf::io::data_transferred_msg& msg);
/// The client closed a socket.
void connection_gone(listener_broker* self, caf::io::connection_handle hdl);
/// A message sent to a connection_actor (its id names it: a socket number
/// is reused once closed); a request is answered to its sender.
void connection_message(listener_broker* self, caf::io::connection_handle hdl,
                        caf::actor_id id, caf::message& msg);
/// The mail of a connection_actor, as its listener gets it:
/// (m_conn, handle, actor id, message).
using conn_mail_atom = caf::atom_constant<caf::atom("m_conn")>;
/// (m_ctimeout): the listener's connect timer.
using connect_timeout_atom = caf::atom_constant<caf::atom("m_ctimeout")>;
/// The listener's connect timer fired: sockets that did not send CONNECT
/// in time are closed.
void connect_timeouts(listener_broker* self);
/// Ends every connection (the listener stops).
void close_connections(listener_broker* self, const caf::error& reason);

} // namespace starling::actors::mqtt
