#pragma once

#include <caf/actor.hpp>
#include <caf/fwd.hpp>

#include "starling/actors/mqtt/protocol.hpp"
#include "starling/broker/packet.hpp"

namespace starling::actors::mqtt {

struct mqtt_context;

/// Spawns the session actor of one client id (EMQX's channel + session
/// process), hosting a broker::channel per connection and the session that
/// outlives them; see the contract in broker/channel.hpp. The client
/// manager spawns it for the first CONNECT of a client id and forwards
/// later CONNECTs of that id to it, so a takeover on this node keeps the
/// session, and the router's entries, in one actor.
///
/// `holder` is the node agent of another node the session registry names
/// for this client id: before opening, the session is taken over from there
/// (or discarded there, with Clean Start). `origin` says where the
/// connection came from (peer, listener): the authenticate and authorize
/// hooks use it.
caf::actor spawn_session(caf::event_based_actor* manager, mqtt_context& ctx,
                         broker::connect first, const caf::actor& conn,
                         const client_origin& origin,
                         const caf::actor& holder);

/// Spawns the session actor of a disconnected session that moves here
/// without its client (rebalance, evacuation): it takes the session over
/// from `holder` (the client manager of the node that had it) and keeps
/// it until the client connects or the session expires. It ends at once
/// if there is nothing to take over.
caf::actor spawn_moved_session(caf::event_based_actor* manager,
                               mqtt_context& ctx, const std::string& client_id,
                               const caf::actor& holder);

} // namespace starling::actors::mqtt
