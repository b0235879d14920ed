#pragma once

#include <caf/actor.hpp>

namespace starling::actors::mqtt {

struct mqtt_context;

/// The client manager (EMQX's emqx_cm): one session actor per client id on
/// this node. The first CONNECT of an id spawns its session actor; later
/// CONNECTs of that id go to the same actor, which takes the session over
/// from the old connection (kicking it with DISCONNECT 0x8E for MQTT 5).
/// It monitors its sessions; they end with it.
caf::actor spawn_client_manager(mqtt_context& ctx);

} // namespace starling::actors::mqtt
