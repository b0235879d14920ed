#include "starling/actors/mqtt/connection.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include "starling/actors/actor_directory.hpp"
#include "starling/actors/inspect.hpp"
#include "starling/actors/mqtt/context.hpp"
#include "starling/actors/node_context.hpp"
#include "starling/actors/peer_registry.hpp"
#include "starling/actors/wire.hpp"
#include "starling/transport/tls.hpp"
#include "starling/transport/websocket.hpp"

namespace starling::actors::mqtt {

namespace {

using connect_timeout_atom = caf::atom_constant<caf::atom("m_ctimeout")>;
/// (m_rearm, uint64 gen, uint32 attempt): see resume_reading.
using rearm_atom = caf::atom_constant<caf::atom("m_rearm")>;

/// Packets a client may pipeline behind its CONNECT before the session has
/// accepted it; more is a client that does not wait for CONNACK at all.
constexpr size_t max_held_packets = 1000;

/// Read buffer of a connection until it first fills one, then the large one.
constexpr size_t small_read = 512;
constexpr size_t large_read = 64 * 1024;

/// Closes the socket after what was written so far and stops. The session
/// is told unless it asked for the close itself. `abort` discards what is
/// still unsent instead (a client that does not read would otherwise keep
/// the socket, and its buffer, forever): SO_LINGER 0 makes the close a RST.
void shut(connection_broker* self, const std::string& reason,
          bool tell_session, bool abort = false) {
  auto& st = self->state;
  if (st.closing)
    return;
  st.closing = true;
  if (abort) {
    // CAF 0.17's default multiplexer uses the native socket as the id.
    auto fd = static_cast<int>(st.hdl.id());
    linger hard{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &hard, sizeof(hard));
    ::shutdown(fd, SHUT_RDWR);
  }
  if (tell_session && st.session)
    self->send(st.session, closed_atom::value, reason);
  if (!abort && !st.stack.empty() && st.stack.error().empty()) {
    // close_notify / a WebSocket close frame after what was written.
    transport::bytes bye;
    st.stack.close(bye);
    if (!bye.empty())
      self->write(st.hdl, bye.size(), bye.data());
    self->flush(st.hdl);
  }
  st.ctx->log->log(abort ? runtime::log_level::warning
                         : runtime::log_level::debug,
                   "mqtt connection " + st.peer + " (" + st.client_id
                     + ") closed: " + reason);
  self->close(st.hdl);
  self->quit();
}

/// Writes socket bytes (already through the transport stack).
void write_raw(connection_broker* self, const std::vector<uint8_t>& bytes) {
  auto& st = self->state;
  if (bytes.empty())
    return;
  self->write(st.hdl, bytes.size(), bytes.data());
  self->flush(st.hdl);
  st.unsent += bytes.size();
  st.bytes_out += bytes.size();
}

/// Writes MQTT bytes: through TLS and WebSocket framing when the listener
/// has them.
void write(connection_broker* self, const std::vector<uint8_t>& bytes) {
  auto& st = self->state;
  if (st.stack.empty())
    return write_raw(self, bytes);
  transport::bytes wire;
  st.stack.send(bytes.data(), bytes.size(), wire);
  write_raw(self, wire);
}

/// A malformed packet or a protocol violation seen while framing: an MQTT 5
/// client is told why (CONNACK during CONNECT, DISCONNECT after), a 3.x
/// client is only told about an unsupported protocol version (CONNACK 0x01,
/// as 3.1.1 requires); then the connection closes.
void protocol_error(connection_broker* self, const broker::codec_error& err) {
  auto& st = self->state;
  auto version = st.dec.version();
  if (st.connect_seen) {
    // The channel answers in the client's dialect and publishes the Will.
    st.failed = true;
    if (st.session)
      self->send(st.session, decode_error_atom::value, err, version);
    else
      st.held_error = err;
    return;
  }
  std::vector<uint8_t> out;
  broker::properties props;
  props.reason_string = err.message;
  if (version == broker::protocol_version::v5) {
    if (!st.connect_seen)
      (void) broker::encode(broker::connack{false, err.code, props},
                            *version, out);
    else
      (void) broker::encode(broker::disconnect{err.code, props}, *version,
                            out);
  } else if (!st.connect_seen
             && err.code == broker::reason_code::unsupported_protocol_version) {
    (void) broker::encode(broker::connack{false, err.code, {}},
                          broker::protocol_version::v3_1_1, out);
  }
  if (!out.empty())
    write(self, out);
  shut(self, "protocol error: " + err.message, true);
}

/// Forwards a packet and stops reading when the session falls behind.
void to_session(connection_broker* self, broker::packet pkt) {
  auto& st = self->state;
  self->send(st.session, packet_atom::value, std::move(pkt));
  if (++st.unprocessed >= max_unprocessed_packets && !st.paused) {
    self->halt(st.hdl);
    st.paused = true;
    ++st.pauses;
  }
}

/// Reads again after a pause. CAF 0.17's `halt` removes the socket from
/// the multiplexer at its next loop iteration, and `trigger` does nothing
/// while that removal is pending: a pause and a resume within one iteration
/// would leave the socket unread forever (a publisher stalled for good).
/// So a resume is checked later: if nothing was read since, `trigger` again
/// (harmless when reading works), after 10, 100 and 1000 ms.
void resume_reading(connection_broker* self, uint32_t attempt = 0) {
  auto& st = self->state;
  self->trigger(st.hdl);
  if (attempt == 0) {
    st.paused = false;
    st.resumed_at = st.reads;
    ++st.resume_gen;
  }
  if (attempt < 3) {
    auto delay = std::chrono::milliseconds(attempt == 0 ? 10 : attempt == 1 ? 100 : 1000);
    self->delayed_send(self, delay, rearm_atom::value, st.resume_gen,
                       attempt + 1);
  }
}

/// A client over the listener's limits: its CONNECT is answered with the
/// reason (MQTT 5 0x97 / 0x9F; 3.x: 3, server unavailable) and it goes.
void refuse(connection_broker* self, const broker::connect& c,
            broker::admission why, const std::string& server_reference = {}) {
  auto& st = self->state;
  auto code = broker::refusal_code(why);
  std::vector<uint8_t> out;
  broker::properties props;
  props.reason_string = broker::describe(why);
  if (!server_reference.empty())
    props.server_reference = server_reference;
  if (c.version != broker::protocol_version::v5)
    props = {};
  (void) broker::encode(broker::connack{false, code, props}, c.version, out);
  write(self, out);
  st.ctx->log->warning("MQTT listener " + st.setup->name + " refused "
                       + (c.client_id.empty() ? "a client" : c.client_id)
                       + " from " + st.peer + ": "
                       + broker::describe(why));
  shut(self, "refused: " + broker::describe(why), false);
}

void on_connect(connection_broker* self, broker::connect c) {
  auto& st = self->state;
  if (st.admitted != broker::admission::accepted)
    return refuse(self, c, st.admitted);
  if (auto mq = st.ctx->mqtt; mq && mq->moving.refusing.load())
    // A rebalance donor or a node being evacuated: use another server.
    return refuse(self, c, broker::admission::moved,
                  *mq->moving.server_reference.get());
  client_origin origin{st.peer_host, st.peer, st.setup->name, false};
  if (st.setup->peer_cert_as_username && st.setup->tls)
    if (auto tls = static_cast<transport::tls_layer*>(st.stack.at(0)))
      if (auto cn = tls->peer_common_name()) {
        c.username = *cn;
        origin.username_from_certificate = true;
      }
  st.client_id = c.client_id;
  self->send(st.manager, connect_atom::value, std::move(c),
             caf::actor_cast<caf::actor>(self), std::move(origin));
}

void on_packet(connection_broker* self, broker::packet pkt) {
  auto& st = self->state;
  if (!st.connect_seen) {
    // The decoder lets nothing but a CONNECT through first.
    st.connect_seen = true;
    on_connect(self, std::move(std::get<broker::connect>(pkt)));
    return;
  }
  if (!st.session) {
    if (st.held.size() >= max_held_packets) {
      protocol_error(self, {broker::reason_code::protocol_error,
                            "too many packets before CONNACK"});
      return;
    }
    st.held.push_back(std::move(pkt));
    return;
  }
  to_session(self, std::move(pkt));
}

/// Socket bytes through the transport stack into `st.rx`; false when the
/// stack failed (logged, the connection closes).
bool unwrap(connection_broker* self, const std::vector<char>& buf) {
  auto& st = self->state;
  transport::bytes wire;
  st.stack.receive(reinterpret_cast<const uint8_t*>(buf.data()), buf.size(),
                   st.rx, wire);
  write_raw(self, wire); // handshake records, pongs, the refusal page
  if (auto err = st.stack.error(); !err.empty()) {
    // A bad handshake costs this connection only.
    st.ctx->log->warning("MQTT listener " + st.setup->name + ": " + err
                         + " (peer " + st.peer + ")");
    shut(self, err, true);
    return false;
  }
  return true;
}

void on_data(connection_broker* self, const std::vector<char>& buf) {
  auto& st = self->state;
  st.bytes_in += buf.size();
  bump(st.ctx->mqtt->stats.bytes_received, buf.size());
  if (st.stack.empty())
    st.rx.insert(st.rx.end(), buf.begin(), buf.end());
  else if (!unwrap(self, buf))
    return;
  size_t off = 0;
  auto packets_before = st.packets_in;
  while (!st.closing && !st.failed) {
    auto res = st.dec.decode(
      std::span<const uint8_t>(st.rx.data() + off, st.rx.size() - off));
    if (auto d = std::get_if<broker::decoded>(&res)) {
      off += d->consumed;
      ++st.packets_in;
      on_packet(self, std::move(d->pkt));
    } else if (std::holds_alternative<broker::need_more>(res)) {
      break;
    } else {
      protocol_error(self, std::get<broker::codec_error>(res));
      return;
    }
  }
  st.rx.erase(st.rx.begin(), st.rx.begin() + static_cast<ptrdiff_t>(off));
  // close_notify or a WebSocket close frame: after the packets that came
  // with it (a DISCONNECT, a last PUBLISH), as a TCP FIN would be.
  if (!st.stack.empty() && st.stack.peer_closed()) {
    shut(self, "connection closed by the client", true);
    return;
  }
  if (st.packets_in == packets_before && st.session && !st.failed)
    self->send(st.session, activity_atom::value);
}

} // namespace

caf::behavior connection_fn(connection_broker* self,
                            caf::io::connection_handle hdl, node_context* ctx,
                            caf::actor manager,
                            std::shared_ptr<const listener_setup> setup,
                            broker::admission admitted) {
  auto& st = self->state;
  st.ctx = ctx;
  st.manager = std::move(manager);
  st.hdl = hdl;
  st.setup = std::move(setup);
  st.admitted = admitted;
  auto& limits = st.setup->limits;
  st.limits = limits;
  st.dec = broker::decoder({limits.max_packet_size, std::nullopt});
  if (st.setup->tls)
    st.stack.push(std::make_unique<transport::tls_layer>(st.setup->tls));
  if (st.setup->websocket) {
    transport::websocket_options ws;
    // A WebSocket message holds one MQTT packet (or a few); the codec
    // enforces the packet size.
    ws.max_message_size = limits.max_packet_size + 16;
    st.stack.push(std::make_unique<transport::websocket_layer>(ws));
  }
  auto addr = self->remote_addr(hdl);
  if (addr.rfind("::ffff:", 0) == 0)
    addr = addr.substr(7);
  st.peer_host = addr;
  st.peer = addr + ":" + std::to_string(self->remote_port(hdl));
  // Small MQTT packets must not wait for Nagle's algorithm (EMQX sets
  // nodelay on its listeners too); CAF 0.17 uses the socket as the handle id.
  int one = 1;
  ::setsockopt(static_cast<int>(hdl.id()), IPPROTO_TCP, TCP_NODELAY, &one,
               sizeof(one));
  // CAF keeps a read buffer of the policy's size per connection: an idle
  // fleet connection gets a small one, a connection that fills it (a
  // publisher) the large one from then on.
  st.read_size = small_read;
  self->configure_read(hdl, caf::io::receive_policy::at_most(small_read));
  self->ack_writes(hdl, true);
  self->delayed_send(self, std::chrono::milliseconds(limits.connect_timeout_ms),
                     connect_timeout_atom::value);
  return {
    [=](const caf::io::new_data_msg& msg) {
      auto& st = self->state;
      ++st.reads;
      if (msg.buf.size() >= st.read_size && st.read_size < large_read) {
        st.read_size = large_read;
        self->configure_read(st.hdl, caf::io::receive_policy::at_most(large_read));
      }
      if (!st.closing && !st.failed)
        on_data(self, msg.buf);
    },
    [=](credit_atom, uint32_t n) {
      auto& st = self->state;
      st.unprocessed -= std::min(n, st.unprocessed);
      if (st.paused && st.unprocessed <= max_unprocessed_packets / 2
          && !st.closing)
        resume_reading(self);
    },
    [=](rearm_atom, uint64_t gen, uint32_t attempt) {
      auto& st = self->state;
      if (self->current_sender() == self->ctrl() && gen == st.resume_gen
          && !st.paused && !st.closing && st.reads == st.resumed_at)
        resume_reading(self, attempt);
    },
    [=](const caf::io::data_transferred_msg& msg) {
      self->state.unsent = msg.remaining;
    },
    [=](const caf::io::connection_closed_msg&) {
      shut(self, "connection closed by the client", true);
    },
    [=](bind_atom, const caf::actor& session, const std::string& client_id) {
      auto& st = self->state;
      st.session = session;
      st.client_id = client_id;
      st.ctx->directory->rename(self, "conn:" + client_id);
      for (auto& pkt : st.held)
        to_session(self, std::move(pkt));
      st.held.clear();
      if (st.held_error)
        self->send(session, decode_error_atom::value, *st.held_error,
                   st.dec.version());
      st.held_error.reset();
    },
    [=](out_atom, const std::vector<uint8_t>& bytes, bool droppable) {
      auto& st = self->state;
      if (st.closing)
        return;
      if (droppable && st.unsent > st.limits.high_watermark) {
        ++st.dropped_qos0;
        bump(st.ctx->mqtt->stats.dropped_write_buffer);
        bump(st.ctx->mqtt->stats.messages_dropped);
        return;
      }
      write(self, bytes);
      if (st.unsent > st.limits.hard_limit)
        shut(self,
             "slow consumer: " + std::to_string(st.unsent)
               + " bytes unsent (limit "
               + std::to_string(st.limits.hard_limit) + ")",
             true, true);
    },
    [=](close_atom, const std::string& reason) {
      if (self->current_sender()
          == caf::actor_cast<caf::strong_actor_ptr>(self->state.session))
        shut(self, reason, false);
    },
    [=](connect_timeout_atom) {
      if (!self->state.session)
        shut(self, "no CONNECT within the connect timeout", true);
    },
    [=](inspect_atom) {
      auto& st = self->state;
      return inspect_reply(self, *st.ctx->peers, [&] {
        return "client " + (st.client_id.empty() ? "-" : st.client_id)
               + ", " + st.setup->name + " peer " + st.peer + ", in " + std::to_string(st.packets_in)
               + " pkts/" + std::to_string(st.bytes_in) + " B, out "
               + std::to_string(st.bytes_out) + " B, unsent "
               + std::to_string(st.unsent) + " B, qos0 dropped "
               + std::to_string(st.dropped_qos0) + ", reads paused "
               + std::to_string(st.pauses);
      });
    },
  };
}

} // namespace starling::actors::mqtt
