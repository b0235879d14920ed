#pragma once

// The balancer actor's state and the functions its three files share:
// balancer.cpp (the behaviour, status and commands), balancer_rebalance.cpp
// (a rebalance this node coordinates) and balancer_evacuation.cpp (this
// node's evacuation). The decisions are broker::rebalance and
// broker::evacuation; these carry out their effects.

#include <map>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "starling/actors/mqtt/context.hpp"
#include "starling/actors/mqtt/protocol.hpp"
#include "starling/broker/evacuation.hpp"
#include "starling/broker/rebalance.hpp"

#include <nlohmann/json.hpp>

namespace starling::actors::mqtt::balancer_detail {

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
  /// The last rebalance coordinated here that ended: {outcome, ended_at}.
  json ended = nullptr;
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

int64_t now(balancer_actor* self);
void say(balancer_actor* self, std::string& last, const std::string& text);
/// What the connections and the health check see: refusing while a donor
/// that was told so, or evacuating (past its health check wait).
void apply(mqtt_context& ctx, const donor_part& part, const sb::evacuation& ev);
void apply(balancer_actor* self);
/// This node's part: its rebalance, evacuation and donor role.
json status_json(balancer_actor* self);

/// The other running nodes and their node agents, then `next(names, agents)`.
template <class Next>
void running_peers(balancer_actor* self, Next next,
                   caf::response_promise rp) {
  self->request(self->state.ctx->manager, peer_timeout, peer_agents_atom::value)
    .then([next](std::vector<std::string>& names,
                 std::vector<caf::actor>& agents) mutable { next(names, agents); },
          [rp](caf::error& err) mutable { rp.deliver(err); });
}

// balancer_evacuation.cpp
void carry(balancer_actor* self, const sb::evacuation_effects& fx);
json evacuation_json(balancer_actor* self);
void evacuation_tick(balancer_actor* self, uint64_t gen);
caf::result<std::string> start_evacuation(balancer_actor* self, const json& args);
/// An evacuation read back from the data dir, before the actor first runs.
struct resumed_evacuation {
  sb::evacuation machine; ///< disabled: there was none (or it did not read)
  sb::evacuation_effects fx;
};
std::string evacuation_path(const mqtt_context& ctx);
/// The evacuation kept at `path`, resumed; a file that does not read is
/// logged and left alone.
resumed_evacuation resume_evacuation(mqtt_context& ctx, const std::string& path);

// balancer_rebalance.cpp
void carry(balancer_actor* self, const sb::rebalance_effects& fx);
json rebalance_json(balancer_actor* self);
void rebalance_tick(balancer_actor* self, uint64_t gen);
caf::result<std::string> start_rebalance(balancer_actor* self, const json& args);

} // namespace starling::actors::mqtt::balancer_detail
