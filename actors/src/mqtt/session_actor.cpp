#include "starling/actors/mqtt/session_actor.hpp"

#include <array>
#include <memory>

#include <caf/all.hpp>

#include "starling/actors/actor_directory.hpp"
#include "starling/actors/mqtt/context.hpp"
#include "starling/actors/mqtt/message_wire.hpp"
#include "starling/actors/mqtt/protocol.hpp"
#include "starling/actors/inspect.hpp"
#include "starling/actors/node_context.hpp"
#include "starling/actors/peer_registry.hpp"
#include "starling/actors/wire.hpp"
#include "starling/broker/channel.hpp"
#include "starling/broker/session_move.hpp"
#include "starling/runtime/log.hpp"

#include <nlohmann/json.hpp>

namespace starling::actors::mqtt {

namespace {

/// A channel together with the connection it belongs to.
struct attached {
  std::unique_ptr<broker::channel> chan;
  caf::actor conn;
};

struct session_state {
  mqtt_context* ctx = nullptr;
  std::string client_id;
  attached current;  ///< the adopted channel (connected or disconnected)
  attached incoming; ///< a CONNECT being handled, until open_session
  bool connected = false;
  bool ending = false;
  /// Running the effects of the channel being replaced: its session ending
  /// (expiry 0) is not this actor's end, the new channel goes on.
  bool replacing = false;
  uint32_t uncredited = 0; ///< packets of the current connection processed
  std::array<uint64_t, 4> timer_gen{};
  // -- moving between nodes --
  /// The node agent of the node holding this client's session, asked once
  /// (takeover) before the first channel opens.
  caf::actor holder;
  /// Set once this session has moved to another node: what is still routed
  /// here goes there until the grace period ends.
  caf::actor moved_to;
  /// Arriving from another node: the phases, held messages and dedup
  /// window (broker/session_move.hpp).
  broker::session_move move;
  /// The old node's session while it passes messages on (its
  /// handover_end is the one that counts).
  caf::actor previous;
  /// The node the session came from (superseded_atom from there is stale).
  std::string taken_from;
  // -- what the management API lists --
  int64_t created_at_ms = 0, connected_at_ms = 0;
  /// The session's drop counters as last added to the node's metrics.
  broker::session_counters counted;
  static inline const char* name = "mqtt_session";
};

/// How long to wait for the node holding the session.
constexpr auto takeover_timeout = std::chrono::seconds(5);
/// How long a session that moved keeps its subscriptions here and passes on
/// what they route: until every node has learnt the new node's routes.
constexpr auto handover_grace = std::chrono::seconds(1);
/// timer_atom kinds of this actor's own (the channel's are below 4).
constexpr uint8_t handover_done = 254, dedup_done = 255;

using session_actor = caf::stateful_actor<session_state>;

int64_t now(session_actor* self) {
  return self->state.ctx->node->now_ms();
}

void set_connected(session_actor* self, bool connected) {
  auto& st = self->state;
  if (connected == st.connected)
    return;
  st.connected = connected;
  if (connected) {
    bump(st.ctx->stats.connections);
  } else {
    drop(st.ctx->stats.connections);
    if (!st.ending)
      self->send(st.ctx->manager, offline_atom::value, st.client_id);
  }
}

std::unique_ptr<broker::channel> make_channel(session_actor* self,
                                              const client_origin& origin) {
  auto hooks = access_hooks(*self->state.ctx, origin);
  // Only an assigned client id needs randomness: from the node's CSPRNG
  // (OpenSSL's, thread-safe), not a generator per session (a Mersenne
  // Twister is 2.5 KB of state, a sixth of an idle client's memory).
  hooks.random = [ctx = self->state.ctx] {
    uint64_t v = 0;
    ctx->node->rnd(reinterpret_cast<unsigned char*>(&v), sizeof v);
    return v;
  };
  // The settings in force now: online changes reach every new connection.
  return std::make_unique<broker::channel>(self->state.ctx->live.get()->channel,
                                           std::move(hooks));
}

void run(session_actor* self, broker::effect_list effects,
         const caf::actor& target);

void adopt(session_actor* self, const broker::open_session& o,
           std::optional<broker::session> existing);

/// The cluster name of the node `a` lives on.
std::string node_of(session_actor* self, const caf::actor& a) {
  if (!a)
    return "?";
  if (auto p = self->state.ctx->node->peers->find(a.node()))
    return p->name;
  return to_string(a.node());
}

/// Takes the session from the current channel for a new one (here or on
/// another node), kicking its connection (0x8E) if it is still open. The
/// session is not ending, it is taken over.
std::optional<broker::session> release_current(session_actor* self) {
  auto& st = self->state;
  st.replacing = true;
  if (st.current.chan->state() == broker::channel_state::connected)
    run(self,
        st.current.chan->kick(broker::reason_code::session_taken_over,
                              now(self)),
        st.current.conn);
  st.replacing = false;
  return st.current.chan->release_session();
}

/// Takes this client's session over from `holder` (another node's agent
/// or client manager; empty bytes: none there, or discarded with Clean
/// Start), then `next(existing)`. Meanwhile this actor handles nothing
/// else.
template <class Next>
void fetch_session(session_actor* self, const caf::actor& holder,
                   const std::string& id, bool clean_start, Next next) {
  self->state.move.fetch();
  self
    ->request(holder, takeover_timeout, takeover_atom::value, id, clean_start)
    .await(
      [self, id, next](const std::string& bytes, const caf::actor& old) mutable {
        auto& st = self->state;
        std::optional<broker::session> existing;
        if (auto window = st.move.fetched(!bytes.empty())) {
          existing = decode_session(self->system(), bytes,
                                    st.ctx->live.get()->channel.session);
          if (!existing)
            st.ctx->node->log->warning("session of " + id + " from "
                                       + node_of(self, old)
                                       + " could not be read; starting anew");
          // Until the old node's routes are gone everywhere, messages may
          // come both directly and through it.
          st.previous = old;
          st.taken_from = node_of(self, old);
          bump(st.ctx->stats.takeover_from_remote);
          self->delayed_send(self, std::chrono::milliseconds(*window),
                             timer_atom::value, dedup_done, uint64_t{0});
        }
        next(std::move(existing));
      },
      [self, id, next](caf::error& err) mutable {
        self->state.move.fetched(false);
        self->state.ctx->node->log->debug("no session of " + id
                                          + " to take over: " + describe(err));
        next(std::nullopt);
      });
}

/// The channel accepted a CONNECT. When another node holds the client's
/// session, it is taken over from there first (or discarded there, with
/// Clean Start).
void open_session(session_actor* self, const broker::open_session& o) {
  auto& st = self->state;
  if (st.current.chan || !st.holder) {
    adopt(self, o, std::nullopt);
    return;
  }
  fetch_session(self, std::exchange(st.holder, caf::actor{}), o.client_id,
                o.clean_start, [self, o](std::optional<broker::session> existing) {
                  adopt(self, o, std::move(existing));
                });
}

void end(session_actor* self, const std::string& reason, bool moved = false);

/// A disconnected session moved here without its client (rebalance,
/// evacuation): taken over from `holder`, then kept by a channel without
/// a connection until the client comes back or the session expires.
void host_moved(session_actor* self, const caf::actor& holder) {
  auto id = self->state.client_id;
  fetch_session(self, holder, id, false,
                [self, id](std::optional<broker::session> existing) {
                  auto& st = self->state;
                  if (!existing) {
                    end(self, "no session to move here");
                    return;
                  }
                  st.ctx->node->log->debug("session " + id + " moved here from "
                                           + st.taken_from + " without its client");
                  self->send(st.ctx->manager, register_atom::value, id);
                  self->send(st.ctx->manager, offline_atom::value, id);
                  st.current = {make_channel(self, client_origin{}), nullptr};
                  run(self,
                      st.current.chan->host_moved(id, std::move(*existing), now(self)),
                      nullptr);
                });
}

/// Adopts the accepted channel with `existing` (from another node) or the
/// session of the previous channel here (kicking its connection if it is
/// still open).
void adopt(session_actor* self, const broker::open_session& o,
           std::optional<broker::session> existing) {
  auto& st = self->state;
  st.client_id = o.client_id; // possibly assigned by the channel
  // Registers the id here (if assigned) and in the cluster's registry.
  self->send(st.ctx->manager, register_atom::value, o.client_id);
  st.ctx->node->directory->rename(self, "session:" + st.client_id);
  if (st.current.chan) {
    existing = release_current(self);
    bump(st.ctx->stats.takeover_local);
  }
  st.connected_at_ms = now(self);
  st.current = std::move(st.incoming);
  st.incoming = {};
  st.uncredited = 0;
  set_connected(self, true);
  self->send(st.current.conn, bind_atom::value,
             caf::actor_cast<caf::actor>(self), st.client_id);
  run(self, st.current.chan->session_opened(std::move(existing), now(self)),
      st.current.conn);
}

/// Ends this actor once the client manager has forgotten it; a CONNECT
/// forwarded meanwhile goes back to the manager. A session that `moved`
/// leaves the registry entry to its new node.
void end(session_actor* self, const std::string& reason, bool moved) {
  auto& st = self->state;
  if (st.ending)
    return;
  st.ending = true;
  set_connected(self, false);
  st.ctx->node->log->debug("session " + st.client_id + " ended: " + reason);
  self->request(st.ctx->manager, caf::infinite, unregister_atom::value,
                st.client_id, moved)
    .then([self](caf::ok_atom) { self->quit(); });
}

/// Delivers messages that waited for the old node.
void deliver_held(session_actor* self,
                  std::vector<broker::session_move::held_message> held) {
  auto& st = self->state;
  if (!st.current.chan || st.ending)
    return;
  for (auto& [msg, keys] : held)
    run(self, st.current.chan->deliver(msg, keys, now(self)), st.current.conn);
}

/// The session leaves this actor (to another node, or discarded): held
/// messages go into it first, the connection is kicked (0x8E).
std::optional<broker::session> let_go(session_actor* self) {
  self->state.previous = nullptr;
  deliver_held(self, self->state.move.release());
  auto existing = release_current(self);
  self->state.current = {};
  set_connected(self, false);
  return existing;
}

/// Another node's session of this client asks for it: kick the connection
/// here (MQTT 5: DISCONNECT 0x8E), hand the session over (empty: Clean
/// Start discards it) and pass on, for the grace period, what is still
/// routed here.
caf::result<std::string, caf::actor> hand_over(session_actor* self,
                                               bool clean_start) {
  auto& st = self->state;
  if (st.moved_to && !st.ending) {
    // Moved on a moment ago; the asking node has not yet read the
    // registry's new entry: its new session answers.
    self->delegate(st.moved_to, takeover_atom::value, clean_start);
    return caf::delegated<std::string, caf::actor>{};
  }
  if (st.ending || st.move.fetching() || !st.current.chan)
    return fail("no session '" + st.client_id + "' on "
                + st.ctx->node->cfg.name.str());
  auto to = caf::actor_cast<caf::actor>(self->current_sender());
  auto existing = let_go(self);
  std::string bytes;
  if (existing && !clean_start)
    bytes = encode_session(self->system(), *existing);
  if (bytes.empty()) {
    end(self, "discarded by a clean start on another node", true);
  } else {
    bump(st.ctx->stats.takeover_to_remote);
    st.moved_to = to;
    st.ctx->node->log->debug("session " + st.client_id + " moves to "
                             + node_of(self, to));
    self->delayed_send(self, handover_grace, timer_atom::value, handover_done,
                       uint64_t{0});
  }
  return caf::make_result(std::move(bytes), caf::actor_cast<caf::actor>(self));
}

void send_packet(session_actor* self, const broker::send_packet& s,
                 const caf::actor& target) {
  if (!target)
    return;
  std::vector<uint8_t> bytes;
  if (auto err = broker::encode(s.pkt, s.version, bytes)) {
    self->state.ctx->node->log->error("cannot encode "
                                      + std::string(to_string(type_of(s.pkt)))
                                      + " for " + self->state.client_id + ": "
                                      + err->message);
    return;
  }
  auto& stats = self->state.ctx->stats;
  bool droppable = false;
  if (auto p = std::get_if<broker::publish>(&s.pkt)) {
    bump(stats.messages_sent);
    bump(stats.sent_qos[static_cast<int>(p->qos) % 3]);
    droppable = p->qos == broker::qos::at_most_once;
  }
  bump(stats.bytes_sent, bytes.size());
  self->send(target, out_atom::value, std::move(bytes), droppable);
}

/// Adds what the session dropped since the last look to the node's
/// metrics, by reason. A session that arrived from elsewhere (or a new
/// one) starts a new baseline.
void count_drops(session_actor* self) {
  auto& st = self->state;
  auto s = st.current.chan ? st.current.chan->current_session() : nullptr;
  if (!s)
    return;
  auto& c = s->counters();
  auto& m = st.ctx->stats;
  auto add = [&](uint64_t now_v, uint64_t& seen, std::atomic<uint64_t>& to) {
    if (now_v > seen) {
      bump(to, now_v - seen);
      bump(m.messages_dropped, now_v - seen);
    }
    seen = now_v;
  };
  add(c.dropped_queue_full, st.counted.dropped_queue_full, m.dropped_queue_full);
  add(c.dropped_qos0_offline, st.counted.dropped_qos0_offline, m.dropped_qos0_offline);
  add(c.dropped_expired, st.counted.dropped_expired, m.dropped_expired);
  add(c.dropped_too_large, st.counted.dropped_too_large, m.dropped_too_large);
}

void run(session_actor* self, broker::effect_list effects,
         const caf::actor& target) {
  auto& st = self->state;
  for (auto& e : effects) {
    if (auto s = std::get_if<broker::send_packet>(&e)) {
      send_packet(self, *s, target);
    } else if (auto c = std::get_if<broker::close_connection>(&e)) {
      if (target)
        self->send(target, close_atom::value, c->reason);
      if (target == st.current.conn) {
        st.current.conn = nullptr;
        set_connected(self, false);
      }
    } else if (auto o = std::get_if<broker::open_session>(&e)) {
      open_session(self, *o);
    } else if (auto p = std::get_if<broker::publish_message>(&e)) {
      if (!p->will) {
        bump(st.ctx->stats.messages_received);
        bump(st.ctx->stats.received_qos[static_cast<int>(p->msg.qos) % 3]);
      }
      self->send(st.ctx->router, publish_atom::value, std::move(p->msg));
    } else if (auto sub = std::get_if<broker::subscribe_filter>(&e)) {
      self->send(st.ctx->router, subscribe_atom::value, std::move(*sub),
                 st.client_id);
    } else if (auto u = std::get_if<broker::unsubscribe_filter>(&e)) {
      self->send(st.ctx->router, unsubscribe_atom::value, std::move(*u));
    } else if (auto t = std::get_if<broker::set_timer>(&e)) {
      auto kind = static_cast<uint8_t>(t->kind);
      auto delay = std::max<int64_t>(0, t->due_ms - now(self));
      self->delayed_send(self, std::chrono::milliseconds(delay),
                         timer_atom::value, kind, ++st.timer_gen[kind]);
    } else if (auto ct = std::get_if<broker::cancel_timer>(&e)) {
      ++st.timer_gen[static_cast<uint8_t>(ct->kind)];
    } else if (auto se = std::get_if<broker::session_ended>(&e)) {
      if (!st.replacing)
        end(self, se->reason);
    }
  }
  count_drops(self);
}

void new_connection(session_actor* self, const broker::connect& c,
                    const caf::actor& conn, const client_origin& origin) {
  auto& st = self->state;
  if (st.ending) {
    self->send(st.ctx->manager, connect_atom::value, c, conn, origin);
    return;
  }
  st.incoming = {make_channel(self, origin), conn};
  auto& chan = *st.incoming.chan;
  run(self, chan.handle_packet(broker::packet{c}, now(self)), conn);
  if (st.incoming.chan && !st.move.fetching()) {
    // Refused (CONNACK failure sent): the previous channel, if any, stays.
    st.incoming = {};
    if (!st.current.chan)
      end(self, "CONNECT refused");
  }
}

/// Runs `f(channel)` for the current channel if `conn` is its connection.
template <class F>
void from_connection(session_actor* self, F f) {
  auto& st = self->state;
  if (!st.current.chan || st.ending
      || self->current_sender()
           != caf::actor_cast<caf::strong_actor_ptr>(st.current.conn))
    return; // a connection this session has already let go of
  run(self, f(*st.current.chan), st.current.conn);
}

std::string describe(session_actor* self) {
  auto& st = self->state;
  if (st.moved_to)
    return "client " + st.client_id + ", moved to node "
           + node_of(self, st.moved_to) + " (passing on what is still routed here)";
  if (!st.current.chan)
    return "client " + st.client_id + ", connecting";
  auto& ch = *st.current.chan;
  std::string out = "client " + st.client_id + ", on node "
                    + st.ctx->node->cfg.name.str() + ", "
                    + std::string(to_string(ch.state())) + ", MQTT "
                    + std::string(to_string(ch.version()));
  if (auto s = ch.current_session()) {
    out += ", " + std::to_string(s->subscriptions().size()) + " subscriptions, "
           + std::to_string(s->inflight_size()) + " inflight, "
           + std::to_string(s->queue().size()) + " queued, "
           + std::to_string(s->counters().dropped()) + " dropped, expiry "
           + std::to_string(s->expiry_interval()) + " s";
    if (st.move.second_copies() > 0)
      out += ", " + std::to_string(st.move.second_copies())
             + " second copies dropped after moving here";
  }
  if (st.move.moving())
    out += ", moving here from " + st.taken_from + " ("
           + to_string(st.move.current()) + ", "
           + std::to_string(st.move.held()) + " held)";
  return out;
}

/// The client as the management API lists it (EMQX's field names).
nlohmann::json client_json(session_actor* self) {
  auto& st = self->state;
  nlohmann::json j{{"clientid", st.client_id},
                   {"created_at", st.created_at_ms},
                   {"connected_at", st.connected_at_ms}};
  if (!st.current.chan) {
    j["conn_state"] = "connecting";
    j["connected"] = false;
    return j;
  }
  auto& ch = *st.current.chan;
  bool up = ch.state() == broker::channel_state::connected;
  j["conn_state"] = up ? "connected" : "disconnected";
  j["connected"] = up;
  j["username"] = ch.username() ? nlohmann::json(runtime::log_safe(*ch.username()))
                                : nlohmann::json();
  j["proto_ver"] = static_cast<int>(ch.version());
  j["proto_name"] = ch.version() == broker::protocol_version::v3_1 ? "MQIsdp" : "MQTT";
  j["keepalive"] = ch.keepalive();
  if (auto s = ch.current_session()) {
    j["subscriptions_cnt"] = s->subscriptions().size();
    j["inflight_cnt"] = s->inflight_size();
    j["mqueue_len"] = s->queue().size();
    j["mqueue_dropped"] = s->counters().dropped();
    j["awaiting_rel_cnt"] = s->awaiting_rel_size();
    j["expiry_interval"] = s->expiry_interval();
    j["send_msg"] = s->counters().sent;
  }
  return j;
}

caf::behavior session_fn(session_actor* self, mqtt_context* ctx,
                         broker::connect first, caf::actor conn,
                         client_origin origin, caf::actor holder,
                         bool moved) {
  auto& st = self->state;
  st.ctx = ctx;
  st.client_id = first.client_id;
  st.created_at_ms = ctx->node->now_ms();
  bump(ctx->stats.sessions);
  self->attach_functor([ctx] { drop(ctx->stats.sessions); });
  ctx->node->directory->add(caf::actor_cast<caf::actor>(self),
                            "session:" + st.client_id, "mqtt_session");
  if (moved) {
    host_moved(self, holder);
  } else {
    st.holder = std::move(holder);
    new_connection(self, first, conn, origin);
  }
  return {
    [self](connect_atom, const broker::connect& c, const caf::actor& conn,
           const client_origin& origin) {
      new_connection(self, c, conn, origin);
    },
    [self](packet_atom, const broker::packet& pkt) {
      from_connection(self, [&](broker::channel& ch) {
        return ch.handle_packet(pkt, now(self));
      });
      auto& st = self->state;
      if (self->current_sender()
            == caf::actor_cast<caf::strong_actor_ptr>(st.current.conn)
          && ++st.uncredited >= credit_batch) {
        self->send(st.current.conn, credit_atom::value, st.uncredited);
        st.uncredited = 0;
      }
    },
    [self](activity_atom) {
      from_connection(self, [&](broker::channel& ch) {
        ch.activity(now(self));
        return broker::effect_list{};
      });
    },
    [self](decode_error_atom, const broker::codec_error& err,
           const std::optional<broker::protocol_version>& version) {
      from_connection(self, [&](broker::channel& ch) {
        return ch.handle_decode_error(err, version, now(self));
      });
    },
    [self](closed_atom, const std::string&) {
      auto& st = self->state;
      if (self->current_sender()
          != caf::actor_cast<caf::strong_actor_ptr>(st.current.conn))
        return;
      st.current.conn = nullptr;
      set_connected(self, false);
      if (st.current.chan)
        run(self, st.current.chan->connection_lost(now(self)), nullptr);
    },
    [self](deliver_atom, const broker::message& msg,
           const std::vector<std::string>& keys) {
      auto& st = self->state;
      if (st.moved_to) {
        self->send(st.moved_to, peer_deliver_atom::value, to_wire(msg), keys);
        return;
      }
      if (!st.current.chan || st.ending
          || st.move.direct(msg, keys) != broker::session_move::verdict::deliver)
        return;
      run(self, st.current.chan->deliver(msg, keys, now(self)), st.current.conn);
    },
    [self](handover_end_atom) {
      // The old node's session has passed on everything routed to it.
      auto& st = self->state;
      if (st.previous && self->current_sender()
                           == caf::actor_cast<caf::strong_actor_ptr>(st.previous)) {
        st.previous = nullptr;
        deliver_held(self, st.move.old_done());
      }
    },
    [self](peer_deliver_atom, message_wire& w,
           const std::vector<std::string>& keys) {
      // Routed to this client's old node while the session moved here.
      auto& st = self->state;
      if (!st.ctx->node->peers->allowed(self->current_sender()))
        return;
      if (st.moved_to) { // and moved on again since
        self->send(st.moved_to, peer_deliver_atom::value, std::move(w), keys);
        return;
      }
      auto msg = from_wire(std::move(w));
      if (!msg || !st.current.chan || st.ending)
        return;
      if (st.move.via_old(msg->id) == broker::session_move::verdict::drop)
        return;
      run(self, st.current.chan->deliver(*msg, keys, now(self)),
          st.current.conn);
    },
    [self](superseded_atom, const std::string& node) {
      // Another node opened a session for this client id at the same time
      // and the registry kept its entry: give way as to a takeover.
      auto& st = self->state;
      if (!from_own_system(self) || st.move.fetching()
          || st.moved_to || st.ending || !st.current.chan
          || node == st.taken_from)
        return;
      st.ctx->node->log->info("session " + st.client_id
                              + " superseded by a session on " + node);
      let_go(self);
      end(self, "superseded by a session on " + node, true);
    },
    [self](takeover_atom, bool clean_start) -> caf::result<std::string, caf::actor> {
      if (!self->state.ctx->node->peers->allowed(self->current_sender()))
        return not_authenticated();
      return hand_over(self, clean_start);
    },
    [self](retained_atom, const broker::message& msg, const std::string& key) {
      auto& st = self->state;
      if (st.current.chan && !st.ending)
        run(self, st.current.chan->deliver_retained(msg, key, now(self)),
            st.current.conn);
    },
    [self](timer_atom, uint8_t kind, uint64_t gen) {
      auto& st = self->state;
      if (self->current_sender() != self->ctrl())
        return;
      if (kind == handover_done) {
        self->send(st.moved_to, handover_end_atom::value);
        end(self, "moved to " + node_of(self, st.moved_to), true);
        return;
      }
      if (kind == dedup_done) {
        st.previous = nullptr; // if it never said it was done
        deliver_held(self, st.move.window_closed());
        return;
      }
      if (kind >= st.timer_gen.size() || st.timer_gen[kind] != gen
          || !st.current.chan || st.ending)
        return;
      run(self,
          st.current.chan->handle_timer(static_cast<broker::timer_kind>(kind),
                                        now(self)),
          st.current.conn);
    },
    [self](client_atom) -> caf::result<std::string> {
      if (!self->state.ctx->node->peers->allowed(self->current_sender()))
        return not_authenticated();
      return describe(self);
    },
    [self](client_json_atom) -> caf::result<std::string> {
      if (!from_own_system(self))
        return local_only();
      return client_json(self).dump();
    },
    [self](kick_atom) -> bool {
      // An operator kicks the client: DISCONNECT 0x98 (MQTT 5), the
      // session discarded, as EMQX's kickout.
      auto& st = self->state;
      if (!from_own_system(self) || !st.current.chan || st.ending || st.moved_to)
        return false;
      st.ctx->node->log->info("client " + st.client_id + " kicked by an operator");
      run(self,
          st.current.chan->end_session(broker::reason_code::administrative_action,
                                       now(self)),
          st.current.conn);
      if (!st.ending)
        end(self, "kicked by an operator");
      return true;
    },
    [self](evict_conns_atom, const std::string& server_reference) {
      // Rebalance or evacuation: the client goes elsewhere (MQTT 5:
      // DISCONNECT 0x9C with the Server Reference; 3.x: closed); the
      // session stays for it to take over from its new node.
      auto& st = self->state;
      if (!from_own_system(self) || !st.current.chan || st.ending || st.moved_to
          || st.current.chan->state() != broker::channel_state::connected)
        return;
      run(self,
          st.current.chan->kick(broker::reason_code::use_another_server,
                                now(self), server_reference),
          st.current.conn);
    },
    [self](inspect_atom) {
      return inspect_reply(self, *self->state.ctx->node->peers,
                           [&] { return describe(self); });
    },
  };
}

} // namespace

caf::actor spawn_session(caf::event_based_actor* manager, mqtt_context& ctx,
                         broker::connect first, const caf::actor& conn,
                         const client_origin& origin,
                         const caf::actor& holder) {
  return manager->spawn<caf::linked>(session_fn, &ctx, std::move(first),
                                    conn, origin, holder, false);
}

caf::actor spawn_moved_session(caf::event_based_actor* manager,
                               mqtt_context& ctx, const std::string& client_id,
                               const caf::actor& holder) {
  broker::connect first;
  first.client_id = client_id;
  return manager->spawn<caf::linked>(session_fn, &ctx, std::move(first),
                                    caf::actor{}, client_origin{}, holder, true);
}

} // namespace starling::actors::mqtt
