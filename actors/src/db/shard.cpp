#include "starling/actors/db/shard.hpp"

#include "shard_state.hpp"

#include <caf/all.hpp>

#include "starling/actors/actor_directory.hpp"
#include "starling/actors/inspect.hpp"
#include "starling/actors/node_context.hpp"
#include "starling/actors/peer_registry.hpp"
#include "starling/actors/wire/node.hpp"
#include "starling/runtime/db/status.hpp"

namespace starling::actors::db {

namespace shard_detail {

namespace {

bool trusted(shard_actor* self) {
  return self->state.db->node->peers->allowed(self->current_sender());
}

int64_t now(shard_actor* self) {
  return self->state.db->node->now_ms();
}

shard_status status(shard_actor* self) {
  auto& st = self->state;
  auto& c = *st.core;
  auto& fsm = c.fsm();
  shard_status s;
  s.shard = st.shard;
  s.role = c.core() ? "core" : "replicant";
  s.leader = c.leader();
  s.leading = c.leading();
  s.state = c.leading() ? "normal" : to_string(fsm.state());
  s.upstream = c.leading() ? "" : fsm.upstream();
  s.history = fsm.history().current();
  s.lineage = fsm.history().str();
  s.healing = c.healing();
  s.seqno = c.store().seqno();
  s.upstream_seqno = c.leading() ? s.seqno : c.upstream_seqno();
  s.lag = s.upstream_seqno > s.seqno ? s.upstream_seqno - s.seqno : 0;
  s.replay_queue = fsm.buffered();
  auto& stats = fsm.stats();
  s.bootstrap_ms = stats.last_bootstrap_ms;
  s.bootstrap_records = stats.last_bootstrap_records;
  s.bootstraps = stats.bootstraps;
  s.resumes = stats.resumes;
  s.gaps = stats.gaps;
  s.duplicates = stats.duplicates;
  s.stale = stats.stale;
  s.mailbox = self->mailbox().size();
  s.records = c.store().size();
  s.checksum = c.store().checksum();
  s.log_first = c.log() ? c.log()->first_seqno() : 0;
  s.log_last = c.log() ? c.log()->last_seqno() : 0;
  s.pending_commits = c.seq() ? c.seq()->pending() : 0;
  for (auto& [node, a] : st.agents)
    s.agents.push_back({node, a.gauge->core, a.gauge->pending.load(),
                        a.gauge->in_flight.load(), a.gauge->acked.load()});
  return s;
}

void on_down(shard_actor* self, const caf::down_msg& msg) {
  auto& st = self->state;
  if (st.upstream_agent && msg.source == st.upstream_agent.address()) {
    st.upstream_agent = nullptr;
    carry(self, st.core->on_upstream_lost(now(self)));
    return;
  }
  std::erase_if(st.watchers,
                [&](auto& w) { return w.second.address() == msg.source; });
  for (auto& [node, a] : st.agents)
    if (a.handle.address() == msg.source) {
      auto name = node;
      st.agents.erase(name);
      carry(self, st.core->on_stream_lost(name));
      return;
    }
}

/// The shard's records and history as recovered from the SQLite file.
std::pair<std::unique_ptr<shard_store>, lineage>
recover(db_context* db, const std::string& shard, bool& disc) {
  auto& node = *db->node;
  bool has_ram = false;
  for (auto& t : db->schema.tables_of(shard))
    (t.store == storage::disc ? disc : has_ram) = true;
  auto store = std::make_unique<shard_store>(shard);
  lineage history;
  if (auto i = db->recovered.find(shard); i != db->recovered.end()) {
    for (auto& r : i->second.records)
      store->put(r);
    // In the store now: free the loaded copy (only this shard's actor
    // touches its entry's value; the map itself never changes).
    std::vector<record>().swap(i->second.records);
    // With ram tables in the shard the file holds only part of the state
    // at its seqno: keep the records (a lone core serves them) but never
    // resume from it; joining a cluster re-bootstraps the shard.
    if (!has_ram) {
      if (auto l = lineage::parse(i->second.history)) {
        store->set_seqno(i->second.seqno);
        history = *l;
      } else {
        node.log->error("shard " + shard + ": unreadable history '"
                        + i->second.history + "' in the data file: its "
                        "records are kept but it re-bootstraps");
      }
    }
  }
  return {std::move(store), std::move(history)};
}

void init(shard_actor* self, db_context* db, const std::string& shard) {
  auto& st = self->state;
  auto& node = *db->node;
  st.db = db;
  st.shard = shard;
  st.self_name = node.cfg.name.str();
  bool disc = false;
  auto [store, history] = recover(db, shard, disc);
  shard_core_settings cs;
  cs.log_size = db->settings.log_size;
  cs.agent_queue_limit = db->settings.agent_queue_limit;
  cs.replay_buffer_limit = db->settings.replay_buffer_limit;
  st.core = std::make_unique<shard_core>(
    shard, st.self_name, node.cfg.role == runtime::node_role::core, disc,
    std::move(store), std::move(history), db->schema, cs,
    [db] { return runtime::make_nonce(db->node->rnd).substr(0, 12); });
  // A peer may refuse one of our one-way messages: logged, never fatal.
  self->set_error_handler([self](caf::error& err) {
    self->state.db->node->log->warning("shard " + self->state.shard + ": "
                                       + describe(err));
  });
  self->set_down_handler([self](caf::down_msg& msg) { on_down(self, msg); });
}

caf::result<bool, std::string, uint64_t, caf::actor>
on_subscribe(shard_actor* self, uint32_t version, const std::string& node,
             bool is_core, uint64_t epoch, const std::string& history,
             uint64_t seqno, const std::string& last_id,
             const caf::actor& replica) {
  auto& st = self->state;
  if (version != db_protocol_version)
    return fail("protocol version " + std::to_string(version)
                + " is not ours (" + std::to_string(db_protocol_version) + ")");
  shard_effects effects;
  auto d = st.core->on_subscribe(node, is_core, history, seqno, last_id, effects);
  carry(self, std::move(effects)); // drops an earlier agent of `node` first
  if (!d.error.empty())
    return fail(d.error);
  auto gauge = std::make_shared<agent_gauge>();
  gauge->node = node;
  gauge->core = is_core;
  auto agent = spawn_agent(*st.db, caf::actor_cast<caf::actor>(self), st.shard,
                           epoch, replica, std::move(d.entries), d.core_seqno,
                           gauge);
  self->monitor(agent);
  st.agents[node] = {agent, gauge};
  return {d.resume, d.history.str(), d.core_seqno, agent};
}

} // namespace

caf::behavior shard_behavior(shard_actor* self, db_context* db,
                             std::string shard) {
  init(self, db, shard);
  return {
    [self](peers_atom, std::vector<shard_peer>& list,
           const std::string& leader) {
      if (!from_own_system(self))
        return;
      auto& st = self->state;
      std::vector<shard_peer_info> infos;
      st.peers.clear();
      for (auto& p : list) {
        infos.push_back({p.name, p.core, p.started_at_ms});
        st.peers[p.name] = p.shard;
      }
      carry(self, st.core->on_peers(std::move(infos), leader, now(self)));
    },
    [self](reset_atom, const std::string& reason, uint64_t common)
      -> caf::result<std::string, std::vector<committed>, uint64_t, uint64_t> {
      if (!from_own_system(self))
        return not_authenticated();
      shard_effects effects;
      auto r = self->state.core->reset(reason, common, now(self), effects);
      carry(self, std::move(effects));
      return {r.history, std::move(r.discarded), r.log_first, r.seqno};
    },
    [self](txn_atom, const transaction& txn) -> caf::result<uint64_t> {
      if (!trusted(self))
        return not_authenticated();
      auto& st = self->state;
      auto id = ++st.next_caller;
      st.callers.emplace(id, self->make_response_promise());
      carry(self, st.core->on_txn(txn, id, now(self)));
      return caf::delegated<uint64_t>{};
    },
    [self](seqno_atom)
      -> caf::result<std::string, uint64_t, uint64_t, bool, bool> {
      if (!trusted(self))
        return not_authenticated();
      auto& c = *self->state.core;
      return {c.fsm().history().str(), c.fsm().reported_seqno(),
              static_cast<uint64_t>(c.subscribers().size()), c.leading(),
              c.serving()};
    },
    [self](subscribe_atom, uint32_t version, const std::string& node,
           bool is_core, uint64_t epoch, const std::string& history,
           uint64_t seqno, const std::string& last_id,
           const caf::actor& replica)
      -> caf::result<bool, std::string, uint64_t, caf::actor> {
      if (!trusted(self))
        return not_authenticated();
      return on_subscribe(self, version, node, is_core, epoch, history, seqno,
                          last_id, replica);
    },
    [self](batch_atom, uint64_t, bool from_start,
           const record& after) -> caf::result<std::vector<record>> {
      if (!trusted(self))
        return not_authenticated();
      std::optional<record> from;
      if (!from_start)
        from = after;
      return self->state.core->store().batch_after(
        from, self->state.db->settings.batch_size);
    },
    [self](live_atom, uint64_t epoch, const std::vector<committed>& batch,
           uint64_t latest) {
      auto& st = self->state;
      if (self->current_sender()
          != caf::actor_cast<caf::strong_actor_ptr>(st.upstream_agent))
        return; // a stale agent of an earlier subscription
      carry(self, st.core->on_live(epoch, batch, latest, now(self)));
    },
    [self](cut_atom, uint64_t epoch, const std::string& why) {
      auto& st = self->state;
      if (self->current_sender()
          != caf::actor_cast<caf::strong_actor_ptr>(st.upstream_agent))
        return;
      auto effects = st.core->on_cut(epoch, why);
      if (!effects.empty())
        st.upstream_agent = nullptr;
      carry(self, std::move(effects));
    },
    [self](acked_atom, const std::string& node, uint64_t seqno) {
      if (from_own_system(self))
        carry(self, self->state.core->on_acked(node, seqno));
    },
    [self](watch_atom, const std::string& table) {
      auto w = caf::actor_cast<caf::actor>(self->current_sender());
      auto spec = self->state.db->schema.find(table);
      if (!w || w.node() != self->node() || !spec
          || spec->shard != self->state.shard)
        return;
      self->state.watchers.emplace_back(table, w);
      self->monitor(w);
      send_table(self, table, w);
    },
    [self](reconnect_atom, uint64_t epoch) {
      if (self->current_sender() == self->ctrl())
        carry(self, self->state.core->on_retry(epoch, now(self)));
    },
    [self](read_atom, const std::string& table,
           const std::string& key) -> caf::result<bool, std::string> {
      if (!trusted(self))
        return not_authenticated();
      auto v = self->state.core->store().read(table, key);
      return {v.has_value(), v.value_or("")};
    },
    [self](read_atom, const std::string& table, const std::string& prefix,
           uint64_t limit) -> caf::result<std::vector<record>> {
      if (!trusted(self))
        return not_authenticated();
      return self->state.core->store().match(table, prefix, limit);
    },
    [self](status_atom) -> caf::result<std::string> {
      if (!trusted(self))
        return not_authenticated();
      return to_json(status(self)).dump();
    },
    [self](inspect_atom) {
      auto& st = self->state;
      return inspect_reply(self, *st.db->node->peers, [&] {
        auto s = status(self);
        return s.state + (s.leading ? " (sequencer)" : "") + ", seqno "
               + std::to_string(s.seqno) + ", " + std::to_string(s.records)
               + " records"
               + (s.upstream.empty() ? "" : ", upstream " + s.upstream)
               + (st.core->core() ? ", " + std::to_string(st.agents.size())
                                      + " subscribers"
                                  : "");
      });
    },
  };
}

} // namespace shard_detail

caf::actor spawn_shard(db_context& db, const std::string& shard) {
  auto a = db.node->sys->spawn(shard_detail::shard_behavior, &db, shard);
  bool core = db.node->cfg.role == runtime::node_role::core;
  db.node->directory->add(a, (core ? "shard_server:" : "replica:") + shard,
                          core ? "shard_server" : "replica");
  return a;
}

} // namespace starling::actors::db
