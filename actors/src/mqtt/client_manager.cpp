#include "starling/actors/mqtt/client_manager.hpp"

#include <map>
#include <memory>
#include <optional>
#include <unordered_map>

#include <caf/all.hpp>

#include "starling/actors/actor_directory.hpp"
#include "starling/actors/confirm.hpp"
#include "starling/actors/db/context.hpp"
#include "starling/actors/wire/db.hpp"
#include "starling/actors/gather.hpp"
#include "starling/actors/mqtt/context.hpp"
#include "starling/actors/mqtt/protocol.hpp"
#include "starling/actors/mqtt/session_actor.hpp"
#include "starling/actors/inspect.hpp"
#include "starling/actors/node_context.hpp"
#include "starling/actors/peer_registry.hpp"
#include "starling/actors/wire/node.hpp"
#include "starling/broker/offline_sessions.hpp"
#include "starling/broker/session_registry.hpp"
#include "starling/runtime/shell_text.hpp"

#include <nlohmann/json.hpp>

namespace starling::actors::mqtt {

namespace {

constexpr const char* registry_table = "session_registry";
/// (m_regcheck, string id, string node): manager to itself.
using registry_check_atom = caf::atom_constant<caf::atom("m_regcheck")>;

struct manager_state {
  mqtt_context* ctx = nullptr;
  std::string me; ///< this node's name
  std::map<std::string, caf::actor> clients; ///< client id -> session actor
  /// Each session in `clients` by its actor id: its client id and its
  /// handle (a session that ends is found at once). Shared with the functor
  /// that ends the sessions with the manager, which runs after this state
  /// is gone.
  using session_of_actor
    = std::unordered_map<caf::actor_id, std::pair<std::string, caf::actor>>;
  std::shared_ptr<session_of_actor> client_of
    = std::make_shared<session_of_actor>();
  /// The cluster's session registry (client id -> node holding the
  /// session) as this node's replica of `session_registry` has it, and
  /// its decisions.
  std::optional<broker::session_registry> registry;
  /// Running members other than this node -> their node agents (where a
  /// session held there is asked for).
  std::map<std::string, caf::actor> agents;
  caf::actor cm_shard; ///< this node's actor of the registry's shard
  caf::actor db;       ///< the db manager: registry writes
  confirmed_writes registry_writes; ///< to db
  uint64_t taken_over = 0, handed_over = 0;
  /// Sessions here without a connection, and those sent to another node
  /// (rebalance, evacuation).
  broker::offline_sessions away;
  uint64_t evicted = 0, sent_away = 0, moved_here = 0;
  static inline const char* name = "mqtt_client_manager";
};

using manager_actor = caf::stateful_actor<manager_state>;

bool allowed(manager_actor* self) {
  return self->state.ctx->node->peers->allowed(self->current_sender());
}

/// Carries out what the registry decided: its writes, its delayed checks.
void carry(manager_actor* self, const broker::registry_effects& effects) {
  auto& st = self->state;
  // A write through the sequencer, its failure logged with what it was.
  auto write = [&](const auto& atom, const char* what,
                   const broker::registry_effect& e) {
    if (st.db)
      st.registry_writes.send<uint64_t>(self, st.db, st.ctx->node->log,
                               std::string("session registry: ") + what + " " + e.id,
                               atom, std::string(registry_table), e.id, e.node);
  };
  for (auto& e : effects)
    switch (e.what) {
      case broker::registry_effect::put:
        write(db::put_atom::value, "writing", e);
        break;
      case broker::registry_effect::erase_if:
        write(db::erase_atom::value, "erasing", e);
        break;
      case broker::registry_effect::check_later:
        self->delayed_send(self, std::chrono::milliseconds(e.delay_ms),
                           registry_check_atom::value, e.id, e.node);
        break;
    }
}

/// The node agent of the other running node the registry names for `id`.
caf::actor holder_elsewhere(manager_actor* self, const std::string& id) {
  auto& st = self->state;
  auto node = st.registry->holder_elsewhere(id);
  if (!node)
    return nullptr;
  auto a = st.agents.find(*node);
  return a == st.agents.end() ? nullptr : a->second;
}

/// Asks every session `atom` (one string each, within 1 s; a session that
/// does not answer keeps `unanswered(id)`) and answers `finish(rows)` with
/// each client id and its text.
template <class Atom, class Unanswered, class Finish>
caf::result<std::string> ask_sessions(manager_actor* self, Atom atom,
                                      Unanswered unanswered, Finish finish) {
  using rows = std::vector<std::pair<std::string, std::string>>;
  auto answers = std::make_shared<rows>();
  std::vector<caf::actor> sessions;
  for (auto& [id, session] : self->state.clients) {
    answers->emplace_back(id, unanswered(id));
    sessions.push_back(session);
  }
  auto rp = self->make_response_promise<std::string>();
  gather<std::string>(
    self, sessions, std::chrono::seconds(1),
    [=](size_t i, const std::string& text) { (*answers)[i].second = text; },
    [](size_t, caf::error&) {},
    [=]() mutable { rp.deliver(finish(*answers)); }, atom);
  return rp;
}

/// clients(): every session's one-line state.
caf::result<std::string> list_clients(manager_actor* self) {
  return ask_sessions(
    self, client_atom::value,
    [](const std::string&) { return std::string("(no answer within 1 s)"); },
    [](const std::vector<std::pair<std::string, std::string>>& answers) {
      std::vector<std::vector<std::string>> rows;
      for (auto& [id, text] : answers)
        rows.push_back({id, text});
      return runtime::format_table({"CLIENT", "STATE"}, rows)
             + std::to_string(answers.size()) + " clients";
    });
}

/// The management API's client list: every session's JSON (one that does
/// not answer is listed with what is known).
caf::result<std::string> clients_json(manager_actor* self) {
  return ask_sessions(
    self, client_json_atom::value,
    [](const std::string& id) {
      return nlohmann::json{{"clientid", id}, {"conn_state", "unknown"}}.dump();
    },
    [](const std::vector<std::pair<std::string, std::string>>& answers) {
      std::string out = "[";
      for (size_t i = 0; i < answers.size(); ++i)
        out += (i ? "," : "") + answers[i].second;
      return out + "]";
    });
}

/// Adds a session, unless `id` already has one.
void add_client(manager_state& st, const std::string& id, const caf::actor& s) {
  if (st.clients.emplace(id, s).second)
    st.client_of->emplace(s.id(), std::make_pair(id, s));
}

void erase_client(manager_state& st,
                  std::map<std::string, caf::actor>::iterator i) {
  st.client_of->erase(i->second.id());
  st.clients.erase(i);
}

/// Sessions that were asked to move and are still here count again.
void expire_leaving(manager_actor* self) {
  auto& st = self->state;
  for (auto& id : st.away.expire(st.ctx->node->now_ms()))
    st.ctx->node->log->warning("session " + id
                               + " was not taken by the node it was sent to; "
                                 "it stays here");
}

/// Moves up to `count` disconnected sessions to `nodes`, round robin: each
/// node's client manager takes the session over from this one.
void send_sessions_away(manager_actor* self, uint64_t count,
                        const std::vector<std::string>& nodes) {
  auto& st = self->state;
  std::vector<caf::actor> to;
  for (auto& n : nodes)
    if (auto a = st.agents.find(n); a != st.agents.end())
      to.push_back(a->second);
  if (to.empty()) {
    st.ctx->node->log->warning("cannot move sessions: none of the nodes asked "
                               "for is running");
    return;
  }
  for (auto& [id, i] : st.away.send_away(count, to.size(), st.ctx->node->now_ms())) {
    self->send(to[i], adopt_atom::value, id);
    ++st.sent_away;
  }
}

/// Sends every session whose keepalive fell due its timer, as the
/// session's own (it answers only its own timers), and ticks again while
/// any is set.
void keepalive_tick(manager_actor* self) {
  auto& k = self->state.ctx->keepalive;
  std::vector<keepalive_timers::entry> due;
  bool again = false;
  {
    std::lock_guard<std::mutex> lock{k.mu};
    std::tie(due, again) = k.wheel.tick(self->state.ctx->node->now_ms());
  }
  auto kind = static_cast<uint8_t>(broker::timer_kind::keepalive);
  for (auto& e : due)
    if (auto session = caf::actor_cast<caf::actor>(e.session.lock()))
      caf::send_as(session, session, timer_atom::value, kind, e.gen);
  if (again)
    self->delayed_send(self, std::chrono::milliseconds(keepalive_timers::tick_ms),
                       keepalive_tick_atom::value);
}

caf::behavior manager_fn(manager_actor* self, mqtt_context* ctx) {
  auto& st = self->state;
  st.ctx = ctx;
  st.me = ctx->node->cfg.name.str();
  st.registry.emplace(st.me, ctx->node->cfg.role == runtime::node_role::core,
                      ctx->node->started_at_ms);
  if (auto db = ctx->node->db) {
    st.db = db->manager;
    if (auto i = db->shards.find("cm_shard"); i != db->shards.end()) {
      st.cm_shard = i->second;
      self->send(st.cm_shard, db::watch_atom::value, std::string(registry_table));
    }
  }
  // A failed registry write is logged (confirmed_writes); the next CONNECT
  // writes again. Other failures (a takeover asked for) likewise.
  self->set_error_handler([self](caf::error& err) {
    self->state.ctx->node->log->warning("client manager: " + describe(err));
  });
  // Sessions are monitored, not linked: CAF 0.17 finds a link to remove by
  // scanning the actor's links, so 10,000 sessions ending at once cost
  // 10,000 scans of 10,000 links (2-3.5 CPU-s). They end with the manager.
  self->attach_functor([sessions = st.client_of](const caf::error& reason) {
    auto why = reason == caf::exit_reason::kill ? caf::exit_reason::kill
                                                : caf::exit_reason::user_shutdown;
    for (auto& entry : *sessions)
      caf::anon_send_exit(entry.second.second, why);
  });
  // A session that fails is logged and forgotten; it must not take the
  // manager (and every other session) down with it.
  self->set_down_handler([self](caf::down_msg& msg) {
    auto& st = self->state;
    auto c = st.client_of->find(msg.source.id());
    if (c == st.client_of->end())
      return;
    auto i = st.clients.find(c->second.first);
    if (i == st.clients.end() || i->second.address() != msg.source)
      return;
    if (msg.reason != caf::exit_reason::user_shutdown)
      st.ctx->node->log->error("session " + i->first + " failed: "
                               + describe(msg.reason));
    // Its entry goes with it (the next CONNECT starts afresh); a node
    // that stops leaves its entries to the cleaner.
    auto fx = st.registry->released(i->first);
    if (msg.reason != caf::exit_reason::user_shutdown)
      carry(self, fx);
    st.away.forget(i->first);
    erase_client(st, i);
  });
  self->set_exit_handler([self](caf::exit_msg& msg) {
    if (msg.reason == caf::exit_reason::user_shutdown
        || msg.reason == caf::exit_reason::kill)
      self->quit(msg.reason);
  });
  return {
    [self](confirm_sweep_atom, uint64_t which) {
      self->state.registry_writes.sweep(self, which);
    },
    [self](keepalive_tick_atom) {
      keepalive_tick(self);
    },
    [self](connect_atom, broker::connect& c, const caf::actor& conn,
           const client_origin& origin) {
      auto& st = self->state;
      if (!self->current_sender() || self->current_sender()->node() != self->node())
        return; // connections and sessions of this node only
      if (!c.client_id.empty()) {
        if (auto i = st.clients.find(c.client_id); i != st.clients.end()) {
          self->send(i->second, connect_atom::value, std::move(c), conn, origin);
          return;
        }
      }
      auto id = c.client_id;
      // Held by another running node: the new session asks for it there.
      auto holder = id.empty() ? caf::actor{} : holder_elsewhere(self, id);
      if (holder)
        ++st.taken_over; // counted in the metrics once the session arrives
      auto s = spawn_session(self, *st.ctx, std::move(c), conn, origin, holder);
      if (!id.empty()) {
        add_client(st, id, s);
        st.registry->hold(id);
      }
    },
    [self](register_atom, const std::string& id) {
      auto sender = caf::actor_cast<caf::actor>(self->current_sender());
      if (!sender || sender.node() != self->node())
        return;
      add_client(self->state, id, sender);
      self->state.away.forget(id); // connected (or moved here, then offline)
      carry(self, self->state.registry->registered(id));
    },
    [self](offline_atom, const std::string& id) {
      auto& st = self->state;
      auto i = st.clients.find(id);
      if (i != st.clients.end() && self->current_sender()
          && i->second.address() == self->current_sender()->address())
        st.away.disconnected(id);
    },
    [self](load_atom) -> caf::result<uint64_t, uint64_t> {
      // This node's balancer, or a rebalance coordinator's (delegated).
      if (!allowed(self))
        return not_authenticated();
      auto& st = self->state;
      expire_leaving(self);
      uint64_t away = st.away.offline() + st.away.leaving();
      uint64_t connected = st.clients.size() > away ? st.clients.size() - away : 0;
      return {connected, static_cast<uint64_t>(st.away.offline())};
    },
    [self](evict_conns_atom, uint64_t count, const std::string& server_reference) {
      auto& st = self->state;
      if (!from_own_system(self))
        return;
      for (auto i = st.clients.begin(); i != st.clients.end() && count > 0; ++i)
        if (!st.away.away(i->first)) {
          self->send(i->second, evict_conns_atom::value, server_reference);
          ++st.evicted;
          --count;
        }
    },
    [self](evict_sessions_atom, uint64_t count, const std::vector<std::string>& nodes) {
      if (!from_own_system(self))
        return;
      expire_leaving(self);
      send_sessions_away(self, count, nodes);
    },
    [self](adopt_atom, const std::string& id) {
      // Another node's manager (through our node agent) sends us one of
      // its disconnected sessions.
      auto& st = self->state;
      if (!allowed(self) || self->current_sender()->node() == self->node())
        return;
      if (st.clients.count(id))
        return; // its client connected here meanwhile: that session asked
      auto holder = caf::actor_cast<caf::actor>(self->current_sender());
      add_client(st, id, spawn_moved_session(self, *st.ctx, id, holder));
      st.registry->hold(id);
      ++st.moved_here;
    },
    [self](unregister_atom, const std::string& id, bool moved) -> caf::ok_atom {
      auto& st = self->state;
      auto& clients = st.clients;
      if (auto i = clients.find(id);
          i != clients.end()
          && self->current_sender()
          && i->second.address() == self->current_sender()->address()) {
        erase_client(st, i);
        st.away.forget(id);
        if (moved)
          ++st.handed_over;
        carry(self, st.registry->released(id));
      }
      return caf::ok_atom::value;
    },
    [self](takeover_atom, const std::string& id,
           bool clean_start)
      -> caf::result<std::string, caf::actor, std::vector<uint64_t>> {
      // Through our node agent from a session on another node.
      auto& st = self->state;
      if (!allowed(self))
        return not_authenticated();
      auto i = st.clients.find(id);
      if (i == st.clients.end())
        return fail("no session '" + id + "' on " + st.me);
      self->delegate(i->second, takeover_atom::value, clean_start);
      return caf::delegated<std::string, caf::actor, std::vector<uint64_t>>{};
    },
    [self](db::rchange_atom, const std::string& table, const std::string& id,
           bool present, const std::string& node) {
      auto& st = self->state;
      if (table != registry_table || self->current_sender()
            != caf::actor_cast<caf::strong_actor_ptr>(st.cm_shard))
        return;
      carry(self, st.registry->changed(id, present, node));
    },
    [self](registry_check_atom, const std::string& id, const std::string& node) {
      auto& st = self->state;
      if (self->current_sender() != self->ctrl())
        return;
      auto c = st.clients.find(id);
      if (c != st.clients.end() && st.registry->gives_way(id, node))
        self->send(c->second, superseded_atom::value, node,
                   st.ctx->node->now_ms());
    },
    [self](db::rreset_atom, const std::string& table) {
      auto& st = self->state;
      if (table == registry_table && self->current_sender()
            == caf::actor_cast<caf::strong_actor_ptr>(st.cm_shard))
        st.registry->reset();
    },
    [self](db::rsynced_atom, const std::string& table) {
      // The whole registry came again (a watch, or the shard re-synced
      // after a partition healed): a session held here that it does not
      // name is registered again; one it names elsewhere gives way (the
      // rchange above scheduled the check), so each client id ends up on
      // exactly one node.
      auto& st = self->state;
      if (table != registry_table || self->current_sender()
            != caf::actor_cast<caf::strong_actor_ptr>(st.cm_shard))
        return;
      auto again = st.registry->synced();
      carry(self, again);
      if (!again.empty())
        st.ctx->node->log->info("session registry: registered "
                                + std::to_string(again.size())
                                + " sessions held here again after the "
                                  "registry was re-synced");
    },
    [self](members_atom, std::vector<member_wire>& running,
           std::vector<caf::actor>& agents) {
      auto& st = self->state;
      if (!from_own_system(self) || running.size() != agents.size())
        return; // the node agent only
      st.agents.clear();
      for (size_t i = 0; i < running.size(); ++i)
        st.agents.emplace(running[i].name, agents[i]);
      std::vector<broker::registry_member> members;
      for (auto& m : running)
        if (m.name != st.me)
          members.push_back({m.name, m.role == "core", m.started_at_ms});
      carry(self, st.registry->running(members));
    },
    [self](clients_atom) -> caf::result<std::string> {
      if (!allowed(self))
        return not_authenticated();
      return list_clients(self);
    },
    [self](client_atom, const std::string& id) -> caf::result<std::string> {
      if (!allowed(self))
        return not_authenticated();
      auto& st = self->state;
      auto i = st.clients.find(id);
      if (i == st.clients.end()) {
        if (auto node = st.registry->holder(id))
          return "client " + id + ": session on node " + *node;
        return fail("no client '" + id + "' in the cluster");
      }
      self->delegate(i->second, client_atom::value);
      return caf::delegated<std::string>{};
    },
    [self](clients_json_atom) -> caf::result<std::string> {
      if (!from_own_system(self))
        return local_only();
      return clients_json(self);
    },
    [self](client_json_atom, const std::string& id) -> caf::result<std::string> {
      if (!from_own_system(self))
        return local_only();
      auto i = self->state.clients.find(id);
      if (i == self->state.clients.end())
        return fail("no client '" + id + "' on this node");
      self->delegate(i->second, client_json_atom::value);
      return caf::delegated<std::string>{};
    },
    [self](kick_atom, const std::string& id) -> caf::result<bool> {
      if (!from_own_system(self))
        return local_only();
      auto i = self->state.clients.find(id);
      if (i == self->state.clients.end())
        return false;
      self->delegate(i->second, kick_atom::value);
      return caf::delegated<bool>{};
    },
    [self](peer_agents_atom)
      -> caf::result<std::vector<std::string>, std::vector<caf::actor>> {
      if (!from_own_system(self))
        return local_only();
      std::vector<std::string> names;
      std::vector<caf::actor> agents;
      for (auto& [name, a] : self->state.agents) {
        names.push_back(name);
        agents.push_back(a);
      }
      return {names, agents};
    },
    [self](inspect_atom) {
      return inspect_reply(self, *self->state.ctx->node->peers, [&] {
        auto& st = self->state;
        return std::to_string(st.clients.size()) + " client ids, "
               + std::to_string(st.registry->size()) + " in the cluster registry, "
               + std::to_string(st.taken_over) + " asked from / "
               + std::to_string(st.handed_over) + " handed to other nodes, "
               + std::to_string(st.registry->stats().cleaned)
               + " entries of down nodes cleaned, "
               + std::to_string(st.registry->stats().registered_again)
               + " erased while held here and written again, "
               + std::to_string(st.registry->stats().stale_erased)
               + " naming this node for no session here erased; "
               + std::to_string(st.away.offline()) + " disconnected, "
               + std::to_string(st.evicted) + " clients evicted, "
               + std::to_string(st.sent_away) + " sessions sent to / "
               + std::to_string(st.moved_here) + " received from other nodes";
      });
    },
  };
}

} // namespace

caf::actor spawn_client_manager(mqtt_context& ctx) {
  auto a = ctx.node->sys->spawn(manager_fn, &ctx);
  ctx.node->directory->add(a, "mqtt_client_manager", "mqtt_client_manager");
  return a;
}

} // namespace starling::actors::mqtt
