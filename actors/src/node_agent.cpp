#include "starling/actors/node_agent.hpp"

#include <map>
#include <memory>

#include <caf/all.hpp>

#include "starling/actors/actor_directory.hpp"
#include "starling/actors/db/context.hpp"
#include "starling/actors/db/wire.hpp"
#include "starling/actors/dist_connect.hpp"
#include "starling/actors/inspect.hpp"
#include "starling/actors/node_context.hpp"
#include "starling/actors/mqtt/context.hpp"
#include "starling/actors/mqtt/protocol.hpp"
#include "starling/actors/node_monitor.hpp"
#include "starling/actors/peer_registry.hpp"
#include "starling/actors/shell.hpp"
#include "starling/actors/wire.hpp"

namespace starling::actors {

namespace {

/// Bound on each step of connecting to a peer (TCP connect, each handshake
/// message, the join request).
constexpr auto step_timeout = std::chrono::seconds(5);

struct peer_link {
  caf::actor agent;
  caf::actor monitor;
};

struct agent_state {
  node_context* ctx = nullptr;
  std::unique_ptr<runtime::membership> view;
  std::map<std::string, peer_link> links;
  caf::actor shell;
  bool seeding = false; ///< a round over cluster.static.seeds is running
  struct retry {
    runtime::member m;
    int attempt;
    std::function<void(caf::expected<std::vector<member_wire>>)> done;
  };
  std::map<uint64_t, retry> retries; ///< connect_member attempts waiting
  uint64_t next_retry = 0;
  static inline const char* name = "node_agent";
};

using agent_actor = caf::stateful_actor<agent_state>;
using members_result = caf::expected<std::vector<member_wire>>;
using join_callback = std::function<void(members_result)>;

// -- connecting ---------------------------------------------------------------

member_wire self_wire(agent_actor* self) {
  return to_wire(self->state.view->self());
}

/// Tells the database which nodes run (and their agents, through which it
/// finds their database actors). Called after every change of the view.
void publish_view(agent_actor* self) {
  auto& st = self->state;
  if (!st.ctx->db || !st.ctx->db->manager)
    return;
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
  self->send(st.ctx->db->manager, members_atom::value, std::move(running),
             std::move(agents));
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
  self->state.view->reset();
  publish_view(self);
}

/// Records `m` as up and watches `remote` (its agent) for nodedown.
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
  if (event)
    st.ctx->log->info("nodeup " + name);
  publish_view(self);
}

using connect_callback = std::function<void(caf::expected<caf::actor>)>;

/// Connects to host:port and authenticates (mutually); `done` gets the
/// peer's node agent.
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

/// Sends join to an authenticated peer's agent and tracks it; `done` gets
/// the peer's member list.
void join_peer(agent_actor* self, const caf::actor& remote,
               const std::string& name, join_callback done) {
  self->request(remote, step_timeout, join_atom::value, self_wire(self))
    .then(
      [=](std::vector<member_wire>& members) {
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
        done(fail(name + " refused the join: " + describe(err)));
      });
}

void connect_and_join(agent_actor* self, const std::string& host,
                      uint16_t port, const std::string& name,
                      join_callback done) {
  connect_peer(self, host, port, name,
               [=](caf::expected<caf::actor> remote) {
                 if (!remote)
                   done(remote.error());
                 else
                   join_peer(self, *remote, name, done);
               });
}

using member_retry_atom = caf::atom_constant<caf::atom("mretry")>;

/// Connects to a member and joins it, like connect_and_join, but tries
/// again (3 times, after a random 100-500 ms) when it fails while the member
/// is still not up: a joiner and a member told of it connect to each other
/// at the same moment, BASP keeps one of the two links and the handshake on
/// the other can time out on both sides.
void connect_member(agent_actor* self, runtime::member m, int attempt,
                    join_callback done) {
  connect_and_join(self, m.host, m.dist_port, m.name,
                   [=](members_result r) mutable {
                     auto& st = self->state;
                     auto now = st.view->find(m.name);
                     bool up = now && now->status == runtime::member_status::up;
                     if (r || up || attempt >= 3) {
                       done(up && !r ? members_result{std::vector<member_wire>{}}
                                     : std::move(r));
                       return;
                     }
                     unsigned char b[2];
                     st.ctx->rnd(b, sizeof b);
                     auto pause = std::chrono::milliseconds(
                       100 + ((b[0] << 8 | b[1]) % 400));
                     auto id = ++st.next_retry;
                     st.retries[id] = {m, attempt + 1, std::move(done)};
                     self->delayed_send(self, pause, member_retry_atom::value, id);
                   });
}

// -- authorisation --------------------------------------------------------------

/// The authenticated cluster node that sent the current message, if any.
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

caf::error not_allowed() {
  return fail("refused: the sender has not passed the cookie handshake");
}

// -- cluster operations ---------------------------------------------------------

/// After the target accepted us: connects to every member it listed and
/// answers the operator when all are done.
using text_callback = std::function<void(caf::expected<std::string>)>;

void on_joined(agent_actor* self, const std::string& target_name,
               members_result res, text_callback rp) {
  if (!res) {
    rp(fail("cannot join " + target_name + ": " + describe(res.error())));
    return;
  }
  auto& st = self->state;
  auto pending = std::make_shared<size_t>(1);
  auto failures = std::make_shared<std::vector<std::string>>();
  auto finish = [=]() mutable {
    if (--*pending > 0)
      return;
    std::string list;
    for (auto& n : self->state.view->running_nodes())
      list += (list.empty() ? "" : ", ") + n;
    if (failures->empty()) {
      self->state.ctx->log->info("joined the cluster of " + target_name);
      rp("joined the cluster of " + target_name + "; running nodes: " + list);
      return;
    }
    std::string why;
    for (auto& f : *failures)
      why += "\n  " + f;
    rp(fail("joined " + target_name + " but could not reach every member:"
            + why));
  };
  for (auto& w : *res) {
    auto m = from_wire(w);
    if (!m || m->name == st.view->self().name || m->name == target_name)
      continue;
    if (m->status != runtime::member_status::up) {
      st.view->upsert(*m, st.ctx->now_ms());
      continue;
    }
    ++*pending;
    connect_member(self, *m, 0, [=](members_result r) mutable {
      if (!r)
        failures->push_back(describe(r.error()));
      finish();
    });
  }
  finish();
}

caf::result<std::string> cluster_join(agent_actor* self,
                                      const std::string& target_text) {
  auto& st = self->state;
  std::string err;
  auto target = runtime::parse_node_name(target_text, err);
  if (!target)
    return fail(err);
  if (target->str() == st.view->self().name)
    return fail("a node cannot join itself");
  if (st.view->self().role == runtime::node_role::replicant)
    return fail("cluster join is refused on a replicant: replicants find "
                "cores through discovery (cluster.static.seeds)");
  if (auto m = st.view->find(target->str());
      m && m->status == runtime::member_status::up)
    return fail("already in a cluster with " + target->str());
  auto rp = self->make_response_promise<std::string>();
  auto target_name = target->str();
  // Authenticate with the target first: a failed join leaves this node in
  // the cluster it was in.
  connect_peer(
    self, target->host, target->dist_port(), target_name,
    [=](caf::expected<caf::actor> remote) mutable {
      if (!remote) {
        rp.deliver(fail("cannot join " + target_name + ": "
                        + describe(remote.error())));
        return;
      }
      auto& st = self->state;
      if (!st.view->nodes().empty())
        st.ctx->log->info("leaving the current cluster to join " + target_name);
      for (auto& name : st.view->nodes())
        self->send(st.links[name].agent, leave_atom::value,
                   st.view->self().name);
      forget_all_peers(self);
      join_peer(self, *remote, target_name, [=](members_result res) mutable {
        on_joined(self, target_name, std::move(res),
                  [rp](caf::expected<std::string> r) mutable {
                    if (r)
                      rp.deliver(*r);
                    else
                      rp.deliver(r.error());
                  });
      });
    });
  return rp;
}

caf::result<std::string> cluster_leave(agent_actor* self) {
  auto& st = self->state;
  auto peers = st.view->nodes();
  if (st.view->members().size() == 1)
    return fail("this node is not in a cluster");
  auto rp = self->make_response_promise<std::string>();
  auto pending = std::make_shared<size_t>(peers.size() + 1);
  auto unanswered = std::make_shared<std::vector<std::string>>();
  auto finish = [=]() mutable {
    if (--*pending > 0)
      return;
    std::string text = "left the cluster";
    for (auto& n : *unanswered)
      text += "; " + n + " did not confirm";
    rp.deliver(text);
  };
  for (auto& name : peers) {
    self
      ->request(st.links[name].agent, step_timeout, leave_atom::value,
                st.view->self().name)
      .then([=](caf::ok_atom) mutable { finish(); },
            [=](caf::error&) mutable {
              unanswered->push_back(name);
              finish();
            });
  }
  forget_all_peers(self);
  st.ctx->log->info("left the cluster");
  finish();
  return rp;
}

caf::result<std::string> cluster_force_leave(agent_actor* self,
                                             const std::string& name) {
  auto& st = self->state;
  if (name == st.view->self().name)
    return fail("use 'cluster leave' to take this node out of the cluster");
  if (st.view->find(name) == nullptr)
    return fail(name + " is not a member of this cluster");
  std::vector<caf::actor> tell;
  for (auto& peer : st.view->nodes())
    tell.push_back(st.links[peer].agent);
  untrack(self, name);
  st.view->remove(name);
  publish_view(self);
  for (auto& a : tell)
    self->send(a, leave_atom::value, name);
  st.ctx->log->info("force-left " + name);
  return name + " removed from the cluster";
}

// -- autocluster (cluster.static.seeds) -------------------------------------------

constexpr auto seeds_retry = std::chrono::seconds(2);

std::vector<std::string> seed_names(agent_actor* self) {
  std::vector<std::string> out;
  auto& text = self->state.ctx->cfg.text("cluster.static.seeds");
  std::string item;
  for (size_t i = 0; i <= text.size(); ++i) {
    if (i == text.size() || text[i] == ',') {
      auto b = item.find_first_not_of(" \t");
      auto e = item.find_last_not_of(" \t");
      if (b != std::string::npos)
        out.push_back(item.substr(b, e - b + 1));
      item.clear();
    } else {
      item += text[i];
    }
  }
  return out;
}

bool has_running_core(agent_actor* self) {
  auto& view = *self->state.view;
  for (auto& n : view.nodes())
    if (auto m = view.find(n); m && m->role == runtime::node_role::core)
      return true;
  return false;
}

/// Whether a core should join the cluster `members` describes: only when it
/// has a running core older than this node, so the youngest always joins
/// the oldest (as Ekka's autocluster does) and two cores starting together
/// never join each other.
bool cluster_is_older(agent_actor* self, const std::vector<member_wire>& members) {
  auto& me = self->state.view->self();
  for (auto& w : members)
    if (w.role == "core" && w.status == "up"
        && std::tie(w.started_at_ms, w.name) < std::tie(me.started_at_ms, me.name))
      return true;
  return false;
}

void try_seed(agent_actor* self, std::shared_ptr<std::vector<runtime::node_name>> seeds,
              size_t index);

void seed_joined(agent_actor* self, const std::string& name, members_result res) {
  self->state.seeding = false;
  on_joined(self, name, std::move(res), [self](caf::expected<std::string> r) {
    if (r)
      self->state.ctx->log->info("autocluster: " + *r);
    else
      self->state.ctx->log->warning("autocluster: " + describe(r.error()));
  });
}

void try_seed(agent_actor* self, std::shared_ptr<std::vector<runtime::node_name>> seeds,
              size_t index) {
  auto& st = self->state;
  if (index >= seeds->size() || has_running_core(self)) {
    st.seeding = false;
    if (!has_running_core(self))
      self->delayed_send(self, seeds_retry, seeds_atom::value);
    return;
  }
  auto target = (*seeds)[index];
  auto name = target.str();
  if (name == st.view->self().name) {
    try_seed(self, seeds, index + 1);
    return;
  }
  connect_peer(self, target.host, target.dist_port(), name,
               [=](caf::expected<caf::actor> remote) {
                 if (!remote) {
                   try_seed(self, seeds, index + 1);
                   return;
                 }
                 auto r = *remote;
                 if (self->state.view->self().role == runtime::node_role::replicant) {
                   join_peer(self, r, name, [=](members_result res) {
                     seed_joined(self, name, std::move(res));
                   });
                   return;
                 }
                 self->request(r, step_timeout, members_atom::value)
                   .then(
                     [=](std::vector<member_wire>& members) {
                       if (!cluster_is_older(self, members)) {
                         try_seed(self, seeds, index + 1);
                         return;
                       }
                       join_peer(self, r, name, [=](members_result res) {
                         seed_joined(self, name, std::move(res));
                       });
                     },
                     [=](caf::error&) { try_seed(self, seeds, index + 1); });
               });
}

/// One round over the seeds while this node has no running core peer; the
/// next round is scheduled when it ends alone.
void auto_cluster(agent_actor* self) {
  auto seeds = std::make_shared<std::vector<runtime::node_name>>();
  for (auto& text : seed_names(self)) {
    std::string err;
    if (auto n = runtime::parse_node_name(text, err))
      seeds->push_back(*n);
  }
  if (seeds->empty() || self->state.seeding)
    return;
  self->state.seeding = true;
  try_seed(self, seeds, 0);
}

nlohmann::json status_json(agent_actor* self) {
  auto& st = self->state;
  auto now = st.ctx->now_ms();
  return {{"node", st.view->self().name},
          {"status", "started"},
          {"version", STARLING_VERSION},
          {"role", runtime::to_string(st.ctx->cfg.role)},
          {"uptime_s", (now - st.ctx->started_at_ms) / 1000},
          {"dist_port", st.ctx->cfg.dist_port},
          {"tick_ms", st.ctx->cfg.tick_ms},
          {"running_nodes", st.view->running_nodes()},
          {"stopped_nodes", st.view->stopped_nodes()}};
}

// -- behavior -------------------------------------------------------------------

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
  if (!seed_names(self).empty())
    self->send(self, seeds_atom::value);
  self->link_to(st.shell);
  return {
    // -- peer protocol --
    [self](join_atom,
           const member_wire& w) -> caf::result<std::vector<member_wire>> {
      auto peer = sending_peer(self);
      auto m = from_wire(w);
      if (!peer || !m || m->name != *peer)
        return not_allowed();
      auto& st = self->state;
      track(self, *m, caf::actor_cast<caf::actor>(self->current_sender()));
      std::vector<member_wire> result;
      for (auto& x : st.view->members()) {
        if (x.name == m->name)
          continue;
        result.push_back(to_wire(x));
        if (x.status == runtime::member_status::up && x.name != st.view->self().name)
          self->send(st.links[x.name].agent, member_up_atom::value, w);
      }
      return result;
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
      auto name = m->name;
      connect_member(self, *m, 0, [self, name](members_result r) {
        if (!r)
          self->state.ctx->log->warning("cannot connect to new member " + name
                                        + ": " + describe(r.error()));
      });
    },
    [self](leave_atom, const std::string& name) -> caf::result<caf::ok_atom> {
      auto peer = sending_peer(self);
      if (!peer)
        return not_allowed();
      auto& st = self->state;
      if (name == st.view->self().name) {
        st.ctx->log->info("removed from the cluster by " + *peer);
        forget_all_peers(self);
      } else if (st.view->find(name) != nullptr) {
        untrack(self, name);
        st.view->remove(name);
        publish_view(self);
        st.ctx->log->info(name + " left the cluster");
      }
      return caf::ok_atom::value;
    },
    [self](nodedown_atom, const std::string& name, const std::string& reason) {
      auto& st = self->state;
      auto i = st.links.find(name);
      if (i == st.links.end()
          || self->current_sender() != caf::actor_cast<caf::strong_actor_ptr>(
               i->second.monitor))
        return; // stale monitor or a forged message
      st.ctx->peers->remove_by_anchor(i->second.agent.address());
      st.links.erase(i);
      if (st.view->set_status(name, runtime::member_status::down,
                              st.ctx->now_ms()))
        st.ctx->log->warning("nodedown " + name + " (" + reason + ")");
      publish_view(self);
      if (!has_running_core(self) && !seed_names(self).empty())
        self->delayed_send(self, seeds_retry, seeds_atom::value);
    },
    [self](member_retry_atom, uint64_t id) {
      auto& st = self->state;
      auto i = st.retries.find(id);
      if (i == st.retries.end() || self->current_sender() != self->ctrl())
        return;
      auto r = std::move(i->second);
      st.retries.erase(i);
      connect_member(self, r.m, r.attempt, std::move(r.done));
    },
    [self](seeds_atom) {
      if (self->current_sender() == nullptr
          || self->current_sender()->node() == self->node())
        auto_cluster(self);
    },
    [self](db::db_atom) -> caf::result<caf::actor> {
      // Cluster members find our database actors through this; operators
      // (ctl) send it their `db` and `rlog` commands.
      if (!sending_peer(self) && !from_operator(self))
        return not_allowed();
      auto db = self->state.ctx->db;
      if (!db || !db->manager)
        return fail("the database is not running");
      return db->manager;
    },
    [self](mqtt::takeover_atom, const std::string& id,
           bool clean_start) -> caf::result<std::string, caf::actor> {
      // A client of a session held here connected to the sender's node.
      if (!sending_peer(self))
        return not_allowed();
      auto mq = self->state.ctx->mqtt;
      if (!mq || !mq->manager)
        return fail("MQTT is not running on this node");
      self->delegate(mq->manager, mqtt::takeover_atom::value, id, clean_start);
      return caf::delegated<std::string, caf::actor>{};
    },
    // -- operators (ctl, remsh) --
    [self](status_atom) -> caf::result<std::string> {
      if (!from_operator(self))
        return not_allowed();
      return status_json(self).dump();
    },
    [self](cluster_atom, status_atom) -> caf::result<std::string> {
      if (!from_operator(self))
        return not_allowed();
      auto& st = self->state;
      return st.view->to_json(st.ctx->now_ms()).dump();
    },
    [self](cluster_atom, join_atom,
           const std::string& target) -> caf::result<std::string> {
      if (!from_operator(self))
        return not_allowed();
      return cluster_join(self, target);
    },
    [self](cluster_atom, leave_atom) -> caf::result<std::string> {
      if (!from_operator(self))
        return not_allowed();
      return cluster_leave(self);
    },
    [self](cluster_atom, force_atom,
           const std::string& name) -> caf::result<std::string> {
      if (!from_operator(self))
        return not_allowed();
      return cluster_force_leave(self, name);
    },
    [self](nodes_atom, bool hidden) -> caf::result<std::vector<std::string>> {
      if (!from_operator(self))
        return not_allowed();
      auto& st = self->state;
      return hidden ? st.ctx->peers->hidden_names() : st.view->nodes();
    },
    [self](members_atom) -> caf::result<std::vector<member_wire>> {
      if (!from_operator(self) && !sending_peer(self))
        return not_allowed();
      std::vector<member_wire> result;
      for (auto& m : self->state.view->members())
        result.push_back(to_wire(m));
      return result;
    },
    [self](shell_atom, std::string& line) -> caf::result<std::string> {
      if (!from_operator(self))
        return not_allowed();
      auto& st = self->state;
      if (!st.shell)
        return fail("the shell is not running");
      self->delegate(st.shell, shell_atom::value, std::move(line));
      return caf::delegated<std::string>{};
    },
    [self](inspect_atom) {
      auto& st = self->state;
      return inspect_reply(self, *st.ctx->peers, [&] {
        return runtime::to_string(st.ctx->cfg.role) + ", "
               + std::to_string(st.view->nodes().size()) + " peers up, "
               + std::to_string(st.view->stopped_nodes().size()) + " down";
      });
    },
  };
}

} // namespace

caf::actor spawn_node_agent(node_context& ctx) {
  auto a = ctx.sys->spawn(node_agent, &ctx);
  ctx.directory->add(a, "node_agent", "node_agent");
  return a;
}

} // namespace starling::actors
