#pragma once

#include <caf/actor.hpp>
#include <caf/io/broker.hpp>
#include <caf/io/connection_handle.hpp>
#include <caf/stateful_actor.hpp>

#include <memory>

#include "starling/actors/mqtt/protocol.hpp"
#include "starling/broker/codec.hpp"
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

/// One MQTT socket (EMQX's emqx_connection): frames bytes into packets with
/// the incremental decoder and writes what its session sends, nothing more,
/// because it runs on CAF's single I/O thread (keepalive, protocol state and
/// encoding live in the session actor's channel). It enforces what only it
/// can see: the connect timeout and the write-side bound (unsent bytes
/// above the high watermark drop QoS 0 PUBLISHes, above the hard limit the
/// client is disconnected). On TLS and WebSocket listeners the bytes pass
/// through a transport stack (transport/layer.hpp) both ways; a failed TLS
/// handshake or WebSocket upgrade is logged with the peer and closes this
/// connection only. A connection the listener refused (over its limits)
/// reads the CONNECT only to answer it with the refusal's reason code.
struct connection_state {
  node_context* ctx = nullptr;
  caf::actor manager;
  caf::actor session;
  caf::io::connection_handle hdl;
  connection_limits limits;
  std::shared_ptr<const listener_setup> setup;
  transport::stack stack; ///< empty on plain TCP
  broker::admission admitted = broker::admission::accepted;
  broker::decoder dec;
  std::vector<uint8_t> rx;          ///< received, not yet decoded
  std::vector<broker::packet> held; ///< packets that arrived before bind
  std::optional<broker::codec_error> held_error; ///< ditto, a decode error
  std::string peer;                 ///< "ip:port"
  std::string peer_host;            ///< "ip"
  std::string client_id;
  bool connect_seen = false;
  bool closing = false;
  bool failed = false; ///< a decode error was handed to the session
  uint32_t unprocessed = 0; ///< packets sent to the session, not credited
  bool paused = false;      ///< reading halted for lack of credit
  size_t read_size = 0;     ///< current CAF read buffer size
  uint64_t pauses = 0;
  uint64_t reads = 0;        ///< new_data events
  uint64_t resumed_at = 0;   ///< `reads` when reading was last resumed
  uint64_t resume_gen = 0;   ///< the current resume's re-arm checks
  uint64_t unsent = 0; ///< bytes handed to CAF and not yet written
  uint64_t bytes_in = 0, bytes_out = 0, packets_in = 0, dropped_qos0 = 0;
  static inline const char* name = "mqtt_connection";
};

using connection_broker = caf::stateful_actor<connection_state, caf::io::broker>;

caf::behavior connection_fn(connection_broker* self,
                            caf::io::connection_handle hdl, node_context* ctx,
                            caf::actor manager,
                            std::shared_ptr<const listener_setup> setup,
                            broker::admission admitted);

} // namespace starling::actors::mqtt
