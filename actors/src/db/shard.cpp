#include "starling/actors/db/shard.hpp"

#include "shard_state.hpp"

#include <map>
#include <memory>

#include <caf/all.hpp>

#include "starling/actors/actor_directory.hpp"
#include "starling/actors/db/agent.hpp"
#include "starling/actors/db/context.hpp"
#include "starling/actors/db/wire.hpp"
#include "starling/actors/inspect.hpp"
#include "starling/actors/node_context.hpp"
#include "starling/actors/peer_registry.hpp"
#include "starling/runtime/db/replica_fsm.hpp"
#include "starling/runtime/db/sequencer.hpp"
#include "starling/runtime/db/status.hpp"

namespace starling::actors::db {

namespace shard_detail {

bool trusted(shard_actor* self) {
  return self->state.db->node->peers->allowed(self->current_sender());
}

caf::error refused() {
  return fail("refused: the sender has not passed the cookie handshake");
}

std::string new_history(shard_actor* self) {
  return runtime::make_nonce(self->state.db->node->rnd).substr(0, 16);
}

const shard_peer* find_peer(shard_actor* self, const std::string& name) {
  auto& peers = self->state.peers;
  auto i = peers.find(name);
  return i == peers.end() ? nullptr : &i->second;
}

// -- membership ------------------------------------------------------------------

/// The oldest running core (start time, then name): the shard's sequencer.
/// Every node computes it from its own membership view, so all agree once
/// their views agree (Erlang's global and Mria's leader use the same rule).
std::string oldest_core(shard_actor* self) {
  auto& st = self->state;
  std::string best = st.core ? st.self_name : "";
  int64_t best_at = st.core ? st.self_started : INT64_MAX;
  for (auto& [name, p] : st.peers)
    if (p.core && std::tie(p.started_at_ms, name) < std::tie(best_at, best)) {
      best = name;
      best_at = p.started_at_ms;
    }
  return best;
}

void drop_subscriber(shard_actor* self, const std::string& node) {
  auto& st = self->state;
  auto i = st.agents.find(node);
  if (i == st.agents.end())
    return;
  self->send_exit(i->second.handle, caf::exit_reason::user_shutdown);
  st.agents.erase(i);
  if (st.seq)
    answer(self, st.seq->follower_lost(node));
}

void pick_upstream(shard_actor* self);

void on_peers(shard_actor* self, std::vector<shard_peer>& list) {
  auto& st = self->state;
  std::map<std::string, shard_peer> now;
  for (auto& p : list)
    now.emplace(p.name, p);
  for (auto& [name, p] : st.peers)
    if (!now.count(name)) {
      drop_subscriber(self, name);
      if (st.fsm->upstream() == name
          && st.fsm->state() != replica_state::disconnected) {
        st.db->node->log->warning("shard " + st.shard + ": upstream " + name
                                  + " is down");
        st.fsm->on_upstream_lost(name);
        st.upstream = nullptr;
        st.upstream_agent = nullptr;
      }
    }
  st.peers = std::move(now);
  if (st.core) {
    auto leader = oldest_core(self);
    if (leader != st.leader) {
      st.took_over = !st.leader.empty();
      st.leader = leader;
      if (leader == st.self_name) {
        become_leader(self);
      } else {
        st.leading = false;
        st.syncing = false;
        st.db->node->log->info("shard " + st.shard + ": sequencer is "
                               + leader);
        run(self, st.fsm->connect(leader));
        drain_stash(self);
      }
      return;
    }
  }
  pick_upstream(self);
}

/// A disconnected replica subscribes again: a following core at the leader,
/// a replicant at the least loaded core (fewest subscribers, ties broken
/// by a hash of both names so replicants spread).
void pick_upstream(shard_actor* self) {
  auto& st = self->state;
  if (st.fsm->state() != replica_state::disconnected || st.syncing)
    return;
  if (st.core) {
    if (!st.leader.empty() && st.leader != st.self_name)
      run(self, st.fsm->connect(st.leader));
    return;
  }
  struct choice {
    std::string name;
    uint64_t load;
    size_t tie;
  };
  auto best = std::make_shared<std::optional<choice>>();
  auto pending = std::make_shared<size_t>(1);
  auto epoch = st.fsm->epoch();
  auto done = [self, best, pending, epoch] {
    if (--*pending > 0)
      return;
    auto& st = self->state;
    if (epoch != st.fsm->epoch()
        || st.fsm->state() != replica_state::disconnected)
      return;
    if (*best)
      run(self, st.fsm->connect((*best)->name));
    else
      schedule_reconnect(self);
  };
  for (auto& [name, p] : st.peers) {
    if (!p.core)
      continue;
    ++*pending;
    auto tie = std::hash<std::string>{}(st.self_name + "/" + name);
    self->request(p.shard, subscribe_timeout, seqno_atom::value)
      .then(
        [=](const std::string&, uint64_t, uint64_t load, bool) {
          choice c{name, load, tie};
          if (!*best || std::tie(c.load, c.tie) < std::tie((*best)->load,
                                                          (*best)->tie))
            *best = c;
          done();
        },
        [=](caf::error&) { done(); });
  }
  done();
}

// -- the live stream (following a core) -------------------------------------------

void on_live(shard_actor* self, uint64_t epoch,
             const std::vector<committed>& batch, uint64_t latest) {
  auto& st = self->state;
  if (self->current_sender()
      != caf::actor_cast<caf::strong_actor_ptr>(st.upstream_agent))
    return; // a stale agent of an earlier subscription
  st.upstream_seqno = std::max(st.upstream_seqno, latest);
  for (auto& c : batch) {
    run(self, st.fsm->on_live(epoch, c));
    if (epoch != st.fsm->epoch() || !st.upstream_agent)
      return; // resubscribed: the rest of the batch is stale
  }
  if (batch.empty())
    return;
  st.unacked += batch.size();
  // A replicant acknowledges in batches: acknowledgements only move its
  // agent's window, and one per transaction would cost the core as much
  // as the transaction itself. A following core acknowledges every
  // message: the sequencer's callers wait for it.
  if (st.core || st.unacked >= replicant_ack_every) {
    self->send(st.upstream_agent, ack_atom::value, epoch, batch.back().seqno);
    st.unacked = 0;
  }
}

shard_status status(shard_actor* self) {
  auto& st = self->state;
  shard_status s;
  s.shard = st.shard;
  s.role = st.core ? "core" : "replicant";
  s.leader = st.leader;
  s.leading = st.leading;
  s.state = st.leading ? "normal" : to_string(st.fsm->state());
  s.upstream = st.leading ? "" : st.fsm->upstream();
  s.history = st.fsm->history();
  s.seqno = st.store->seqno();
  s.upstream_seqno = st.leading ? s.seqno : st.upstream_seqno;
  s.lag = s.upstream_seqno > s.seqno ? s.upstream_seqno - s.seqno : 0;
  s.replay_queue = st.fsm->buffered();
  auto& stats = st.fsm->stats();
  s.bootstrap_ms = stats.last_bootstrap_ms;
  s.bootstrap_records = stats.last_bootstrap_records;
  s.bootstraps = stats.bootstraps;
  s.resumes = stats.resumes;
  s.gaps = stats.gaps;
  s.duplicates = stats.duplicates;
  s.stale = stats.stale;
  s.mailbox = self->mailbox().size();
  s.records = st.store->size();
  s.checksum = st.store->checksum();
  s.log_first = st.log ? st.log->first_seqno() : 0;
  s.log_last = st.log ? st.log->last_seqno() : 0;
  s.pending_commits = st.seq ? st.seq->pending() : 0;
  for (auto& [node, a] : st.agents)
    s.agents.push_back({node, a.gauge->core, a.gauge->pending.load(),
                        a.gauge->in_flight.load(), a.gauge->acked.load()});
  return s;
}

// -- behavior --------------------------------------------------------------------

void on_down(shard_actor* self, const caf::down_msg& msg) {
  auto& st = self->state;
  if (st.upstream_agent && msg.source == st.upstream_agent.address()) {
    st.upstream_agent = nullptr;
    if (!st.leading && st.fsm->state() != replica_state::disconnected) {
      st.fsm->on_upstream_lost(st.fsm->upstream());
      schedule_reconnect(self);
    }
    return;
  }
  std::erase_if(st.watchers,
                [&](auto& w) { return w.second.address() == msg.source; });
  for (auto& [node, a] : st.agents)
    if (a.handle.address() == msg.source) {
      auto name = node;
      st.agents.erase(name);
      if (st.seq)
        answer(self, st.seq->follower_lost(name));
      return;
    }
}

void init(shard_actor* self, db_context* db, const std::string& shard) {
  auto& st = self->state;
  auto& node = *db->node;
  st.db = db;
  st.shard = shard;
  st.core = node.cfg.role == runtime::node_role::core;
  st.self_name = node.cfg.name.str();
  st.self_started = node.started_at_ms;
  auto tables = db->schema.tables_of(shard);
  bool has_ram = false;
  for (auto& t : tables)
    (t.store == storage::disc ? st.disc : has_ram) = true;
  st.store = std::make_unique<shard_store>(shard);
  std::string history;
  if (auto i = db->recovered.find(shard); i != db->recovered.end()) {
    for (auto& r : i->second.records)
      st.store->put(r);
    // In the store now: free the loaded copy (only this shard's actor
    // touches its entry's value; the map itself never changes).
    std::vector<record>().swap(i->second.records);
    // With ram tables in the shard the file holds only part of the state
    // at its seqno: keep the records (a lone core serves them) but never
    // resume from it; joining a cluster re-bootstraps the shard.
    if (!has_ram) {
      st.store->set_seqno(i->second.seqno);
      history = i->second.history;
    }
  }
  st.fsm = std::make_unique<replica_fsm>(*st.store, history,
                                         db->settings.replay_buffer_limit);
  if (st.core) {
    st.log = std::make_unique<rlog>(db->settings.log_size);
    st.seq = std::make_unique<sequencer>(*st.store, *st.log, db->schema);
  }
  // A peer may refuse one of our one-way messages: logged, never fatal.
  self->set_error_handler([self](caf::error& err) {
    self->state.db->node->log->warning("shard " + self->state.shard + ": "
                                       + describe(err));
  });
  self->set_down_handler([self](caf::down_msg& msg) { on_down(self, msg); });
}

caf::behavior shard_behavior(shard_actor* self, db_context* db,
                             std::string shard) {
  init(self, db, shard);
  return {
    [self](peers_atom, std::vector<shard_peer>& list) {
      if (!from_own_system(self))
        return;
      on_peers(self, list);
    },
    [self](txn_atom, const transaction& txn) -> caf::result<uint64_t> {
      if (!trusted(self))
        return refused();
      auto rp = self->make_response_promise();
      route_txn(self, txn, rp);
      return caf::delegated<uint64_t>{};
    },
    [self](seqno_atom)
      -> caf::result<std::string, uint64_t, uint64_t, bool> {
      if (!trusted(self))
        return refused();
      auto& st = self->state;
      return {st.fsm->history(), st.store->seqno(),
              static_cast<uint64_t>(st.agents.size()), st.leading};
    },
    [self](subscribe_atom, uint32_t version, const std::string& node,
           bool is_core, uint64_t epoch, const std::string& history,
           uint64_t seqno, const std::string& last_id,
           const caf::actor& replica)
      -> caf::result<bool, std::string, uint64_t, caf::actor> {
      if (!trusted(self))
        return refused();
      return on_subscribe(self, version, node, is_core, epoch, history, seqno,
                          last_id, replica);
    },
    [self](batch_atom, uint64_t, bool from_start,
           const record& after) -> caf::result<std::vector<record>> {
      if (!trusted(self))
        return refused();
      auto& st = self->state;
      std::optional<record> from;
      if (!from_start)
        from = after;
      return st.store->batch_after(from, st.db->settings.batch_size);
    },
    [self](live_atom, uint64_t epoch, const std::vector<committed>& batch,
           uint64_t latest) {
      on_live(self, epoch, batch, latest);
    },
    [self](cut_atom, uint64_t epoch, const std::string& why) {
      auto& st = self->state;
      if (self->current_sender()
            != caf::actor_cast<caf::strong_actor_ptr>(st.upstream_agent)
          || epoch != st.fsm->epoch())
        return;
      st.db->node->log->warning("shard " + st.shard + ": cut off by "
                                + st.fsm->upstream() + ": " + why);
      st.upstream_agent = nullptr;
      st.fsm->on_upstream_lost(st.fsm->upstream());
      schedule_reconnect(self);
    },
    [self](acked_atom, const std::string& node, uint64_t seqno) {
      auto& st = self->state;
      if (!from_own_system(self) || !st.seq)
        return;
      answer(self, st.seq->ack(seqno, node));
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
      auto& st = self->state;
      if (epoch == st.fsm->epoch())
        pick_upstream(self);
    },
    [self](read_atom, const std::string& table,
           const std::string& key) -> caf::result<bool, std::string> {
      if (!trusted(self))
        return refused();
      auto v = self->state.store->read(table, key);
      return {v.has_value(), v.value_or("")};
    },
    [self](read_atom, const std::string& table, const std::string& prefix,
           uint64_t limit) -> caf::result<std::vector<record>> {
      if (!trusted(self))
        return refused();
      return self->state.store->match(table, prefix, limit);
    },
    [self](status_atom) -> caf::result<std::string> {
      if (!trusted(self))
        return refused();
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
               + (st.core ? ", " + std::to_string(st.agents.size())
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