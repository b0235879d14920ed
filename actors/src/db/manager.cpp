#include "starling/actors/db/manager.hpp"

#include "manager_state.hpp"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>

#include <caf/all.hpp>

#include "starling/actors/actor_directory.hpp"
#include "starling/actors/db/context.hpp"
#include "starling/actors/db/merge_server.hpp"
#include "starling/actors/db/shard.hpp"
#include "starling/actors/wire/db.hpp"
#include "starling/actors/inspect.hpp"
#include "starling/actors/node_context.hpp"
#include "starling/actors/peer_registry.hpp"

namespace starling::actors::db {

namespace manager_detail {

void publish_peers(manager_actor* self) {
  auto& st = self->state;
  for (auto& [shard, actor] : st.local) {
    bool merge = shard == merge_key;
    std::vector<shard_peer> list;
    for (auto& [name, r] : st.peers) {
      auto i = r.actors.find(shard);
      if (i == r.actors.end())
        continue;
      bool peer_core = r.member.role == "core";
      // Merge tables hold every node's own records: every running node.
      // A regular shard works with the cores of our database group and,
      // on a core, the replicants (which subscribe to it).
      if (!merge && (peer_core ? !st.group.count(name) : !st.core))
        continue;
      list.push_back({name, peer_core, r.member.started_at_ms, i->second});
    }
    if (merge)
      self->send(actor, peers_atom::value, std::move(list));
    else
      self->send(actor, peers_atom::value, std::move(list), st.leader);
  }
}

} // namespace manager_detail

namespace {

using namespace manager_detail;

void resolve(manager_actor* self, const member_wire& m, const caf::actor& agent,
             uint32_t attempt = 0);

/// A running peer whose database did not answer (a busy or briefly stopped
/// node) is asked again, 1 s later and then twice as long each time up to
/// 30 s, for as long as it runs as the same incarnation: the membership
/// does not change, so nothing else would ask, and our shards would never
/// work with it.
void resolve_later(manager_actor* self, const member_wire& m,
                   const caf::actor& agent, uint32_t attempt,
                   const caf::error& err) {
  auto delay_s = std::min<int64_t>(30, int64_t{1} << std::min<uint32_t>(attempt, 5));
  self->state.db->node->log->warning("cannot reach the database of " + m.name
                                     + ": " + describe(err) + "; asking again in "
                                     + std::to_string(delay_s) + " s");
  self->delayed_send(self, std::chrono::seconds(delay_s), resolve_atom::value, m,
                     agent, attempt + 1);
}

void resolve(manager_actor* self, const member_wire& m, const caf::actor& agent,
             uint32_t attempt) {
  auto timeout = std::chrono::seconds(5);
  self->request(agent, timeout, db_atom::value)
    .then(
      [=](const caf::actor& manager) {
        self->request(manager, timeout, shards_atom::value)
          .then(
            [=](const std::vector<std::string>& names,
                const std::vector<caf::actor>& actors) {
              auto& st = self->state;
              auto i = st.running.find(m.name);
              if (i == st.running.end() || i->second != m.started_at_ms)
                return; // went down meanwhile
              remote_node r{m, {}};
              for (size_t k = 0; k < names.size() && k < actors.size(); ++k)
                r.actors.emplace(names[k], actors[k]);
              st.peers[m.name] = std::move(r);
              publish_peers(self);
              if (m.role == "core")
                probe(self); // a core that came up: compare at once
            },
            [=](caf::error& err) { resolve_later(self, m, agent, attempt, err); });
      },
      [=](caf::error& err) { resolve_later(self, m, agent, attempt, err); });
}

void on_members(manager_actor* self, const std::vector<member_wire>& members,
                const std::vector<caf::actor>& agents) {
  auto& st = self->state;
  std::map<std::string, int64_t> now;
  for (auto& m : members)
    now.emplace(m.name, m.started_at_ms);
  bool changed = false;
  for (auto i = st.peers.begin(); i != st.peers.end();) {
    auto j = now.find(i->first);
    if (j == now.end() || j->second != i->second.member.started_at_ms) {
      st.agreement.erase(i->first); // compared again when it is back
      i = st.peers.erase(i);
      changed = true;
    } else {
      ++i;
    }
  }
  for (size_t k = 0; k < members.size() && k < agents.size(); ++k) {
    auto& m = members[k];
    auto known = st.running.find(m.name);
    if (known == st.running.end() || known->second != m.started_at_ms)
      resolve(self, m, agents[k]);
  }
  st.running = std::move(now);
  if (changed)
    publish_peers(self);
}

/// Gathers every shard's status and the merge tables into one JSON text.
caf::result<std::string> rlog_status(manager_actor* self) {
  auto& st = self->state;
  auto rp = self->make_response_promise();
  auto out = std::make_shared<nlohmann::json>(nlohmann::json{
    {"node", st.self_name},
    {"role", runtime::to_string(st.db->node->cfg.role)},
    {"shards", nlohmann::json::array()},
    {"merge_tables", nlohmann::json::array()}});
  auto pending = std::make_shared<size_t>(st.local.size());
  auto done = [=]() mutable {
    if (--*pending > 0)
      return;
    auto& shards = (*out)["shards"];
    std::sort(shards.begin(), shards.end(),
              [](auto& a, auto& b) { return a["shard"] < b["shard"]; });
    rp.deliver(out->dump());
  };
  for (auto& [shard, actor] : st.local) {
    bool merge = shard == merge_key;
    self->request(actor, std::chrono::seconds(2), status_atom::value)
      .then(
        [=](const std::string& text) mutable {
          auto j = nlohmann::json::parse(text, nullptr, false);
          if (merge && j.is_array())
            (*out)["merge_tables"] = j;
          else if (!j.is_discarded())
            (*out)["shards"].push_back(j);
          done();
        },
        [=](caf::error& err) mutable {
          if (!merge)
            (*out)["shards"].push_back(
              {{"shard", shard}, {"state", "no answer: " + describe(err)}});
          done();
        });
  }
  return caf::delegated<std::string>{};
}

caf::result<uint64_t> write_op(manager_actor* self, op o) {
  auto& st = self->state;
  auto spec = st.db->schema.find(o.table);
  if (!spec)
    return fail("unknown table '" + o.table + "'");
  if (spec->type == table_type::merge) {
    if (o.kind == op::erase_if)
      return fail("'" + o.table + "' is a merge table: no conditional erase");
    // This node's own record: written here, streamed to the others.
    auto rp = self->make_response_promise();
    auto msg = o.kind == op::write
                 ? caf::make_message(put_atom::value, o.table, o.key, o.value)
                 : caf::make_message(erase_atom::value, o.table, o.key);
    self->request(st.local.at(merge_key), std::chrono::seconds(5), msg)
      .then([rp](bool) mutable { rp.deliver(uint64_t{0}); },
            [rp](caf::error& err) mutable { rp.deliver(err); });
    return caf::delegated<uint64_t>{};
  }
  return transact(self, transaction{"", spec->shard, {std::move(o)}});
}

caf::result<std::string> read_key(manager_actor* self, const std::string& table,
                                  const std::string& key) {
  auto& st = self->state;
  auto spec = st.db->schema.find(table);
  if (!spec)
    return fail("unknown table '" + table + "'");
  auto rp = self->make_response_promise();
  if (spec->type == table_type::merge) {
    self->request(st.local.at(merge_key), std::chrono::seconds(5),
                  read_atom::value, table, key)
      .then(
        [rp, key](const std::vector<std::string>& owners) mutable {
          if (owners.empty()) {
            rp.deliver(fail("no record for key '" + key + "'"));
            return;
          }
          std::string text;
          for (auto& o : owners)
            text += (text.empty() ? "" : "\n") + o;
          rp.deliver(text);
        },
        [rp](caf::error& err) mutable { rp.deliver(err); });
  } else {
    self->request(st.local.at(spec->shard), std::chrono::seconds(5),
                  read_atom::value, table, key)
      .then(
        [rp, key](bool found, const std::string& value) mutable {
          if (found)
            rp.deliver(value);
          else
            rp.deliver(fail("no record for key '" + key + "'"));
        },
        [rp](caf::error& err) mutable { rp.deliver(err); });
  }
  return caf::delegated<std::string>{};
}

bool from_peer(manager_actor* self) {
  auto s = self->current_sender();
  if (!s)
    return false;
  if (s->node() == self->node())
    return true;
  auto p = self->state.db->node->peers->find(s->node());
  return p && !p->hidden;
}

caf::behavior manager(manager_actor* self, db_context* db) {
  auto& st = self->state;
  st.db = db;
  st.self_name = db->node->cfg.name.str();
  st.core = db->node->cfg.role == runtime::node_role::core;
  // Alone until the node agent says otherwise: a core leads its shards.
  if (st.core) {
    st.group = {st.self_name};
    st.leader = st.self_name;
  }
  st.report_path = (std::filesystem::path(db->node->cfg.text("node.data_dir"))
                    / (st.self_name + ".heal-report.jsonl"))
                     .string();
  st.local = db->shards;
  st.local.emplace(merge_key, db->merge_server);
  for (auto& [shard, a] : st.local)
    self->link_to(a);
  self->set_error_handler([self](caf::error& err) {
    self->state.db->node->log->warning("db manager: " + describe(err));
  });
  publish_peers(self); // a lone core leads its shards at once
  if (st.core)
    self->send(self, probe_atom::value);
  return {
    [self](members_atom, const std::vector<member_wire>& members,
           const std::vector<caf::actor>& agents) {
      if (!from_own_system(self))
        return;
      self->state.agent = caf::actor_cast<caf::actor>(self->current_sender());
      on_members(self, members, agents);
    },
    [self](group_atom, const std::vector<std::string>& cores,
           const std::string& leader) {
      auto& st = self->state;
      if (!from_own_system(self))
        return;
      std::set<std::string> g(cores.begin(), cores.end());
      if (g == st.group && leader == st.leader)
        return;
      st.group = std::move(g);
      st.leader = leader;
      publish_peers(self);
    },
    [self](resolve_atom, const member_wire& m, const caf::actor& agent,
           uint32_t attempt) {
      auto& st = self->state;
      if (self->current_sender() != self->ctrl())
        return;
      auto i = st.running.find(m.name);
      if (i != st.running.end() && i->second == m.started_at_ms
          && !st.peers.count(m.name))
        resolve(self, m, agent, attempt);
    },
    [self](probe_atom) {
      if (self->current_sender() != self->ctrl())
        return;
      probe(self);
      self->delayed_send(self, probe_interval, probe_atom::value);
    },
    [self](heal_atom, const std::string& round,
           const std::vector<std::string>& winners) -> caf::result<uint64_t> {
      if (!from_own_system(self))
        return fail("autoheal orders come from this node's agent");
      if (!self->state.core)
        return fail("a replicant holds no data of its own to heal");
      return heal(self, round, winners);
    },
    [self](adopt_atom) {
      auto& st = self->state;
      if (!from_own_system(self) || !st.core)
        return;
      st.adopt_until_ms = st.db->node->now_ms() + adopt_window_ms;
      st.agreement.clear();
    },
    [self](heal_report_atom) -> caf::result<std::string> {
      if (!self->state.db->node->peers->allowed(self->current_sender()))
        return not_authenticated();
      return heal_report(self);
    },
    [self](shards_atom)
      -> caf::result<std::vector<std::string>, std::vector<caf::actor>> {
      if (!from_peer(self))
        return fail("refused: not a cluster member");
      std::vector<std::string> names;
      std::vector<caf::actor> actors;
      for (auto& [shard, a] : self->state.local) {
        names.push_back(shard);
        actors.push_back(a);
      }
      return {names, actors};
    },
    [self](retry_atom, const std::string& id) {
      auto& st = self->state;
      auto i = st.retries.find(id);
      if (i == st.retries.end())
        return;
      auto r = std::move(i->second);
      st.retries.erase(i);
      submit(self, std::move(r.txn), std::move(r.done), r.attempt);
    },
    // -- local API and operator commands (the node agent checks operators) --
    [self](txn_atom, transaction& txn) -> caf::result<uint64_t> {
      if (!from_own_system(self))
        return fail("transactions are submitted on their own node");
      return transact(self, std::move(txn));
    },
    [self](put_atom, std::string& table, std::string& key,
           std::string& value) -> caf::result<uint64_t> {
      if (!self->state.db->node->peers->allowed(self->current_sender()))
        return not_authenticated();
      return write_op(self, op{op::write, std::move(table), std::move(key),
                               std::move(value)});
    },
    [self](erase_atom, std::string& table,
           std::string& key) -> caf::result<uint64_t> {
      if (!self->state.db->node->peers->allowed(self->current_sender()))
        return not_authenticated();
      return write_op(self, op{op::erase, std::move(table), std::move(key), ""});
    },
    [self](erase_atom, std::string& table, std::string& key,
           std::string& expected) -> caf::result<uint64_t> {
      // Erases only while the record is `expected` (op::erase_if).
      if (!self->state.db->node->peers->allowed(self->current_sender()))
        return not_authenticated();
      return write_op(self, op{op::erase_if, std::move(table), std::move(key),
                               std::move(expected)});
    },
    [self](read_atom, const std::string& table,
           const std::string& key) -> caf::result<std::string> {
      if (!self->state.db->node->peers->allowed(self->current_sender()))
        return not_authenticated();
      return read_key(self, table, key);
    },
    [self](load_atom, const std::string& table, const std::string& prefix,
           uint64_t count, uint32_t concurrency,
           uint32_t value_size) -> caf::result<std::string> {
      if (!self->state.db->node->peers->allowed(self->current_sender()))
        return not_authenticated();
      return start_load(self, table, prefix, count, concurrency, value_size);
    },
    [self](rlog_atom, status_atom) -> caf::result<std::string> {
      if (!self->state.db->node->peers->allowed(self->current_sender()))
        return not_authenticated();
      return rlog_status(self);
    },
    [self](inspect_atom) {
      auto& st = self->state;
      return inspect_reply(self, *st.db->node->peers, [&] {
        return std::to_string(st.local.size() - 1) + " shards, "
               + std::to_string(st.peers.size()) + " peer databases";
      });
    },
  };
}

} // namespace

caf::actor spawn_db_manager(db_context& db) {
  // The shard actors and the merge server are spawned here, on the caller's
  // thread, not in the manager's start-up: CAF runs that later on a
  // scheduler thread, and the MQTT actors spawned next read db.shards and
  // db.merge_server in their own start-up (a router that found no merge
  // server never published or learned a route).
  for (auto& shard : db.schema.shards()) {
    auto tables = db.schema.tables_of(shard);
    if (!tables.empty() && tables.front().type == table_type::regular)
      db.shards.emplace(shard, spawn_shard(db, shard));
  }
  db.merge_server = spawn_merge_server(db);
  auto a = db.node->sys->spawn(manager, &db);
  db.node->directory->add(a, "db_manager", "db_manager");
  return a;
}

} // namespace starling::actors::db
