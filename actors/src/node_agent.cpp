#include "starling/actors/node_agent.hpp"

#include "node_agent_state.hpp"

#include <caf/all.hpp>

#include "starling/actors/actor_directory.hpp"
#include "starling/actors/db/context.hpp"
#include "starling/actors/wire/db.hpp"
#include "starling/actors/dist_connect.hpp"
#include "starling/actors/mgmt/context.hpp"
#include "starling/actors/wire/mgmt.hpp"
#include "starling/actors/mqtt/context.hpp"
#include "starling/actors/mqtt/protocol.hpp"
#include "starling/actors/node_context.hpp"
#include "starling/actors/node_monitor.hpp"
#include "starling/actors/peer_registry.hpp"
#include "starling/actors/shell.hpp"

namespace starling::actors {

namespace agent_detail {

// -- links to peers -----------------------------------------------------------

member_wire self_wire(agent_actor* self) {
  return to_wire(self->state.view->self());
}

void publish_view(agent_actor* self) {
  auto& st = self->state;
  std::vector<member_wire> running;
  std::vector<caf::actor> agents;
  for (auto& [name, link] : st.links)
    if (auto m = st.view->find(name);
        m && m->status == runtime::member_status::up) {
      running.push_back(to_wire(*m));
      agents.push_back(link.agent);
    }
  if (st.ctx->mqtt)
    for (auto& outbox : st.ctx->mqtt->outboxes)
      self->send(outbox, mqtt::data_peers_atom::value, running);
  if (st.ctx->mqtt && st.ctx->mqtt->manager)
    self->send(st.ctx->mqtt->manager, members_atom::value, running, agents);
  if (st.ctx->db && st.ctx->db->manager)
    self->send(st.ctx->db->manager, members_atom::value, std::move(running),
               std::move(agents));
  after_view_change(self);
}

void untrack(agent_actor* self, const std::string& name) {
  auto& links = self->state.links;
  if (auto i = links.find(name); i != links.end()) {
    self->unlink_from(i->second.monitor);
    self->send_exit(i->second.monitor, caf::exit_reason::user_shutdown);
    links.erase(i);
  }
}

void forget_all_peers(agent_actor* self) {
  while (!self->state.links.empty())
    untrack(self, self->state.links.begin()->first);
  reset_cluster(self);
  self->state.view->reset();
  publish_view(self);
}

void track(agent_actor* self, runtime::member m, const caf::actor& remote) {
  auto& st = self->state;
  m.status = runtime::member_status::up;
  auto name = m.name;
  auto event = st.view->upsert(std::move(m), st.ctx->now_ms());
  auto& link = st.links[name];
  if (link.agent != remote) {
    if (link.monitor) {
      self->unlink_from(link.monitor);
      self->send_exit(link.monitor, caf::exit_reason::user_shutdown);
    }
    link.agent = remote;
    link.monitor = spawn_node_monitor(*st.ctx, self, remote, name);
  }
  st.cl->on_up(name);
  if (event) {
    st.ctx->log->info("nodeup " + name);
    // Every up peer hears of it and connects if it has not: meshes that
    // meet through one link (a seed, a reconnect, a join of a node already
    // in a cluster) become one full mesh.
    auto w = to_wire(*st.view->find(name));
    for (auto& [peer, l] : st.links)
      if (auto p = st.view->find(peer);
          peer != name && p && p->status == runtime::member_status::up)
        self->send(l.agent, member_up_atom::value, w);
  }
  publish_view(self);
}

void tell_leave(agent_actor* self, const caf::actor& peer,
                const std::string& name, const std::string& reason) {
  if (!peer)
    return;
  self->request(peer, step_timeout, leave_atom::value, name, reason)
    .then([](caf::ok_atom) {},
          [self, name](caf::error& err) {
            self->state.ctx->log->info("a peer did not confirm that " + name
                                       + " left: " + describe(err));
          });
}

void connect_peer(agent_actor* self, const std::string& host, uint16_t port,
                  const std::string& expected_name, connect_callback done) {
  auto& st = self->state;
  auto conn = self->spawn<caf::detached>(
    handshake_connector, st.ctx, caf::actor_cast<caf::actor>(self), host, port,
    std::chrono::milliseconds(step_timeout));
  st.ctx->directory->add(conn, "connector:" + host + ":" + std::to_string(port),
                         "connector");
  auto where = host + ":" + std::to_string(port);
  self->request(conn, step_timeout * 4, connect_atom::value)
    .then(
      [=](const caf::actor& remote, const std::string& name) {
        if (!expected_name.empty() && name != expected_name) {
          done(fail("expected " + expected_name + " at " + where
                    + " but found " + name));
          return;
        }
        // The handshake is mutual: the peer proved the cookie to us, so its
        // messages (member_up, leave) are accepted from now on.
        auto& ctx = *self->state.ctx;
        ctx.peers->add(remote.node(),
                       {name, false, remote.address(), ctx.now_ms()});
        done(remote);
      },
      [=](caf::error& err) { done(std::move(err)); });
}

void join_peer(agent_actor* self, const caf::actor& remote,
               const std::string& name, bool automatic, join_callback done,
               bool unless_removed, int64_t since_ms) {
  auto asked_at = since_ms >= 0 ? since_ms : self->state.ctx->now_ms();
  self
    ->request(remote, step_timeout, join_atom::value, self_wire(self),
              automatic)
    .then(
      [=](std::vector<member_wire>& members) {
        auto& st = self->state;
        if (auto gone = st.view->removed(name);
            (automatic || unless_removed) && gone && gone->at_ms >= asked_at) {
          // Removed (autoclean, force-leave) while this attempt was on its
          // way: the member accepted us, so it hears that it is out instead
          // of being taken back. A removal from before the attempt does
          // not count: whoever asked for it knew better (a vouching
          // member, an operator's join of a cluster the member is in).
          st.ctx->log->info("not taking " + name + " back: it was removed "
                            "while we reconnected to it (" + gone->reason + ")");
          tell_leave(self, remote, name, gone->reason);
          done(fail(name + " was removed from the cluster while we "
                           "reconnected to it (" + gone->reason + ")"));
          return;
        }
        for (auto& w : members)
          if (w.name == name)
            if (auto m = from_wire(w))
              track(self, *m, remote);
        if (!self->state.links.count(name)) {
          done(fail(name + " sent a malformed member list"));
          return;
        }
        done(std::move(members));
      },
      [=](caf::error& err) {
        if (is_removed(err))
          done(err);
        else
          done(fail(name + " refused the join: " + describe(err)));
      });
}

void connect_and_join(agent_actor* self, const std::string& host,
                      uint16_t port, const std::string& name, bool automatic,
                      join_callback done, bool unless_removed,
                      int64_t since_ms) {
  if (since_ms < 0)
    since_ms = self->state.ctx->now_ms(); // before the connect, not the join
  connect_peer(self, host, port, name,
               [=](caf::expected<caf::actor> remote) {
                 if (!remote)
                   done(remote.error());
                 else
                   join_peer(self, *remote, name, automatic, done,
                             unless_removed, since_ms);
               });
}

using member_retry_atom = caf::atom_constant<caf::atom("mretry")>;

/// Connects to a member and joins it, like connect_and_join, but tries
/// again (3 times, after a random 100-500 ms) when it fails while the member
/// is still not up: a joiner and a member told of it connect to each other
/// at the same moment, BASP keeps one of the two links and the handshake on
/// the other can time out on both sides.
void connect_member(agent_actor* self, runtime::member m, int attempt,
                    bool automatic, join_callback done, int64_t since_ms) {
  if (since_ms < 0)
    since_ms = self->state.ctx->now_ms(); // the first attempt
  connect_and_join(self, m.host, m.dist_port, m.name, automatic,
                   [=](members_result r) mutable {
                     auto& st = self->state;
                     auto now = st.view->find(m.name);
                     bool up = now && now->status == runtime::member_status::up;
                     // Removed meanwhile (the attempts of a member that went
                     // down can outlast its autoclean): no more attempts.
                     auto gone = st.view->removed(m.name);
                     if (r || up || attempt >= 3 || is_removed(r.error())
                         || (gone && gone->at_ms >= since_ms)) {
                       done(up && !r ? members_result{std::vector<member_wire>{}}
                                     : std::move(r));
                       return;
                     }
                     unsigned char b[2];
                     st.ctx->rnd(b, sizeof b);
                     auto pause = std::chrono::milliseconds(
                       100 + ((b[0] << 8 | b[1]) % 400));
                     auto id = ++st.next_retry;
                     st.retries[id] = {m, attempt + 1, automatic, std::move(done),
                                       since_ms};
                     self->delayed_send(self, pause, member_retry_atom::value, id);
                   },
                   true, since_ms);
}

// -- authorisation --------------------------------------------------------------

std::optional<std::string> sending_peer(agent_actor* self) {
  auto sender = self->current_sender();
  if (!sender)
    return std::nullopt;
  auto p = self->state.ctx->peers->find(sender->node());
  if (!p || p->hidden)
    return std::nullopt;
  return p->name;
}

bool from_operator(agent_actor* self) {
  return self->state.ctx->peers->allowed(self->current_sender());
}

namespace {

/// (join, member, automatic) from a peer: track it, tell our other up
/// peers, answer our members.
caf::result<std::vector<member_wire>>
on_join(agent_actor* self, const member_wire& w, bool automatic) {
  auto peer = sending_peer(self);
  auto m = from_wire(w);
  if (!peer || !m || m->name != *peer)
    return not_authenticated();
  auto& st = self->state;
  if (auto r = st.view->removed(m->name)) {
    if (automatic) {
      st.ctx->log->info("refused the automatic rejoin of " + m->name
                        + ": it was removed (" + r->reason + ")");
      return fail_removed(m->name + " was removed from the cluster ("
                          + r->reason + "); run 'cluster join' on it to "
                          "join again");
    }
    st.view->clear_removal(m->name); // an operator joins it again
  }
  // track() tells our other up peers (member_up): they connect to it.
  track(self, *m, caf::actor_cast<caf::actor>(self->current_sender()));
  std::vector<member_wire> result;
  for (auto& x : st.view->members())
    if (x.name != m->name)
      result.push_back(to_wire(x));
  return result;
}

void on_nodedown(agent_actor* self, const std::string& name,
                 const std::string& reason) {
  auto& st = self->state;
  auto i = st.links.find(name);
  if (i == st.links.end()
      || self->current_sender()
           != caf::actor_cast<caf::strong_actor_ptr>(i->second.monitor))
    return; // stale monitor or a forged message
  st.ctx->peers->remove_by_anchor(i->second.agent.address());
  st.links.erase(i);
  if (st.view->set_status(name, runtime::member_status::down, st.ctx->now_ms()))
    st.ctx->log->warning("nodedown " + name + " (" + reason + ")");
  on_member_down(self, name);
  publish_view(self);
}

/// Answers from a peer's node agent about the cluster (protocol messages).
caf::message_handler peer_protocol(agent_actor* self) {
  return {
    [self](join_atom, const member_wire& w,
           bool automatic) -> caf::result<std::vector<member_wire>> {
      return on_join(self, w, automatic);
    },
    [self](member_up_atom, const member_wire& w) {
      auto& st = self->state;
      auto m = from_wire(w);
      if (!sending_peer(self) || !m || m->name == st.view->self().name)
        return;
      if (auto known = st.view->find(m->name);
          known && known->status == runtime::member_status::up
          && known->started_at_ms == m->started_at_ms)
        return;
      if (st.view->clear_removal(m->name)) // a member vouches for it
        st.ctx->log->info(m->name + " is a member again: " + *sending_peer(self)
                          + " took it back");
      auto name = m->name;
      connect_member(self, *m, 0, false, [self, name](members_result r) {
        if (!r)
          self->state.ctx->log->warning("cannot connect to new member " + name
                                        + ": " + describe(r.error()));
      });
    },
    [self](leave_atom, const std::string& name,
           const std::string& reason) -> caf::result<caf::ok_atom> {
      auto peer = sending_peer(self);
      if (!peer)
        return not_authenticated();
      auto& st = self->state;
      if (name == st.view->self().name) {
        st.ctx->log->info("removed from the cluster by " + *peer
                          + (reason.empty() ? "" : " (" + reason + ")"));
        forget_all_peers(self);
      } else if (st.view->find(name) != nullptr) {
        remove_member(self, name,
                      reason.empty() ? "" : reason + ", as " + *peer + " said",
                      false);
      }
      return caf::ok_atom::value;
    },
    [self](views_atom, const std::vector<view_wire>& views) {
      if (sending_peer(self))
        on_gossip(self, views);
    },
    [self](partition_atom, const std::string& from) {
      if (auto peer = sending_peer(self); peer && *peer == from)
        on_report(self, from);
    },
    [self](heal_view_atom,
           const std::string&) -> caf::result<view_wire> {
      auto& st = self->state;
      if (!sending_peer(self) || !st.core)
        return not_authenticated();
      return st.cl->own();
    },
    [self](heal_order_atom, const std::string& round,
           const std::vector<std::string>& winner) -> caf::result<uint64_t> {
      if (!sending_peer(self))
        return not_authenticated();
      return on_heal_order(self, round, winner);
    },
    [self](heal_done_atom, const heal_record_wire& r) {
      if (sending_peer(self))
        on_heal_done(self, r);
    },
    [self](db::db_atom) -> caf::result<caf::actor> {
      // Cluster members find our database actors through this; operators
      // (ctl) send it their `db` and `rlog` commands.
      if (!sending_peer(self) && !from_operator(self))
        return not_authenticated();
      auto db = self->state.ctx->db;
      if (!db || !db->manager)
        return fail("the database is not running");
      return db->manager;
    },
    [self](mgmt::mgmt_atom) -> caf::result<caf::actor> {
      // Peers' management actors (cluster-wide API queries) and ctl's
      // `conf` commands find this node's through us.
      if (!sending_peer(self) && !from_operator(self))
        return not_authenticated();
      auto m = self->state.ctx->mgmt;
      if (!m || !m->actor)
        return fail("the management API is not running");
      return m->actor;
    },
    [self](db::heal_report_atom) -> caf::result<std::string> {
      if (!sending_peer(self))
        return not_authenticated();
      auto db = self->state.ctx->db;
      if (!db || !db->manager)
        return fail("the database is not running");
      self->delegate(db->manager, db::heal_report_atom::value);
      return caf::delegated<std::string>{};
    },
    [self](mqtt::takeover_atom, const std::string& id,
           bool clean_start)
      -> caf::result<std::string, caf::actor, std::vector<uint64_t>> {
      // A client of a session held here connected to the sender's node.
      if (!sending_peer(self))
        return not_authenticated();
      auto mq = self->state.ctx->mqtt;
      if (!mq || !mq->manager)
        return fail("MQTT is not running on this node");
      self->delegate(mq->manager, mqtt::takeover_atom::value, id, clean_start);
      return caf::delegated<std::string, caf::actor, std::vector<uint64_t>>{};
    },
    [self](mqtt::adopt_atom, const std::string& id) {
      // A disconnected session the sender's node moves here (rebalance,
      // evacuation).
      auto mq = self->state.ctx->mqtt;
      if (sending_peer(self) && mq && mq->manager)
        self->delegate(mq->manager, mqtt::adopt_atom::value, id);
    },
    [self](mqtt::balancer_atom) -> caf::result<caf::actor> {
      // Peers' rebalance coordinators, ctl's rebalance and evacuation
      // commands.
      if (!sending_peer(self) && !from_operator(self))
        return not_authenticated();
      auto mq = self->state.ctx->mqtt;
      if (!mq || !mq->balancer)
        return fail("MQTT is not running on this node");
      return mq->balancer;
    },
  };
}

/// Messages of the agent's own making and of its local helpers.
caf::message_handler local_events(agent_actor* self) {
  return {
    [self](nodedown_atom, const std::string& name, const std::string& reason) {
      on_nodedown(self, name, reason);
    },
    [self](member_retry_atom, uint64_t id) {
      auto& st = self->state;
      auto i = st.retries.find(id);
      if (i == st.retries.end() || self->current_sender() != self->ctrl())
        return;
      auto r = std::move(i->second);
      st.retries.erase(i);
      if (auto gone = st.view->removed(r.m.name);
          gone && gone->at_ms >= r.since_ms) {
        r.done(fail(r.m.name + " was removed from the cluster (" + gone->reason
                    + ")"));
        return;
      }
      connect_member(self, r.m, r.attempt, r.automatic, std::move(r.done),
                     r.since_ms);
    },
    [self](tick_atom) {
      if (self->current_sender() == self->ctrl())
        on_tick(self);
    },
    [self](mgmt::conf_atom, const std::string& key, const std::string& value) {
      // Online configuration (the management tables actor) of a key the
      // agent reads: cluster.autoclean.
      if (!from_own_system(self) || key != "cluster.autoclean")
        return;
      if (auto ms = runtime::parse_duration_ms(value))
        self->state.autoclean_ms = static_cast<int64_t>(*ms);
    },
    [self](db::compared_atom, const std::string& peer, bool agrees,
           const std::string& detail) {
      if (from_own_system(self))
        on_compared(self, peer, agrees, detail);
    },
  };
}

caf::behavior node_agent(agent_actor* self, node_context* ctx) {
  auto& st = self->state;
  st.ctx = ctx;
  runtime::member me;
  me.name = ctx->cfg.name.str();
  me.host = ctx->cfg.name.host;
  me.dist_port = ctx->cfg.dist_port;
  me.data_port = ctx->cfg.data_port;
  me.role = ctx->cfg.role;
  me.started_at_ms = ctx->started_at_ms;
  me.since_ms = ctx->started_at_ms;
  st.view = std::make_unique<runtime::membership>(me);
  // A peer may refuse or fail one of our one-way messages; that is logged,
  // never fatal (CAF's default would terminate the agent).
  self->set_error_handler([self](caf::error& err) {
    self->state.ctx->log->warning("peer error: " + describe(err));
  });
  st.shell = spawn_shell(*ctx, caf::actor_cast<caf::actor>(self));
  self->link_to(st.shell);
  init_cluster(self);
  init_discovery(self);
  return caf::behavior{peer_protocol(self)
                         .or_else(operator_requests(self))
                         .or_else(local_events(self))};
}

} // namespace

} // namespace agent_detail

caf::actor spawn_node_agent(node_context& ctx) {
  auto a = ctx.sys->spawn(agent_detail::node_agent, &ctx);
  ctx.directory->add(a, "node_agent", "node_agent");
  return a;
}

} // namespace starling::actors
