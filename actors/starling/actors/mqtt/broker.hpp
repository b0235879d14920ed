#pragma once

#include <cstdint>

#include <caf/expected.hpp>

namespace starling::actors::mqtt {

struct mqtt_context;

/// Spawns the router and the client manager. Before the node agent: the
/// agent tells the manager about every membership change from the start.
void spawn_broker_actors(mqtt_context& ctx);

/// Starts the TCP listener of `ctx.settings` (after spawn_broker_actors).
/// Returns the bound port, or an error sentence (the port cannot be opened).
caf::expected<uint16_t> start_broker(mqtt_context& ctx);

} // namespace starling::actors::mqtt
