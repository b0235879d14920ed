// The shard actor carrying out runtime::db::shard_core's effects: requests
// to other shard actors and their answers fed back, the subscribers'
// agents, the disc, the local watchers, timers and the log.

#include "shard_state.hpp"

#include "starling/actors/node_context.hpp"
#include "starling/actors/wire/node.hpp"

namespace starling::actors::db::shard_detail {

namespace {

int64_t now(shard_actor* self) {
  return self->state.db->node->now_ms();
}

void disk_error(shard_actor* self, const std::string& err) {
  self->state.db->node->log->error("shard " + self->state.shard + ": " + err);
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
        auto v = st.core->store().read(table, o.key);
        self->send(w, rchange_atom::value, table, o.key, v.has_value(),
                   v.value_or(""));
      } else {
        self->send(w, rchange_atom::value, table, o.key, o.kind == op::write,
                   o.value);
      }
    }
}

void replace_disk(shard_actor* self) {
  auto& st = self->state;
  if (!st.db->disk)
    return;
  std::vector<record> all;
  std::optional<record> after;
  for (;;) {
    auto batch = st.core->store().batch_after(after, 10000);
    if (batch.empty())
      break;
    after = batch.back();
    all.insert(all.end(), batch.begin(), batch.end());
  }
  std::string err;
  if (!st.db->disk->replace_shard(st.db->schema, st.shard, st.core->store().seqno(),
                                  st.core->fsm().history().str(), all, err))
    disk_error(self, err);
}

void subscribe(shard_actor* self, const shard_effect& e) {
  auto& st = self->state;
  auto target = st.peers.at(e.node);
  auto epoch = e.epoch;
  auto core_name = e.node;
  self
    ->request(target, subscribe_timeout, subscribe_atom::value,
              db_protocol_version, st.self_name, st.core->core(), epoch,
              e.history.str(), e.seqno, e.text, caf::actor_cast<caf::actor>(self))
    .then(
      [=](bool resume, std::string& history, uint64_t core_seqno,
          caf::actor& agent) {
        auto& st = self->state;
        if (epoch != st.core->fsm().epoch()) {
          // A later subscription replaced this one: close the stream it
          // opened, or the core would queue for a reader that never comes.
          self->send_exit(agent, caf::exit_reason::user_shutdown);
          return;
        }
        if (st.upstream_agent && st.upstream_agent != agent)
          self->send_exit(st.upstream_agent, caf::exit_reason::user_shutdown);
        st.upstream = target;
        st.upstream_agent = agent;
        self->monitor(agent);
        // The agent sends nothing before this first acknowledgement, so no
        // live transaction can overtake the reply we are handling.
        self->send(agent, ack_atom::value, epoch, uint64_t{0});
        carry(self, st.core->on_subscribed(epoch, core_name, resume, history,
                                           core_seqno, now(self)));
      },
      [=](caf::error& err) {
        carry(self, self->state.core->on_subscribe_failed(epoch, core_name,
                                                          describe(err)));
      });
}

void request_batch(shard_actor* self, const shard_effect& e) {
  auto& st = self->state;
  auto epoch = e.epoch;
  self
    ->request(st.upstream, caf::infinite, batch_atom::value, epoch,
              !e.after.has_value(), e.after.value_or(record{}))
    .then(
      [=](std::vector<record>& records) {
        carry(self, self->state.core->on_batch(epoch, records, now(self)));
      },
      [=](caf::error& err) {
        carry(self, self->state.core->on_batch_failed(epoch, describe(err)));
      });
}

/// Asks every node of `e.nodes` for its (history, seqno, load), then gives
/// the core all answers at once.
void survey(shard_actor* self, const shard_effect& e) {
  auto& st = self->state;
  auto answers = std::make_shared<std::vector<survey_answer>>();
  auto pending = std::make_shared<size_t>(e.nodes.size() + 1);
  auto purpose = e.purpose;
  auto epoch = e.epoch;
  auto done = [self, answers, pending, purpose, epoch] {
    if (--*pending > 0)
      return;
    carry(self, self->state.core->on_survey(purpose, epoch, *answers, now(self)));
  };
  for (auto& node : e.nodes) {
    auto p = st.peers.find(node);
    if (p == st.peers.end()) {
      done();
      continue;
    }
    self->request(p->second, subscribe_timeout, seqno_atom::value)
      .then(
        [=](const std::string& history, uint64_t seqno, uint64_t load,
            bool leading, bool serving) {
          answers->push_back({node, true, history, seqno, load, leading, serving});
          done();
        },
        [=](caf::error&) {
          answers->push_back({node, false, "", 0, 0});
          done();
        });
  }
  done();
}

} // namespace

void send_table(shard_actor* self, const std::string& table,
                const caf::actor& watcher) {
  self->send(watcher, rreset_atom::value, table);
  for (auto& r : self->state.core->store().match(table, ""))
    self->send(watcher, rchange_atom::value, table, r.key, true, r.value);
  self->send(watcher, rsynced_atom::value, table);
}

void carry(shard_actor* self, shard_effects effects) {
  auto& st = self->state;
  for (auto& e : effects) {
    switch (e.kind) {
      case shard_effect::answer: {
        auto i = st.callers.find(e.caller);
        if (i == st.callers.end())
          break;
        if (e.error.empty())
          i->second.deliver(e.seqno);
        else
          i->second.deliver(fail(e.error));
        st.callers.erase(i);
        break;
      }
      case shard_effect::forward: {
        auto i = st.callers.find(e.caller);
        auto p = st.peers.find(e.node);
        if (i == st.callers.end() || p == st.peers.end())
          break;
        i->second.delegate(p->second, txn_atom::value, e.txn);
        st.callers.erase(i);
        break;
      }
      case shard_effect::subscribe:
        subscribe(self, e);
        break;
      case shard_effect::request_batch:
        request_batch(self, e);
        break;
      case shard_effect::ack:
        if (st.upstream_agent)
          self->send(st.upstream_agent, ack_atom::value, e.epoch, e.seqno);
        break;
      case shard_effect::survey:
        survey(self, e);
        break;
      case shard_effect::drop_stream:
        if (auto i = st.agents.find(e.node); i != st.agents.end()) {
          self->send_exit(i->second.handle, caf::exit_reason::user_shutdown);
          st.agents.erase(i);
        }
        break;
      case shard_effect::drop_upstream:
        if (st.upstream_agent) {
          self->demonitor(st.upstream_agent);
          self->send_exit(st.upstream_agent, caf::exit_reason::user_shutdown);
        }
        st.upstream_agent = nullptr;
        st.upstream = nullptr;
        break;
      case shard_effect::push: {
        // Built once: every agent's message shares it, none copies it.
        auto m = caf::make_message(push_atom::value, std::move(e.c));
        for (auto& [node, a] : st.agents)
          self->send(a.handle, m);
        break;
      }
      case shard_effect::store:
        if (st.db->disk) {
          std::string err;
          if (!st.db->disk->store(st.db->schema, e.c, err))
            disk_error(self, err);
        }
        break;
      case shard_effect::store_history:
        if (st.db->disk) {
          std::string err;
          if (!st.db->disk->set_history(st.shard, e.history.str(), err))
            disk_error(self, err);
        }
        break;
      case shard_effect::replace_disk:
        replace_disk(self);
        break;
      case shard_effect::watch_change:
        notify_watchers(self, e.c);
        break;
      case shard_effect::watch_reset:
        for (auto& [table, w] : st.watchers)
          self->send(w, rreset_atom::value, table);
        break;
      case shard_effect::watch_resend:
        for (auto& [table, w] : st.watchers)
          send_table(self, table, w);
        break;
      case shard_effect::retry:
        self->delayed_send(self, std::chrono::milliseconds(e.delay_ms),
                           reconnect_atom::value, e.epoch);
        break;
      case shard_effect::log:
        if (e.warning)
          st.db->node->log->warning(e.text);
        else
          st.db->node->log->info(e.text);
        break;
    }
  }
}

} // namespace starling::actors::db::shard_detail
