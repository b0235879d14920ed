// The management actor ("mgmt"), one per node: answers the API's queries
// about this node from its actors, and asks the same of every peer's
// management actor (found through the peer's node agent) for cluster-wide
// answers. A translator: the decisions are in mgmt/ (api.hpp).

#include "starling/actors/mgmt/context.hpp"

#include <algorithm>
#include <map>
#include <memory>

#include <caf/all.hpp>

#include "envelope.hpp"
#include "starling/actors/actor_directory.hpp"
#include "starling/actors/db/context.hpp"
#include "starling/actors/wire/db.hpp"
#include "starling/actors/inspect.hpp"
#include "starling/actors/wire/mgmt.hpp"
#include "starling/actors/mqtt/context.hpp"
#include "starling/actors/mqtt/protocol.hpp"
#include "starling/actors/node_context.hpp"
#include "starling/actors/peer_registry.hpp"
#include "starling/actors/wire/node.hpp"
#include "starling/mgmt/node_stats.hpp"
#include "starling/mgmt/process_stats.hpp"

namespace starling::actors::mgmt {

namespace {

namespace sm = starling::mgmt;
using json = nlohmann::json;
using reply_fn = std::function<void(std::string)>;

constexpr auto local_timeout = std::chrono::seconds(4);
constexpr auto peer_timeout = std::chrono::seconds(6);

struct mgmt_state {
  mgmt_context* ctx = nullptr;
  /// Peers' management actors, by node, with the agent they came from (a
  /// restarted peer has a new agent, hence a new actor to ask).
  std::map<std::string, std::pair<caf::actor_addr, caf::actor>> peers;
  uint64_t queries = 0;
  static inline const char* name = "mgmt";
};

using mgmt_actor = caf::stateful_actor<mgmt_state>;

sm::node_stats local_stats(mqtt::mqtt_context& m) {
  auto r = [](const std::atomic<uint64_t>& x) { return x.load(std::memory_order_relaxed); };
  auto& s = m.stats;
  sm::node_stats n;
  n.connections = r(s.connections);
  n.sessions = r(s.sessions);
  n.subscriptions = r(s.subscriptions);
  n.topics = r(s.topics);
  n.routes = r(s.routes);
  n.retained = r(s.retained);
  for (int q = 0; q < 3; ++q) {
    n.received[q] = r(s.received_qos[q]);
    n.sent[q] = r(s.sent_qos[q]);
  }
  n.dropped_no_subscribers = r(s.dropped_no_subscribers);
  n.dropped_queue_full = r(s.dropped_queue_full);
  n.dropped_qos0_offline = r(s.dropped_qos0_offline);
  n.dropped_expired = r(s.dropped_expired);
  n.dropped_too_large = r(s.dropped_too_large);
  n.dropped_write_buffer = r(s.dropped_write_buffer);
  n.bytes_received = r(s.bytes_received);
  n.bytes_sent = r(s.bytes_sent);
  n.takeover_local = r(s.takeover_local);
  n.takeover_from_remote = r(s.takeover_from_remote);
  n.takeover_to_remote = r(s.takeover_to_remote);
  return n;
}

/// Asks a local actor for a JSON text and wraps it.
template <class... Ts>
void ask_json(mgmt_actor* self, const caf::actor& dest, reply_fn done,
              int missing_status, Ts... xs) {
  if (!dest) {
    done(error_envelope(sm::unavailable("that part of the node is not running")));
    return;
  }
  self->request(dest, local_timeout, xs...)
    .then(
      [done](const std::string& text) {
        auto j = json::parse(text, nullptr, false);
        done(j.is_discarded() ? error_envelope({500, "INTERNAL_ERROR", "malformed answer"})
                              : ok_envelope(j));
      },
      [done, missing_status](caf::error& err) {
        done(error_envelope({missing_status,
                             missing_status == 404 ? "CLIENTID_NOT_FOUND" : "SERVICE_UNAVAILABLE",
                             describe(err)}));
      });
}

/// This node's status, its figures and a summary of its shards.
void node_info(mgmt_actor* self, reply_fn done) {
  auto& ctx = *self->state.ctx;
  auto db = ctx.node->db ? ctx.node->db->manager : caf::actor{};
  self->request(ctx.agent, local_timeout, status_atom::value)
    .then(
      [=](const std::string& status_text) {
        auto st = json::parse(status_text, nullptr, false);
        auto finish = [=](json rlog) {
          auto& c = *self->state.ctx;
          auto s = local_stats(*c.node->mqtt);
          auto p = sm::read_process_figures();
          auto shards = json::array();
          for (auto& sh : rlog.value("shards", json::array()))
            shards.push_back({{"shard", sh.value("shard", "")},
                              {"state", sh.value("leading", false) ? "leader"
                                                                   : sh.value("state", "")},
                              {"upstream", sh.value("upstream", "")},
                              {"seqno", sh.value("seqno", json())},
                              {"lag", sh.value("lag", json())},
                              {"checksum", sh.value("checksum", "")}});
          done(ok_envelope({{"node", st.value("node", "")},
                            {"node_status", "running"},
                            {"role", st.value("role", "")},
                            {"version", st.value("version", "")},
                            {"uptime", st.value("uptime_s", int64_t{0}) * 1000},
                            {"connections", s.connections},
                            {"live_connections", s.connections},
                            {"sessions", s.sessions},
                            {"subscriptions", s.subscriptions},
                            {"memory_used", p.rss_bytes},
                            {"memory_total", p.memory_total_bytes},
                            {"max_fds", p.max_fds},
                            {"health", c.health.get() == sm::health_state::running
                                         ? "running" : "not ready"},
                            {"partition", st.value("partition", false)},
                            {"rlog", shards}}));
        };
        if (!db) {
          finish(json::object());
          return;
        }
        self->request(db, local_timeout, db::rlog_atom::value, status_atom::value)
          .then([=](const std::string& t) { finish(json::parse(t, nullptr, false)); },
                [=](caf::error&) { finish(json::object()); });
      },
      [done](caf::error& err) {
        done(error_envelope(sm::unavailable("the node agent did not answer: " + describe(err))));
      });
}

/// The node's own answer to one query (mgmt/backend.hpp lists them).
void answer(mgmt_actor* self, const std::string& kind, const std::string& arg,
            reply_fn done) {
  auto& ctx = *self->state.ctx;
  auto& mq = *ctx.node->mqtt;
  auto db = ctx.node->db ? ctx.node->db->manager : caf::actor{};
  ++self->state.queries;
  if (kind == "node")
    node_info(self, done);
  else if (kind == "clients")
    ask_json(self, mq.manager, done, 503, mqtt::clients_json_atom::value);
  else if (kind == "client")
    ask_json(self, mq.manager, done, 404, mqtt::client_json_atom::value, arg);
  else if (kind == "subscriptions")
    ask_json(self, mq.router, done, 503, mqtt::subscriptions_json_atom::value);
  else if (kind == "routes")
    ask_json(self, mq.router, done, 503, mqtt::routes_json_atom::value);
  else if (kind == "rlog")
    ask_json(self, db, done, 503, db::rlog_atom::value, status_atom::value);
  else if (kind == "cluster")
    ask_json(self, ctx.agent, done, 503, cluster_atom::value, status_atom::value);
  else if (kind == "stats")
    done(ok_envelope(local_stats(mq).to_json()));
  else if (kind == "kick")
    self->request(mq.manager, local_timeout, mqtt::kick_atom::value, arg)
      .then([done](bool kicked) { done(ok_envelope({{"kicked", kicked}})); },
            [done](caf::error& err) {
              done(error_envelope(sm::unavailable(describe(err))));
            });
  else
    done(error_envelope(sm::bad_request("unknown management query '" + kind
                                        + "' (this node speaks version "
                                        + std::to_string(mgmt_protocol_version) + ")")));
}

/// Asks node `node`'s management actor (through its node agent `agent`).
void ask_peer(mgmt_actor* self, const std::string& node, const caf::actor& agent,
              const std::string& kind, const std::string& arg, reply_fn done) {
  auto failed = [done, node](caf::error& err) {
    done(error_envelope(sm::unavailable("no answer from " + node + ": " + describe(err))));
  };
  auto query = [=](const caf::actor& peer) {
    self->request(peer, peer_timeout, node_query_atom::value, kind, arg)
      .then([done](const std::string& env) { done(env); }, failed);
  };
  auto& cache = self->state.peers;
  if (auto i = cache.find(node); i != cache.end() && i->second.first == agent.address()) {
    query(i->second.second);
    return;
  }
  self->request(agent, peer_timeout, mgmt_atom::value)
    .then(
      [=](const caf::actor& peer) {
        self->state.peers[node] = {agent.address(), peer};
        query(peer);
      },
      failed);
}

/// Every node of `nodes` answers `kind`; one JSON object {node: envelope}.
caf::result<std::string> gather(mgmt_actor* self, const std::string& kind,
                                const std::string& arg,
                                const std::vector<std::string>& nodes) {
  auto rp = self->make_response_promise<std::string>();
  auto out = std::make_shared<json>(json::object());
  auto pending = std::make_shared<size_t>(nodes.size() + 1);
  auto one = [=](const std::string& node) {
    return [=](std::string env) mutable {
      if (!node.empty())
        (*out)[node] = json::parse(env, nullptr, false);
      if (--*pending == 0)
        rp.deliver(out->dump());
    };
  };
  auto& ctx = *self->state.ctx;
  auto me = ctx.node->cfg.name.str();
  self->request(ctx.node->mqtt->manager, local_timeout, mqtt::peer_agents_atom::value)
    .then(
      [=](const std::vector<std::string>& names, const std::vector<caf::actor>& agents) {
        for (auto& n : nodes) {
          auto i = std::find(names.begin(), names.end(), n);
          if (n == me)
            answer(self, kind, arg, one(n));
          else if (i == names.end())
            one(n)(error_envelope(sm::unavailable(n + " is not running")));
          else
            ask_peer(self, n, agents[static_cast<size_t>(i - names.begin())], kind, arg, one(n));
        }
        one("")(""); // the extra count: every node was asked
      },
      [=](caf::error& err) mutable { rp.deliver(err); });
  return rp;
}

caf::behavior mgmt_fn(mgmt_actor* self, mgmt_context* ctx) {
  self->state.ctx = ctx;
  return {
    [self](node_query_atom, const std::string& kind,
           const std::string& arg) -> caf::result<std::string> {
      // From a peer's management actor: a cluster member only.
      auto s = self->current_sender();
      auto p = s ? self->state.ctx->node->peers->find(s->node()) : std::nullopt;
      if (!from_own_system(self) && (!p || p->hidden))
        return fail("refused: not a cluster member");
      auto rp = self->make_response_promise<std::string>();
      answer(self, kind, arg, [rp](std::string env) mutable { rp.deliver(env); });
      return rp;
    },
    [self](gather_atom, const std::string& kind, const std::string& arg,
           const std::vector<std::string>& nodes) -> caf::result<std::string> {
      if (!from_own_system(self))
        return fail("refused: gather is asked on its own node");
      return gather(self, kind, arg, nodes);
    },
    [self](api_publish_atom, const std::string& topic, const std::string& payload,
           uint8_t qos, bool retain) -> std::string {
      if (!from_own_system(self))
        return error_envelope({403, "FORBIDDEN", "publish from its own node only"});
      auto& ctx = *self->state.ctx;
      broker::message m;
      m.topic = topic;
      m.payload = broker::shared_binary(broker::binary(payload.begin(), payload.end()));
      m.qos = static_cast<broker::qos>(qos);
      m.retain = retain;
      m.timestamp_ms = ctx.node->now_ms();
      self->send(ctx.node->mqtt->router, mqtt::publish_atom::value, std::move(m));
      return ok_envelope({{"topic", topic}, {"qos", qos}, {"retain", retain},
                          {"payload_bytes", payload.size()}});
    },
    [self](conf_get_atom, const std::string& key) -> caf::result<std::string> {
      if (!self->state.ctx->node->peers->allowed(self->current_sender()))
        return not_authenticated();
      auto k = runtime::find_config_key(key);
      if (!k)
        return fail("unknown config key '" + key + "'");
      if (key == "node.cookie" || key == "dashboard.default_password")
        return fail(key + " is a secret and is not shown");
      return self->state.ctx->config().text(key);
    },
    [self](conf_set_atom, const std::string& changes) -> caf::result<std::string> {
      if (!self->state.ctx->node->peers->allowed(self->current_sender()))
        return not_authenticated();
      self->delegate(self->state.ctx->tables, conf_set_atom::value, changes);
      return caf::delegated<std::string>{};
    },
    [self](inspect_atom) {
      return inspect_reply(self, *self->state.ctx->node->peers, [&] {
        return std::to_string(self->state.queries) + " queries answered, "
               + std::to_string(self->state.peers.size()) + " peers known";
      });
    },
  };
}

} // namespace

caf::actor spawn_mgmt_actor(mgmt_context& ctx) {
  auto a = ctx.node->sys->spawn(mgmt_fn, &ctx);
  ctx.node->directory->add(a, "mgmt", "mgmt");
  return a;
}

} // namespace starling::actors::mgmt
