#pragma once

#include <caf/actor.hpp>

namespace starling::actors::mqtt {

struct mqtt_context;

/// The router (EMQX's emqx_broker + emqx_router on one node): the
/// subscription table (topic filter -> local subscribers) in a topic trie,
/// shared-subscription groups, the retained store, and the $SYS topics.
/// Matching and fan-out happen here, off the I/O thread: one `deliver` per
/// subscribing session per message (all of that session's matching
/// subscription keys together, so overlaps give one copy), one per shared
/// group pick.
caf::actor spawn_router(mqtt_context& ctx);

} // namespace starling::actors::mqtt
