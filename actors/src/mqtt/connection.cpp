#include "starling/actors/mqtt/connection.hpp"

#include <sys/socket.h>

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include "starling/actors/actor_directory.hpp"
#include "starling/actors/inspect.hpp"
#include "starling/actors/mqtt/context.hpp"
#include "starling/actors/node_context.hpp"
#include "starling/actors/peer_registry.hpp"
#include "starling/actors/wire/node.hpp"
#include "starling/transport/tls.hpp"

namespace starling::actors::mqtt {

namespace {

/// (m_rearm, uint32 gen, uint32 attempt): see resume_reading.
using rearm_atom = caf::atom_constant<caf::atom("m_rearm")>;

/// Packets a client may pipeline behind its CONNECT before the session has
/// accepted it; more is a client that does not wait for CONNACK at all.
constexpr size_t max_held_packets = 1000;

/// The read size after `current`, or `current` when it is the largest.
uint32_t next_read_size(uint32_t current) {
  for (auto size : read_sizes)
    if (size > current)
      return size;
  return current;
}

/// What a connection sends to its session or the client manager comes from
/// its own address, as any actor's mail would.
template <class... Ts>
void send_from(const connection_state& st, const caf::actor& to, Ts&&... xs) {
  caf::send_as(st.self, to, std::forward<Ts>(xs)...);
}

/// Closes the socket after what was written so far and ends the
/// connection's actor; the listener forgets it once the event that closed
/// it is handled. The session is told unless it asked for the close itself.
/// `abort` discards what is still unsent instead (a client that does not
/// read would otherwise keep the socket, and its buffer, forever):
/// SO_LINGER 0 makes the close a RST.
void shut(listener_broker* self, connection_state& st,
          const std::string& reason, bool tell_session, bool abort = false,
          caf::error exit = caf::exit_reason::normal) {
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
    send_from(st, st.session, closed_atom::value, reason);
  if (!abort && !st.stack.empty() && st.stack.error().empty()) {
    // close_notify / a WebSocket close frame after what was written.
    transport::bytes bye;
    st.stack.close(bye);
    if (!bye.empty())
      self->write(st.hdl, bye.size(), bye.data());
    self->flush(st.hdl);
  }
  auto& ctx = *self->state.ctx;
  ctx.log->log(abort ? runtime::log_level::warning : runtime::log_level::debug,
               "mqtt connection " + st.peer + " (" + st.client_id
                 + ") closed: " + reason);
  self->close(st.hdl);
  if (st.admitted == broker::admission::accepted)
    self->state.guard->release();
  static_cast<caf::monitorable_actor*>(caf::actor_cast<caf::abstract_actor*>(st.self))
    ->cleanup(std::move(exit), self->context());
}

/// Writes socket bytes (already through the transport stack).
void write_raw(listener_broker* self, connection_state& st,
               const std::vector<uint8_t>& bytes) {
  if (bytes.empty())
    return;
  self->write(st.hdl, bytes.size(), bytes.data());
  self->flush(st.hdl);
  st.unsent += bytes.size();
  st.bytes_out += bytes.size();
}

/// Writes MQTT bytes: through TLS and WebSocket framing when the listener
/// has them.
void write(listener_broker* self, connection_state& st,
           const std::vector<uint8_t>& bytes) {
  if (st.stack.empty())
    return write_raw(self, st, bytes);
  transport::bytes wire;
  st.stack.send(bytes.data(), bytes.size(), wire);
  write_raw(self, st, wire);
}

/// A malformed packet or a protocol violation seen while framing: an MQTT 5
/// client is told why (CONNACK during CONNECT, DISCONNECT after), a 3.x
/// client is only told about an unsupported protocol version (CONNACK 0x01,
/// as 3.1.1 requires); then the connection closes.
void protocol_error(listener_broker* self, connection_state& st,
                    const broker::codec_error& err) {
  auto version = st.dec.version();
  if (st.connect_seen) {
    // The channel answers in the client's dialect and publishes the Will.
    st.failed = true;
    if (st.session) {
      send_from(st, st.session, decode_error_atom::value, err, version);
    } else {
      if (!st.held)
        st.held = std::make_unique<connection_state::early>();
      st.held->error = err;
    }
    return;
  }
  std::vector<uint8_t> out;
  broker::properties props;
  props.reason_string = err.message;
  if (version == broker::protocol_version::v5) {
    (void) broker::encode(broker::connack{false, err.code, props}, *version,
                          out);
  } else if (err.code == broker::reason_code::unsupported_protocol_version) {
    (void) broker::encode(broker::connack{false, err.code, {}},
                          broker::protocol_version::v3_1_1, out);
  }
  if (!out.empty())
    write(self, st, out);
  shut(self, st, "protocol error: " + err.message, true);
}

/// Forwards a packet and stops reading when the session falls behind.
void to_session(listener_broker* self, connection_state& st,
                broker::packet pkt) {
  send_from(st, st.session, packet_atom::value, std::move(pkt));
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
void resume_reading(listener_broker* self, connection_state& st,
                    uint32_t attempt = 0) {
  self->trigger(st.hdl);
  if (attempt == 0) {
    st.paused = false;
    st.resumed_at = st.reads;
    ++st.resume_gen;
  }
  if (attempt < 3) {
    auto delay = std::chrono::milliseconds(attempt == 0   ? 10
                                           : attempt == 1 ? 100
                                                          : 1000);
    self->delayed_send(st.self, delay, rearm_atom::value, st.resume_gen,
                       attempt + 1);
  }
}

/// A client over the listener's limits: its CONNECT is answered with the
/// reason (MQTT 5 0x97 / 0x9F; 3.x: 3, server unavailable) and it goes.
void refuse(listener_broker* self, connection_state& st,
            const broker::connect& c, broker::admission why,
            const std::string& server_reference = {}) {
  auto code = broker::refusal_code(why);
  std::vector<uint8_t> out;
  broker::properties props;
  props.reason_string = broker::describe(why);
  if (!server_reference.empty())
    props.server_reference = server_reference;
  if (c.version != broker::protocol_version::v5)
    props = {};
  (void) broker::encode(broker::connack{false, code, props}, c.version, out);
  write(self, st, out);
  self->state.ctx->log->warning(
    "MQTT listener " + self->state.setup->name + " refused "
    + (c.client_id.empty() ? "a client" : c.client_id) + " from " + st.peer
    + ": " + broker::describe(why));
  shut(self, st, "refused: " + broker::describe(why), false);
}

void on_connect(listener_broker* self, connection_state& st,
                broker::connect c) {
  auto& ls = self->state;
  if (st.admitted != broker::admission::accepted)
    return refuse(self, st, c, st.admitted);
  if (auto mq = ls.ctx->mqtt; mq && mq->moving.refusing.load())
    // A rebalance donor or a node being evacuated: use another server.
    return refuse(self, st, c, broker::admission::moved,
                  *mq->moving.server_reference.get());
  client_origin origin{st.peer_host(), st.peer, ls.setup->name, false};
  if (ls.setup->peer_cert_as_username && ls.setup->tls)
    if (auto tls = static_cast<transport::tls_layer*>(st.stack.at(0)))
      if (auto cn = tls->peer_common_name()) {
        c.username = *cn;
        origin.username_from_certificate = true;
      }
  st.client_id = c.client_id;
  send_from(st, ls.manager, connect_atom::value, std::move(c), st.self,
            std::move(origin));
}

void on_packet(listener_broker* self, connection_state& st,
               broker::packet pkt) {
  if (!st.connect_seen) {
    // The decoder lets nothing but a CONNECT through first.
    st.connect_seen = true;
    on_connect(self, st, std::move(std::get<broker::connect>(pkt)));
    return;
  }
  if (!st.session) {
    if (!st.held)
      st.held = std::make_unique<connection_state::early>();
    if (st.held->packets.size() >= max_held_packets) {
      protocol_error(self, st, {broker::reason_code::protocol_error,
                                "too many packets before CONNACK"});
      return;
    }
    st.held->packets.push_back(std::move(pkt));
    return;
  }
  to_session(self, st, std::move(pkt));
}

/// Socket bytes through the transport stack into `st.rx`; false when the
/// stack failed (logged, the connection closes).
bool unwrap(listener_broker* self, connection_state& st,
            const std::vector<char>& buf) {
  transport::bytes wire;
  st.stack.receive(reinterpret_cast<const uint8_t*>(buf.data()), buf.size(),
                   st.rx, wire);
  write_raw(self, st, wire); // handshake records, pongs, the refusal page
  if (auto err = st.stack.error(); !err.empty()) {
    // A bad handshake costs this connection only.
    self->state.ctx->log->warning("MQTT listener " + self->state.setup->name
                                  + ": " + err + " (peer " + st.peer + ")");
    shut(self, st, err, true);
    return false;
  }
  return true;
}

void on_data(listener_broker* self, connection_state& st,
             const std::vector<char>& buf) {
  st.bytes_in += buf.size();
  bump(self->state.ctx->mqtt->stats.bytes_received, buf.size());
  if (st.stack.empty())
    st.rx.insert(st.rx.end(), buf.begin(), buf.end());
  else if (!unwrap(self, st, buf))
    return;
  size_t off = 0;
  auto packets_before = st.packets_in;
  while (!st.closing && !st.failed) {
    auto res = st.dec.decode(
      std::span<const uint8_t>(st.rx.data() + off, st.rx.size() - off));
    if (auto d = std::get_if<broker::decoded>(&res)) {
      off += d->consumed;
      ++st.packets_in;
      on_packet(self, st, std::move(d->pkt));
    } else if (std::holds_alternative<broker::need_more>(res)) {
      break;
    } else {
      protocol_error(self, st, std::get<broker::codec_error>(res));
      return;
    }
  }
  st.rx.erase(st.rx.begin(), st.rx.begin() + static_cast<ptrdiff_t>(off));
  if (st.rx.empty())
    st.rx.shrink_to_fit(); // an idle client keeps no buffer of its own
  // close_notify or a WebSocket close frame: after the packets that came
  // with it (a DISCONNECT, a last PUBLISH), as a TCP FIN would be.
  if (!st.stack.empty() && st.stack.peer_closed()) {
    shut(self, st, "connection closed by the client", true);
    return;
  }
  if (st.packets_in == packets_before && st.session && !st.failed)
    send_from(st, st.session, activity_atom::value);
}

/// The session took the connection: what arrived before goes to it.
void bound(connection_state& st, const caf::actor& session,
           const std::string& client_id, listener_broker* self) {
  st.session = session;
  st.client_id = client_id;
  self->state.ctx->directory->rename(
    caf::actor_cast<caf::abstract_actor*>(st.self), "conn:" + client_id);
  if (!st.held)
    return;
  auto held = std::move(st.held);
  for (auto& pkt : held->packets)
    to_session(self, st, std::move(pkt));
  if (held->error)
    send_from(st, session, decode_error_atom::value, *held->error,
              st.dec.version());
}

void out(listener_broker* self, connection_state& st,
         const std::vector<uint8_t>& bytes, bool droppable) {
  if (st.closing)
    return;
  auto& limits = self->state.setup->limits;
  auto& stats = self->state.ctx->mqtt->stats;
  if (droppable && st.unsent > limits.high_watermark) {
    ++st.dropped_qos0;
    bump(stats.dropped_write_buffer);
    bump(stats.messages_dropped);
    return;
  }
  write(self, st, bytes);
  if (st.unsent > limits.hard_limit)
    shut(self, st,
         "slow consumer: " + std::to_string(st.unsent)
           + " bytes unsent (limit " + std::to_string(limits.hard_limit) + ")",
         true, true);
}

std::string summary(listener_broker* self, const connection_state& st) {
  return "client " + (st.client_id.empty() ? "-" : st.client_id) + ", "
         + self->state.setup->name + " peer " + st.peer + ", in "
         + std::to_string(st.packets_in) + " pkts/"
         + std::to_string(st.bytes_in) + " B, out "
         + std::to_string(st.bytes_out) + " B, unsent "
         + std::to_string(st.unsent) + " B, qos0 dropped "
         + std::to_string(st.dropped_qos0) + ", reads paused "
         + std::to_string(st.pauses);
}

/// Runs `f` for one connection. Every connection of a listener runs in the
/// listener's actor: an exception from one (a codec or transport bug)
/// closes that connection, logged, instead of ending the listener and
/// every other connection with it.
template <class F>
void guarded(listener_broker* self, connection_state& st, F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    self->state.ctx->log->error("mqtt connection " + st.peer + ": internal error: "
                                + e.what());
    shut(self, st, std::string("internal error: ") + e.what(), true, true);
  }
}

/// The connection of `hdl`, forgotten once it has closed.
template <class F>
auto with_connection(listener_broker* self, caf::io::connection_handle hdl,
                     F f) {
  auto& conns = self->state.conns;
  auto i = conns.find(hdl);
  if (i == conns.end())
    return;
  guarded(self, i->second, [&] { f(i->second); });
  if (i->second.closing)
    conns.erase(i);
}

} // namespace

// -- what the listener does for a connection ------------------------------

void connection_data(listener_broker* self, const caf::io::new_data_msg& msg) {
  with_connection(self, msg.handle, [&](connection_state& st) {
    ++st.reads;
    if (msg.buf.size() >= st.read_size) {
      if (auto next = next_read_size(st.read_size); next != st.read_size) {
        st.read_size = next;
        self->configure_read(st.hdl, caf::io::receive_policy::at_most(next));
      }
    }
    if (!st.closing && !st.failed)
      on_data(self, st, msg.buf);
  });
}

void connection_written(listener_broker* self,
                        const caf::io::data_transferred_msg& msg) {
  with_connection(self, msg.handle,
                  [&](connection_state& st) { st.unsent = msg.remaining; });
}

void connection_gone(listener_broker* self, caf::io::connection_handle hdl) {
  with_connection(self, hdl, [&](connection_state& st) {
    shut(self, st, "connection closed by the client", true);
  });
}

void connection_message(listener_broker* self, caf::io::connection_handle hdl,
                        caf::actor_id id, caf::message& msg) {
  // Only a request is answered: CAF sends any other answer back as mail.
  auto answer = [self](auto&&... xs) {
    if (self->current_message_id().is_request())
      self->make_response_promise().deliver(std::forward<decltype(xs)>(xs)...);
  };
  auto& conns = self->state.conns;
  auto i = conns.find(hdl);
  if (i == conns.end() || i->second.self.id() != id) {
    // Closed since it was sent, as mail to any dead actor.
    answer(caf::make_error(caf::sec::request_receiver_down));
    return;
  }
  auto& st = i->second;
  auto sender = self->current_sender();
  auto from_session = [&] {
    return st.session && sender == caf::actor_cast<caf::strong_actor_ptr>(st.session);
  };
  auto own = [&] { return sender == self->ctrl(); };
  guarded(self, st, [&] {
    msg.apply({
      [&](out_atom, const std::vector<uint8_t>& bytes, bool droppable) {
        out(self, st, bytes, droppable);
      },
      [&](credit_atom, uint32_t n) {
        st.unprocessed -= std::min(n, st.unprocessed);
        if (st.paused && st.unprocessed <= max_unprocessed_packets / 2
            && !st.closing)
          resume_reading(self, st);
      },
      [&](bind_atom, const caf::actor& session, const std::string& client_id) {
        bound(st, session, client_id, self);
      },
      [&](close_atom, const std::string& reason) {
        if (from_session())
          shut(self, st, reason, false);
      },
      [&](rearm_atom, uint32_t gen, uint32_t attempt) {
        if (own() && gen == st.resume_gen && !st.paused && !st.closing
            && st.reads == st.resumed_at)
          resume_reading(self, st, attempt);
      },
      [&](caf::exit_msg& x) {
        // Linked to an actor that ended, or told to end.
        if (x.reason)
          shut(self, st, "ended: " + self->system().render(x.reason), true,
               false, x.reason);
      },
      [&](inspect_atom) {
        // Its mailbox is its listener's.
        if (!self->state.ctx->peers->allowed(sender))
          answer(fail("not authenticated"));
        else
          answer(summary(self, st), static_cast<uint64_t>(self->mailbox().size()));
      },
    });
  });
  if (st.closing)
    conns.erase(i);
}

void connect_timeouts(listener_broker* self) {
  auto& ls = self->state;
  if (!ls.connect_deadlines)
    return;
  auto [due, next] = ls.connect_deadlines->fire(deadline_clock_ms());
  for (auto& [hdl, id] : due)
    with_connection(self, hdl, [&, id = id](connection_state& st) {
      if (st.self.id() == id && !st.session)
        shut(self, st, "no CONNECT within the connect timeout", true);
    });
  if (next)
    self->delayed_send(self, std::chrono::milliseconds(*next),
                       connect_timeout_atom::value);
}

void close_connections(listener_broker* self, const caf::error& reason) {
  for (auto& [hdl, st] : self->state.conns)
    shut(self, st, "the node is stopping", true, false, reason);
  self->state.conns.clear();
}

} // namespace starling::actors::mqtt
