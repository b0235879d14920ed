#include "starling/actors/db/agent.hpp"


#include <caf/all.hpp>

#include "starling/actors/actor_directory.hpp"
#include "starling/actors/db/context.hpp"
#include "starling/actors/wire/db.hpp"
#include "starling/actors/inspect.hpp"
#include "starling/actors/node_context.hpp"
#include "starling/runtime/db/stream.hpp"

namespace starling::actors::db {

namespace {

using runtime::db::committed;
using runtime::db::subscriber_stream;

struct agent_state {
  db_context* db = nullptr;
  caf::actor server;
  caf::actor subscriber;
  std::string shard;
  std::shared_ptr<agent_gauge> gauge;
  std::unique_ptr<subscriber_stream> stream; ///< every decision
  bool release_due = false; ///< a release_atom is in the mailbox
  static inline const char* name = "shard_agent";
};

using agent_actor = caf::stateful_actor<agent_state>;

/// Carries out what the stream decided; false when the subscriber was cut.
bool carry(agent_actor* self, subscriber_stream::output out) {
  auto& st = self->state;
  if (out.cut) {
    st.db->node->log->warning("cutting off " + st.gauge->node + " from shard "
                              + st.shard + ": " + out.why);
    self->send(st.subscriber, cut_atom::value, st.stream->epoch(), out.why);
    self->quit();
    return false;
  }
  for (auto& batch : out.batches)
    self->send(st.subscriber, live_atom::value, st.stream->epoch(),
               std::move(batch), out.latest);
  if (out.acked)
    self->send(st.server, acked_atom::value, st.gauge->node, out.acked_seqno);
  st.gauge->pending = st.stream->pending();
  st.gauge->in_flight = st.stream->in_flight();
  st.gauge->acked = st.stream->acked();
  return true;
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
  st.gauge = std::move(gauge);
  st.stream = std::make_unique<subscriber_stream>(
    st.gauge->node, st.gauge->core, epoch, std::move(initial), latest,
    db->settings.agent_window, db->settings.agent_queue_limit);
  self->monitor(subscriber);
  self->set_down_handler([self](caf::down_msg&) { self->quit(); });
  return {
    [self](push_atom, const committed& c) {
      auto& st = self->state;
      if (self->current_sender() != caf::actor_cast<caf::strong_actor_ptr>(st.server))
        return;
      // Held until the pushes already in the mailbox are in too (and, for
      // a replicant, those of the next moment): a burst of commits costs
      // the subscriber's link one message, not one each.
      if (st.stream->hold(c)) {
        carry(self, st.stream->release()); // past the limit: cut now
        return;
      }
      if (!st.release_due) {
        st.release_due = true;
        auto after = st.stream->release_after_ms(st.db->settings.replicant_batch_ms);
        if (after == 0)
          self->send(self, release_atom::value);
        else
          self->delayed_send(self, std::chrono::milliseconds(after),
                             release_atom::value);
      }
    },
    [self](release_atom) {
      auto& st = self->state;
      st.release_due = false;
      carry(self, st.stream->release());
    },
    [self](ack_atom, uint64_t epoch, uint64_t seqno) {
      auto& st = self->state;
      if (self->current_sender()
          != caf::actor_cast<caf::strong_actor_ptr>(st.subscriber))
        return;
      carry(self, st.stream->ack(epoch, seqno));
    },
    [self](inspect_atom) {
      auto& st = self->state;
      return inspect_reply(self, *st.db->node->peers, [&] {
        return st.shard + " -> " + st.gauge->node + ", "
               + std::to_string(st.stream->pending()) + " queued, "
               + std::to_string(st.stream->in_flight()) + " in flight";
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
