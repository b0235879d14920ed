#include "starling/actors/mqtt/router.hpp"

#include <map>
#include <random>
#include <set>
#include <unordered_map>

#include <caf/all.hpp>

#include "starling/actors/actor_directory.hpp"
#include "starling/actors/confirm.hpp"
#include "starling/actors/db/context.hpp"
#include "starling/actors/wire/db.hpp"
#include "starling/actors/mqtt/context.hpp"
#include "starling/actors/wire/mqtt.hpp"
#include "starling/actors/wire/mgmt.hpp"
#include "starling/actors/mqtt/protocol.hpp"
#include "starling/actors/inspect.hpp"
#include "starling/actors/node_context.hpp"
#include "starling/actors/peer_registry.hpp"
#include "starling/actors/wire/node.hpp"
#include "starling/broker/retained_store.hpp"
#include "starling/broker/route_table.hpp"
#include "starling/broker/sys_topics.hpp"
#include "starling/broker/topic.hpp"
#include "starling/runtime/shell_text.hpp"

#include <nlohmann/json.hpp>

namespace starling::actors::mqtt {

namespace {

using sys_atom = caf::atom_constant<caf::atom("m_sys")>;

struct router_state {
  mqtt_context* ctx = nullptr;
  std::string me; ///< this node's name
  /// Subscriptions, shared groups, own and remote routes
  /// (broker/route_table.hpp).
  std::optional<broker::route_table> table;
  /// Subscribing sessions by actor id (the table's session ids).
  std::unordered_map<caf::actor_id, caf::actor> handles;
  broker::retained_store<broker::message> retained;
  /// Reused by every message: where it goes.
  broker::route_match match;
  std::mt19937_64 rng;
  caf::actor merge_server; ///< the cluster's route table ("routes")
  confirmed_writes route_writes;    ///< to merge_server
  confirmed_writes retained_writes; ///< to manager_db
  /// The message delivery channel to other nodes (data_plane.hpp): one
  /// outbox and inbox per link of the pool; a topic takes link
  /// hash(topic) % size, so its messages keep their order.
  std::vector<caf::actor> outboxes;
  std::vector<caf::strong_actor_ptr> inboxes;
  uint64_t forwarded = 0, received_remote = 0;
  /// Message ids (broker::message::id) are id_base + published: a random
  /// base per node run, so ids of different nodes do not meet.
  uint64_t id_base = 0, published = 0;
  /// This node's actor for the retain shard: the replicated `retained`
  /// table that makes retained messages cluster-wide.
  caf::actor retain_shard;
  caf::actor manager_db; ///< the db manager: writes to `retained`
  bool sys_running = false; ///< the $SYS timer is set
  static inline const char* name = "mqtt_router";
};

using router_actor = caf::stateful_actor<router_state>;

/// Publishes this node's route changes to the cluster's route table (local
/// writes to the merge table).
void publish_changes(router_actor* self, const broker::route_changes& changes) {
  auto& st = self->state;
  if (!st.merge_server)
    return;
  for (auto& c : changes)
    if (c.present)
      st.route_writes.send<bool>(self, st.merge_server, st.ctx->node->log,
                           "routes: adding " + c.key, db::put_atom::value,
                           std::string("routes"), c.key, std::string());
    else
      st.route_writes.send<bool>(self, st.merge_server, st.ctx->node->log,
                           "routes: removing " + c.key, db::erase_atom::value,
                           std::string("routes"), c.key);
}

/// The management API's lists.
nlohmann::json routes_json(router_actor* self) {
  auto& st = self->state;
  std::map<std::pair<std::string, std::string>, int64_t> rows;
  for (auto& [key, n] : st.table->own_routes())
    rows[{key, st.me}] = static_cast<int64_t>(n);
  for (auto& [key, owners] : st.table->remote_routes())
    for (auto& owner : owners)
      rows[{key, owner}] = -1;
  auto out = nlohmann::json::array();
  for (auto& [k, n] : rows)
    out.push_back({{"topic", k.first}, {"node", k.second},
                   {"local_subscribers", n < 0 ? nlohmann::json() : nlohmann::json(n)}});
  return out;
}

nlohmann::json subscriptions_json(router_actor* self) {
  auto out = nlohmann::json::array();
  for (auto& [id, s] : self->state.table->sessions())
    for (auto& [key, f] : s.subs)
      out.push_back({{"clientid", s.client_id},
                     {"topic", key},
                     {"qos", static_cast<int>(f.options.qos)},
                     {"nl", f.options.no_local ? 1 : 0},
                     {"rap", f.options.retain_as_published ? 1 : 0},
                     {"rh", static_cast<int>(f.options.retain_handling)}});
  return out;
}

void update_gauges(router_actor* self) {
  auto& st = self->state;
  auto& t = *st.table;
  st.ctx->stats.routes.store(t.own_routes().size() + t.remote_routes().size(),
                             std::memory_order_relaxed);
  st.ctx->stats.subscriptions.store(t.subscription_count(),
                                    std::memory_order_relaxed);
  st.ctx->stats.topics.store(t.filters() + t.shared_groups(),
                             std::memory_order_relaxed);
  st.ctx->stats.retained.store(st.retained.size(), std::memory_order_relaxed);
}

/// Sends `msg` to the local sessions `m` names; returns how many.
size_t deliver_local(router_actor* self, const broker::message& msg,
                     const broker::route_match& m) {
  auto& st = self->state;
  size_t deliveries = 0;
  for (auto& [id, keys] : m.local)
    if (auto i = st.handles.find(id); i != st.handles.end()) {
      self->send(i->second, deliver_atom::value, msg, keys);
      ++deliveries;
    }
  for (auto& [id, key] : m.picks)
    if (auto i = st.handles.find(id); i != st.handles.end()) {
      self->send(i->second, deliver_atom::value, msg, std::vector<std::string>{key});
      ++deliveries;
    }
  return deliveries;
}

void count_unrouted(router_actor* self) {
  bump(self->state.ctx->stats.messages_dropped);
  bump(self->state.ctx->stats.dropped_no_subscribers);
}

/// A message published on this node: forwarded once to every other node
/// with a matching route or a shared group picked for it (that node
/// delivers to its own subscribers and the groups picked for it), into
/// the retained store when retained, and to the local subscribers.
void route_published(router_actor* self, const broker::message& msg) {
  auto& st = self->state;
  auto& m = st.match;
  st.table->match_published(msg, m);
  if (!st.outboxes.empty() && !m.remote.empty()) {
    auto& outbox = st.outboxes[broker::route_table::link_of(msg.topic,
                                                             st.outboxes.size())];
    for (auto& [node, groups] : m.remote)
      self->send(outbox, forward_atom::value, node, msg, groups);
    st.forwarded += m.remote.size();
  }
  if (msg.retain && st.ctx->live.get()->channel.retain_available) {
    // Cluster-wide: into the replicated table (every node's router applies
    // it in the table's order); kept here at once as well.
    if (st.manager_db && !msg.topic.empty() && msg.topic[0] != '$') {
      if (msg.payload.empty())
        st.retained_writes.send<uint64_t>(self, st.manager_db, st.ctx->node->log,
                                 "retained: clearing " + msg.topic,
                                 db::erase_atom::value, std::string("retained"),
                                 msg.topic);
      else
        st.retained_writes.send<uint64_t>(self, st.manager_db, st.ctx->node->log,
                                 "retained: storing " + msg.topic,
                                 db::put_atom::value, std::string("retained"),
                                 msg.topic, encode_message(self->system(), msg));
    }
    st.retained.set(msg.topic, msg);
    st.ctx->stats.retained.store(st.retained.size(), std::memory_order_relaxed);
  }
  if (deliver_local(self, msg, m) == 0 && m.remote.empty())
    count_unrouted(self);
}

/// A message another node forwarded here, with the shared groups it picked
/// this node for.
void route_forwarded(router_actor* self, const broker::message& msg,
                     const std::vector<std::string>& groups) {
  auto& st = self->state;
  st.table->match_forwarded(msg, groups, st.match);
  if (deliver_local(self, msg, st.match) == 0)
    count_unrouted(self);
}

void subscribe(router_actor* self, broker::subscribe_filter f,
               const std::string& client_id) {
  auto& st = self->state;
  auto sender = caf::actor_cast<caf::actor>(self->current_sender());
  if (!sender || sender.node() != self->node())
    return;
  bool new_session = false;
  publish_changes(self, st.table->subscribe(sender.id(), client_id, f, new_session));
  if (new_session) {
    st.handles.emplace(sender.id(), sender);
    self->monitor(sender);
  }
  if (f.send_retained)
    st.retained.for_each_match(f.topic_filter, [&](const broker::message& m) {
      self->send(sender, retained_atom::value, m, f.subscription);
    });
  update_gauges(self);
}

void publish_sys(router_actor* self) {
  auto& st = self->state;
  auto& node = *st.ctx->node;
  auto now = node.now_ms();
  for (auto& [topic, payload] :
       broker::sys_topics(node.cfg.name.str(), STARLING_VERSION,
                          now - node.started_at_ms, now,
                          st.ctx->stats.snapshot())) {
    broker::message m;
    m.topic = topic;
    m.payload = broker::shared_binary(broker::binary(payload.begin(), payload.end()));
    m.retain = true; // a new subscriber sees the latest figures at once
    m.timestamp_ms = now;
    route_published(self, m);
  }
  // The interval in force (mqtt.sys_interval_ms can change online; 0
  // stops the timer until it is set again).
  auto interval = st.ctx->live.get()->sys_interval_ms;
  st.sys_running = interval > 0;
  if (st.sys_running)
    self->delayed_send(self, std::chrono::milliseconds(interval), sys_atom::value);
}

/// routes(): every route of the cluster, filter -> node, with the number
/// of local subscribers for this node's own.
std::string list_routes(router_actor* self) {
  auto& st = self->state;
  std::map<std::pair<std::string, std::string>, std::string> rows_by_key;
  auto& me = st.me;
  for (auto& [key, n] : st.table->own_routes())
    rows_by_key[{key, me}] = std::to_string(n);
  for (auto& [key, owners] : st.table->remote_routes())
    for (auto& owner : owners)
      rows_by_key[{key, owner}] = "-";
  std::vector<std::vector<std::string>> rows;
  std::set<std::string> filters;
  for (auto& [k, n] : rows_by_key) {
    rows.push_back({k.first, k.second, n});
    filters.insert(k.first);
  }
  return runtime::format_table({"TOPIC FILTER", "NODE", "LOCAL SUBSCRIBERS"},
                               rows)
         + std::to_string(filters.size()) + " routes";
}

std::string list_subscriptions(router_actor* self) {
  std::vector<std::vector<std::string>> rows;
  for (auto& [id, s] : self->state.table->sessions())
    for (auto& [key, f] : s.subs)
      rows.push_back({s.client_id, key,
                      std::to_string(static_cast<int>(f.options.qos)),
                      std::string(f.options.no_local ? "nl " : "")
                        + (f.options.retain_as_published ? "rap " : "")
                        + "rh" + std::to_string(static_cast<int>(
                          f.options.retain_handling))});
  std::sort(rows.begin(), rows.end());
  auto n = rows.size();
  return runtime::format_table({"CLIENT", "SUBSCRIPTION", "QOS", "OPTIONS"},
                               rows)
         + std::to_string(n) + " subscriptions";
}

caf::behavior router_fn(router_actor* self, mqtt_context* ctx) {
  auto& st = self->state;
  st.ctx = ctx;
  st.me = ctx->node->cfg.name.str();
  st.rng.seed(static_cast<uint64_t>(ctx->node->now_ms()));
  st.table.emplace(st.me, ctx->settings.shared,
                   [self] { return self->state.rng(); });
  ctx->node->rnd(reinterpret_cast<unsigned char*>(&st.id_base), sizeof st.id_base);
  self->set_down_handler([self](caf::down_msg& dm) {
    auto& st = self->state;
    if (st.handles.erase(dm.source.id()) == 0)
      return;
    publish_changes(self, st.table->session_down(dm.source.id()));
    update_gauges(self);
  });
  if (ctx->settings.sys_interval_ms > 0) {
    st.sys_running = true;
    self->send(self, sys_atom::value);
  }
  self->set_error_handler([self](caf::error& err) {
    self->state.ctx->node->log->warning("mqtt router: " + describe(err));
  });
  if (auto db = ctx->node->db) {
    st.manager_db = db->manager;
    if (auto i = db->shards.find("retain_shard"); i != db->shards.end()) {
      st.retain_shard = i->second;
      self->send(st.retain_shard, db::watch_atom::value, std::string("retained"));
    }
  }
  if (ctx->node->db && ctx->node->db->merge_server) {
    st.merge_server = ctx->node->db->merge_server;
    self->send(st.merge_server, db::watch_atom::value, std::string("routes"));
  }
  return {
    [self](confirm_sweep_atom, uint64_t which) {
      self->state.route_writes.sweep(self, which);
      self->state.retained_writes.sweep(self, which);
    },
    [self](db::mchange_atom, const std::string& table, const std::string& owner,
           const std::string& key, bool present) {
      if (self->current_sender() == caf::actor_cast<caf::strong_actor_ptr>(
            self->state.merge_server)
          && table == "routes")
      {
        self->state.table->remote_route(owner, key, present);
        update_gauges(self);
      }
    },
    [self](publish_atom, broker::message& msg) {
      auto& st = self->state;
      msg.id = st.id_base + ++st.published;
      route_published(self, msg);
    },
    [self](db::rchange_atom, const std::string& table, const std::string& topic,
           bool present, const std::string& value) {
      auto& st = self->state;
      if (table != "retained" || self->current_sender()
            != caf::actor_cast<caf::strong_actor_ptr>(st.retain_shard))
        return;
      if (!present) {
        st.retained.erase(topic);
      } else if (auto m = decode_message(self->system(), value)) {
        st.retained.set(topic, std::move(*m));
      } else {
        st.ctx->node->log->warning("retained message for '" + topic
                                   + "' in the replicated table is not a "
                                   "message; ignored");
      }
      update_gauges(self);
    },
    [self](db::rreset_atom, const std::string& table) {
      auto& st = self->state;
      if (table != "retained" || self->current_sender()
            != caf::actor_cast<caf::strong_actor_ptr>(st.retain_shard))
        return;
      // $SYS topics are this node's own and never in the table.
      std::vector<broker::message> sys;
      st.retained.for_each_match("$SYS/#",
                                 [&](const broker::message& m) { sys.push_back(m); });
      st.retained.clear();
      for (auto& m : sys)
        st.retained.set(m.topic, m);
      update_gauges(self);
    },
    [](db::rsynced_atom, const std::string&) {
      // The retained table was sent in full: its records are what we hold.
    },
    [self](remote_publish_atom, const std::vector<remote_message>& batch) {
      // From the data channel's inbox: other nodes routed these here.
      auto& inboxes = self->state.inboxes;
      auto s = self->current_sender();
      if (!s || std::find(inboxes.begin(), inboxes.end(), s) == inboxes.end())
        return;
      self->state.received_remote += batch.size();
      for (auto& r : batch)
        route_forwarded(self, r.msg, r.groups);
    },
    [self](attach_atom, const caf::actor& outbox, const caf::actor& inbox) {
      auto s = self->current_sender();
      if (s && s->node() == self->node()) {
        self->state.outboxes.push_back(outbox);
        self->state.inboxes.push_back(
          caf::actor_cast<caf::strong_actor_ptr>(inbox));
      }
    },
    [self](subscribe_atom, broker::subscribe_filter& f,
           const std::string& client_id) {
      subscribe(self, std::move(f), client_id);
    },
    [self](unsubscribe_atom, const broker::unsubscribe_filter& f) {
      auto& st = self->state;
      if (!from_own_system(self))
        return;
      publish_changes(self, st.table->unsubscribe(self->current_sender()->id(),
                                                  f.subscription));
      update_gauges(self);
    },
    [self](sys_atom) {
      if (self->current_sender() == self->ctrl())
        publish_sys(self);
    },
    [self](mgmt::conf_atom) {
      // The settings changed online: a $SYS timer switched on starts now.
      auto& st = self->state;
      if (from_own_system(self) && !st.sys_running
          && st.ctx->live.get()->sys_interval_ms > 0) {
        st.sys_running = true;
        self->send(self, sys_atom::value);
      }
    },
    [self](routes_json_atom) -> caf::result<std::string> {
      if (!from_own_system(self))
        return local_only();
      return routes_json(self).dump();
    },
    [self](subscriptions_json_atom) -> caf::result<std::string> {
      if (!from_own_system(self))
        return local_only();
      return subscriptions_json(self).dump();
    },
    [self](routes_atom) -> caf::result<std::string> {
      if (!self->state.ctx->node->peers->allowed(self->current_sender()))
        return not_authenticated();
      return list_routes(self);
    },
    [self](subscriptions_atom) -> caf::result<std::string> {
      if (!self->state.ctx->node->peers->allowed(self->current_sender()))
        return not_authenticated();
      return list_subscriptions(self);
    },
    [self](inspect_atom) {
      auto& st = self->state;
      return inspect_reply(self, *st.ctx->node->peers, [&] {
        return std::to_string(st.table->filters()) + " filters, "
               + std::to_string(st.table->shared_groups()) + " shared groups, "
               + std::to_string(st.retained.size()) + " retained, "
               + std::to_string(st.handles.size()) + " subscribing sessions, "
               + std::to_string(st.table->remote_routes().size()) + " remote routes, "
               + std::to_string(st.forwarded) + " forwarded, "
               + std::to_string(st.received_remote) + " from peers";
      });
    },
  };
}

} // namespace

caf::actor spawn_router(mqtt_context& ctx) {
  auto a = ctx.node->sys->spawn(router_fn, &ctx);
  ctx.node->directory->add(a, "mqtt_router", "mqtt_router");
  return a;
}

} // namespace starling::actors::mqtt
