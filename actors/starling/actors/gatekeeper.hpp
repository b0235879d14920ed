#pragma once

#include <caf/actor.hpp>

#include "starling/actors/wire/node.hpp"

namespace starling::actors {

struct node_context;

/// The only actor published on the distribution port. It runs the cookie
/// handshake (runtime/cookie_auth.hpp); only a peer that passes it gets the
/// node agent's handle and enters the peer registry. A refused peer is
/// logged with its address and disconnected.
gatekeeper_actor spawn_gatekeeper(node_context& ctx, const caf::actor& agent);

} // namespace starling::actors
