#include "starling/actors/mqtt/router.hpp"

#include <map>
#include <random>
#include <set>
#include <unordered_map>

#include <caf/all.hpp>

#include "starling/actors/actor_directory.hpp"
#include "starling/actors/db/context.hpp"
#include "starling/actors/db/wire.hpp"
#include "starling/actors/mqtt/context.hpp"
#include "starling/actors/mqtt/message_wire.hpp"
#include "starling/actors/mgmt/wire.hpp"
#include "starling/actors/mqtt/protocol.hpp"
#include "starling/actors/inspect.hpp"
#include "starling/actors/node_context.hpp"
#include "starling/actors/peer_registry.hpp"
#include "starling/actors/wire.hpp"
#include "starling/broker/retained_store.hpp"
#include "starling/broker/shared_group.hpp"
#include "starling/broker/sys_topics.hpp"
#include "starling/broker/topic.hpp"
#include "starling/broker/topic_trie.hpp"
#include "starling/runtime/shell_text.hpp"

#include <nlohmann/json.hpp>

namespace starling::actors::mqtt {

namespace {

using sys_atom = caf::atom_constant<caf::atom("m_sys")>;

/// One subscription of one session: what the trie holds.
struct route_key {
  caf::actor_id session = 0;
  std::string key; ///< the subscription as the client sent it

  friend bool operator==(const route_key&, const route_key&) = default;
};

struct route_key_hash {
  size_t operator()(const route_key& k) const noexcept {
    return std::hash<std::string>{}(k.key) ^ (k.session * 0x9e3779b97f4a7c15ULL);
  }
};

struct subscriber {
  caf::actor handle;
  std::string client_id;
  std::map<std::string, broker::subscribe_filter> subs; ///< by key
};

struct router_state {
  mqtt_context* ctx = nullptr;
  std::string me; ///< this node's name
  broker::topic_trie<route_key, route_key_hash> routes;
  /// Local members of shared subscriptions, by route key
  /// ("$share/group/filter").
  std::unordered_map<std::string,
                     broker::shared_group<route_key>> groups;
  /// Shared groups across the cluster: filter -> route key, and the nodes
  /// (this one included) with members of each. The node where a message is
  /// published picks one node per matching group, which picks one member:
  /// one delivery per group per message in the whole cluster.
  broker::topic_trie<std::string> cluster_shared;
  std::unordered_map<std::string, broker::shared_group<std::string>> node_groups;
  std::unordered_map<caf::actor_id, subscriber> sessions;
  broker::retained_store<broker::message> retained;
  uint64_t subscription_count = 0; ///< sum of sessions[*].subs.size()
  /// Reused by every publish: session -> matching subscription keys.
  std::unordered_map<caf::actor_id, std::vector<std::string>> matched;
  std::mt19937_64 rng;
  // -- the cluster's route table (merge table "routes") --
  /// Route keys (filter, or $share/group/filter) with local subscribers,
  /// and how many: the first adds this node's route, the last removes it.
  std::unordered_map<std::string, size_t> own_routes;
  /// Other nodes' routes, as the merge server streams them.
  std::map<std::string, std::set<std::string>> remote_routes;
  /// Wildcard and exact filters of other nodes -> node, for matching a
  /// published topic (the clustered publish path).
  broker::topic_trie<std::string> remote_trie;
  caf::actor merge_server;
  /// The message delivery channel to other nodes (data_plane.hpp): one
  /// outbox and inbox per link of the pool; a topic takes link
  /// hash(topic) % size, so its messages keep their order.
  std::vector<caf::actor> outboxes;
  std::vector<caf::strong_actor_ptr> inboxes;
  /// Reused by every publish: nodes with a matching route -> the shared
  /// groups picked for them; the groups picked for this node.
  std::map<std::string, std::vector<std::string>> remote_targets;
  std::vector<std::string> local_groups;
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

/// Node `node` has members of shared group `key` ("$share/g/f") or not.
void shared_node(router_actor* self, const std::string& key,
                 const std::string& node, bool present) {
  auto& st = self->state;
  std::string error;
  auto parsed = broker::parse_shared_filter(key, error);
  if (!parsed)
    return; // not a shared filter (another node's record)
  auto& filter = parsed->filter;
  auto g = st.node_groups.find(key);
  if (present) {
    if (g == st.node_groups.end()) {
      g = st.node_groups
            .emplace(key, broker::shared_group<std::string>(
                            st.ctx->settings.shared,
                            [self] { return self->state.rng(); }))
            .first;
      st.cluster_shared.insert(filter, key);
    }
    g->second.join(node);
  } else if (g != st.node_groups.end()) {
    g->second.leave(node);
    if (g->second.empty()) {
      st.node_groups.erase(g);
      st.cluster_shared.erase(filter, key);
    }
  }
}

/// Counts a local subscription of `key`; the first one publishes this
/// node's route to the cluster (a local write to the merge table).
void add_own_route(router_actor* self, const std::string& key) {
  auto& st = self->state;
  if (st.own_routes[key]++ != 0)
    return;
  if (broker::is_shared_filter(key))
    shared_node(self, key, st.me, true);
  if (st.merge_server)
    self->send(st.merge_server, db::put_atom::value, std::string("routes"), key,
               std::string());
}

void drop_own_route(router_actor* self, const std::string& key) {
  auto& st = self->state;
  auto i = st.own_routes.find(key);
  if (i == st.own_routes.end())
    return;
  if (--i->second == 0) {
    st.own_routes.erase(i);
    if (broker::is_shared_filter(key))
      shared_node(self, key, st.me, false);
    if (st.merge_server)
      self->send(st.merge_server, db::erase_atom::value, std::string("routes"),
                 key);
  }
}

/// Another node's route came or went.
void on_remote_route(router_actor* self, const std::string& owner,
                     const std::string& key, bool present) {
  auto& st = self->state;
  bool shared = broker::is_shared_filter(key);
  if (present) {
    if (st.remote_routes[key].insert(owner).second) {
      if (shared)
        shared_node(self, key, owner, true);
      else
        st.remote_trie.insert(key, owner);
    }
    return;
  }
  auto i = st.remote_routes.find(key);
  if (i == st.remote_routes.end() || i->second.erase(owner) == 0)
    return;
  if (shared)
    shared_node(self, key, owner, false);
  else
    st.remote_trie.erase(key, owner);
  if (i->second.empty())
    st.remote_routes.erase(i);
}

/// The management API's lists.
nlohmann::json routes_json(router_actor* self) {
  auto& st = self->state;
  std::map<std::pair<std::string, std::string>, int64_t> rows;
  for (auto& [key, n] : st.own_routes)
    rows[{key, st.me}] = static_cast<int64_t>(n);
  for (auto& [key, owners] : st.remote_routes)
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
  for (auto& [id, s] : self->state.sessions)
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
  st.ctx->stats.routes.store(st.own_routes.size() + st.remote_routes.size(),
                             std::memory_order_relaxed);
  st.ctx->stats.subscriptions.store(st.subscription_count,
                                    std::memory_order_relaxed);
  st.ctx->stats.topics.store(st.routes.size() + st.groups.size(),
                             std::memory_order_relaxed);
  st.ctx->stats.retained.store(st.retained.size(), std::memory_order_relaxed);
}

/// For a message published here: picks the node of every matching shared
/// group (into local_groups for this one) and forwards `msg` once to every
/// other node with a matching route or a picked group; that node delivers
/// it to its own subscribers and to the groups picked for it.
void forward(router_actor* self, const broker::message& msg) {
  auto& st = self->state;
  auto& targets = st.remote_targets;
  targets.clear();
  st.local_groups.clear();
  if (!st.cluster_shared.empty()) {
    auto& me = st.me;
    st.cluster_shared.for_each_match(msg.topic, [&](const std::string& key) {
      auto g = st.node_groups.find(key);
      if (g == st.node_groups.end())
        return;
      if (auto node = g->second.pick({msg.publisher, msg.topic})) {
        if (*node == me)
          st.local_groups.push_back(key);
        else
          targets[*node].push_back(key);
      }
    });
  }
  if (!st.remote_routes.empty())
    st.remote_trie.for_each_match(msg.topic, [&](const std::string& node) {
      targets[node];
    });
  if (st.outboxes.empty() || targets.empty())
    return;
  auto& outbox = st.outboxes.size() == 1
                   ? st.outboxes[0]
                   : st.outboxes[broker::detail::stable_hash(msg.topic)
                                 % st.outboxes.size()];
  for (auto& [node, groups] : targets)
    self->send(outbox, forward_atom::value, node, msg, groups);
  st.forwarded += targets.size();
}

/// Delivers `msg` to the local subscribers; a message published here (not
/// forwarded by a peer) also goes to the other nodes with a matching route
/// and, when retained, into the retained store. `groups` are the shared
/// groups a peer picked this node for (a message published here picks its
/// own).
void route(router_actor* self, const broker::message& msg, bool local = true,
           const std::vector<std::string>& groups = {}) {
  auto& st = self->state;
  if (local)
    forward(self, msg);
  if (local && msg.retain && st.ctx->live.get()->channel.retain_available) {
    // Cluster-wide: into the replicated table (every node's router applies
    // it in the table's order); kept here at once as well.
    if (st.manager_db && !msg.topic.empty() && msg.topic[0] != '$') {
      if (msg.payload.empty())
        self->send(st.manager_db, db::erase_atom::value,
                   std::string("retained"), msg.topic);
      else
        self->send(st.manager_db, db::put_atom::value, std::string("retained"),
                   msg.topic, encode_message(self->system(), msg));
    }
    st.retained.set(msg.topic, msg);
    st.ctx->stats.retained.store(st.retained.size(), std::memory_order_relaxed);
  }
  auto& matched = st.matched;
  matched.clear();
  st.routes.for_each_match(msg.topic, [&](const route_key& k) {
    matched[k.session].push_back(k.key);
  });
  size_t deliveries = 0;
  for (auto& [id, keys] : matched) {
    if (auto i = st.sessions.find(id); i != st.sessions.end()) {
      self->send(i->second.handle, deliver_atom::value, msg, keys);
      ++deliveries;
    }
  }
  for (auto& key : local ? st.local_groups : groups) {
    auto g = st.groups.find(key);
    if (g == st.groups.end())
      continue;
    if (auto pick = g->second.pick({msg.publisher, msg.topic})) {
      if (auto i = st.sessions.find(pick->session); i != st.sessions.end()) {
        self->send(i->second.handle, deliver_atom::value, msg,
                   std::vector<std::string>{pick->key});
        ++deliveries;
      }
    }
  }
  if (deliveries == 0 && !(local && !st.remote_targets.empty())) {
    bump(st.ctx->stats.messages_dropped);
    bump(st.ctx->stats.dropped_no_subscribers);
  }
}

void remove_subscription(router_actor* self, caf::actor_id session,
                         const broker::subscribe_filter& f) {
  auto& st = self->state;
  route_key k{session, f.subscription};
  drop_own_route(self, f.subscription);
  if (!f.share_group) {
    st.routes.erase(f.topic_filter, k);
    return;
  }
  auto gid = f.subscription;
  if (auto g = st.groups.find(gid); g != st.groups.end()) {
    g->second.leave(k);
    if (g->second.size() == 0)
      st.groups.erase(g);
  }
}

void subscribe(router_actor* self, broker::subscribe_filter f,
               const std::string& client_id) {
  auto& st = self->state;
  auto sender = caf::actor_cast<caf::actor>(self->current_sender());
  if (!sender || sender.node() != self->node())
    return;
  auto [it, fresh] = st.sessions.try_emplace(sender.id());
  auto& sub = it->second;
  if (fresh) {
    sub.handle = sender;
    self->monitor(sender);
  }
  sub.client_id = client_id;
  // Counted before a replaced subscription is dropped, so that the node's
  // route never leaves the cluster's table for a moment.
  add_own_route(self, f.subscription);
  if (auto old = sub.subs.find(f.subscription); old != sub.subs.end())
    remove_subscription(self, sender.id(), old->second);
  else
    ++st.subscription_count;
  route_key k{sender.id(), f.subscription};
  if (f.share_group) {
    auto gid = f.subscription;
    auto g = st.groups.find(gid);
    if (g == st.groups.end())
      g = st.groups
            .emplace(gid, broker::shared_group<route_key>(
                            st.ctx->settings.shared,
                            [self] { return self->state.rng(); }))
            .first;
    g->second.join(k);
  } else {
    st.routes.insert(f.topic_filter, k);
  }
  if (f.send_retained)
    st.retained.for_each_match(f.topic_filter, [&](const broker::message& m) {
      self->send(sender, retained_atom::value, m, f.subscription);
    });
  sub.subs[f.subscription] = std::move(f);
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
    route(self, m);
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
  for (auto& [key, n] : st.own_routes)
    rows_by_key[{key, me}] = std::to_string(n);
  for (auto& [key, owners] : st.remote_routes)
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
  for (auto& [id, s] : self->state.sessions)
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
  ctx->node->rnd(reinterpret_cast<unsigned char*>(&st.id_base), sizeof st.id_base);
  self->set_down_handler([self](caf::down_msg& dm) {
    auto& st = self->state;
    auto i = st.sessions.find(dm.source.id());
    if (i == st.sessions.end())
      return;
    for (auto& [key, f] : i->second.subs)
      remove_subscription(self, i->first, f);
    st.subscription_count -= i->second.subs.size();
    st.sessions.erase(i);
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
    [self](db::mchange_atom, const std::string& table, const std::string& owner,
           const std::string& key, bool present) {
      if (self->current_sender() == caf::actor_cast<caf::strong_actor_ptr>(
            self->state.merge_server)
          && table == "routes")
      {
        on_remote_route(self, owner, key, present);
        update_gauges(self);
      }
    },
    [self](publish_atom, broker::message& msg) {
      auto& st = self->state;
      msg.id = st.id_base + ++st.published;
      route(self, msg);
    },
    [](bool) {
      // The merge server's answer to one of our route writes (sent, not
      // requested: nothing to do with it).
    },
    [](uint64_t) {
      // The db manager's answer (a seqno) to a retained write.
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
        route(self, r.msg, false, r.groups);
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
      auto i = st.sessions.find(self->current_sender()->id());
      if (i == st.sessions.end())
        return;
      if (auto s = i->second.subs.find(f.subscription);
          s != i->second.subs.end()) {
        remove_subscription(self, i->first, s->second);
        i->second.subs.erase(s);
        --st.subscription_count;
      }
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
        return fail("not authenticated");
      return routes_json(self).dump();
    },
    [self](subscriptions_json_atom) -> caf::result<std::string> {
      if (!from_own_system(self))
        return fail("not authenticated");
      return subscriptions_json(self).dump();
    },
    [self](routes_atom) -> caf::result<std::string> {
      if (!self->state.ctx->node->peers->allowed(self->current_sender()))
        return fail("not authenticated");
      return list_routes(self);
    },
    [self](subscriptions_atom) -> caf::result<std::string> {
      if (!self->state.ctx->node->peers->allowed(self->current_sender()))
        return fail("not authenticated");
      return list_subscriptions(self);
    },
    [self](inspect_atom) {
      auto& st = self->state;
      return inspect_reply(self, *st.ctx->node->peers, [&] {
        return std::to_string(st.routes.size()) + " filters, "
               + std::to_string(st.groups.size()) + " shared groups, "
               + std::to_string(st.retained.size()) + " retained, "
               + std::to_string(st.sessions.size()) + " subscribing sessions, "
               + std::to_string(st.remote_routes.size()) + " remote routes, "
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
