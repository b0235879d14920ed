#pragma once

#include <caf/actor.hpp>

namespace starling::actors {

struct node_context;

/// The node agent: owns the membership view (runtime::membership), speaks
/// the peer protocol of wire.hpp with the other agents (join, member_up,
/// leave), keeps one node monitor per peer for nodeup/nodedown, and answers
/// ctl/remsh requests (status, cluster join/leave/force-leave/status,
/// nodes), delegating remsh lines to its shell actor. Every request is checked against the peer registry first.
caf::actor spawn_node_agent(node_context& ctx);

} // namespace starling::actors
