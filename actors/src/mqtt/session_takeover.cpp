// The session actor: a session moving between channels here and between
// nodes (takeover, hand-over, moved sessions). broker::session_move keeps
// the phases, held messages and dedup window.

#include "session_state.hpp"

#include "starling/actors/actor_directory.hpp"
#include "starling/actors/wire/mqtt.hpp"
#include "starling/actors/mqtt/protocol.hpp"
#include "starling/actors/node_context.hpp"
#include "starling/actors/peer_registry.hpp"
#include "starling/actors/wire/node.hpp"

namespace starling::actors::mqtt::session_detail {

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

namespace {

/// Kicks the current channel's connection (MQTT 5: DISCONNECT 0x8E) if it
/// is still open: the session is taken over. What is delivered afterwards
/// is queued in the session and goes with it.
void kick_current(session_actor* self) {
  auto& st = self->state;
  st.replacing = true;
  if (st.current.chan->state() == broker::channel_state::connected)
    run(self,
        st.current.chan->kick(broker::reason_code::session_taken_over,
                              now(self)),
        st.current.conn);
  st.replacing = false;
}

} // namespace

/// Takes the session from the current channel for a new one (here or on
/// another node), kicking its connection if it is still open. The session
/// is not ending, it is taken over.
std::optional<broker::session> release_current(session_actor* self) {
  kick_current(self);
  return self->state.current.chan->release_session();
}

/// Takes this client's session over from `holder` (another node's agent
/// or client manager, or with `back` the session it moved to; empty bytes:
/// none there, or discarded with Clean Start), then `next(existing)`.
/// Meanwhile this actor handles nothing else.
template <class Next>
void fetch_session(session_actor* self, const caf::actor& holder,
                   const std::string& id, bool clean_start, bool back,
                   Next next) {
  self->state.moving().move.fetch();
  auto asked = self->request(holder, takeover_timeout, takeover_atom::value,
                             id, clean_start);
  if (back) // the session that had come here is done here (come_back)
    self->send(holder, handover_end_atom::value);
  asked.await(
      [self, id, back, next](const std::string& bytes, const caf::actor& old,
                       const std::vector<uint64_t>& seen) mutable {
        auto& st = self->state;
        auto& mv = st.moving();
        std::optional<broker::session> existing;
        if (auto window = mv.move.fetched(!bytes.empty())) {
          existing = decode_session(self->system(), bytes,
                                    st.ctx->live.get()->channel.session);
          if (!existing)
            st.ctx->node->log->warning("session of " + id + " from "
                                       + node_of(self, old)
                                       + " could not be read; starting anew");
          else if (back) // what came here meanwhile waits in the mailbox
            mv.move.came_back_with(*existing, now(self));
          else
            mv.move.arrived_with(*existing);
          // Late copies of what the session received there are seconds.
          mv.move.arrived_with(seen);
          // Until the old node's routes are gone everywhere, messages may
          // come both directly and through it.
          mv.previous = old;
          mv.taken_from = node_of(self, old);
          bump(st.ctx->stats.takeover_from_remote);
          self->delayed_send(self, std::chrono::milliseconds(*window),
                             timer_atom::value, dedup_done, ++mv.dedup_gen);
        }
        next(std::move(existing));
      },
      [self, id, next](caf::error& err) mutable {
        self->state.moving().move.fetched(false);
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
  if (st.current.chan || !st.moves().holder) {
    adopt(self, o, std::nullopt);
    return;
  }
  auto& mv = st.moving();
  auto holder = std::exchange(mv.holder, caf::actor{});
  fetch_session(self, holder, o.client_id, o.clean_start,
                std::exchange(mv.taking_back, false),
                [self, o](std::optional<broker::session> existing) {
                  adopt(self, o, std::move(existing));
                });
}

/// A disconnected session moved here without its client (rebalance,
/// evacuation): taken over from `holder`, then kept by a channel without
/// a connection until the client comes back or the session expires.
void host_moved(session_actor* self, const caf::actor& holder) {
  auto id = self->state.client_id;
  fetch_session(self, holder, id, false, false,
                [self, id](std::optional<broker::session> existing) {
                  auto& st = self->state;
                  if (!existing) {
                    end(self, "no session to move here");
                    return;
                  }
                  st.ctx->node->log->debug("session " + id + " moved here from "
                                           + st.moves().taken_from
                                           + " without its client");
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
  for (auto& h : held)
    run(self, broker::deliver(*st.current.chan, std::move(h), now(self)),
        st.current.conn);
}

/// The session leaves this actor (to another node, or discarded): the
/// connection is kicked (0x8E), and held messages go into its queue
/// rather than to that connection (which the next node would resend
/// ahead of older ones still on their way there).
std::optional<broker::session> let_go(session_actor* self) {
  kick_current(self);
  if (auto& mv = self->state.moving_) { // held messages, if it moved here
    mv->previous = nullptr;
    deliver_held(self, mv->move.release());
  }
  auto existing = release_current(self);
  self->state.current = {};
  set_connected(self, false);
  return existing;
}

namespace {

/// The refusal of a takeover this session cannot answer.
caf::error no_session(session_actor* self) {
  return fail("no session '" + self->state.client_id + "' on "
              + self->state.ctx->node->cfg.name.str());
}

/// Lets the session go to `to` (empty bytes: Clean Start discards it, or
/// there was none) and passes on, for the grace period, what is still
/// routed here.
std::tuple<std::string, caf::actor, std::vector<uint64_t>>
give(session_actor* self, const caf::actor& to, bool clean_start) {
  auto& st = self->state;
  auto existing = let_go(self);
  std::string bytes;
  if (existing && !clean_start)
    bytes = encode_session(self->system(), *existing);
  auto seen = st.moves().move.seen_ids();
  if (bytes.empty()) {
    end(self, "discarded by a clean start on another node", true);
  } else {
    bump(st.ctx->stats.takeover_to_remote);
    st.moving().moved_to = to;
    st.ctx->node->log->debug("session " + st.client_id + " moves to "
                             + node_of(self, to));
    self->delayed_send(self, handover_grace, timer_atom::value, handover_done,
                       ++st.moving().handover_gen);
  }
  return {std::move(bytes), caf::actor_cast<caf::actor>(self), std::move(seen)};
}

} // namespace

/// Another node's session of this client asks for it: kick the connection
/// here (MQTT 5: DISCONNECT 0x8E), hand the session over (empty: Clean
/// Start discards it) and pass on, for the grace period, what is still
/// routed here. While this session's own arrival still drains, the answer
/// waits for the node before (old_done).
takeover_result hand_over(session_actor* self, bool clean_start) {
  auto& st = self->state;
  auto& mv = st.moves();
  if (mv.moved_to && !st.ending) {
    // Moved on a moment ago; the asking node has not yet read the
    // registry's new entry: its new session answers.
    self->delegate(mv.moved_to, takeover_atom::value, clean_start);
    return caf::delegated<std::string, caf::actor, std::vector<uint64_t>>{};
  }
  if (st.ending || mv.move.fetching() || !st.current.chan)
    return no_session(self);
  auto to = caf::actor_cast<caf::actor>(self->current_sender());
  if (mv.move.current() == broker::session_move::phase::draining) {
    auto rp = self->make_response_promise<std::string, caf::actor,
                                          std::vector<uint64_t>>();
    st.moving().waiting_takeovers.push_back({rp, to, clean_start});
    return rp;
  }
  auto [bytes, me, seen] = give(self, to, clean_start);
  return caf::make_result(std::move(bytes), std::move(me), std::move(seen));
}

void old_done(session_actor* self,
              std::vector<broker::session_move::held_message> held) {
  auto& st = self->state;
  auto& mv = st.moving(); // a move here ended
  if (!mv.waiting_takeovers.empty() && !mv.moved_to && !st.ending
      && st.current.chan)
    kick_current(self); // the first one takes the session: held go with it
  deliver_held(self, std::move(held));
  auto waiting = std::exchange(mv.waiting_takeovers, {});
  for (auto& w : waiting) {
    if (mv.moved_to && !st.ending) { // the first one took it: on to there
      w.rp.delegate(mv.moved_to, takeover_atom::value, w.clean_start);
    } else if (st.ending || !st.current.chan) {
      w.rp.deliver(no_session(self));
    } else {
      auto [bytes, me, seen] = give(self, w.to, w.clean_start);
      w.rp.deliver(std::move(bytes), std::move(me), std::move(seen));
    }
  }
}

void come_back(session_actor* self) {
  auto& st = self->state;
  // This session passes nothing on any more, and takes the session back.
  // The one it moved to hears that it is done after the takeover
  // (fetch_session): so it answers once done, and what it gets until
  // then is held and goes into the session, not to its connection.
  auto& mv = st.moving();
  auto there = std::exchange(mv.moved_to, caf::actor{});
  ++mv.handover_gen;
  mv.holder = there;
  mv.taking_back = true;
  st.ctx->node->log->debug("session " + st.client_id
                           + " is taken back from " + node_of(self, there));
}

} // namespace starling::actors::mqtt::session_detail
