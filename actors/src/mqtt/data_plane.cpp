#include "starling/actors/mqtt/data_plane.hpp"

#include <map>
#include <optional>

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include "starling/actors/actor_directory.hpp"
#include "starling/actors/dist_connect.hpp"
#include "starling/actors/gatekeeper.hpp"
#include "starling/actors/inspect.hpp"
#include "starling/actors/wire/mqtt.hpp"
#include "starling/actors/mqtt/protocol.hpp"
#include "starling/actors/node_context.hpp"
#include "starling/actors/peer_registry.hpp"
#include "starling/actors/wire/node.hpp"

namespace starling::actors::mqtt {

namespace {

/// Messages queued per destination while its connection is being made.
constexpr size_t max_queued = 10000;
/// Messages per batch on a link: the outbox sends what accumulated while it
/// was busy (up to this many) as one BASP message, so a flood pays the
/// per-message cost of BASP (header, addressing, a write) once per batch.
constexpr size_t max_batch = 64;
/// (m_flush): the outbox to itself, behind the forwards already queued.
using flush_atom = caf::atom_constant<caf::atom("m_flush")>;
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
  caf::actor outbox;            ///< this node's (introductions go there)
  caf::actor router;
  uint64_t received = 0, refused = 0;
  static inline const char* name = "data_inbox";
};

caf::behavior inbox_behavior(caf::stateful_actor<inbox_state>* self, node_context* data,
                    caf::node_id main) {
  self->state.data = data;
  self->state.main = main;
  return {
    [self](attach_atom, const caf::actor& router, const caf::actor& outbox) {
      auto& st = self->state;
      if (from_main_system(self, st.main)) {
        if (router)
          st.router = router;
        st.outbox = outbox;
      }
    },
    [self](forward_atom, std::vector<forward_wire>& batch) {
      auto& st = self->state;
      auto sender = self->current_sender();
      auto p = sender ? st.data->peers->find(sender->node()) : std::nullopt;
      if (!p || p->hidden || !st.router) {
        st.refused += batch.size();
        return;
      }
      // One message to the router per batch, as it came.
      std::vector<remote_message> out;
      out.reserve(batch.size());
      for (auto& f : batch) {
        if (auto m = from_wire(std::move(f.msg)))
          out.push_back({std::move(*m), std::move(f.groups)});
        else
          ++st.refused;
      }
      st.received += out.size();
      self->send(st.router, remote_publish_atom::value, std::move(out));
    },
    [self](intro_atom, const std::string& node, const caf::actor& their_inbox) {
      auto& st = self->state;
      auto sender = self->current_sender();
      auto p = sender ? st.data->peers->find(sender->node()) : std::nullopt;
      if (!p || p->hidden || p->name != node)
        return; // only an authenticated peer introduces itself
      self->send(st.outbox, intro_atom::value, node, their_inbox);
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
  /// What waits for the next batch, or for the connection (bounded).
  std::vector<forward_wire> queue;
};

struct outbox_state {
  node_context* data = nullptr;
  uint16_t index = 0; ///< link of the pool: peers listen on data_port + index
  caf::node_id main;
  caf::actor own_inbox; ///< introduced to the nodes we connect to
  std::map<std::string, destination> nodes;
  /// Introductions from nodes not (yet) running here: the node that
  /// connects can learn of the membership change first, and introduces
  /// itself once. Used when the node agent reports it.
  std::map<std::string, caf::actor> early_intros;
  bool flush_pending = false;
  uint64_t sent = 0, dropped = 0, batches = 0;
  static inline const char* name = "data_outbox";
};

using outbox_actor = caf::stateful_actor<outbox_state>;

/// Only the node with the smaller name connects; the other one is
/// introduced over that link (see intro_atom).
bool we_connect(outbox_actor* self, const std::string& node) {
  return self->state.data->cfg.name.str() < node;
}

/// Sends what `d` has queued, in batches of up to max_batch.
void send_queue(outbox_actor* self, destination& d) {
  auto& st = self->state;
  for (size_t i = 0; i < d.queue.size(); i += max_batch) {
    auto end = std::min(d.queue.size(), i + max_batch);
    std::vector<forward_wire> batch(std::make_move_iterator(d.queue.begin() + i),
                                    std::make_move_iterator(d.queue.begin() + end));
    self->send(d.inbox, forward_atom::value, std::move(batch));
    ++st.batches;
  }
  st.sent += d.queue.size();
  d.queue.clear();
}

void use_inbox(outbox_actor* self, destination& d, const caf::actor& inbox) {
  d.connecting = false;
  d.inbox = inbox;
  self->monitor(inbox);
  send_queue(self, d);
}

void connect_to(outbox_actor* self, const std::string& node) {
  auto& st = self->state;
  auto& d = st.nodes[node];
  if (d.connecting || d.inbox || d.port == 0 || !we_connect(self, node))
    return;
  d.connecting = true;
  auto conn = self->spawn<caf::detached>(
    handshake_connector, st.data, caf::actor_cast<caf::actor>(self), d.host,
    d.port, std::chrono::milliseconds(connect_timeout));
  // actors::connect_atom: the connector's ("connect"), not MQTT's CONNECT.
  self->request(conn, connect_timeout * 4, actors::connect_atom::value)
    .then(
      [=](const caf::actor& inbox, const std::string& name) {
        auto& st = self->state;
        auto i = st.nodes.find(node);
        if (i == st.nodes.end() || name != node)
          return;
        st.data->peers->add(inbox.node(),
                            {name, false, inbox.address(), st.data->now_ms()});
        self->send(inbox, intro_atom::value, st.data->cfg.name.str(),
                   st.own_inbox);
        use_inbox(self, i->second, inbox);
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
                              + describe(err) + "; trying again in 1 s");
        // The other side waits for our introduction: keep trying while the
        // node is a member.
        self->delayed_send(self, std::chrono::seconds(1), connect_atom::value,
                           node);
      });
}

caf::behavior outbox_behavior(outbox_actor* self, node_context* data,
                              caf::node_id main, caf::actor own_inbox,
                              uint16_t index) {
  self->state.data = data;
  self->state.index = index;
  self->state.main = main;
  self->state.own_inbox = std::move(own_inbox);
  self->set_down_handler([self](caf::down_msg& dm) {
    auto& early = self->state.early_intros;
    for (auto i = early.begin(); i != early.end();)
      i = i->second.address() == dm.source ? early.erase(i) : std::next(i);
    for (auto& [node, d] : self->state.nodes)
      if (d.inbox && d.inbox.address() == dm.source) {
        d.inbox = nullptr;
        connect_to(self, node); // the link dropped; the node is still a member
      }
  });
  self->set_error_handler([self](caf::error& err) {
    self->state.data->log->warning("message channel: " + describe(err));
  });
  return {
    [self](forward_atom, const std::string& node, const broker::message& m,
           std::vector<std::string>& groups) {
      auto& st = self->state;
      if (!from_main_system(self, st.main))
        return; // the router
      auto i = st.nodes.find(node);
      if (i == st.nodes.end()) {
        ++st.dropped; // not (or no longer) a running member
        return;
      }
      auto& d = i->second;
      if (d.queue.size() >= max_queued) {
        ++st.dropped; // still connecting
        return;
      }
      d.queue.push_back({to_wire(m), std::move(groups)});
      if (!d.inbox) {
        connect_to(self, node);
      } else if (d.queue.size() >= max_batch) {
        send_queue(self, d);
      } else if (!st.flush_pending) {
        // After the forwards already in the mailbox: they join this batch.
        st.flush_pending = true;
        self->send(self, flush_atom::value);
      }
    },
    [self](flush_atom) {
      auto& st = self->state;
      if (self->current_sender() != self->ctrl())
        return;
      st.flush_pending = false;
      for (auto& [node, d] : st.nodes)
        if (d.inbox && !d.queue.empty())
          send_queue(self, d);
    },
    [self](connect_atom, const std::string& node) {
      if (self->current_sender() == self->ctrl()
          && self->state.nodes.count(node))
        connect_to(self, node);
    },
    [self](intro_atom, const std::string& node, const caf::actor& inbox) {
      auto& st = self->state;
      auto s = self->current_sender();
      if (!s || s->node() != self->node() || !inbox)
        return; // from our own inbox only
      auto i = st.nodes.find(node);
      if (i == st.nodes.end()) {
        st.early_intros[node] = inbox;
        self->monitor(inbox);
        return;
      }
      use_inbox(self, i->second, inbox);
    },
    [self](data_peers_atom, const std::vector<member_wire>& members) {
      auto& st = self->state;
      if (!from_main_system(self, st.main))
        return; // only the node agent
      std::map<std::string, destination> next;
      for (auto& m : members) {
        auto& d = next[m.name];
        auto port = static_cast<uint16_t>(m.data_port + st.index);
        if (auto old = st.nodes.find(m.name);
            old != st.nodes.end() && old->second.port == port) {
          d = std::move(old->second);
          continue;
        }
        d.host = m.host;
        d.port = port;
      }
      st.nodes = std::move(next);
      for (auto& [node, d] : st.nodes)
        if (auto e = st.early_intros.find(node);
            e != st.early_intros.end() && !d.inbox) {
          auto inbox = std::move(e->second);
          st.early_intros.erase(e);
          use_inbox(self, d, inbox);
        }
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
               + " peers connected, " + std::to_string(st.sent) + " sent in "
               + std::to_string(st.batches) + " batches, "
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
  caf::actor inbox, outbox;
  gatekeeper_actor gatekeeper;
  caf::node_id main;
  caf::actor_system* main_sys = nullptr;
  uint16_t port = 0;
};

data_plane::data_plane(node_context& node, uint16_t index, std::string& error)
  : impl_(std::make_unique<impl>()) {
  auto& p = *impl_;
  p.cfg.load<caf::io::middleman>();
  register_wire_types(p.cfg);
  p.cfg.set("middleman.app-identifiers",
            std::vector<std::string>{"starling-data"});
  p.cfg.set("logger.console", caf::atom("none"));
  p.cfg.set("scheduler.policy", caf::atom("sharing"));
  // The message channel is guarded like distribution: mutual TLS too.
  configure_dist_tls(p.cfg, runtime::dist_tls_of(node.cfg));
  p.sys = std::make_unique<caf::actor_system>(p.cfg);
  p.peers.emplace(p.sys->node());
  p.data = node;
  p.main_sys = node.sys;
  p.data.sys = p.sys.get();
  p.data.peers = &*p.peers;
  p.main = node.sys->node();
  // The node's own main system (its shell asks the data actors for their
  // state): trusted, hidden, so never taken for a peer forwarding messages.
  p.peers->add(p.main, {node.cfg.name.str() + " (main)", true, {},
                        node.now_ms()});
  // Its actors are listed as d<link>:<id>: their ids repeat the main
  // system's. Link 0 keeps the plain names; the others are numbered.
  node.directory->label_system(p.sys->node(), "d" + std::to_string(index));
  auto suffix = index == 0 ? std::string() : ":" + std::to_string(index);
  p.inbox = p.sys->spawn(inbox_behavior, &p.data, p.main);
  node.directory->add(p.inbox, "data_inbox" + suffix, "data_inbox");
  p.outbox = p.sys->spawn(outbox_behavior, &p.data, p.main, p.inbox, index);
  node.directory->add(p.outbox, "data_outbox" + suffix, "data_outbox");
  {
    // The inbox knows its outbox before the port opens: a peer may connect
    // and introduce itself before the broker is attached.
    caf::scoped_actor init{*node.sys};
    init->send(p.inbox, attach_atom::value, caf::actor{}, p.outbox);
  }
  p.gatekeeper = spawn_gatekeeper(p.data, p.inbox);
  node.directory->rename(caf::actor_cast<caf::abstract_actor*>(p.gatekeeper), "data_gatekeeper" + suffix);
  auto want = static_cast<uint16_t>(node.cfg.data_port + index);
  auto port = publish_gatekeeper(*p.sys, p.gatekeeper, want);
  if (!port) {
    error = "cannot listen on the message delivery port "
            + std::to_string(want) + ": " + p.sys->render(port.error())
            + " (set node.data_port, env STARLING_NODE__DATA_PORT"
            + (index > 0 ? "; link " + std::to_string(index)
                             + " of node.data_pool_size uses data_port + "
                             + std::to_string(index)
                         : std::string())
            + ")";
    return;
  }
  p.port = *port;
}

data_plane::~data_plane() {
  stop();
  // The data actor system's destructor waits for every actor of it, and
  // one of CAF's own (a blocking helper of the middleman that served the
  // BASP connections) never ends, so the node would hang on SIGTERM. The
  // process is ending: its threads go with it. So does everything those
  // threads still read: the system's config (its multiplexer reads it for
  // a connection accepted while the node stops), the peer registry and the
  // context its actors were given. Freeing the config alone crashed nodes
  // stopped together (a peer's link reconnecting as they went).
  static_cast<void>(impl_.release());
}

void data_plane::stop() {
  auto& p = *impl_;
  auto stop_one = [](auto& a) {
    if (a) {
      caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
      a = nullptr;
    }
  };
  stop_one(p.inbox);
  stop_one(p.outbox);
  stop_one(p.gatekeeper);
}

const caf::actor& data_plane::outbox() const {
  return impl_->outbox;
}

uint16_t data_plane::port() const {
  return impl_->port;
}

void data_plane::attach(const caf::actor& router) {
  caf::scoped_actor self{*impl_->main_sys};
  self->send(impl_->inbox, attach_atom::value, router, impl_->outbox);
  self->send(router, attach_atom::value, impl_->outbox, impl_->inbox);
}

} // namespace starling::actors::mqtt
