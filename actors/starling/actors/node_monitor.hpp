#pragma once

#include <string>

#include <caf/actor.hpp>
#include <caf/fwd.hpp>

namespace starling::actors {

struct node_context;

/// Watches one peer's node agent for the local agent (Erlang's
/// monitor_node): when the peer process dies, or BASP declares the link dead
/// after node.tick_ms without traffic, it sends (nodedown, name, reason) to
/// `agent` and exits. Linked to the agent.
caf::actor spawn_node_monitor(node_context& ctx, caf::event_based_actor* agent,
                              const caf::actor& peer_agent,
                              const std::string& peer_name);

} // namespace starling::actors
