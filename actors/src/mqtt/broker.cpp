#include "starling/actors/mqtt/broker.hpp"

#include "starling/actors/mqtt/access.hpp"
#include "starling/actors/mqtt/balancer.hpp"
#include "starling/actors/mqtt/client_manager.hpp"
#include "starling/actors/mqtt/connection.hpp"
#include "starling/actors/mqtt/context.hpp"
#include "starling/actors/mqtt/listener.hpp"
#include "starling/actors/mqtt/router.hpp"
#include "starling/actors/node_context.hpp"
#include "starling/actors/wire/node.hpp"
#include "starling/transport/tls.hpp"

namespace starling::actors::mqtt {

void spawn_broker_actors(mqtt_context& ctx) {
  ctx.router = spawn_router(ctx);
  ctx.manager = spawn_client_manager(ctx);
  ctx.access_actor = spawn_access(ctx);
  ctx.balancer = spawn_balancer(ctx);
}

std::string load_tls(mqtt_context& ctx) {
  auto& s = ctx.settings;
  bool wanted = false;
  for (auto& l : s.listeners)
    wanted = wanted || l.tls;
  if (!wanted)
    return "";
  std::string err;
  ctx.tls = transport::tls_context::server(
    {s.ssl.certfile, s.ssl.keyfile, s.ssl.cacertfile, s.ssl.verify_peer,
     s.ssl.fail_if_no_peer_cert},
    err);
  if (ctx.tls)
    return "";
  // The error names the file; the key is the one holding it.
  const char* key = "mqtt.ssl.certfile";
  if (!s.ssl.keyfile.empty() && err.find(s.ssl.keyfile) != std::string::npos)
    key = "mqtt.ssl.keyfile";
  else if (!s.ssl.cacertfile.empty()
           && err.find(s.ssl.cacertfile) != std::string::npos)
    key = "mqtt.ssl.cacertfile";
  return ctx.node->cfg.invalid(key, err);
}

caf::expected<std::string> start_broker(mqtt_context& ctx) {
  auto& s = ctx.settings;
  connection_limits limits;
  limits.max_packet_size = s.channel.max_packet_size;
  limits.connect_timeout_ms = s.connect_timeout_ms;
  limits.high_watermark = s.write_high_watermark;
  limits.hard_limit = s.write_hard_limit;
  std::string started;
  for (auto& l : s.listeners) {
    auto setup = std::make_shared<listener_setup>();
    setup->name = l.name;
    setup->limits = limits;
    setup->websocket = l.websocket;
    if (l.tls) {
      setup->tls = ctx.tls; // load_tls ran at start
      setup->peer_cert_as_username = s.ssl.peer_cert_as_username;
    }
    auto started_one = start_listener(*ctx.node, ctx.manager, l, setup);
    if (!started_one)
      return fail(describe(started_one.error()) + " (set mqtt.listener." + l.name
                  + ", env " + runtime::env_var_for("mqtt.listener." + l.name)
                  + ")");
    started += (started.empty() ? "" : ", ") + l.name + " " + l.address.host
               + ":" + std::to_string(started_one->port);
  }
  return started;
}

} // namespace starling::actors::mqtt
