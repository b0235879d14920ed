#include "starling/actors/mqtt/balancer.hpp"

#include "balancer_state.hpp"

#include "starling/actors/actor_directory.hpp"
#include "starling/actors/gather.hpp"
#include "starling/actors/inspect.hpp"
#include "starling/actors/mgmt/context.hpp"
#include "starling/actors/node_context.hpp"
#include "starling/actors/peer_registry.hpp"
#include "starling/actors/wire/node.hpp"

namespace starling::actors::mqtt {

namespace balancer_detail {

int64_t now(balancer_actor* self) {
  return self->state.ctx->node->now_ms();
}

void say(balancer_actor* self, std::string& last, const std::string& text) {
  last = text;
  self->state.ctx->node->log->info(text);
}

void apply(mqtt_context& ctx, const donor_part& part, const sb::evacuation& ev) {
  bool evacuation = ev.current() != sb::evacuation::phase::disabled;
  ctx.moving.refusing = part.refusing || ev.refusing();
  ctx.moving.server_reference.set(evacuation ? ev.options().redirect_to
                                             : std::string());
  if (auto m = ctx.node->mgmt)
    m->health.set_draining(evacuation ? starling::mgmt::health_state::evacuating
                           : part.health_failing
                             ? starling::mgmt::health_state::rebalance_donor
                             : starling::mgmt::health_state::not_draining);
}

void apply(balancer_actor* self) {
  auto& st = self->state;
  apply(*st.ctx, st.part, st.ev.machine);
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
          {"last_rebalance", st.rb.ended},
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

} // namespace balancer_detail

namespace {

using namespace balancer_detail;

caf::behavior balancer_fn(balancer_actor* self, mqtt_context* ctx,
                          const std::string& path, const resumed_evacuation& resumed) {
  auto& st = self->state;
  st.ctx = ctx;
  st.me = ctx->node->cfg.name.str();
  st.ev.path = path;
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
  if (resumed.machine.current() != sb::evacuation::phase::disabled) {
    st.ev.machine = resumed.machine;
    st.ev.started_at_ms = now(self);
    carry(self, resumed.fx);
  }
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
  using namespace balancer_detail;
  auto path = evacuation_path(ctx);
  auto resumed = resume_evacuation(ctx, path);
  // A resumed evacuation refuses from the first client on: the listeners
  // open before this actor first runs.
  apply(ctx, donor_part{}, resumed.machine);
  auto a = ctx.node->sys->spawn(balancer_fn, &ctx, path, resumed);
  ctx.node->directory->add(a, "mqtt_balancer", "mqtt_balancer");
  return a;
}

} // namespace starling::actors::mqtt
