#pragma once

#include <cstdint>

#include <caf/expected.hpp>

namespace starling::actors::mqtt {

struct mqtt_context;

/// Starts the MQTT side of a node: router, client manager and the TCP
/// listener of `ctx.settings`. Returns the bound port, or an error sentence
/// (the port cannot be opened).
caf::expected<uint16_t> start_broker(mqtt_context& ctx);

} // namespace starling::actors::mqtt
