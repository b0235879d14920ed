#include "starling/actors/db/agent.hpp"

#include <deque>

#include <caf/all.hpp>

#include "starling/actors/actor_directory.hpp"
#include "starling/actors/db/context.hpp"
#include "starling/actors/db/wire.hpp"
#include "starling/actors/inspect.hpp"
#include "starling/actors/node_context.hpp"

namespace starling::actors::db {

namespace {

using runtime::db::committed;

/// Transactions per live message at most.
constexpr size_t max_batch = 64;

struct agent_state {
  db_context* db = nullptr;
  caf::actor server;
  caf::actor subscriber;
  std::string shard;
  uint64_t epoch = 0;
  std::shared_ptr<agent_gauge> gauge;
  std::deque<committed> queue;
  uint64_t last_sent = 0;
  uint64_t last_acked = 0;
  uint64_t latest = 0; ///< newest seqno the server told us of
  bool started = false; ///< the subscriber has our handle (first ack)
  static inline const char* name = "shard_agent";
};

using agent_actor = caf::stateful_actor<agent_state>;

void update_gauge(agent_state& st) {
  st.gauge->pending = st.queue.size();
  st.gauge->in_flight = st.last_sent > st.last_acked
                          ? st.last_sent - st.last_acked
                          : 0;
  st.gauge->acked = st.last_acked;
}

void flush(agent_actor* self) {
  auto& st = self->state;
  auto window = st.db->settings.agent_window;
  // What queued up while the previous message was out travels as one
  // message: under load the per-message cost is paid once per batch.
  while (st.started && !st.queue.empty() && st.last_sent - st.last_acked < window) {
    std::vector<committed> batch;
    while (!st.queue.empty() && batch.size() < max_batch
           && st.last_sent - st.last_acked < window) {
      st.last_sent = st.queue.front().seqno;
      batch.push_back(std::move(st.queue.front()));
      st.queue.pop_front();
    }
    self->send(st.subscriber, live_atom::value, st.epoch, std::move(batch),
               st.latest);
  }
  update_gauge(st);
}

caf::behavior agent(agent_actor* self, db_context* db, caf::actor server,
                    std::string shard, uint64_t epoch, caf::actor subscriber,
                    std::vector<committed> initial, uint64_t latest,
                    std::shared_ptr<agent_gauge> gauge) {
  auto& st = self->state;
  st.db = db;
  st.server = std::move(server);
  st.subscriber = subscriber;
  st.shard = std::move(shard);
  st.epoch = epoch;
  st.gauge = std::move(gauge);
  st.latest = latest;
  // Acknowledgements count from where the subscriber starts.
  st.last_sent = st.last_acked =
    initial.empty() ? latest : initial.front().seqno - 1;
  for (auto& c : initial)
    st.queue.push_back(std::move(c));
  self->monitor(subscriber);
  self->set_down_handler([self](caf::down_msg&) { self->quit(); });
  flush(self);
  return {
    [self](push_atom, committed& c) {
      auto& st = self->state;
      if (self->current_sender() != caf::actor_cast<caf::strong_actor_ptr>(st.server))
        return;
      st.latest = std::max(st.latest, c.seqno);
      st.queue.push_back(std::move(c));
      if (st.queue.size() > st.db->settings.agent_queue_limit) {
        auto why = std::to_string(st.queue.size())
                   + " transactions queued (rlog.agent_queue_limit)";
        st.db->node->log->warning("cutting off " + st.gauge->node
                                  + " from shard " + st.shard + ": " + why);
        self->send(st.subscriber, cut_atom::value, st.epoch, why);
        self->quit();
        return;
      }
      flush(self);
    },
    [self](ack_atom, uint64_t epoch, uint64_t seqno) {
      auto& st = self->state;
      if (self->current_sender()
            != caf::actor_cast<caf::strong_actor_ptr>(st.subscriber)
          || epoch != st.epoch)
        return;
      if (!st.started) {
        st.started = true;
        flush(self);
        return;
      }
      if (seqno <= st.last_acked)
        return;
      st.last_acked = seqno;
      if (st.gauge->core)
        self->send(st.server, acked_atom::value, st.gauge->node, seqno);
      flush(self);
    },
    [self](inspect_atom) {
      auto& st = self->state;
      return inspect_reply(self, *st.db->node->peers, [&] {
        return st.shard + " -> " + st.gauge->node + ", "
               + std::to_string(st.queue.size()) + " queued, "
               + std::to_string(st.last_sent - st.last_acked) + " in flight";
      });
    },
  };
}

} // namespace

caf::actor spawn_agent(db_context& db, const caf::actor& server,
                       const std::string& shard, uint64_t epoch,
                       const caf::actor& subscriber,
                       std::vector<committed> initial, uint64_t latest,
                       std::shared_ptr<agent_gauge> gauge) {
  auto node = gauge->node;
  auto a = db.node->sys->spawn(agent, &db, server, shard, epoch, subscriber,
                               std::move(initial), latest, std::move(gauge));
  db.node->directory->add(a, "agent:" + shard + ":" + node, "shard_agent");
  return a;
}

} // namespace starling::actors::db
