#include "starling/actors/mqtt/session_actor.hpp"

#include "session_state.hpp"

#include "starling/actors/actor_directory.hpp"
#include "starling/actors/inspect.hpp"
#include "starling/actors/wire/mqtt.hpp"
#include "starling/actors/mqtt/protocol.hpp"
#include "starling/actors/node_context.hpp"
#include "starling/actors/peer_registry.hpp"
#include "starling/actors/wire/node.hpp"
#include "starling/runtime/log.hpp"

#include <nlohmann/json.hpp>

namespace starling::actors::mqtt {

namespace session_detail {

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
  auto live = self->state.ctx->live.get();
  return std::make_unique<broker::channel>(
    std::shared_ptr<const broker::channel_config>(live, &live->channel),
    std::move(hooks));
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
  add(c.dropped_queue_full, st.counted.queue_full, m.dropped_queue_full);
  add(c.dropped_qos0_offline, st.counted.qos0_offline, m.dropped_qos0_offline);
  add(c.dropped_expired, st.counted.expired, m.dropped_expired);
  add(c.dropped_too_large, st.counted.too_large, m.dropped_too_large);
}

/// The keepalive timer goes to the node's wheel (mqtt_context::keepalive),
/// not to CAF's clock; the client manager starts ticking when it was empty.
void keepalive_at(session_actor* self, int64_t due_ms, uint64_t gen) {
  auto& k = self->state.ctx->keepalive;
  bool start = false;
  {
    std::lock_guard<std::mutex> lock{k.mu};
    start = k.wheel.add(due_ms, {caf::weak_actor_ptr{self->ctrl()}, gen});
  }
  if (start)
    self->send(self->state.ctx->manager, keepalive_tick_atom::value);
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
      auto gen = ++st.timer_gen[kind];
      if (t->kind == broker::timer_kind::keepalive) {
        keepalive_at(self, t->due_ms, gen);
      } else {
        auto delay = std::max<int64_t>(0, t->due_ms - now(self));
        self->delayed_send(self, std::chrono::milliseconds(delay),
                           timer_atom::value, kind, gen);
      }
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
  if (st.moves().moved_to)
    come_back(self); // within the grace period
  st.incoming = {make_channel(self, origin), conn};
  auto& chan = *st.incoming.chan;
  run(self, chan.handle_packet(broker::packet{c}, now(self)), conn);
  if (st.incoming.chan && !st.moves().move.fetching()) {
    // Refused (CONNACK failure sent): the previous channel, if any, stays.
    st.incoming = {};
    if (st.moves().taking_back) { // it stays where it went
      st.moving().taking_back = false;
      self->send(std::exchange(st.moving().holder, caf::actor{}),
                 handover_end_atom::value);
    }
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
  auto& mv = st.moves();
  if (mv.moved_to)
    return "client " + st.client_id + ", moved to node "
           + node_of(self, mv.moved_to) + " (passing on what is still routed here)";
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
    if (mv.move.second_copies() > 0)
      out += ", " + std::to_string(mv.move.second_copies())
             + " second copies dropped after moving here";
  }
  if (mv.move.moving())
    out += ", moving here from " + mv.taken_from + " ("
           + to_string(mv.move.current()) + ", "
           + std::to_string(mv.move.held()) + " held)";
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
  j["username"] = ch.username() ? nlohmann::json(runtime::log_safe(std::string(*ch.username())))
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

} // namespace session_detail

namespace {

using namespace session_detail;

/// The handlers every session shares (per_client_actor): each finds its
/// session with current().
caf::behavior shared_behavior() {
  static const caf::behavior shared{
    [](connect_atom, const broker::connect& c, const caf::actor& conn,
       const client_origin& origin) {
      auto self = session_actor::current();
      new_connection(self, c, conn, origin);
    },
    [](packet_atom, const broker::packet& pkt) {
      auto self = session_actor::current();
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
    [](activity_atom) {
      auto self = session_actor::current();
      from_connection(self, [&](broker::channel& ch) {
        ch.activity(now(self));
        return broker::effect_list{};
      });
    },
    [](decode_error_atom, const broker::codec_error& err,
       const std::optional<broker::protocol_version>& version) {
      auto self = session_actor::current();
      from_connection(self, [&](broker::channel& ch) {
        return ch.handle_decode_error(err, version, now(self));
      });
    },
    [](closed_atom, const std::string&) {
      auto self = session_actor::current();
      auto& st = self->state;
      if (self->current_sender()
          != caf::actor_cast<caf::strong_actor_ptr>(st.current.conn))
        return;
      st.current.conn = nullptr;
      set_connected(self, false);
      if (st.current.chan)
        run(self, st.current.chan->connection_lost(now(self)), nullptr);
    },
    [](deliver_atom, const broker::message& msg,
       const std::vector<std::string>& keys) {
      auto self = session_actor::current();
      auto& st = self->state;
      if (st.moves().moved_to) {
        auto& mv = st.moving();
        if (mv.move.pass_on(msg.id) == broker::session_move::verdict::deliver)
          self->send(mv.moved_to, peer_deliver_atom::value, to_wire(msg), keys);
        return;
      }
      // A session that never moved delivers at once (session_move::direct
      // with no move).
      if (!st.current.chan || st.ending
          || (st.moving_
              && st.moving_->move.direct(msg, keys)
                   != broker::session_move::verdict::deliver))
        return;
      run(self, st.current.chan->deliver(msg, keys, now(self)), st.current.conn);
    },
    [](handover_end_atom) {
      auto self = session_actor::current();
      // The old node's session has passed on everything routed to it.
      auto& st = self->state;
      if (st.moves().previous
          && self->current_sender()
               == caf::actor_cast<caf::strong_actor_ptr>(st.moves().previous)) {
        auto& mv = st.moving();
        auto before = std::exchange(mv.previous, caf::actor{});
        broker::session_move::serve_order(mv.waiting_takeovers,
                                          [&](auto& w) { return w.to == before; });
        old_done(self, mv.move.old_done());
      }
    },
    [](peer_deliver_atom, message_wire& w,
       const std::vector<std::string>& keys) {
      auto self = session_actor::current();
      // Routed to this client's old node while the session moved here.
      auto& st = self->state;
      if (!st.ctx->node->peers->allowed(self->current_sender()))
        return;
      auto& mv = st.moving(); // passed on: this session moved
      if (mv.moved_to) { // and moved on again since
        if (mv.move.pass_on(w.id) == broker::session_move::verdict::deliver)
          self->send(mv.moved_to, peer_deliver_atom::value, std::move(w), keys);
        return;
      }
      auto msg = from_wire(std::move(w));
      if (!msg || !st.current.chan || st.ending)
        return;
      deliver_held(self, mv.move.older_held(*msg));
      if (mv.move.via_old(msg->id) == broker::session_move::verdict::drop)
        return;
      run(self, st.current.chan->deliver(*msg, keys, now(self)),
          st.current.conn);
    },
    [](superseded_atom, const std::string& node, int64_t decided_at_ms) {
      auto self = session_actor::current();
      // Another node opened a session for this client id at the same time
      // and the registry kept its entry: give way as to a takeover.
      auto& st = self->state;
      auto& mv = st.moves();
      if (!from_own_system(self) || mv.move.fetching()
          || mv.moved_to || st.ending || !st.current.chan
          || node == mv.taken_from || decided_at_ms <= st.connected_at_ms)
        return;
      st.ctx->node->log->info("session " + st.client_id
                              + " superseded by a session on " + node);
      let_go(self);
      end(self, "superseded by a session on " + node, true);
    },
    [](takeover_atom, bool clean_start) -> takeover_result {
      auto self = session_actor::current();
      if (!self->state.ctx->node->peers->allowed(self->current_sender()))
        return not_authenticated();
      return hand_over(self, clean_start);
    },
    [](takeover_atom, const std::string&, bool clean_start) -> takeover_result {
      auto self = session_actor::current();
      // From this client's session on the node it left less than the grace
      // period ago, which takes it back (come_back).
      if (!self->state.ctx->node->peers->allowed(self->current_sender()))
        return not_authenticated();
      return hand_over(self, clean_start);
    },
    [](retained_atom, const broker::message& msg, const std::string& key) {
      auto self = session_actor::current();
      auto& st = self->state;
      if (st.current.chan && !st.ending)
        run(self, st.current.chan->deliver_retained(msg, key, now(self)),
            st.current.conn);
    },
    [](timer_atom, uint8_t kind, uint64_t gen) {
      auto self = session_actor::current();
      auto& st = self->state;
      if (self->current_sender() != self->ctrl())
        return;
      if (kind == handover_done) {
        auto& mv = st.moves();
        if (gen != mv.handover_gen || !mv.moved_to)
          return; // the client came back meanwhile
        self->send(mv.moved_to, handover_end_atom::value);
        end(self, "moved to " + node_of(self, mv.moved_to), true);
        return;
      }
      if (kind == dedup_done) {
        if (gen != st.moves().dedup_gen)
          return; // a later move's window is open
        auto& mv = st.moving();
        mv.previous = nullptr; // if it never said it was done
        old_done(self, mv.move.window_closed());
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
    [](client_atom) -> caf::result<std::string> {
      auto self = session_actor::current();
      if (!self->state.ctx->node->peers->allowed(self->current_sender()))
        return not_authenticated();
      return describe(self);
    },
    [](client_json_atom) -> caf::result<std::string> {
      auto self = session_actor::current();
      if (!from_own_system(self))
        return local_only();
      return client_json(self).dump();
    },
    [](kick_atom) -> bool {
      auto self = session_actor::current();
      // An operator kicks the client: DISCONNECT 0x98 (MQTT 5), the
      // session discarded, as EMQX's kickout.
      auto& st = self->state;
      if (!from_own_system(self) || !st.current.chan || st.ending
          || st.moves().moved_to)
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
    [](evict_conns_atom, const std::string& server_reference) {
      auto self = session_actor::current();
      // Rebalance or evacuation: the client goes elsewhere (MQTT 5:
      // DISCONNECT 0x9C with the Server Reference; 3.x: closed); the
      // session stays for it to take over from its new node.
      auto& st = self->state;
      if (!from_own_system(self) || !st.current.chan || st.ending
          || st.moves().moved_to
          || st.current.chan->state() != broker::channel_state::connected)
        return;
      run(self,
          st.current.chan->kick(broker::reason_code::use_another_server,
                                now(self), server_reference),
          st.current.conn);
    },
    [](inspect_atom) {
      auto self = session_actor::current();
      return inspect_reply(self, *self->state.ctx->node->peers,
                           [&] { return describe(self); });
    },
  };
  return shared;
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
    if (holder) // another node holds this client's session
      st.moving().holder = std::move(holder);
    new_connection(self, first, conn, origin);
  }
  return shared_behavior();
}

} // namespace

caf::actor spawn_session(caf::event_based_actor* manager, mqtt_context& ctx,
                         broker::connect first, const caf::actor& conn,
                         const client_origin& origin,
                         const caf::actor& holder) {
  return manager->spawn<caf::monitored>(session_fn, &ctx, std::move(first),
                                    conn, origin, holder, false);
}

caf::actor spawn_moved_session(caf::event_based_actor* manager,
                               mqtt_context& ctx, const std::string& client_id,
                               const caf::actor& holder) {
  broker::connect first;
  first.client_id = client_id;
  return manager->spawn<caf::monitored>(session_fn, &ctx, std::move(first),
                                    caf::actor{}, client_origin{}, holder, true);
}

} // namespace starling::actors::mqtt
