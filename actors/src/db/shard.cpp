#include "starling/actors/db/shard.hpp"

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

namespace {

using namespace runtime::db;

constexpr auto reconnect_delay = std::chrono::milliseconds(300);
constexpr auto subscribe_timeout = std::chrono::seconds(5);
/// A replicant acknowledges every this many transactions, so its agent's
/// window (rlog window, far larger) keeps moving.
constexpr uint64_t replicant_ack_every = 32;

struct agent_entry {
  caf::actor handle;
  std::shared_ptr<agent_gauge> gauge;
};

struct shard_state {
  db_context* db = nullptr;
  std::string shard;
  bool core = true;
  bool disc = false;
  std::string self_name;
  int64_t self_started = 0;
  std::unique_ptr<shard_store> store;
  std::unique_ptr<rlog> log;
  std::unique_ptr<replica_fsm> fsm;
  std::unique_ptr<sequencer> seq;
  std::map<std::string, shard_peer> peers; ///< running peers
  // -- core: the sequencer role --
  std::string leader;
  bool leading = false;
  bool syncing = false;
  bool took_over = false; ///< leading after another core did
  uint64_t sync_target = 0;
  std::multimap<uint64_t, caf::response_promise> callers;
  std::vector<std::pair<transaction, caf::response_promise>> stash;
  std::map<std::string, agent_entry> agents; ///< subscriber node -> agent
  // -- following a core --
  caf::actor upstream;
  caf::actor upstream_agent;
  uint64_t upstream_seqno = 0;
  uint64_t unacked = 0;
  static inline const char* name = "shard";
};

using shard_actor = caf::stateful_actor<shard_state>;

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

// -- carrying out the replica's effects ---------------------------------------

void run(shard_actor* self, std::vector<replica_effect> effects);

void persist(shard_actor* self, const committed& c) {
  auto& st = self->state;
  if (!st.disc || !st.db->disk)
    return;
  std::string err;
  if (!st.db->disk->store(st.db->schema, c, err))
    st.db->node->log->error("shard " + st.shard + ": " + err);
}

/// What every core does with a transaction it committed or applied: log it
/// (replicas resume from the log), store it, feed the subscribers.
void on_applied(shard_actor* self, const committed& c) {
  auto& st = self->state;
  if (!st.core)
    return;
  if (st.log->last_seqno() < c.seqno) // the sequencer logged it already
    st.log->append(c);
  persist(self, c);
  for (auto& [node, a] : st.agents)
    self->send(a.handle, push_atom::value, c);
}

void on_bootstrapped(shard_actor* self) {
  auto& st = self->state;
  if (!st.core)
    return;
  st.log->clear();
  if (!st.disc || !st.db->disk)
    return;
  std::vector<record> all;
  std::optional<record> after;
  for (;;) {
    auto batch = st.store->batch_after(after, 10000);
    if (batch.empty())
      break;
    after = batch.back();
    all.insert(all.end(), batch.begin(), batch.end());
  }
  std::string err;
  if (!st.db->disk->replace_shard(st.db->schema, st.shard, st.store->seqno(),
                                  st.fsm->history(), all, err))
    st.db->node->log->error("shard " + st.shard + ": " + err);
}

void schedule_reconnect(shard_actor* self) {
  self->delayed_send(self, reconnect_delay, reconnect_atom::value,
                     self->state.fsm->epoch());
}

void subscribe_at(shard_actor* self, const replica_effect& e) {
  auto& st = self->state;
  auto peer = find_peer(self, e.core);
  if (!peer) {
    st.fsm->on_subscribe_failed(e.epoch);
    schedule_reconnect(self);
    return;
  }
  auto target = peer->shard;
  auto epoch = e.epoch;
  self
    ->request(target, subscribe_timeout, subscribe_atom::value,
              db_protocol_version, st.self_name, st.core, e.epoch, e.history,
              e.from, e.last_id, caf::actor_cast<caf::actor>(self))
    .then(
      [=](bool resume, std::string& history, uint64_t core_seqno,
          caf::actor& agent) {
        auto& st = self->state;
        if (epoch != st.fsm->epoch())
          return;
        if (st.upstream_agent && st.upstream_agent != agent)
          self->send_exit(st.upstream_agent, caf::exit_reason::user_shutdown);
        st.upstream = target;
        st.upstream_agent = agent;
        st.upstream_seqno = core_seqno;
        st.unacked = 0;
        self->monitor(agent);
        // The agent sends nothing before this first acknowledgement, so no
        // live transaction can overtake the reply we are handling.
        self->send(agent, ack_atom::value, epoch, uint64_t{0});
        subscription_reply r{resume, std::move(history), core_seqno, {}};
        run(self, st.fsm->on_subscribed(epoch, std::move(r),
                                        st.db->node->now_ms()));
      },
      [=](caf::error& err) {
        auto& st = self->state;
        st.db->node->log->warning("shard " + st.shard + ": subscribing at "
                                  + e.core + " failed: " + describe(err));
        st.fsm->on_subscribe_failed(epoch);
        schedule_reconnect(self);
      });
}

void request_batch(shard_actor* self, const replica_effect& e) {
  auto& st = self->state;
  auto epoch = e.epoch;
  bool from_start = !e.after.has_value();
  self
    ->request(st.upstream, caf::infinite, batch_atom::value, epoch,
              from_start, e.after.value_or(record{}))
    .then(
      [=](std::vector<record>& records) {
        auto& st = self->state;
        run(self, st.fsm->on_batch(epoch, records, st.db->node->now_ms()));
      },
      [=](caf::error& err) {
        auto& st = self->state;
        if (epoch != st.fsm->epoch())
          return;
        st.db->node->log->warning("shard " + st.shard
                                  + ": bootstrap batch failed: "
                                  + describe(err));
        st.fsm->on_upstream_lost(st.fsm->upstream());
        schedule_reconnect(self);
      });
}

void finish_sync(shard_actor* self);

void run(shard_actor* self, std::vector<replica_effect> effects) {
  auto& st = self->state;
  for (auto& e : effects) {
    switch (e.kind) {
      case replica_effect::subscribe:
        subscribe_at(self, e);
        break;
      case replica_effect::request_batch:
        request_batch(self, e);
        break;
      case replica_effect::applied:
        on_applied(self, e.c);
        break;
      case replica_effect::bootstrapped:
        on_bootstrapped(self);
        break;
    }
  }
  if (st.syncing && st.fsm->state() == replica_state::normal
      && st.store->seqno() >= st.sync_target)
    finish_sync(self);
}

// -- the sequencer (the leader core) ------------------------------------------

std::vector<std::string> following_cores(shard_actor* self) {
  std::vector<std::string> out;
  for (auto& [node, a] : self->state.agents)
    if (a.gauge->core)
      out.push_back(node);
  return out;
}

void answer(shard_actor* self, const std::vector<uint64_t>& done) {
  auto& callers = self->state.callers;
  for (auto seqno : done) {
    auto range = callers.equal_range(seqno);
    for (auto i = range.first; i != range.second; ++i)
      i->second.deliver(seqno);
    callers.erase(range.first, range.second);
  }
}

/// A sequencer without a history (an empty shard) starts one before it
/// serves anyone, so every subscriber learns a non-empty history.
void start_history(shard_actor* self) {
  auto& st = self->state;
  st.fsm->set_history(new_history(self));
  if (st.disc && st.db->disk) {
    std::string err;
    if (!st.db->disk->set_history(st.shard, st.fsm->history(), err))
      st.db->node->log->error("shard " + st.shard + ": " + err);
  }
}

/// Commits `txn` (this core leads) and answers `rp` with its seqno once
/// every following core acknowledged it.
void commit(shard_actor* self, const transaction& txn,
            caf::response_promise rp) {
  auto& st = self->state;
  auto out = st.seq->commit(txn);
  if (!out.error.empty()) {
    rp.deliver(fail(out.error));
    return;
  }
  if (!out.fresh) {
    // A retry of a transaction committed before: answer when the first
    // attempt is answered (it may still wait for acknowledgements).
    if (st.callers.count(out.seqno))
      st.callers.emplace(out.seqno, rp);
    else
      rp.deliver(out.seqno);
    return;
  }
  on_applied(self, *out.fresh);
  auto followers = following_cores(self);
  if (followers.empty()) {
    rp.deliver(out.seqno);
    return;
  }
  st.seq->expect(out.seqno, followers);
  st.callers.emplace(out.seqno, rp);
}

/// Where a transaction goes: committed here when this core leads, sent on
/// to the sequencer (or, on a replicant, to a core) otherwise, kept until a
/// sequencer is known.
void route_txn(shard_actor* self, const transaction& txn,
               caf::response_promise rp) {
  auto& st = self->state;
  if (st.core && st.leading) {
    commit(self, txn, rp);
    return;
  }
  const shard_peer* target = nullptr;
  if (st.core) {
    if (st.leader != st.self_name)
      target = find_peer(self, st.leader);
  } else {
    target = find_peer(self, st.fsm->upstream());
    for (auto i = st.peers.begin(); !target && i != st.peers.end(); ++i)
      if (i->second.core)
        target = &i->second;
    if (!target) {
      rp.deliver(fail("no core is reachable for shard " + st.shard));
      return;
    }
  }
  if (target)
    rp.delegate(target->shard, txn_atom::value, txn);
  else
    st.stash.emplace_back(txn, rp);
}

void drain_stash(shard_actor* self) {
  auto stash = std::move(self->state.stash);
  self->state.stash.clear();
  for (auto& [txn, rp] : stash)
    route_txn(self, txn, rp);
}

void finish_sync(shard_actor* self) {
  auto& st = self->state;
  st.syncing = false;
  st.leading = true;
  if (st.fsm->history().empty())
    start_history(self);
  if (st.upstream_agent)
    self->send_exit(st.upstream_agent, caf::exit_reason::user_shutdown);
  st.upstream_agent = nullptr;
  st.upstream = nullptr;
  st.fsm->on_upstream_lost(st.fsm->upstream());
  if (st.took_over) // a lone node leading its shards at start is no news
    st.db->node->log->info("shard " + st.shard + ": sequencer on this node "
                           "at seqno " + std::to_string(st.store->seqno()));
  drain_stash(self);
}

/// This core became the oldest: before numbering anything it makes sure no
/// other core applied more of the shard's history than it has (the old
/// sequencer may have reached some followers only), and catches up from
/// the most advanced one if needed.
void become_leader(shard_actor* self) {
  auto& st = self->state;
  st.leading = false;
  st.syncing = true;
  st.sync_target = st.store->seqno();
  if (st.upstream_agent)
    self->send_exit(st.upstream_agent, caf::exit_reason::user_shutdown);
  st.upstream_agent = nullptr;
  st.fsm->on_upstream_lost(st.fsm->upstream());
  auto cores = std::make_shared<std::vector<std::pair<std::string, uint64_t>>>();
  auto pending = std::make_shared<size_t>(1);
  auto done = [self, cores, pending] {
    if (--*pending > 0)
      return;
    auto& st = self->state;
    if (!st.syncing || st.leader != st.self_name)
      return;
    std::string best;
    for (auto& [name, seqno] : *cores)
      if (seqno > st.sync_target) {
        st.sync_target = seqno;
        best = name;
      }
    if (best.empty()) {
      finish_sync(self);
      return;
    }
    st.db->node->log->info("shard " + st.shard + ": catching up to seqno "
                           + std::to_string(st.sync_target) + " from " + best
                           + " before sequencing");
    run(self, st.fsm->connect(best));
  };
  for (auto& [name, p] : st.peers) {
    if (!p.core)
      continue;
    ++*pending;
    self->request(p.shard, subscribe_timeout, seqno_atom::value)
      .then(
        [=](const std::string& history, uint64_t seqno, uint64_t, bool) {
          auto& st = self->state;
          if (st.fsm->history().empty() || history == st.fsm->history())
            cores->emplace_back(name, seqno);
          done();
        },
        [=](caf::error&) { done(); });
  }
  done();
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

// -- serving subscribers (cores) ------------------------------------------------

caf::result<bool, std::string, uint64_t, caf::actor>
on_subscribe(shard_actor* self, uint32_t version, const std::string& node,
             bool is_core, uint64_t epoch, const std::string& history,
             uint64_t seqno, const std::string& last_id,
             const caf::actor& replica) {
  auto& st = self->state;
  if (!st.core)
    return fail(st.self_name + " is a replicant and serves no subscriptions");
  if (version != db_protocol_version)
    return fail("protocol version " + std::to_string(version)
                + " is not ours (" + std::to_string(db_protocol_version) + ")");
  if (st.syncing)
    return fail(st.self_name + " is catching up before sequencing; retry");
  drop_subscriber(self, node);
  auto reply = decide_subscription(*st.store, st.fsm->history(), *st.log,
                                   history, seqno, last_id);
  // Replaying more transactions than the agent may queue costs more than a
  // bootstrap; so does replaying into an empty replica (every record was
  // written at least once, so there are never fewer entries than records).
  if (reply.resume
      && (reply.entries.size() > st.db->settings.agent_queue_limit
          || (seqno == 0 && !reply.entries.empty())))
    reply = decide_subscription(*st.store, st.fsm->history(), *st.log, "-", 1);
  if (!reply.resume)
    reply.entries.clear();
  auto gauge = std::make_shared<agent_gauge>();
  gauge->node = node;
  gauge->core = is_core;
  auto agent = spawn_agent(*st.db, caf::actor_cast<caf::actor>(self), st.shard,
                           epoch, replica, std::move(reply.entries),
                           reply.core_seqno, gauge);
  self->monitor(agent);
  st.agents[node] = {agent, gauge};
  st.db->node->log->info("shard " + st.shard + ": " + node + " subscribed ("
                         + (reply.resume ? "resume from " + std::to_string(seqno)
                                         : std::string("bootstrap"))
                         + ", seqno " + std::to_string(reply.core_seqno) + ")");
  return {reply.resume, reply.history, reply.core_seqno, agent};
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
  if (self->state.core)
    self->state.leader = ""; // decided on the first peers update
  return {
    [self](peers_atom, std::vector<shard_peer>& list) {
      if (self->current_sender()->node() != self->node())
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
      if (self->current_sender()->node() != self->node() || !st.seq)
        return;
      answer(self, st.seq->ack(seqno, node));
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

} // namespace

caf::actor spawn_shard(db_context& db, const std::string& shard) {
  auto a = db.node->sys->spawn(shard_behavior, &db, shard);
  bool core = db.node->cfg.role == runtime::node_role::core;
  db.node->directory->add(a, (core ? "shard_server:" : "replica:") + shard,
                          core ? "shard_server" : "replica");
  return a;
}

} // namespace starling::actors::db
