#include "starling/actors/mqtt/listener.hpp"

#include <future>
#include <memory>
#include <unordered_set>

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include "starling/actors/actor_directory.hpp"
#include "starling/actors/mqtt/connection.hpp"
#include "starling/actors/inspect.hpp"
#include "starling/actors/node_context.hpp"
#include "starling/actors/peer_registry.hpp"
#include "starling/actors/wire.hpp"
#include "starling/broker/listener_guard.hpp"

namespace starling::actors::mqtt {

namespace {

struct listener_state {
  uint64_t accepted = 0;
  std::string where;
  std::optional<broker::listener_guard> guard;
  /// Admitted connections, which count against max_connections until they
  /// end (a monitor tells).
  std::unordered_set<caf::actor_addr> admitted;
  static inline const char* name = "mqtt_listener";
};

using listener_broker = caf::stateful_actor<listener_state, caf::io::broker>;
using bound_promise = std::shared_ptr<std::promise<caf::expected<uint16_t>>>;

caf::behavior listener_fn(listener_broker* self, node_context* ctx,
                          caf::actor manager, broker::listener_settings l,
                          std::shared_ptr<const listener_setup> setup,
                          bound_promise bound) {
  auto& host = l.address.host;
  auto res = self->add_tcp_doorman(l.address.port, host.c_str(), true);
  if (!res) {
    bound->set_value(fail("cannot listen for MQTT on " + host + ":"
                          + std::to_string(l.address.port) + " (" + l.name
                          + " listener): " + self->system().render(res.error())));
    self->quit();
    return {};
  }
  auto& st = self->state;
  st.where = host + ":" + std::to_string(res->second);
  st.guard.emplace(l.max_connections, l.max_conn_rate);
  bound->set_value(res->second);
  self->set_down_handler([self](caf::down_msg& msg) {
    auto& st = self->state;
    if (st.admitted.erase(msg.source) > 0)
      st.guard->release();
  });
  return {
    [=](const caf::io::new_connection_msg& msg) {
      auto& st = self->state;
      ++st.accepted;
      auto verdict = st.guard->admit(ctx->now_ms());
      auto conn = self->fork(connection_fn, msg.handle, ctx, manager, setup,
                             verdict);
      if (verdict == broker::admission::accepted) {
        self->monitor(conn);
        st.admitted.insert(conn.address());
      }
      ctx->directory->add(conn, "conn:" + std::to_string(conn.id()),
                          "mqtt_connection");
    },
    [=](const caf::io::acceptor_closed_msg&) {
      ctx->log->error("MQTT listener on " + self->state.where + " closed");
      self->quit();
    },
    [=](close_all_atom, const std::vector<caf::actor>& conns) {
      if (!from_own_system(self))
        return;
      for (auto& c : conns)
        self->send_exit(c, caf::exit_reason::user_shutdown);
      self->quit(caf::exit_reason::user_shutdown);
    },
    [=](inspect_atom) {
      return inspect_reply(self, *ctx->peers, [&] {
        auto& st = self->state;
        return setup->name + " " + st.where + ", accepted "
               + std::to_string(st.accepted) + ", " + st.guard->summary();
      });
    },
  };
}

} // namespace

caf::expected<listener> start_listener(node_context& ctx,
                                       const caf::actor& manager,
                                       const broker::listener_settings& l,
                                       std::shared_ptr<const listener_setup> setup) {
  auto bound = std::make_shared<std::promise<caf::expected<uint16_t>>>();
  auto result = bound->get_future();
  auto handle = ctx.sys->middleman().spawn_broker(listener_fn, &ctx, manager, l,
                                                  std::move(setup), bound);
  auto port_or_err = result.get();
  if (!port_or_err)
    return port_or_err.error();
  ctx.directory->add(handle, "mqtt_listener:" + l.name, "mqtt_listener");
  return listener{handle, *port_or_err};
}

} // namespace starling::actors::mqtt
