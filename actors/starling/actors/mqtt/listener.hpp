#pragma once

#include <cstdint>
#include <string>

#include <caf/actor.hpp>
#include <caf/expected.hpp>

#include "starling/actors/mqtt/protocol.hpp"

namespace starling::actors {
struct node_context;
}

namespace starling::actors::mqtt {

struct listener {
  caf::actor handle;
  uint16_t port = 0; ///< the bound port (useful when 0 was asked)
};

/// Opens the MQTT TCP listener on host:port and forks one connection broker
/// per accepted socket, each handing its CONNECT to `manager`. Fails with a
/// sentence when the port cannot be opened.
caf::expected<listener> start_listener(node_context& ctx,
                                       const caf::actor& manager,
                                       const std::string& host, uint16_t port,
                                       const connection_limits& limits);

} // namespace starling::actors::mqtt
