#include "starling/actors/mqtt/broker.hpp"

#include "starling/actors/mqtt/client_manager.hpp"
#include "starling/actors/mqtt/context.hpp"
#include "starling/actors/mqtt/listener.hpp"
#include "starling/actors/mqtt/router.hpp"

namespace starling::actors::mqtt {

void spawn_broker_actors(mqtt_context& ctx) {
  ctx.router = spawn_router(ctx);
  ctx.manager = spawn_client_manager(ctx);
}

caf::expected<uint16_t> start_broker(mqtt_context& ctx) {
  auto& s = ctx.settings;
  connection_limits limits;
  limits.max_packet_size = s.channel.max_packet_size;
  limits.connect_timeout_ms = s.connect_timeout_ms;
  limits.high_watermark = s.write_high_watermark;
  limits.hard_limit = s.write_hard_limit;
  auto l = start_listener(*ctx.node, ctx.manager, s.tcp.host, s.tcp.port,
                          limits);
  if (!l)
    return l.error();
  return l->port;
}

} // namespace starling::actors::mqtt
