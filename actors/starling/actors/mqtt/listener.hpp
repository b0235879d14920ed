#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <caf/actor.hpp>
#include <caf/expected.hpp>

#include "starling/actors/mqtt/protocol.hpp"
#include "starling/broker/broker_settings.hpp"

namespace starling::actors {
struct node_context;
}

namespace starling::actors::mqtt {

struct listener {
  caf::actor handle;
  uint16_t port = 0; ///< the bound port (useful when 0 was asked)
};

struct listener_setup;

/// Opens MQTT listener `l` (tcp, ssl, ws or wss) and forks one connection
/// broker per accepted socket, each handing its CONNECT to `manager`; the
/// listener's max_connections and max_conn_rate decide each socket first
/// (broker/listener_guard.hpp). Fails with a sentence when the port cannot
/// be opened.
caf::expected<listener> start_listener(node_context& ctx,
                                       const caf::actor& manager,
                                       const broker::listener_settings& l,
                                       std::shared_ptr<const listener_setup> setup);

} // namespace starling::actors::mqtt
