#include "starling/actors/mqtt/listener.hpp"

#include <future>
#include <memory>

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include "starling/actors/actor_directory.hpp"
#include "starling/actors/mqtt/connection.hpp"
#include "starling/actors/inspect.hpp"
#include "starling/actors/node_context.hpp"
#include "starling/actors/peer_registry.hpp"
#include "starling/actors/wire.hpp"

namespace starling::actors::mqtt {

namespace {

struct listener_state {
  uint64_t accepted = 0;
  std::string where;
  static inline const char* name = "mqtt_listener";
};

using listener_broker = caf::stateful_actor<listener_state, caf::io::broker>;
using bound_promise = std::shared_ptr<std::promise<caf::expected<uint16_t>>>;

caf::behavior listener_fn(listener_broker* self, node_context* ctx,
                          caf::actor manager, std::string host, uint16_t port,
                          connection_limits limits, bound_promise bound) {
  auto res = self->add_tcp_doorman(port, host.c_str(), true);
  if (!res) {
    bound->set_value(fail("cannot listen for MQTT on " + host + ":"
                          + std::to_string(port) + ": "
                          + self->system().render(res.error())));
    self->quit();
    return {};
  }
  self->state.where = host + ":" + std::to_string(res->second);
  bound->set_value(res->second);
  return {
    [=](const caf::io::new_connection_msg& msg) {
      ++self->state.accepted;
      auto conn = self->fork(connection_fn, msg.handle, ctx, manager, limits);
      ctx->directory->add(conn, "conn:" + std::to_string(conn.id()),
                          "mqtt_connection");
    },
    [=](const caf::io::acceptor_closed_msg&) {
      ctx->log->error("MQTT listener on " + self->state.where + " closed");
      self->quit();
    },
    [=](inspect_atom) {
      return inspect_reply(self, *ctx->peers, [&] {
        return "tcp " + self->state.where + ", accepted "
               + std::to_string(self->state.accepted);
      });
    },
  };
}

} // namespace

caf::expected<listener> start_listener(node_context& ctx,
                                       const caf::actor& manager,
                                       const std::string& host, uint16_t port,
                                       const connection_limits& limits) {
  auto bound = std::make_shared<std::promise<caf::expected<uint16_t>>>();
  auto result = bound->get_future();
  auto handle = ctx.sys->middleman().spawn_broker(listener_fn, &ctx, manager,
                                                  host, port, limits, bound);
  auto port_or_err = result.get();
  if (!port_or_err)
    return port_or_err.error();
  ctx.directory->add(handle, "mqtt_listener:tcp", "mqtt_listener");
  return listener{handle, *port_or_err};
}

} // namespace starling::actors::mqtt
