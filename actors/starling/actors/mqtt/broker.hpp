#pragma once

#include <cstdint>
#include <string>

#include <caf/expected.hpp>

namespace starling::actors::mqtt {

struct mqtt_context;

/// Spawns the router, the client manager and the access actor. Before the
/// node agent: the agent tells the manager about every membership change
/// from the start.
void spawn_broker_actors(mqtt_context& ctx);

/// Loads the TLS listeners' certificate (mqtt.ssl.*) into ctx.tls, before
/// anything starts; returns the error naming the key, or "".
std::string load_tls(mqtt_context& ctx);

/// Starts every listener of `ctx.settings` (after spawn_broker_actors).
/// Returns what listens where ("tcp 0.0.0.0:1883, ssl 0.0.0.0:8883"), or an
/// error sentence naming the key (a port that cannot be opened, a
/// certificate that does not load).
caf::expected<std::string> start_broker(mqtt_context& ctx);

} // namespace starling::actors::mqtt
