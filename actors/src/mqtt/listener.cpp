#include "starling/actors/mqtt/listener.hpp"

#include <future>
#include <memory>

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include "starling/actors/actor_directory.hpp"
#include "starling/actors/mqtt/connection.hpp"
#include "starling/actors/mqtt/socket.hpp"
#include "starling/actors/inspect.hpp"
#include "starling/actors/node_context.hpp"
#include "starling/actors/peer_registry.hpp"
#include "starling/actors/wire/node.hpp"
#include "starling/broker/listener_guard.hpp"
#include "starling/transport/tls.hpp"
#include "starling/transport/websocket.hpp"

namespace starling::actors::mqtt {

namespace {

using bound_promise = std::shared_ptr<std::promise<caf::expected<uint16_t>>>;

caf::behavior listener_fn(listener_broker* self, node_context* ctx,
                          caf::actor manager, broker::listener_settings l,
                          std::shared_ptr<const listener_setup> setup,
                          bound_promise bound) {
  auto& host = l.address.host;
  auto res = add_mqtt_doorman(self, l.address.port, host);
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

// -- connection_actor ---------------------------------------------------------

connection_actor::connection_actor(caf::actor_config& cfg, caf::actor listener,
                                   caf::io::connection_handle hdl)
  : caf::monitorable_actor(cfg), listener_(std::move(listener)), hdl_(hdl) {}

void connection_actor::enqueue(caf::mailbox_element_ptr what,
                               caf::execution_unit* host) {
  if (getf(is_terminated_flag)) {
    bounce(what);
    return;
  }
  auto& x = *what;
  auto mail = caf::make_mailbox_element(
    std::move(x.sender), x.mid, std::move(x.stages), conn_mail_atom::value,
    hdl_, id(), x.move_content_to_message());
  listener_->enqueue(std::move(mail), host);
}

const char* connection_actor::name() const {
  return "mqtt_connection";
}

std::string connection_state::peer_host() const {
  return peer.substr(0, peer.rfind(':'));
}

// -- a new socket -------------------------------------------------------------

void open_connection(listener_broker* self, caf::io::connection_handle hdl,
                     broker::admission admitted) {
  auto& ls = self->state;
  caf::actor_config cfg{self->context()};
  auto& sys = self->system();
  auto ref = caf::actor_cast<caf::actor>(
    caf::make_actor<connection_actor, caf::strong_actor_ptr>(
      sys.next_actor_id(), sys.node(), &sys, cfg,
      caf::actor_cast<caf::actor>(self), hdl));
  auto& st = ls.conns[hdl];
  st.self = ref;
  st.hdl = hdl;
  st.admitted = admitted;
  auto& limits = ls.setup->limits;
  st.dec = broker::decoder({limits.max_packet_size, std::nullopt});
  if (ls.setup->tls)
    st.stack.push(std::make_unique<transport::tls_layer>(ls.setup->tls));
  if (ls.setup->websocket) {
    transport::websocket_options ws;
    // A WebSocket message holds one MQTT packet (or a few); the codec
    // enforces the packet size.
    ws.max_message_size = limits.max_packet_size + 16;
    st.stack.push(std::make_unique<transport::websocket_layer>(ws));
  }
  auto addr = self->remote_addr(hdl);
  if (addr.rfind("::ffff:", 0) == 0)
    addr = addr.substr(7);
  st.peer = addr + ":" + std::to_string(self->remote_port(hdl));
  // Small MQTT packets do not wait for Nagle's algorithm: CAF 0.17 sets
  // TCP_NODELAY on every socket it handles (event_handler::set_fd_flags),
  // as EMQX's listeners do.
  st.read_size = read_sizes[0];
  self->configure_read(hdl, caf::io::receive_policy::at_most(st.read_size));
  self->ack_writes(hdl, true);
  if (!ls.connect_deadlines)
    ls.connect_deadlines.emplace(limits.connect_timeout_ms);
  if (auto wake = ls.connect_deadlines->add({hdl, ref.id()}, deadline_clock_ms()))
    self->delayed_send(self, std::chrono::milliseconds(*wake),
                       connect_timeout_atom::value);
  ls.ctx->directory->add(ref, "conn:" + std::to_string(ref.id()),
                         "mqtt_connection");
}

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
