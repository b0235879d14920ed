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
#include "starling/actors/wire/node.hpp"
#include "starling/broker/listener_guard.hpp"

namespace starling::actors::mqtt {

namespace {

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
  st.ctx = ctx;
  st.manager = std::move(manager);
  st.setup = std::move(setup);
  st.where = host + ":" + std::to_string(res->second);
  st.guard.emplace(l.max_connections, l.max_conn_rate);
  bound->set_value(res->second);
  // Stopping (the node's shutdown): the connections end with it.
  self->set_exit_handler([self](caf::exit_msg& msg) {
    if (!msg.reason)
      return; // a normal exit ends no one that does not want it (as CAF)
    close_connections(self, msg.reason);
    self->quit(msg.reason);
  });
  return {
    [self](const caf::io::new_connection_msg& msg) {
      auto& st = self->state;
      ++st.accepted;
      open_connection(self, msg.handle, st.guard->admit(st.ctx->now_ms()));
    },
    [self](const caf::io::new_data_msg& msg) { connection_data(self, msg); },
    [self](const caf::io::data_transferred_msg& msg) {
      connection_written(self, msg);
    },
    [self](const caf::io::connection_closed_msg& msg) {
      connection_gone(self, msg.handle);
    },
    [self](conn_mail_atom, caf::io::connection_handle hdl, caf::actor_id id,
           caf::message& msg) { connection_message(self, hdl, id, msg); },
    [self](connect_timeout_atom) {
      if (self->current_sender() == self->ctrl())
        connect_timeouts(self);
    },
    [self](const caf::io::acceptor_closed_msg&) {
      self->state.ctx->log->error("MQTT listener on " + self->state.where
                                  + " closed");
      close_connections(self, caf::exit_reason::unknown);
      self->quit();
    },
    [self](inspect_atom) {
      return inspect_reply(self, *self->state.ctx->peers, [&] {
        auto& st = self->state;
        return st.setup->name + " " + st.where + ", accepted "
               + std::to_string(st.accepted) + ", "
               + std::to_string(st.conns.size()) + " open, "
               + st.guard->summary();
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
