// The balancer: a rebalance this node coordinates (broker::rebalance
// carried out): the participants' balancers, their loads, the donors' roles
// and eviction rounds.

#include "balancer_state.hpp"

#include "starling/actors/gather.hpp"
#include "starling/actors/node_context.hpp"
#include "starling/actors/wire/node.hpp"
#include "starling/broker/balance_request.hpp"

namespace starling::actors::mqtt::balancer_detail {

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
    if (!rb.balancers.empty()) // it ran: finished, stopped or aborted
      rb.ended = {{"outcome", rb.last}, {"ended_at", now(self)}};
    for (auto& [node, b] : rb.balancers)
      if (b.address() != self->address())
        self->demonitor(b);
    rb.balancers.clear();
  }
}


namespace {

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

} // namespace

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

} // namespace starling::actors::mqtt::balancer_detail
