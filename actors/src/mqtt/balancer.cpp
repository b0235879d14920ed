#include "starling/actors/mqtt/balancer.hpp"

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <caf/all.hpp>

#include "starling/actors/actor_directory.hpp"
#include "starling/actors/gather.hpp"
#include "starling/actors/inspect.hpp"
#include "starling/actors/mgmt/context.hpp"
#include "starling/actors/mqtt/context.hpp"
#include "starling/actors/mqtt/protocol.hpp"
#include "starling/actors/node_context.hpp"
#include "starling/actors/peer_registry.hpp"
#include "starling/actors/wire.hpp"
#include "starling/broker/balance_request.hpp"
#include "starling/broker/evacuation.hpp"
#include "starling/broker/rebalance.hpp"

#include <nlohmann/json.hpp>

namespace starling::actors::mqtt {

namespace {

namespace sb = starling::broker;
using json = nlohmann::json;

constexpr auto peer_timeout = std::chrono::seconds(5);

/// A rebalance this node coordinates.
struct coordination {
  sb::rebalance machine;
  std::map<std::string, caf::actor> balancers; ///< participant -> its balancer
  std::vector<sb::node_load> loads;            ///< as last counted
  uint64_t gen = 0;                            ///< the current timer
  std::string last;                            ///< the last thing it said
};

/// This node as a donor of another node's rebalance (or of its own).
struct donor_part {
  bool health_failing = false, refusing = false;
  caf::actor_addr coordinator;
  std::string coordinator_node;
};

/// This node's evacuation.
struct evacuating {
  sb::evacuation machine;
  uint64_t gen = 0;
  std::string last;
  std::string path; ///< where its state is kept
  bool counted = false;
  uint64_t initial_conns = 0, initial_sessions = 0, conns = 0, sessions = 0;
  uint64_t evicted = 0, moved = 0; ///< asked of the client manager
  int64_t started_at_ms = 0;
};

struct balancer_state {
  mqtt_context* ctx = nullptr;
  std::string me;
  coordination rb;
  donor_part part;
  evacuating ev;
  static inline const char* name = "mqtt_balancer";
};

using balancer_actor = caf::stateful_actor<balancer_state>;

int64_t now(balancer_actor* self) {
  return self->state.ctx->node->now_ms();
}

void say(balancer_actor* self, std::string& last, const std::string& text) {
  last = text;
  self->state.ctx->node->log->info(text);
}

/// What the connections and the health check see: refusing while a donor
/// that was told so, or evacuating (past its health check wait).
void apply(balancer_actor* self) {
  auto& st = self->state;
  bool evacuation = st.ev.machine.current() != sb::evacuation::phase::disabled;
  st.ctx->moving.refusing = st.part.refusing || st.ev.machine.refusing();
  st.ctx->moving.server_reference.set(
    evacuation ? st.ev.machine.options().redirect_to : std::string());
  if (auto m = st.ctx->node->mgmt)
    m->health.set_draining(evacuation ? starling::mgmt::health_state::evacuating
                           : st.part.health_failing
                             ? starling::mgmt::health_state::rebalance_donor
                             : starling::mgmt::health_state::not_draining);
}

/// The other running nodes and their node agents, then `next(names, agents)`.
template <class Next>
void running_peers(balancer_actor* self, Next next,
                   caf::response_promise rp) {
  self->request(self->state.ctx->manager, peer_timeout, peer_agents_atom::value)
    .then([next](std::vector<std::string>& names,
                 std::vector<caf::actor>& agents) mutable { next(names, agents); },
          [rp](caf::error& err) mutable { rp.deliver(err); });
}

// -- the evacuation ----------------------------------------------------------

void persist(balancer_actor* self, const std::string& text) {
  auto& ev = self->state.ev;
  std::error_code ec;
  if (text.empty()) {
    std::filesystem::remove(ev.path, ec);
  } else {
    auto tmp = ev.path + ".tmp";
    {
      std::ofstream out(tmp, std::ios::trunc);
      out << text;
    }
    std::filesystem::rename(tmp, ev.path, ec);
  }
  if (ec)
    self->state.ctx->node->log->error("evacuation: cannot write " + ev.path + ": "
                                      + ec.message()
                                      + " (a restart would not resume it)");
}

void carry(balancer_actor* self, const sb::evacuation_effects& fx) {
  auto& st = self->state;
  auto& ev = st.ev;
  for (auto& e : fx)
    switch (e.what) {
      case sb::evacuation_effect::fail_health_check:
      case sb::evacuation_effect::refuse_connections:
      case sb::evacuation_effect::restore:
        break; // apply() below reads the machine's phase
      case sb::evacuation_effect::evict_connections:
        ev.evicted += e.count;
        self->send(st.ctx->manager, evict_conns_atom::value, e.count,
                   ev.machine.options().redirect_to);
        break;
      case sb::evacuation_effect::evict_sessions:
        ev.moved += e.count;
        self->send(st.ctx->manager, evict_sessions_atom::value, e.count, e.to);
        break;
      case sb::evacuation_effect::persist:
        persist(self, e.text);
        break;
      case sb::evacuation_effect::timer:
        self->delayed_send(self, std::chrono::milliseconds(e.delay_ms),
                           ev_tick_atom::value, ++ev.gen);
        break;
      case sb::evacuation_effect::log:
        say(self, ev.last, e.text);
        break;
    }
  apply(self);
}

json evacuation_json(balancer_actor* self) {
  auto& ev = self->state.ev;
  if (ev.machine.current() == sb::evacuation::phase::disabled)
    return nullptr;
  auto& o = ev.machine.options();
  return {{"process", "evacuation"},
          {"state", sb::to_string(ev.machine.current())},
          {"connection_eviction_rate", o.conn_evict_rate},
          {"session_eviction_rate", o.sess_evict_rate},
          {"connection_goal", 0},
          {"session_goal", 0},
          {"redirect_to", o.redirect_to},
          {"session_recipients", ev.machine.session_targets()},
          {"wait_health_check", o.wait_health_check_ms / 1000.0},
          {"wait_takeover", o.wait_takeover_ms / 1000.0},
          {"started_at", ev.started_at_ms},
          {"stats",
           {{"initial_connected", ev.initial_conns},
            {"current_connected", ev.conns},
            {"initial_sessions", ev.initial_sessions},
            {"current_sessions", ev.sessions},
            {"evicted_connections", ev.evicted},
            {"moved_sessions", ev.moved}}},
          {"last", ev.last}};
}

void evacuation_tick(balancer_actor* self, uint64_t gen) {
  auto& st = self->state;
  if (gen != st.ev.gen)
    return;
  self->request(st.ctx->manager, peer_timeout, load_atom::value)
    .then(
      [self, gen](uint64_t conns, uint64_t sessions) {
        auto& ev = self->state.ev;
        if (gen != ev.gen)
          return;
        if (!ev.counted) {
          ev.counted = true;
          ev.initial_conns = conns;
          ev.initial_sessions = sessions;
        }
        ev.conns = conns;
        ev.sessions = sessions;
        carry(self, ev.machine.on_timer(conns, sessions, now(self)));
      },
      [self](caf::error& err) {
        // The client manager did not answer: count again in a second.
        self->state.ctx->node->log->warning("evacuation: " + describe(err));
        self->delayed_send(self, std::chrono::seconds(1), ev_tick_atom::value,
                           self->state.ev.gen);
      });
}

json status_json(balancer_actor* self);

// -- the rebalance, as its coordinator ----------------------------------------

void carry(balancer_actor* self, const sb::rebalance_effects& fx) {
  auto& rb = self->state.rb;
  auto to = [&](const std::string& node, auto&&... xs) {
    if (auto b = rb.balancers.find(node); b != rb.balancers.end())
      self->send(b->second, xs...);
  };
  for (auto& e : fx)
    switch (e.what) {
      case sb::rebalance_effect::fail_health_check:
        for (auto& d : rb.machine.donors())
          to(d, rb_role_atom::value, true, false);
        break;
      case sb::rebalance_effect::refuse_connections:
        for (auto& d : rb.machine.donors())
          to(d, rb_role_atom::value, true, true);
        break;
      case sb::rebalance_effect::restore:
        for (auto& d : rb.machine.donors())
          to(d, rb_role_atom::value, false, false);
        break;
      case sb::rebalance_effect::evict_connections:
        to(e.node, rb_evict_atom::value, e.count);
        break;
      case sb::rebalance_effect::evict_sessions:
        to(e.node, rb_evict_atom::value, e.count, e.to);
        break;
      case sb::rebalance_effect::timer:
        self->delayed_send(self, std::chrono::milliseconds(e.delay_ms),
                           rb_tick_atom::value, ++rb.gen);
        break;
      case sb::rebalance_effect::log:
        say(self, rb.last, e.text);
        break;
    }
  if (rb.machine.current() == sb::rebalance::phase::disabled) {
    for (auto& [node, b] : rb.balancers)
      if (b.address() != self->address())
        self->demonitor(b);
    rb.balancers.clear();
  }
}

/// Counts every participant's load (their client managers answer), then
/// `next(loads, failed)`: the nodes that did not answer.
template <class Next>
void count_loads(balancer_actor* self, const std::map<std::string, caf::actor>& bal,
                 Next next) {
  std::vector<std::string> names;
  std::vector<caf::actor> targets;
  for (auto& [n, b] : bal) {
    names.push_back(n);
    targets.push_back(b);
  }
  auto loads = std::make_shared<std::vector<sb::node_load>>();
  auto failed = std::make_shared<std::vector<std::string>>();
  gather<uint64_t, uint64_t>(
    self, targets, peer_timeout,
    [=](size_t i, uint64_t conns, uint64_t sessions) {
      loads->push_back({names[i], conns, sessions});
    },
    [=](size_t i, caf::error&) { failed->push_back(names[i]); },
    [=]() mutable { next(*loads, *failed); }, load_atom::value);
}

json rebalance_json(balancer_actor* self) {
  auto& rb = self->state.rb;
  if (rb.machine.current() == sb::rebalance::phase::disabled)
    return nullptr;
  json loads = json::object();
  for (auto& l : rb.loads)
    loads[l.node] = {{"connections", l.connections},
                     {"disconnected_sessions", l.disconnected_sessions}};
  return {{"process", "rebalance"},
          {"state", sb::to_string(rb.machine.current())},
          {"coordinator_node", self->state.me},
          {"connection_eviction_rate", rb.machine.options().conn_evict_rate},
          {"session_eviction_rate", rb.machine.options().sess_evict_rate},
          {"donors", rb.machine.donors()},
          {"recipients", rb.machine.recipients()},
          {"donor_avg", rb.machine.donor_avg()},
          {"recipient_avg", rb.machine.recipient_avg()},
          {"started_at", rb.machine.started_at_ms()},
          {"nodes", loads},
          {"last", rb.last}};
}

void rebalance_tick(balancer_actor* self, uint64_t gen) {
  auto& rb = self->state.rb;
  if (gen != rb.gen || rb.machine.current() == sb::rebalance::phase::disabled)
    return;
  count_loads(self, rb.balancers,
              [self, gen](const std::vector<sb::node_load>& loads,
                          const std::vector<std::string>& failed) {
                auto& rb = self->state.rb;
                if (gen != rb.gen)
                  return;
                if (!failed.empty()) {
                  carry(self, rb.machine.node_down(failed.front()));
                  return;
                }
                rb.loads = loads;
                carry(self, rb.machine.on_timer(loads, now(self)));
              });
}

caf::result<std::string> start_rebalance(balancer_actor* self, const json& args) {
  auto& st = self->state;
  sb::rebalance_options options;
  std::vector<std::string> nodes;
  if (auto err = sb::read_rebalance_request(args, options, nodes))
    return fail(*err);
  if (st.rb.machine.current() != sb::rebalance::phase::disabled)
    return fail("a rebalance is already running, coordinated by " + st.me);
  auto rp = self->make_response_promise<std::string>();
  running_peers(
    self,
    [=](const std::vector<std::string>& names,
        const std::vector<caf::actor>& agents) mutable {
      auto& st = self->state;
      std::map<std::string, caf::actor> agent_of;
      for (size_t i = 0; i < names.size() && i < agents.size(); ++i)
        agent_of.emplace(names[i], agents[i]);
      auto wanted = nodes;
      if (wanted.empty()) {
        wanted = names;
        wanted.push_back(st.me);
      }
      std::vector<std::string> remote;
      std::vector<caf::actor> remote_agents;
      for (auto& n : wanted) {
        if (n == st.me)
          continue;
        auto a = agent_of.find(n);
        if (a == agent_of.end()) {
          rp.deliver(fail(n + " is not a running node of this cluster"));
          return;
        }
        remote.push_back(n);
        remote_agents.push_back(a->second);
      }
      if (std::find(wanted.begin(), wanted.end(), st.me) == wanted.end()) {
        rp.deliver(fail("the coordinator (" + st.me
                        + ") must be one of the nodes; start the rebalance on "
                          "one of them"));
        return;
      }
      auto bal = std::make_shared<std::map<std::string, caf::actor>>();
      auto missing = std::make_shared<std::string>();
      (*bal)[st.me] = caf::actor_cast<caf::actor>(self);
      gather<caf::actor>(
        self, remote_agents, peer_timeout,
        [=](size_t i, const caf::actor& b) { (*bal)[remote[i]] = b; },
        [=](size_t i, caf::error& err) {
          *missing = remote[i] + ": " + describe(err);
        },
        [=]() mutable {
          if (!missing->empty()) {
            rp.deliver(fail("cannot reach the balancer of " + *missing));
            return;
          }
          count_loads(
            self, *bal,
            [=](const std::vector<sb::node_load>& loads,
                const std::vector<std::string>& failed) mutable {
              auto& rb = self->state.rb;
              if (!failed.empty()) {
                rp.deliver(fail("no load from " + failed.front()));
                return;
              }
              sb::rebalance_effects fx;
              if (auto err = rb.machine.start(options, loads, now(self), fx)) {
                rp.deliver(fail(*err));
                return;
              }
              rb.loads = loads;
              rb.balancers = *bal;
              for (auto& [n, b] : rb.balancers)
                if (b.address() != self->address())
                  self->monitor(b);
              carry(self, fx);
              rp.deliver(status_json(self).dump());
            });
        },
        balancer_atom::value);
    },
    rp);
  return rp;
}

// -- status, local and of the cluster -----------------------------------------

json status_json(balancer_actor* self) {
  auto& st = self->state;
  json donor = nullptr;
  if (st.part.health_failing || st.part.refusing)
    donor = {{"coordinator_node", st.part.coordinator_node},
             {"refusing_clients", st.part.refusing}};
  auto health = st.ctx->node->mgmt ? st.ctx->node->mgmt->health.http_status() : 0;
  return {{"node", st.me},
          {"rebalance", rebalance_json(self)},
          {"evacuation", evacuation_json(self)},
          {"donor", donor},
          {"refusing_clients", st.ctx->moving.refusing.load()},
          {"health_check", health == 200 ? "passing" : "failing"}};
}

/// Every running node's status: EMQX's global_status shape
/// ({"evacuations": [...], "rebalances": [...]}) and each node's own.
caf::result<std::string> global_status(balancer_actor* self) {
  auto rp = self->make_response_promise<std::string>();
  running_peers(
    self,
    [=](const std::vector<std::string>& names,
        const std::vector<caf::actor>& agents) mutable {
      auto out = std::make_shared<json>(
        json{{"evacuations", json::array()}, {"rebalances", json::array()},
             {"nodes", json::array()}, {"unanswered", json::array()}});
      auto add = [out](const json& s) {
        if (!s.is_object())
          return;
        (*out)["nodes"].push_back(s);
        for (auto [key, list] : {std::pair{"evacuation", "evacuations"},
                                 std::pair{"rebalance", "rebalances"}})
          if (!s[key].is_null()) {
            json one{{"node", s["node"]}};
            one.update(s[key]);
            (*out)[list].push_back(one);
          }
      };
      auto unanswered = [out](const std::string& node, caf::error& err) {
        (*out)["unanswered"].push_back(node + ": " + describe(err));
      };
      add(status_json(self));
      auto bals = std::make_shared<std::vector<caf::actor>>();
      auto bal_names = std::make_shared<std::vector<std::string>>();
      gather<caf::actor>(
        self, agents, peer_timeout,
        [=](size_t i, const caf::actor& b) {
          bals->push_back(b);
          bal_names->push_back(names[i]);
        },
        [=](size_t i, caf::error& err) { unanswered(names[i], err); },
        [=]() mutable {
          gather<std::string>(
            self, *bals, peer_timeout,
            [=](size_t, const std::string& text) {
              add(json::parse(text, nullptr, false));
            },
            [=](size_t i, caf::error& err) { unanswered((*bal_names)[i], err); },
            [=]() mutable { rp.deliver(out->dump()); }, rebalance_atom::value,
            std::string("status"), std::string("{}"));
        },
        balancer_atom::value);
    },
    rp);
  return rp;
}

caf::result<std::string> start_evacuation(balancer_actor* self, const json& args) {
  auto& st = self->state;
  sb::evacuation_options options;
  if (auto err = sb::read_evacuation_request(args, options))
    return fail(*err);
  if (st.ev.machine.current() != sb::evacuation::phase::disabled)
    return fail("an evacuation of " + st.me + " is already running");
  auto rp = self->make_response_promise<std::string>();
  running_peers(
    self,
    [=](const std::vector<std::string>& names, const std::vector<caf::actor>&) mutable {
      auto& ev = self->state.ev;
      sb::evacuation_effects fx;
      if (auto err = ev.machine.start(options, names, now(self), fx)) {
        rp.deliver(fail(*err));
        return;
      }
      ev.counted = false;
      ev.evicted = ev.moved = 0;
      ev.started_at_ms = now(self);
      carry(self, fx);
      rp.deliver(status_json(self).dump());
    },
    rp);
  return rp;
}

caf::result<std::string> command(balancer_actor* self, const std::string& cmd,
                                 const std::string& args_text) {
  auto& st = self->state;
  auto args = json::parse(args_text.empty() ? "{}" : args_text, nullptr, false);
  if (args.is_discarded())
    return fail("the request is not JSON");
  if (cmd == "status")
    return status_json(self).dump();
  if (cmd == "global_status")
    return global_status(self);
  if (cmd == "rebalance_start")
    return start_rebalance(self, args);
  if (cmd == "evacuation_start")
    return start_evacuation(self, args);
  if (cmd == "rebalance_stop") {
    sb::rebalance_effects fx;
    if (auto err = st.rb.machine.stop(fx))
      return fail(*err + " on " + st.me);
    carry(self, fx);
    return status_json(self).dump();
  }
  if (cmd == "evacuation_stop") {
    sb::evacuation_effects fx;
    if (auto err = st.ev.machine.stop(fx))
      return fail(*err + " on " + st.me);
    ++st.ev.gen; // its timer is void
    carry(self, fx);
    return status_json(self).dump();
  }
  return fail("unknown balancer command '" + cmd + "'");
}

/// The same command, carried out by `node`'s balancer.
caf::result<std::string> command_at(balancer_actor* self, const std::string& node,
                                    const std::string& cmd, const std::string& args) {
  if (node == self->state.me)
    return command(self, cmd, args);
  auto rp = self->make_response_promise<std::string>();
  running_peers(
    self,
    [=](const std::vector<std::string>& names,
        const std::vector<caf::actor>& agents) mutable {
      auto i = std::find(names.begin(), names.end(), node);
      if (i == names.end()) {
        rp.deliver(fail(node + " is not a running node of this cluster"));
        return;
      }
      auto agent = agents[static_cast<size_t>(i - names.begin())];
      self->request(agent, peer_timeout, balancer_atom::value)
        .then(
          [=](const caf::actor& b) mutable {
            self->request(b, std::chrono::seconds(10), rebalance_atom::value, cmd, args)
              .then([=](std::string& text) mutable { rp.deliver(std::move(text)); },
                    [=](caf::error& err) mutable { rp.deliver(err); });
          },
          [=](caf::error& err) mutable { rp.deliver(err); });
    },
    rp);
  return rp;
}

void resume_evacuation(balancer_actor* self) {
  auto& ev = self->state.ev;
  std::ifstream in(ev.path);
  if (!in)
    return;
  std::stringstream text;
  text << in.rdbuf();
  sb::evacuation_effects fx;
  if (auto err = ev.machine.resume(text.str(), fx)) {
    self->state.ctx->node->log->error("evacuation: " + ev.path + ": " + *err
                                      + "; not resumed (stop it with "
                                        "`starling ctl evacuation stop`, or "
                                        "remove the file)");
    return;
  }
  ev.started_at_ms = now(self);
  carry(self, fx);
}

caf::behavior balancer_fn(balancer_actor* self, mqtt_context* ctx) {
  auto& st = self->state;
  st.ctx = ctx;
  st.me = ctx->node->cfg.name.str();
  st.ev.path = (std::filesystem::path(ctx->node->cfg.text("node.data_dir"))
                / (st.me + ".evacuation"))
                 .string();
  self->set_error_handler([self](caf::error& err) {
    self->state.ctx->node->log->warning("balancer: " + describe(err));
  });
  self->set_down_handler([self](caf::down_msg& msg) {
    auto& st = self->state;
    if (msg.source == st.part.coordinator && (st.part.refusing || st.part.health_failing)) {
      st.ctx->node->log->warning("the rebalance coordinator " + st.part.coordinator_node
                                 + " went down: this node accepts clients again");
      st.part = {};
      apply(self);
      return;
    }
    for (auto& [node, b] : st.rb.balancers)
      if (b.address() == msg.source) {
        auto name = node; // carry() may clear the map
        carry(self, st.rb.machine.node_down(name));
        return;
      }
  });
  resume_evacuation(self);
  return {
    [self](rebalance_atom, const std::string& cmd,
           const std::string& args) -> caf::result<std::string> {
      if (!self->state.ctx->node->peers->allowed(self->current_sender()))
        return not_authenticated();
      return command(self, cmd, args);
    },
    [self](rebalance_atom, const std::string& cmd, const std::string& args,
           const std::string& node) -> caf::result<std::string> {
      if (!self->state.ctx->node->peers->allowed(self->current_sender()))
        return not_authenticated();
      return command_at(self, node, cmd, args);
    },
    [self](load_atom) {
      self->delegate(self->state.ctx->manager, load_atom::value);
    },
    [self](rb_role_atom, bool health_failing, bool refusing) {
      auto& st = self->state;
      if (!st.ctx->node->peers->allowed(self->current_sender()))
        return;
      auto from = caf::actor_cast<caf::actor>(self->current_sender());
      bool was = st.part.health_failing || st.part.refusing;
      st.part.health_failing = health_failing;
      st.part.refusing = refusing;
      if (health_failing || refusing) {
        if (st.part.coordinator != from.address()) {
          st.part.coordinator = from.address();
          st.part.coordinator_node = st.me;
          if (from.address() != self->address()) {
            self->monitor(from);
            if (auto p = st.ctx->node->peers->find(from.node()))
              st.part.coordinator_node = p->name;
          }
        }
        if (!was)
          st.ctx->node->log->info("rebalance donor for " + st.part.coordinator_node
                                  + ": the health check fails");
        if (refusing)
          st.ctx->node->log->info("rebalance donor: new clients are refused (0x9C)");
      } else {
        if (was)
          st.ctx->node->log->info("rebalance donor no more: accepting clients");
        st.part = {};
      }
      apply(self);
    },
    [self](rb_evict_atom, uint64_t count) {
      auto& st = self->state;
      if (st.ctx->node->peers->allowed(self->current_sender()))
        self->send(st.ctx->manager, evict_conns_atom::value, count, std::string());
    },
    [self](rb_evict_atom, uint64_t count, const std::vector<std::string>& to) {
      auto& st = self->state;
      if (st.ctx->node->peers->allowed(self->current_sender()))
        self->send(st.ctx->manager, evict_sessions_atom::value, count, to);
    },
    [self](rb_tick_atom, uint64_t gen) {
      if (self->current_sender() == self->ctrl())
        rebalance_tick(self, gen);
    },
    [self](ev_tick_atom, uint64_t gen) {
      if (self->current_sender() == self->ctrl())
        evacuation_tick(self, gen);
    },
    [self](inspect_atom) {
      return inspect_reply(self, *self->state.ctx->node->peers,
                           [&] { return status_json(self).dump(); });
    },
  };
}

} // namespace

caf::actor spawn_balancer(mqtt_context& ctx) {
  auto a = ctx.node->sys->spawn(balancer_fn, &ctx);
  ctx.node->directory->add(a, "mqtt_balancer", "mqtt_balancer");
  return a;
}

} // namespace starling::actors::mqtt
