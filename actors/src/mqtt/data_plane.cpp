#include "starling/actors/mqtt/data_plane.hpp"

#include <deque>
#include <map>
#include <optional>

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include "starling/actors/actor_directory.hpp"
#include "starling/actors/dist_connect.hpp"
#include "starling/actors/gatekeeper.hpp"
#include "starling/actors/inspect.hpp"
#include "starling/actors/mqtt/message_wire.hpp"
#include "starling/actors/mqtt/protocol.hpp"
#include "starling/actors/node_context.hpp"
#include "starling/actors/peer_registry.hpp"
#include "starling/actors/wire.hpp"

namespace starling::actors::mqtt {

// -- message_wire ----------------------------------------------------------------

message_wire to_wire(const broker::message& m) {
  message_wire w;
  w.topic = m.topic;
  auto& bytes = m.payload.bytes();
  w.payload.assign(bytes.begin(), bytes.end());
  w.qos = static_cast<uint8_t>(m.qos);
  w.retain = m.retain;
  w.publisher = m.publisher;
  w.timestamp_ms = m.timestamp_ms;
  w.expires = m.expires_at_ms.has_value();
  w.expires_at_ms = m.expires_at_ms.value_or(0);
  if (m.props) {
    auto& p = *m.props;
    w.has_props = true;
    if (p.payload_format_indicator)
      w.payload_format = static_cast<uint8_t>(*p.payload_format_indicator);
    w.has_content_type = p.content_type.has_value();
    w.content_type = p.content_type.value_or("");
    w.has_response_topic = p.response_topic.has_value();
    w.response_topic = p.response_topic.value_or("");
    w.has_correlation = p.correlation_data.has_value();
    if (p.correlation_data)
      w.correlation.assign(p.correlation_data->begin(), p.correlation_data->end());
    for (auto& [k, v] : p.user) {
      w.user.push_back(k);
      w.user.push_back(v);
    }
  }
  return w;
}

std::optional<broker::message> from_wire(message_wire w) {
  if (w.qos > 2 || (w.payload_format > 1 && w.payload_format != 255)
      || w.user.size() % 2 != 0)
    return std::nullopt;
  broker::message m;
  m.topic = std::move(w.topic);
  m.payload = broker::shared_binary(broker::binary(w.payload.begin(), w.payload.end()));
  m.qos = static_cast<broker::qos>(w.qos);
  m.retain = w.retain;
  m.publisher = std::move(w.publisher);
  m.timestamp_ms = w.timestamp_ms;
  if (w.expires)
    m.expires_at_ms = w.expires_at_ms;
  if (w.has_props) {
    broker::message_properties p;
    if (w.payload_format != 255)
      p.payload_format_indicator = static_cast<broker::payload_format>(w.payload_format);
    if (w.has_content_type)
      p.content_type = std::move(w.content_type);
    if (w.has_response_topic)
      p.response_topic = std::move(w.response_topic);
    if (w.has_correlation)
      p.correlation_data = broker::binary(w.correlation.begin(), w.correlation.end());
    for (size_t i = 0; i + 1 < w.user.size(); i += 2)
      p.user.emplace_back(std::move(w.user[i]), std::move(w.user[i + 1]));
    m.props = std::make_shared<const broker::message_properties>(std::move(p));
  }
  return m;
}

namespace {


/// Messages queued per destination while its connection is being made.
constexpr size_t max_queued = 10000;
constexpr auto connect_timeout = std::chrono::seconds(5);

// -- inbox: what peers forward, handed to the local router -----------------------

/// Whether the current message comes from an actor of the node's main
/// actor system (the node agent, run_node): never from the network.
template <class Self>
bool from_main_system(Self* self, const caf::node_id& main) {
  auto s = self->current_sender();
  return s && s->node() == main;
}

struct inbox_state {
  node_context* data = nullptr; ///< the data system's context
  caf::node_id main;            ///< the node's main actor system
  caf::actor router;
  uint64_t received = 0, refused = 0;
  static inline const char* name = "data_inbox";
};

caf::behavior inbox_behavior(caf::stateful_actor<inbox_state>* self, node_context* data,
                    caf::node_id main) {
  self->state.data = data;
  self->state.main = main;
  return {
    [self](attach_atom, const caf::actor& router) {
      if (from_main_system(self, self->state.main))
        self->state.router = router;
    },
    [self](forward_atom, message_wire& w) {
      auto& st = self->state;
      auto sender = self->current_sender();
      auto p = sender ? st.data->peers->find(sender->node()) : std::nullopt;
      auto m = from_wire(std::move(w));
      if (!p || p->hidden || !m || !st.router) {
        ++st.refused;
        return;
      }
      ++st.received;
      self->send(st.router, remote_publish_atom::value, std::move(*m));
    },
    [self](inspect_atom) {
      auto& st = self->state;
      return inspect_reply(self, *st.data->peers, [&] {
        return std::to_string(st.received) + " messages from peers, "
               + std::to_string(st.refused) + " refused";
      });
    },
  };
}

// -- outbox: one connection per destination node -------------------------------

struct destination {
  std::string host;
  uint16_t port = 0;
  caf::actor inbox; ///< the peer's, once connected
  bool connecting = false;
  std::deque<message_wire> queue;
};

struct outbox_state {
  node_context* data = nullptr;
  caf::node_id main;
  std::map<std::string, destination> nodes;
  uint64_t sent = 0, dropped = 0;
  static inline const char* name = "data_outbox";
};

using outbox_actor = caf::stateful_actor<outbox_state>;

void connector(caf::blocking_actor* self, node_context* data, caf::actor anchor,
               std::string host, uint16_t port) {
  self->receive([&](connect_atom) -> caf::result<caf::actor, std::string> {
    runtime::handshake_client hs(data->cfg.cookie, data->cfg.name.str(), false,
                                 data->rnd);
    auto peer = dist_connect(*self, host, port, hs, anchor, connect_timeout);
    if (!peer)
      return peer.error();
    return {peer->agent, peer->name};
  });
}

void connect_to(outbox_actor* self, const std::string& node) {
  auto& st = self->state;
  auto& d = st.nodes[node];
  if (d.connecting || d.inbox || d.port == 0)
    return;
  d.connecting = true;
  auto conn = self->spawn<caf::detached>(connector, st.data,
                                         caf::actor_cast<caf::actor>(self),
                                         d.host, d.port);
  self->request(conn, connect_timeout * 4, connect_atom::value)
    .then(
      [=](const caf::actor& inbox, const std::string& name) {
        auto& st = self->state;
        auto i = st.nodes.find(node);
        if (i == st.nodes.end() || name != node)
          return;
        auto& d = i->second;
        d.connecting = false;
        d.inbox = inbox;
        self->monitor(inbox);
        st.data->peers->add(inbox.node(),
                            {name, false, inbox.address(), st.data->now_ms()});
        for (auto& w : d.queue)
          self->send(d.inbox, forward_atom::value, std::move(w));
        st.sent += d.queue.size();
        d.queue.clear();
      },
      [=](caf::error& err) {
        auto& st = self->state;
        auto i = st.nodes.find(node);
        if (i == st.nodes.end())
          return;
        i->second.connecting = false;
        st.dropped += i->second.queue.size();
        i->second.queue.clear();
        st.data->log->warning("message channel to " + node + " failed: "
                              + describe(err));
      });
}

caf::behavior outbox_behavior(outbox_actor* self, node_context* data, caf::node_id main) {
  self->state.data = data;
  self->state.main = main;
  self->set_down_handler([self](caf::down_msg& dm) {
    for (auto& [node, d] : self->state.nodes)
      if (d.inbox && d.inbox.address() == dm.source)
        d.inbox = nullptr;
  });
  self->set_error_handler([self](caf::error& err) {
    self->state.data->log->warning("message channel: " + describe(err));
  });
  return {
    [self](forward_atom, const std::string& node, const broker::message& m) {
      auto& st = self->state;
      if (!from_main_system(self, st.main))
        return; // the router
      auto i = st.nodes.find(node);
      if (i == st.nodes.end()) {
        ++st.dropped; // not (or no longer) a running member
        return;
      }
      auto& d = i->second;
      if (d.inbox) {
        self->send(d.inbox, forward_atom::value, to_wire(m));
        ++st.sent;
        return;
      }
      if (d.queue.size() >= max_queued) {
        ++st.dropped;
        return;
      }
      d.queue.push_back(to_wire(m));
      connect_to(self, node);
    },
    [self](data_peers_atom, const std::vector<member_wire>& members) {
      auto& st = self->state;
      if (!from_main_system(self, st.main))
        return; // only the node agent
      std::map<std::string, destination> next;
      for (auto& m : members) {
        auto& d = next[m.name];
        if (auto old = st.nodes.find(m.name);
            old != st.nodes.end() && old->second.port == m.data_port) {
          d = std::move(old->second);
          continue;
        }
        d.host = m.host;
        d.port = m.data_port;
      }
      st.nodes = std::move(next);
      // Connect ahead of the first message: a flood must not start by
      // overflowing the queue of a connection still being made.
      for (auto& [node, d] : st.nodes)
        if (!d.inbox)
          connect_to(self, node);
    },
    [self](inspect_atom) {
      auto& st = self->state;
      return inspect_reply(self, *st.data->peers, [&] {
        size_t up = 0;
        for (auto& [n, d] : st.nodes)
          up += d.inbox ? 1 : 0;
        return std::to_string(up) + "/" + std::to_string(st.nodes.size())
               + " peers connected, " + std::to_string(st.sent) + " sent, "
               + std::to_string(st.dropped) + " dropped";
      });
    },
  };
}

} // namespace

struct data_plane::impl {
  node_context data; ///< a copy of the node's context for the data system
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  std::optional<peer_registry> peers;
  caf::actor inbox, outbox, gatekeeper;
  caf::node_id main;
  caf::actor_system* main_sys = nullptr;
  uint16_t port = 0;
};

data_plane::data_plane(node_context& node, std::string& error)
  : impl_(std::make_unique<impl>()) {
  auto& p = *impl_;
  p.cfg.load<caf::io::middleman>();
  register_wire_types(p.cfg);
  p.cfg.add_message_type<message_wire>("starling.mqtt_message");
  p.cfg.set("middleman.app-identifiers",
            std::vector<std::string>{"starling-data"});
  p.cfg.set("logger.console", caf::atom("none"));
  p.cfg.set("scheduler.policy", caf::atom("sharing"));
  p.sys = std::make_unique<caf::actor_system>(p.cfg);
  p.peers.emplace(p.sys->node());
  p.data = node;
  p.main_sys = node.sys;
  p.data.sys = p.sys.get();
  p.data.peers = &*p.peers;
  p.main = node.sys->node();
  p.inbox = p.sys->spawn(inbox_behavior, &p.data, p.main);
  node.directory->add(p.inbox, "data_inbox", "data_inbox");
  p.outbox = p.sys->spawn(outbox_behavior, &p.data, p.main);
  node.directory->add(p.outbox, "data_outbox", "data_outbox");
  p.gatekeeper = spawn_gatekeeper(p.data, p.inbox);
  node.directory->rename(p.gatekeeper.id(), "data_gatekeeper");
  auto port = p.sys->middleman().publish(p.gatekeeper, node.cfg.data_port,
                                         nullptr, true);
  if (!port) {
    error = "cannot listen on the message delivery port "
            + std::to_string(node.cfg.data_port) + ": " + p.sys->render(port.error())
            + " (set node.data_port, env STARLING_NODE__DATA_PORT)";
    return;
  }
  p.port = *port;
}

data_plane::~data_plane() {
  stop();
  // The data actor system's destructor waits for every actor of it, and
  // one of CAF's own (a blocking helper of the middleman that served the
  // BASP connections) never ends, so the node would hang on SIGTERM. The
  // process is ending: its threads go with it.
  static_cast<void>(impl_->sys.release());
}

void data_plane::stop() {
  auto& p = *impl_;
  for (auto* a : {&p.inbox, &p.outbox, &p.gatekeeper})
    if (*a) {
      caf::anon_send_exit(*a, caf::exit_reason::user_shutdown);
      *a = nullptr;
    }
}

const caf::actor& data_plane::outbox() const {
  return impl_->outbox;
}

uint16_t data_plane::port() const {
  return impl_->port;
}

void data_plane::attach(const caf::actor& router) {
  caf::scoped_actor self{*impl_->main_sys};
  self->send(impl_->inbox, attach_atom::value, router);
  self->send(router, attach_atom::value, impl_->outbox, impl_->inbox);
}

} // namespace starling::actors::mqtt
