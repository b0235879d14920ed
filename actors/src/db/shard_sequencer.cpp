// The shard actor as the shard's sequencer (oldest core) and as the
// server of subscribed replicas.

#include "shard_state.hpp"

#include "starling/actors/node_context.hpp"
#include "starling/actors/peer_registry.hpp"
#include "starling/actors/wire.hpp"

namespace starling::actors::db::shard_detail {

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
          || (seqno == 0 && !reply.entries.empty()))) {
    reply.resume = false; // a bootstrap instead
    reply.entries.clear();
  }
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

} // namespace starling::actors::db::shard_detail
