// The shard actor following a core: carrying out the replica state
// machine's effects (subscribe, bootstrap batches, applied transactions).

#include "shard_state.hpp"

#include "starling/actors/node_context.hpp"
#include "starling/actors/peer_registry.hpp"
#include "starling/actors/wire.hpp"

namespace starling::actors::db::shard_detail {

// -- carrying out the replica's effects ---------------------------------------

void persist(shard_actor* self, const committed& c) {
  auto& st = self->state;
  if (!st.disc || !st.db->disk)
    return;
  std::string err;
  if (!st.db->disk->store(st.db->schema, c, err))
    st.db->node->log->error("shard " + st.shard + ": " + err);
}

void send_table(shard_actor* self, const std::string& table,
                const caf::actor& watcher) {
  self->send(watcher, rreset_atom::value, table);
  for (auto& r : self->state.store->match(table, ""))
    self->send(watcher, rchange_atom::value, table, r.key, true, r.value);
}

/// Tells the local watchers what `c` changed in their tables.
void notify_watchers(shard_actor* self, const committed& c) {
  auto& st = self->state;
  for (auto& [table, w] : st.watchers)
    for (auto& o : c.txn.ops) {
      if (o.table != table)
        continue;
      if (o.kind == op::clear) {
        self->send(w, rreset_atom::value, table);
      } else if (o.kind == op::erase_if) {
        // Decided against the store: tell what the record is now.
        auto now = st.store->read(table, o.key);
        self->send(w, rchange_atom::value, table, o.key, now.has_value(),
                   now.value_or(""));
      } else {
        self->send(w, rchange_atom::value, table, o.key, o.kind == op::write,
                   o.value);
      }
    }
}

/// What every node does with a transaction it committed or applied: tell
/// the watchers; on a core also log it (replicas resume from the log),
/// store it and feed the subscribers.
void on_applied(shard_actor* self, const committed& c) {
  auto& st = self->state;
  notify_watchers(self, c);
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
  for (auto& [table, w] : st.watchers)
    send_table(self, table, w);
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

} // namespace starling::actors::db::shard_detail
