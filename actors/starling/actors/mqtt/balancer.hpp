#pragma once

#include <caf/actor.hpp>

namespace starling::actors::mqtt {

struct mqtt_context;

/// The node's balancer (EMQX's emqx_node_rebalance and eviction agent):
/// it carries out the decisions of broker::rebalance (as the coordinator
/// of a rebalance started here) and of broker::evacuation (this node's),
/// and plays a donor's part when another node's coordinator asks it to.
/// What it does to clients goes through the client manager (evict
/// connections, move disconnected sessions) and `mqtt_context::moving`
/// (refuse CONNECTs); the health check through the management context.
/// The evacuation state is kept in <node.data_dir>/<node>.evacuation, so
/// a restarted node resumes it and keeps refusing clients.
caf::actor spawn_balancer(mqtt_context& ctx);

} // namespace starling::actors::mqtt
