#include "starling/actors/db/merge_server.hpp"

#include <algorithm>
#include <map>

#include <caf/all.hpp>

#include "starling/actors/actor_directory.hpp"
#include "starling/actors/db/context.hpp"
#include "starling/actors/wire/db.hpp"
#include "starling/actors/inspect.hpp"
#include "starling/actors/node_context.hpp"
#include "starling/actors/peer_registry.hpp"
#include "starling/runtime/db/merge_table.hpp"
#include "starling/runtime/db/status.hpp"

namespace starling::actors::db {

namespace {

using namespace runtime::db;

struct merge_state {
  db_context* db = nullptr;
  std::string self_name;
  std::map<std::string, merge_table> tables;
  std::map<std::string, caf::actor> peers; ///< running node -> merge server
  std::map<std::string, std::vector<caf::actor>> watchers; ///< by table
  static inline const char* name = "merge_server";
};

using merge_actor = caf::stateful_actor<merge_state>;

bool local(merge_actor* self) {
  return from_own_system(self);
}

/// The authenticated node that sent the current message, if any.
std::optional<std::string> sending_node(merge_actor* self) {
  auto s = self->current_sender();
  if (!s)
    return std::nullopt;
  auto p = self->state.db->node->peers->find(s->node());
  if (!p || p->hidden)
    return std::nullopt;
  return p->name;
}

merge_table* table(merge_actor* self, const std::string& name) {
  auto i = self->state.tables.find(name);
  return i == self->state.tables.end() ? nullptr : &i->second;
}

/// Tells the local watchers of `name` that owner's record for key came or
/// went (only other nodes' records: a node knows its own).
void notify(merge_actor* self, const std::string& name, const std::string& owner,
            const std::string& key, bool present) {
  auto i = self->state.watchers.find(name);
  if (i == self->state.watchers.end())
    return;
  for (auto& w : i->second)
    self->send(w, mchange_atom::value, name, owner, key, present);
}

void broadcast(merge_actor* self, const std::string& name,
               std::vector<op> ops) {
  auto& st = self->state;
  for (auto& [node, server] : st.peers)
    self->send(server, merge_atom::value, st.self_name, name, ops);
}

void send_all_own(merge_actor* self, const caf::actor& to) {
  auto& st = self->state;
  for (auto& [name, t] : st.tables) {
    std::vector<record> own;
    for (auto& [key, value] : t.owned_by(st.self_name))
      own.push_back({name, key, value});
    self->send(to, msync_atom::value, st.self_name, name, own);
  }
}

void on_peers(merge_actor* self, const std::vector<shard_peer>& list) {
  auto& st = self->state;
  std::map<std::string, caf::actor> now;
  for (auto& p : list)
    now.emplace(p.name, p.shard);
  for (auto& [node, server] : st.peers)
    if (!now.count(node)) {
      size_t dropped = 0;
      for (auto& [name, t] : st.tables) {
        for (auto& [key, value] : t.owned_by(node))
          notify(self, name, node, key, false);
        dropped += t.drop_owner(node);
      }
      if (dropped > 0)
        st.db->node->log->info("merge tables: dropped " + std::to_string(dropped)
                               + " records of " + node + " (down)");
    }
  for (auto& [node, server] : now)
    if (auto i = st.peers.find(node); i == st.peers.end() || i->second != server) {
      send_all_own(self, server);
      self->send(server, mpull_atom::value);
    }
  st.peers = std::move(now);
}

caf::result<std::string> merge_status_json(merge_actor* self) {
  auto& st = self->state;
  auto arr = nlohmann::json::array();
  for (auto& [name, t] : st.tables) {
    merge_status s{name, t.size(), t.key_count(),
                   t.owned_by(st.self_name).size(), t.checksum()};
    arr.push_back(to_json(s));
  }
  return arr.dump();
}

caf::behavior merge_server(merge_actor* self, db_context* db) {
  auto& st = self->state;
  st.db = db;
  st.self_name = db->node->cfg.name.str();
  for (auto& t : db->schema.tables())
    if (t.type == table_type::merge)
      st.tables.emplace(t.name, merge_table{t.name});
  self->set_error_handler([self](caf::error& err) {
    self->state.db->node->log->warning("merge server: " + describe(err));
  });
  self->set_down_handler([self](caf::down_msg& dm) {
    for (auto& [name, list] : self->state.watchers)
      list.erase(std::remove_if(list.begin(), list.end(),
                                [&](auto& w) { return w.address() == dm.source; }),
                 list.end());
  });
  return {
    [self](peers_atom, const std::vector<shard_peer>& list) {
      if (local(self))
        on_peers(self, list);
    },
    [self](put_atom, const std::string& name, const std::string& key,
           const std::string& value) -> caf::result<bool> {
      auto t = table(self, name);
      if (!local(self))
        return fail("only this node writes its merge-table records");
      if (!t)
        return fail("'" + name + "' is not a merge table");
      if (t->put(key, self->state.self_name, value))
        broadcast(self, name, {op{op::write, name, key, value}});
      return true;
    },
    [self](erase_atom, const std::string& name,
           const std::string& key) -> caf::result<bool> {
      auto t = table(self, name);
      if (!local(self))
        return fail("only this node writes its merge-table records");
      if (!t)
        return fail("'" + name + "' is not a merge table");
      bool existed = t->erase(key, self->state.self_name);
      if (existed)
        broadcast(self, name, {op{op::erase, name, key, ""}});
      return existed;
    },
    [self](merge_atom, const std::string& owner, const std::string& name,
           const std::vector<op>& ops) {
      auto from = sending_node(self);
      auto t = table(self, name);
      if (!from || *from != owner || !t)
        return; // a node only writes its own records
      for (auto& o : ops) {
        if (o.kind == op::write && t->put(o.key, owner, o.value))
          notify(self, name, owner, o.key, true);
        else if (o.kind == op::erase && t->erase(o.key, owner))
          notify(self, name, owner, o.key, false);
      }
    },
    [self](msync_atom, const std::string& owner, const std::string& name,
           const std::vector<record>& records) {
      auto from = sending_node(self);
      auto t = table(self, name);
      if (!from || *from != owner || !t)
        return;
      std::map<std::string, std::string> all;
      for (auto& r : records)
        all.emplace(r.key, r.value);
      auto before = t->owned_by(owner);
      t->replace_owner(owner, all);
      for (auto& [key, value] : before)
        if (!all.count(key))
          notify(self, name, owner, key, false);
      for (auto& [key, value] : all)
        if (auto b = before.find(key); b == before.end() || b->second != value)
          notify(self, name, owner, key, true);
    },
    [self](mpull_atom) {
      auto to = caf::actor_cast<caf::actor>(self->current_sender());
      if (to && sending_node(self))
        send_all_own(self, to);
    },
    [self](watch_atom, const std::string& name) {
      auto t = table(self, name);
      auto w = caf::actor_cast<caf::actor>(self->current_sender());
      if (!local(self) || !t || !w)
        return;
      self->state.watchers[name].push_back(w);
      self->monitor(w);
      for (auto& key : t->keys())
        for (auto& [owner, value] : t->owners(key))
          if (owner != self->state.self_name)
            self->send(w, mchange_atom::value, name, owner, key, true);
    },
    [self](read_atom, const std::string& name,
           const std::string& key) -> caf::result<std::vector<std::string>> {
      if (!self->state.db->node->peers->allowed(self->current_sender()))
        return not_authenticated();
      auto t = table(self, name);
      if (!t)
        return fail("'" + name + "' is not a merge table");
      std::vector<std::string> out;
      for (auto& [owner, value] : t->owners(key))
        out.push_back(owner + "=" + value);
      return out;
    },
    [self](status_atom) -> caf::result<std::string> {
      if (!self->state.db->node->peers->allowed(self->current_sender()))
        return not_authenticated();
      return merge_status_json(self);
    },
    [self](inspect_atom) {
      auto& st = self->state;
      return inspect_reply(self, *st.db->node->peers, [&] {
        std::string s;
        for (auto& [name, t] : st.tables)
          s += (s.empty() ? "" : ", ") + name + ": " + std::to_string(t.size())
               + " records";
        return s + "; " + std::to_string(st.peers.size()) + " peers";
      });
    },
  };
}

} // namespace

caf::actor spawn_merge_server(db_context& db) {
  auto a = db.node->sys->spawn(merge_server, &db);
  db.node->directory->add(a, "merge_server", "merge_server");
  return a;
}

} // namespace starling::actors::db
