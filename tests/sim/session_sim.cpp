// A deterministic simulation of MQTT sessions moving between the nodes of a
// cluster (issue 18): 2-4 nodes run the real pure parts of the message path
// (broker::channel for each connection, broker::session_move for a session
// arriving from another node, broker::route_table for each node's router),
// hosted as the session, client manager and router actors host them
// (actors/src/mqtt/session_actor.cpp, session_takeover.cpp,
// client_manager.cpp, router.cpp), on the simulated world of cluster_sim
// (sim_world.hpp: a clock, the nodes' CPUs, FIFO links with latency).
//
// Workload: subscribers (MQTT 5, Clean Start 0, a session that outlives
// its connection) each subscribe to a filter of their own at QoS 2 and
// then move: they open a connection to another node (the session is taken
// over from the node that has it, which passes on what is still routed to
// it for the grace period), reconnect to the same node (a local takeover),
// or lose their connection and come back later; a client whose connection
// the broker closed reconnects (as client libraries do). Publishers, one
// per node, publish QoS 1 and QoS 2 messages to every subscriber's topics.
// The registry is the real broker::session_registry on every node, its
// table ordered by one sequencer. With --slow-links, links between nodes
// also slow down for a while (what is in flight stays in order).
//
// The checker, after the last move and 20 s of quiet:
//  - every message a publisher had acknowledged (PUBACK, PUBREC) after the
//    warm-up reached its subscriber: a QoS 2 message exactly once, a QoS 1
//    message at least once;
//  - per topic, the first copies arrived in the order they were published;
//  - every subscriber is connected and its session held by exactly one
//    node, the one it is connected to; every node's routes for the
//    subscriber's filter name that node only;
//  - no session holds messages (inflight, queued, held for a move).
// What is not simulated: BASP and sockets, the session transfer format
// (the session object is passed as is; the format has round-trip tests),
// the registry's replication (its sequencer is node 0; registry_sim
// covers its races under partitions), node crashes and partitions
// (cluster_sim, registry_sim and route_sim), the data plane's own
// connection (messages and route changes share one link here), QoS 0.

#include <algorithm>
#include <functional>
#include <array>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "sim_world.hpp"
#include "starling/broker/channel.hpp"
#include "starling/broker/route_table.hpp"
#include "starling/broker/session_move.hpp"
#include "starling/broker/session_registry.hpp"

using namespace starling::broker;
using starling::sim::world;

namespace {

constexpr int64_t ms = 1000, second = 1'000'000;
/// session_state.hpp: takeover_timeout, handover_grace.
constexpr int64_t takeover_timeout_us = 5 * second;
constexpr int64_t handover_grace_us = 1 * second;
constexpr int64_t warm_up_us = 2 * second;

/// --slow-links: links between nodes slow down to 20-400 ms for a while.
/// Off in CI: it shows an open bug (docs/architecture.md, "Testing by
/// simulation"): a client that comes back to a node within the grace
/// period over a slow link can get two messages of a topic out of order.
bool slow_links = false;

/// A client's connection to a node: each direction FIFO with a latency.
struct connection {
  size_t client = 0, node = 0;
  bool broker_open = true, client_open = true;
  int64_t up_clock = 0, down_clock = 0; ///< client->broker, broker->client
};

/// Where a session lives: a node and the session's id (its actor id).
struct session_ref {
  size_t node = 0;
  uint64_t sid = 0;
  bool operator==(const session_ref&) const = default;
};

/// What the session hands over in a takeover: the session (none: nothing
/// there, or discarded with Clean Start) and who answered.
struct handed {
  std::optional<session> existing;
  std::optional<session_ref> from;
  bool failed = false;
  std::vector<uint64_t> seen; ///< session_move::seen_ids() there
};

/// The session actor's state (session_state.hpp), on one node.
struct session_host {
  uint64_t sid = 0;
  std::string client_id;
  std::unique_ptr<channel> current, incoming;
  uint64_t current_conn = 0, incoming_conn = 0;
  bool ending = false, replacing = false;
  std::array<uint64_t, 4> timer_gen{};
  std::optional<size_t> holder; ///< the node to take the session from
  /// The session this one moved to, when the client came back to this
  /// node within the grace period: taken back from there.
  std::optional<session_ref> holder_session;
  std::optional<session_ref> moved_to, previous;
  std::string taken_from; ///< the node it came from
  int64_t connected_at_ms = 0; ///< the last adopt
  uint64_t handover_gen = 0; ///< the grace timer in force
  uint64_t dedup_gen = 0;    ///< the dedup window's timer in force
  session_move move;
  /// What reached the actor while it awaited the takeover answer (CAF's
  /// `await` handles nothing else meanwhile), in order.
  std::vector<std::function<void()>> deferred;
  /// Takeovers asked for while this session's own arrival still drains:
  /// served, in order, once the node before is done (or the window
  /// closes), so that what it still passes on keeps its place.
  std::vector<std::pair<session_ref, world::respond_fn<handed>>> waiting_takeovers;
};

/// One node: its client manager, router and sessions.
struct node_host {
  std::string name;
  std::unique_ptr<route_table> table;
  std::map<std::string, uint64_t> clients; ///< client id -> session
  std::map<uint64_t, session_host> sessions;
  /// The client manager's view of the cluster's session registry.
  std::unique_ptr<session_registry> registry;
};

/// A subscriber's client side (MQTT 5 §4.3), which outlives connections.
struct subscriber {
  std::string id, filter;
  uint64_t conn = 0;
  bool connected = false, subscribed = false;
  std::set<uint16_t> awaits_pubrel;
  /// Per topic: the sequence numbers of first copies, in arrival order.
  std::map<std::string, std::vector<uint64_t>> first;
  std::map<std::string, std::map<uint64_t, int>> copies; ///< topic -> seq -> n
  std::map<std::string, std::set<uint64_t>> qos2_twice;
};

struct publisher {
  std::string id;
  uint64_t conn = 0;
  bool connected = false;
  uint16_t next_pid = 0;
  /// packet id -> (topic, seq, qos) until acknowledged.
  std::map<uint16_t, std::tuple<std::string, uint64_t, qos>> unacked;
};

struct acked_message {
  std::string topic;
  uint64_t seq = 0;
  qos q = qos::at_least_once;
  int64_t at = 0;
  size_t subscriber = 0;
};

class run {
public:
  run(uint64_t seed, int trace) : w_(seed, trace) {
    nodes_.resize(static_cast<size_t>(w_.pick(2, 4)));
    subs_.resize(static_cast<size_t>(w_.pick(1, 4)));
  }

  starling::sim::outcome go() {
    auto n = nodes_.size();
    for (size_t i = 0; i < n; ++i) {
      w_.add_node();
      auto& node = nodes_[i];
      node.name = "n" + std::to_string(i + 1);
      node.table = std::make_unique<route_table>(
        node.name, shared_strategy::round_robin, [this] { return rnd(); });
      node.registry = std::make_unique<session_registry>(
        node.name, true, static_cast<int64_t>(i + 1));
    }
    for (size_t i = 0; i < n; ++i) {
      std::vector<registry_member> others;
      for (size_t j = 0; j < n; ++j)
        if (j != i)
          others.push_back({nodes_[j].name, true, static_cast<int64_t>(j + 1)});
      nodes_[i].registry->running(others);
    }
    for (size_t i = 0; i < n; ++i)
      w_.start(i);
    for (size_t i = 0; i < n; ++i) {
      for (size_t j = i + 1; j < n; ++j) {
        w_.set_latency(i, j, 200, w_.pick(500, 5000));
        w_.dial(i, j, [](bool, std::string) {});
      }
    }
    w_.on_up = [](size_t, size_t, uint64_t) {};
    w_.on_down = [this](size_t, size_t, uint64_t) { broken("a link between nodes closed"); };
    for (size_t k = 0; k < subs_.size(); ++k) {
      subs_[k].id = "sub" + std::to_string(k);
      subs_[k].filter = "s" + std::to_string(k) + "/#";
      w_.at(w_.pick(100, 500) * ms, [this, k] { client_connect(k, pick_node()); });
    }
    pubs_.resize(n);
    for (size_t p = 0; p < n; ++p) {
      pubs_[p].id = "pub" + std::to_string(p);
      w_.at(w_.pick(100, 500) * ms, [this, p] { publisher_connect(p); });
    }
    auto end = w_.pick(10, 25) * second;
    for (size_t k = 0; k < subs_.size(); ++k)
      schedule_moves(k, end);
    for (size_t p = 0; p < n; ++p)
      schedule_publishes(p, end);
    auto slow = slow_links ? w_.pick(0, 3) : 0;
    for (int64_t f = 0; f < slow; ++f)
      slow_link(w_.pick(warm_up_us, end), end);
    // Every subscriber is connected at the end.
    for (size_t k = 0; k < subs_.size(); ++k)
      w_.at(end + second, [this, k] {
        if (!subs_[k].connected)
          client_connect(k, pick_node());
      });
    w_.run_until(end + 21 * second);
    check();
    starling::sim::outcome o;
    o.shape = std::to_string(n) + " nodes, " + std::to_string(subs_.size())
              + " subscribers, " + std::to_string(moves_) + " moves, "
              + std::to_string(acked_.size()) + " messages";
    o.broken = broken_;
    o.events = w_.events();
    return o;
  }

  uint64_t moves() const { return moves_; }
  size_t messages() const { return acked_.size(); }

private:
  uint64_t rnd() { return static_cast<uint64_t>(w_.pick(0, INT64_MAX)); }
  size_t pick_node() { return static_cast<size_t>(w_.pick(0, nodes_.size() - 1)); }
  int64_t now_ms() const { return w_.now_ms(); }
  void broken(const std::string& why) {
    if (broken_.empty())
      broken_ = why;
    w_.log("BROKEN: " + why);
  }

  // -- the workload ----------------------------------------------------------------

  void schedule_moves(size_t k, int64_t end) {
    auto count = w_.pick(1, 8);
    for (int64_t m = 0; m < count; ++m)
      w_.at(w_.pick(warm_up_us, end), [this, k] {
        ++moves_;
        switch (w_.pick(0, 2)) {
          case 0: // to another node (or the same one), the old connection open
            client_connect(k, pick_node());
            break;
          case 1: // to another node after closing the connection
            client_drop(k);
            client_connect(k, pick_node());
            break;
          default: // the connection drops; back after a while
            client_drop(k);
            w_.after_us(w_.pick(10, 3000) * ms, [this, k] {
              if (!subs_[k].conn)
                client_connect(k, pick_node());
            });
        }
      });
  }

  void schedule_publishes(size_t p, int64_t end) {
    for (int64_t t = warm_up_us; t < end; t += w_.pick(5, 60) * ms)
      w_.at(t, [this, p] {
        auto& pub = pubs_[p];
        if (!pub.connected || pub.unacked.size() >= 20)
          return;
        auto k = static_cast<size_t>(w_.pick(0, subs_.size() - 1));
        auto topic = "s" + std::to_string(k) + "/" + pub.id;
        auto q = w_.chance(0.5) ? qos::at_least_once : qos::exactly_once;
        publish pk;
        pk.qos = q;
        pk.topic = topic;
        pk.packet_id = ++pub.next_pid == 0 ? ++pub.next_pid : pub.next_pid;
        auto seq = ++seqs_[topic];
        auto body = std::to_string(seq);
        pk.payload = binary(body.begin(), body.end());
        pub.unacked[pk.packet_id] = {topic, seq, q};
        to_broker(pub.conn, pk);
      });
  }

  void slow_link(int64_t when, int64_t end) {
    auto a = pick_node(), b = pick_node();
    if (a == b)
      return;
    auto hi = w_.pick(20, 400) * ms;
    w_.at(when, [this, a, b, hi] {
      w_.log("link " + nodes_[a].name + " - " + nodes_[b].name + " slow: up to "
             + std::to_string(hi / ms) + " ms");
      w_.set_latency(a, b, hi / 2, hi);
    });
    w_.at(std::min(end, when + w_.pick(1, 5) * second),
          [this, a, b] { w_.set_latency(a, b, 200, 3000); });
  }

  // -- clients and their connections ---------------------------------------------

  uint64_t open_connection(size_t client, size_t node) {
    auto id = ++conn_ids_;
    conns_[id] = {client, node, true, true, 0, 0};
    return id;
  }

  /// When something sent now in one direction of a connection arrives:
  /// 50-300 us later, never before what was sent earlier.
  int64_t arrival(int64_t& clock) {
    clock = std::max(clock, w_.now_us() + w_.pick(50, 300));
    return clock;
  }

  /// Client -> broker: the connection actor passes the packet on.
  void to_broker(uint64_t c, packet p) {
    auto& cn = conns_[c];
    if (!cn.client_open)
      return;
    w_.at(arrival(cn.up_clock), [this, c, p = std::move(p)] {
      auto& cn = conns_[c];
      if (!cn.broker_open)
        return;
      w_.run_on(cn.node, [this, c, p] { from_client(c, p); });
    });
  }

  /// Broker -> client.
  void to_client(uint64_t c, packet p) {
    auto& cn = conns_[c];
    if (!cn.broker_open)
      return;
    w_.at(arrival(cn.down_clock), [this, c, p = std::move(p)] {
      if (conns_[c].client_open)
        client_got(c, p);
    });
  }

  /// The broker closes the connection (after what it wrote before).
  void broker_close(uint64_t c) {
    auto& cn = conns_[c];
    if (!cn.broker_open)
      return;
    cn.broker_open = false;
    w_.at(arrival(cn.down_clock), [this, c] {
      if (conns_[c].client_open) {
        conns_[c].client_open = false;
        client_closed(c);
      }
    });
  }

  /// The client's side of the connection goes (a network failure).
  void client_drop(size_t k) {
    auto& s = subs_[k];
    if (!s.conn)
      return;
    auto c = s.conn;
    conns_[c].client_open = false;
    client_closed(c);
    w_.at(arrival(conns_[c].up_clock), [this, c] {
      auto& cn = conns_[c];
      if (!cn.broker_open)
        return;
      cn.broker_open = false;
      w_.run_on(cn.node, [this, c] { connection_closed(c); });
    });
  }

  void client_connect(size_t k, size_t node) {
    auto& s = subs_[k];
    // An old connection stays open: the broker kicks it.
    s.conn = open_connection(k, node);
    s.connected = false;
    w_.log(s.id + " connects to " + nodes_[node].name);
    connect c;
    c.version = protocol_version::v5;
    c.client_id = s.id;
    c.clean_start = false;
    c.props.session_expiry_interval = 3600;
    c.props.receive_maximum = 5;
    to_broker(s.conn, c);
  }

  void publisher_connect(size_t p) {
    auto node = p;
    auto& pub = pubs_[p];
    pub.conn = open_connection(client_publisher + p, node);
    connect c;
    c.version = protocol_version::v5;
    c.client_id = pub.id;
    c.clean_start = true;
    to_broker(pub.conn, c);
  }

  static constexpr size_t client_publisher = 1000;

  void client_closed(uint64_t c) {
    auto client = conns_[c].client;
    if (client >= client_publisher) {
      broken("a publisher's connection closed");
      return;
    }
    auto& s = subs_[client];
    if (s.conn == c) {
      s.conn = 0;
      s.connected = false;
      // The broker closed it (a takeover of an older connect of ours that
      // completed late, say): the client library reconnects.
      if (!conns_[c].broker_open)
        w_.after_us(w_.pick(500, 2000) * ms, [this, client] {
          if (!subs_[client].conn)
            client_connect(client, pick_node());
        });
    }
  }

  void client_got(uint64_t c, const packet& p) {
    auto client = conns_[c].client;
    if (client >= client_publisher)
      return publisher_got(pubs_[client - client_publisher], p);
    auto& s = subs_[client];
    if (s.conn != c) {
      // A connection the client replaced: it only waits for the kick.
      return;
    }
    if (auto ca = std::get_if<connack>(&p)) {
      if (ca->code != reason_code::success)
        return broken(s.id + " refused: CONNACK " + std::to_string(int(ca->code)));
      if (!ca->session_present) {
        if (s.subscribed)
          return broken(s.id + " lost its session (Session Present 0)");
        s.awaits_pubrel.clear();
        subscribe sb;
        sb.packet_id = 1;
        subscription sub;
        sub.filter = s.filter;
        sub.options.qos = qos::exactly_once;
        sb.subscriptions.push_back(sub);
        to_broker(c, sb);
      }
      s.connected = true;
    } else if (std::get_if<suback>(&p)) {
      s.subscribed = true;
    } else if (auto pb = std::get_if<publish>(&p)) {
      auto seq = std::stoull(std::string(pb->payload.begin(), pb->payload.end()));
      if (w_.trace() > 1)
        w_.log(s.id + " gets " + pb->topic + " " + std::to_string(seq) + " (QoS "
               + std::to_string(int(pb->qos)) + ", id " + std::to_string(pb->packet_id)
               + (pb->dup ? ", dup" : "") + ") from " + nodes_[conns_[c].node].name);
      bool fresh = true;
      if (pb->qos == qos::exactly_once) {
        if (s.awaits_pubrel.count(pb->packet_id)) {
          if (!pb->dup)
            broken(s.id + ": a new QoS 2 PUBLISH reused packet id "
                   + std::to_string(pb->packet_id));
          fresh = false;
        } else {
          s.awaits_pubrel.insert(pb->packet_id);
        }
        pubrec r;
        r.packet_id = pb->packet_id;
        to_broker(c, r);
      } else {
        puback a;
        a.packet_id = pb->packet_id;
        to_broker(c, a);
      }
      if (fresh) {
        auto& n = s.copies[pb->topic][seq];
        if (n++ == 0)
          s.first[pb->topic].push_back(seq);
        else if (pb->qos == qos::exactly_once)
          s.qos2_twice[pb->topic].insert(seq);
      }
    } else if (auto rel = std::get_if<pubrel>(&p)) {
      s.awaits_pubrel.erase(rel->packet_id);
      pubcomp pc;
      pc.packet_id = rel->packet_id;
      to_broker(c, pc);
    } else if (auto d = std::get_if<disconnect>(&p)) {
      if (d->code != reason_code::session_taken_over)
        broken(s.id + " disconnected with " + std::to_string(int(d->code)));
    }
  }

  void publisher_got(publisher& pub, const packet& p) {
    if (std::get_if<connack>(&p)) {
      pub.connected = true;
      return;
    }
    std::optional<uint16_t> done;
    if (auto a = std::get_if<puback>(&p))
      done = a->packet_id;
    if (auto r = std::get_if<pubrec>(&p)) {
      done = r->packet_id;
      pubrel rel;
      rel.packet_id = r->packet_id;
      to_broker(pub.conn, rel);
    }
    if (!done)
      return;
    auto i = pub.unacked.find(*done);
    if (i == pub.unacked.end())
      return;
    auto& [topic, seq, q] = i->second;
    auto k = static_cast<size_t>(std::stoul(topic.substr(1, topic.find('/') - 1)));
    acked_.push_back({topic, seq, q, w_.now_us(), k});
    pub.unacked.erase(i);
  }

  // -- the nodes: client manager ----------------------------------------------------

  session_host* session_of(size_t n, uint64_t sid) {
    auto i = nodes_[n].sessions.find(sid);
    return i == nodes_[n].sessions.end() ? nullptr : &i->second;
  }

  /// A packet from connection c, on its node.
  void from_client(uint64_t c, const packet& p) {
    auto n = conns_[c].node;
    if (auto cp = std::get_if<connect>(&p))
      return manager_connect(n, *cp, c);
    for (auto& [sid, s] : nodes_[n].sessions)
      if (s.current_conn == c)
        return at_session(n, sid, [this, n, sid = sid, c, p] {
          auto* s = session_of(n, sid);
          if (!s->current || s->ending || s->current_conn != c)
            return;
          carry(n, sid, s->current->handle_packet(p, now_ms()), c);
        });
  }

  void connection_closed(uint64_t c) {
    auto n = conns_[c].node;
    for (auto& [sid, s] : nodes_[n].sessions)
      if (s.current_conn == c)
        return at_session(n, sid, [this, n, sid = sid, c] {
          auto* s = session_of(n, sid);
          if (s->current_conn != c)
            return;
          s->current_conn = 0;
          if (s->current)
            carry(n, sid, s->current->connection_lost(now_ms()), 0);
        });
  }

  void manager_connect(size_t n, const connect& c, uint64_t conn) {
    auto& node = nodes_[n];
    if (auto i = node.clients.find(c.client_id); i != node.clients.end())
      return at_session(n, i->second, [this, n, sid = i->second, c, conn] {
        new_connection(n, sid, c, conn);
      });
    auto sid = ++session_ids_;
    auto& s = node.sessions[sid];
    s.sid = sid;
    s.client_id = c.client_id;
    if (auto h = node.registry->holder_elsewhere(c.client_id))
      s.holder = index(*h);
    node.clients.emplace(c.client_id, sid);
    node.registry->hold(c.client_id);
    if (w_.trace() > 1)
      w_.log(node.name + ": session " + std::to_string(sid) + " for " + c.client_id
             + (s.holder ? ", held by " + nodes_[*s.holder].name : ""));
    new_connection(n, sid, c, conn);
  }

  /// The session registers itself (register_atom): here and in the
  /// cluster's registry.
  void manager_register(size_t n, const std::string& id, uint64_t sid) {
    nodes_[n].clients.emplace(id, sid);
    carry_registry(n, nodes_[n].registry->registered(id));
  }

  /// The registry's effects, as the client manager carries them out:
  /// writes through the table's sequencer (node 0 here: one order for
  /// every replica), and the delayed supersede check.
  void carry_registry(size_t n, const registry_effects& effects) {
    for (auto& e : effects)
      switch (e.what) {
        case registry_effect::put:
        case registry_effect::erase_if:
          w_.send(n, 0, [this, e] { sequence(e); });
          break;
        case registry_effect::check_later:
          w_.after_us(e.delay_ms * ms, [this, n, e] {
            w_.run_on(n, [this, n, e] {
              auto c = nodes_[n].clients.find(e.id);
              if (c != nodes_[n].clients.end()
                  && nodes_[n].registry->gives_way(e.id, e.node))
                superseded(n, c->second, e.node);
            });
          });
          break;
      }
  }

  /// The sequencer of `session_registry` applies a write and streams the
  /// change to every replica in its order.
  void sequence(const registry_effect& e) {
    bool present = e.what == registry_effect::put;
    if (present) {
      table_[e.id] = e.node;
    } else {
      auto i = table_.find(e.id);
      if (i == table_.end() || i->second != e.node)
        return;
      table_.erase(i);
    }
    for (size_t j = 0; j < nodes_.size(); ++j)
      w_.send(0, j, [this, j, id = e.id, present, node = e.node] {
        carry_registry(j, nodes_[j].registry->changed(id, present, node));
      });
  }

  /// Another node opened a session for this client id at the same time and
  /// the registry kept its entry: this one gives way as to a takeover.
  void superseded(size_t n, uint64_t sid, const std::string& node) {
    at_session(n, sid, [this, n, sid, node, decided_at = now_ms()] {
      auto* s = session_of(n, sid);
      if (s->move.fetching() || s->moved_to || s->ending || !s->current
          || node == s->taken_from || decided_at <= s->connected_at_ms)
        return;
      w_.log(s->client_id + " on " + nodes_[n].name + " superseded by " + node);
      kick_current(n, sid);
      deliver_held(n, sid, s->move.release());
      release_current(n, sid);
      session_of(n, sid)->current.reset();
      end(n, sid);
    });
  }

  /// unregister_atom: the entry goes while it names this session; the
  /// registry's entry while it names this node (erase_if).
  void manager_unregister(size_t n, const std::string& id, uint64_t sid) {
    auto& node = nodes_[n];
    if (auto i = node.clients.find(id); i != node.clients.end() && i->second == sid) {
      node.clients.erase(i);
      carry_registry(n, node.registry->released(id));
    }
    // The router sees the session actor go (its monitor).
    w_.send(n, n, [this, n, sid] { publish_routes(n, nodes_[n].table->session_down(sid)); });
  }

  // -- the nodes: the session actor ---------------------------------------------

  /// Runs `f` on session `sid` as its actor would: not while it awaits the
  /// takeover answer, but after it, in order.
  void at_session(size_t n, uint64_t sid, std::function<void()> f) {
    auto* s = session_of(n, sid);
    if (!s)
      return;
    if (s->move.fetching())
      return s->deferred.push_back(std::move(f));
    f();
  }

  void resume(size_t n, uint64_t sid) {
    auto* s = session_of(n, sid);
    if (!s)
      return;
    auto waiting = std::move(s->deferred);
    s->deferred.clear();
    for (auto& f : waiting)
      at_session(n, sid, std::move(f));
  }

  void new_connection(size_t n, uint64_t sid, const connect& c, uint64_t conn) {
    auto* s = session_of(n, sid);
    if (s->ending) { // back to the manager once it has forgotten this one
      w_.send(n, n, [this, n, c, conn] { manager_connect(n, c, conn); });
      return;
    }
    if (s->moved_to) {
      // Back within the grace period: this session passes nothing on any
      // more and takes it back (the one it moved to hears after the
      // takeover that this one is done: open()).
      auto to = *std::exchange(s->moved_to, std::nullopt);
      ++s->handover_gen;
      s->holder_session = to;
    }
    channel_hooks hooks;
    hooks.random = [this] { return rnd(); };
    s->incoming = std::make_unique<channel>(channel_config{}, hooks);
    s->incoming_conn = conn;
    carry(n, sid, s->incoming->handle_packet(c, now_ms()), conn);
  }

  void carry(size_t n, uint64_t sid, effect_list effects, uint64_t target) {
    for (auto& e : effects) {
      auto* s = session_of(n, sid);
      if (!s)
        return;
      if (auto sp = std::get_if<send_packet>(&e)) {
        if (target)
          to_client(target, sp->pkt);
      } else if (std::get_if<close_connection>(&e)) {
        if (target)
          broker_close(target);
        if (target == s->current_conn)
          s->current_conn = 0;
      } else if (std::get_if<open_session>(&e)) {
        open(n, sid);
      } else if (auto pm = std::get_if<publish_message>(&e)) {
        w_.send(n, n, [this, n, m = pm->msg] { route_published(n, m); });
      } else if (auto sf = std::get_if<subscribe_filter>(&e)) {
        w_.send(n, n, [this, n, sid, id = s->client_id, f = *sf] {
          bool fresh = false;
          publish_routes(n, nodes_[n].table->subscribe(sid, id, f, fresh));
        });
      } else if (auto uf = std::get_if<unsubscribe_filter>(&e)) {
        w_.send(n, n, [this, n, sid, key = uf->subscription] {
          publish_routes(n, nodes_[n].table->unsubscribe(sid, key));
        });
      } else if (auto st = std::get_if<set_timer>(&e)) {
        auto kind = static_cast<uint8_t>(st->kind);
        auto gen = ++s->timer_gen[kind];
        auto delay = std::max<int64_t>(0, st->due_ms - now_ms()) * ms;
        w_.after_us(delay, [this, n, sid, kind, gen] {
          w_.run_on(n, [this, n, sid, kind, gen] {
            at_session(n, sid, [this, n, sid, kind, gen] {
              auto* s = session_of(n, sid);
              if (s->timer_gen[kind] != gen || !s->current || s->ending)
                return;
              carry(n, sid, s->current->handle_timer(timer_kind(kind), now_ms()),
                    s->current_conn);
            });
          });
        });
      } else if (auto ct = std::get_if<cancel_timer>(&e)) {
        ++s->timer_gen[static_cast<uint8_t>(ct->kind)];
      } else if (std::get_if<session_ended>(&e)) {
        if (!s->replacing)
          end(n, sid);
      }
    }
  }

  /// open_session: the session taken over from another node first, when
  /// the registry named one.
  void open(size_t n, uint64_t sid) {
    auto* s = session_of(n, sid);
    if (s->current || (!s->holder && !s->holder_session))
      return adopt(n, sid, std::nullopt);
    auto holder = std::exchange(s->holder, std::nullopt);
    auto back = std::exchange(s->holder_session, std::nullopt);
    s->move.fetch();
    auto id = s->client_id;
    if (w_.trace() > 1)
      w_.log(nodes_[n].name + ": session " + std::to_string(sid) + " asks "
             + (holder ? nodes_[*holder].name
                       : "session " + std::to_string(back->sid) + " on "
                           + nodes_[back->node].name));
    w_.request<handed>(
      n, holder ? *holder : back->node, takeover_timeout_us,
      [this, holder, back, id, n, sid](world::respond_fn<handed> respond) {
        if (holder)
          return serve_takeover(*holder, id, session_ref{n, sid}, respond);
        at_session(back->node, back->sid, [this, back, n, sid, respond] {
          hand_over(back->node, back->sid, session_ref{n, sid}, respond);
        });
      },
      [this, n, sid, back](handed h) {
        auto* s = session_of(n, sid);
        if (!s)
          return;
        if (auto window = s->move.fetched(!h.failed && h.existing.has_value())) {
          if (back) // what came here meanwhile waits (at_session)
            s->move.came_back_with(*h.existing, now_ms());
          else
            s->move.arrived_with(*h.existing);
          s->move.arrived_with(h.seen);
          s->previous = h.from;
          s->taken_from = nodes_[h.from->node].name;
          w_.after_us(*window * ms, [this, n, sid, gen = ++s->dedup_gen] {
            w_.run_on(n, [this, n, sid, gen] {
              at_session(n, sid, [this, n, sid, gen] {
                auto* s = session_of(n, sid);
                if (s->dedup_gen != gen)
                  return; // a later move's window is open
                s->previous.reset();
                deliver_held(n, sid, s->move.window_closed());
                serve_waiting(n, sid);
              });
            });
          });
        }
        adopt(n, sid, std::move(h.existing));
        resume(n, sid);
      },
      [this, n, sid] {
        if (auto* s = session_of(n, sid)) {
          w_.log(s->client_id + ": no answer to the takeover from the node "
                 "the registry names; starting anew");
          s->move.fetched(false);
          adopt(n, sid, std::nullopt);
          resume(n, sid);
        }
      });
    if (back) // after the takeover, on the same link: done here
      handover_end(n, sid, *back);
  }

  void adopt(size_t n, uint64_t sid, std::optional<session> existing) {
    auto* s = session_of(n, sid);
    w_.send(n, n, [this, n, id = s->client_id, sid] { manager_register(n, id, sid); });
    if (s->current) {
      existing = release_current(n, sid);
      s = session_of(n, sid);
    }
    s->connected_at_ms = now_ms();
    s->current = std::move(s->incoming);
    s->current_conn = std::exchange(s->incoming_conn, 0);
    carry(n, sid, s->current->session_opened(std::move(existing), now_ms()),
          s->current_conn);
  }

  void kick_current(size_t n, uint64_t sid) {
    auto* s = session_of(n, sid);
    s->replacing = true;
    if (s->current->state() == channel_state::connected)
      carry(n, sid, s->current->kick(reason_code::session_taken_over, now_ms()),
            s->current_conn);
    s->replacing = false;
  }

  std::optional<session> release_current(size_t n, uint64_t sid) {
    kick_current(n, sid);
    return session_of(n, sid)->current->release_session();
  }

  void end(size_t n, uint64_t sid) {
    auto* s = session_of(n, sid);
    if (s->ending)
      return;
    if (w_.trace() > 1)
      w_.log(nodes_[n].name + ": session " + std::to_string(sid) + " ends");
    s->ending = true;
    w_.send(n, n, [this, n, sid, id = s->client_id] {
      manager_unregister(n, id, sid);
      w_.send(n, n, [this, n, sid] { nodes_[n].sessions.erase(sid); });
    });
  }

  void deliver_held(size_t n, uint64_t sid,
                    std::vector<session_move::held_message> held) {
    for (auto& h : held) {
      auto* s = session_of(n, sid);
      if (!s || !s->current || s->ending)
        return;
      carry(n, sid, deliver(*s->current, std::move(h), now_ms()), s->current_conn);
    }
  }

  /// The old session `sid` tells the one it moved to that it is done.
  void handover_end(size_t n, uint64_t sid, session_ref to) {
    w_.send(n, to.node, [this, to, from = session_ref{n, sid}] {
      at_session(to.node, to.sid, [this, to, from] {
        auto* t = session_of(to.node, to.sid);
        if (t->previous == from) {
          t->previous.reset();
          session_move::serve_order(t->waiting_takeovers,
                                    [&](auto& w) { return w.first == from; });
          if (!t->waiting_takeovers.empty() && !t->moved_to && !t->ending
              && t->current)
            kick_current(to.node, to.sid); // held go with the session
          deliver_held(to.node, to.sid, t->move.old_done());
          serve_waiting(to.node, to.sid);
        }
      });
    });
  }

  void serve_waiting(size_t n, uint64_t sid) {
    auto waiting = std::move(session_of(n, sid)->waiting_takeovers);
    for (auto& [to, respond] : waiting)
      hand_over(n, sid, to, respond);
  }

  /// The node agent and client manager of `holder` pass the takeover to
  /// its session (hand_over), or answer that there is none.
  void serve_takeover(size_t holder, const std::string& id, session_ref to,
                      world::respond_fn<handed> respond) {
    auto& node = nodes_[holder];
    auto i = node.clients.find(id);
    if (i == node.clients.end())
      return respond(holder, handed{std::nullopt, std::nullopt, true, {}});
    auto sid = i->second;
    at_session(holder, sid, [this, holder, sid, to, respond] {
      hand_over(holder, sid, to, respond);
    });
  }

  void hand_over(size_t n, uint64_t sid, session_ref to,
                 const world::respond_fn<handed>& respond) {
    auto* s = session_of(n, sid);
    if (s && s->moved_to && !s->ending) { // delegated to where it went
      auto next = *s->moved_to;
      w_.send(n, next.node, [this, next, to, respond] {
        at_session(next.node, next.sid, [this, next, to, respond] {
          hand_over(next.node, next.sid, to, respond);
        });
      });
      return;
    }
    if (!s || s->ending || s->move.fetching() || !s->current)
      return respond(n, handed{std::nullopt, std::nullopt, true, {}});
    if (s->move.current() == session_move::phase::draining) {
      s->waiting_takeovers.emplace_back(to, respond);
      return;
    }
    // let_go
    s->previous.reset();
    kick_current(n, sid);
    deliver_held(n, sid, s->move.release());
    auto existing = release_current(n, sid);
    s = session_of(n, sid);
    s->current.reset();
    if (!existing) {
      end(n, sid);
      return respond(n, handed{std::nullopt, session_ref{n, sid}, false, {}});
    }
    s->moved_to = to;
    w_.log(s->client_id + " moves from " + nodes_[n].name + " to "
           + nodes_[to.node].name + " (session " + std::to_string(sid) + " to "
           + std::to_string(to.sid) + ")");
    w_.after_us(handover_grace_us, [this, n, sid, gen = ++s->handover_gen] {
      w_.run_on(n, [this, n, sid, gen] {
        at_session(n, sid, [this, n, sid, gen] {
          auto* s = session_of(n, sid);
          if (s->handover_gen != gen || !s->moved_to)
            return; // it came back meanwhile
          handover_end(n, sid, *s->moved_to);
          end(n, sid);
        });
      });
    });
    respond(n, handed{std::move(existing), session_ref{n, sid}, false,
                      s->move.seen_ids()});
  }

  /// A session that moved on passes what reaches it to where it went
  /// (a second copy of one it has seen is dropped); true if it moved on.
  bool passed_on(size_t n, session_host& s, const message& m,
                 const std::vector<std::string>& keys) {
    if (!s.moved_to)
      return false;
    if (s.move.pass_on(m.id) == session_move::verdict::deliver)
      w_.send(n, s.moved_to->node,
              [this, to = *s.moved_to, m, keys] { peer_deliver(to, m, keys); });
    return true;
  }

  /// deliver_atom: the router matched `m` to session `sid`.
  void session_deliver(size_t n, uint64_t sid, const message& m,
                       const std::vector<std::string>& keys) {
    at_session(n, sid, [=, this] {
      auto* s = session_of(n, sid);
      if (w_.trace() > 2)
        w_.log(nodes_[n].name + ": session " + std::to_string(sid) + " routed "
               + m.topic + " id " + std::to_string(m.id));
      if (passed_on(n, *s, m, keys) || !s->current || s->ending
          || s->move.direct(m, keys) != session_move::verdict::deliver)
        return;
      carry(n, sid, s->current->deliver(m, keys, now_ms()), s->current_conn);
    });
  }

  /// peer_deliver_atom: the session's old node passed `m` on.
  void peer_deliver(session_ref to, const message& m,
                    const std::vector<std::string>& keys) {
    at_session(to.node, to.sid, [=, this] {
      auto* s = session_of(to.node, to.sid);
      if (w_.trace() > 2)
        w_.log(nodes_[to.node].name + ": session " + std::to_string(to.sid)
               + " passed " + m.topic + " id " + std::to_string(m.id));
      if (passed_on(to.node, *s, m, keys) || !s->current || s->ending)
        return;
      deliver_held(to.node, to.sid, s->move.older_held(m));
      if (s->move.via_old(m.id) == session_move::verdict::drop)
        return;
      carry(to.node, to.sid, s->current->deliver(m, keys, now_ms()),
            s->current_conn);
    });
  }

  // -- the nodes: the router ------------------------------------------------------

  void publish_routes(size_t n, const route_changes& changes) {
    for (auto& c : changes)
      for (size_t j = 0; j < nodes_.size(); ++j)
        if (j != n)
          w_.send(n, j, [this, j, owner = nodes_[n].name, c] {
            nodes_[j].table->remote_route(owner, c.key, c.present);
          });
  }

  size_t index(const std::string& name) const {
    for (size_t i = 0; i < nodes_.size(); ++i)
      if (nodes_[i].name == name)
        return i;
    return 0;
  }

  void deliver_local(size_t n, const message& m, const route_match& match) {
    for (auto& [sid, keys] : match.local)
      w_.send(n, n, [this, n, sid = sid, m, keys = keys] {
        session_deliver(n, sid, m, keys);
      });
  }

  void route_published(size_t n, message m) {
    m.id = ++message_ids_;
    if (w_.trace() > 2)
      w_.log(nodes_[n].name + " publishes " + m.topic + " "
             + std::string(m.payload.bytes().begin(), m.payload.bytes().end()) + " as id "
             + std::to_string(m.id));
    route_match match;
    nodes_[n].table->match_published(m, match);
    for (auto& [node, groups] : match.remote) {
      auto j = index(node);
      w_.send(n, j, [this, j, m, groups = groups] {
        route_match fwd;
        nodes_[j].table->match_forwarded(m, groups, fwd);
        deliver_local(j, m, fwd);
      });
    }
    deliver_local(n, m, match);
  }

  // -- the checker -------------------------------------------------------------------

  void check() {
    if (!broken_.empty())
      return;
    for (size_t k = 0; k < subs_.size(); ++k) {
      auto& s = subs_[k];
      if (!s.connected || !s.conn)
        return broken(s.id + " is not connected at the end");
      auto at = conns_[s.conn].node;
      size_t holders = 0;
      for (size_t n = 0; n < nodes_.size(); ++n) {
        if (nodes_[n].clients.count(s.id)) {
          ++holders;
          if (n != at)
            return broken(s.id + " is held by " + nodes_[n].name
                          + ", connected to " + nodes_[at].name);
        }
        for (auto& [owner, keys] : nodes_[n].table->remote_routes())
          if (keys.count(s.filter) && owner != nodes_[at].name)
            return broken(nodes_[n].name + " routes " + s.filter + " to " + owner
                          + ", but " + s.id + " is on " + nodes_[at].name);
      }
      if (holders != 1)
        return broken(s.id + " is held by " + std::to_string(holders) + " nodes");
      for (auto& [topic, seqs] : s.first)
        for (size_t i = 1; i < seqs.size(); ++i)
          if (seqs[i] < seqs[i - 1])
            return broken(s.id + ": on " + topic + ", message "
                          + std::to_string(seqs[i]) + " arrived after "
                          + std::to_string(seqs[i - 1]));
      for (auto& [topic, twice] : s.qos2_twice)
        if (!twice.empty())
          return broken(s.id + ": QoS 2 message " + std::to_string(*twice.begin())
                        + " on " + topic + " arrived twice");
    }
    for (auto& a : acked_) {
      auto& s = subs_[a.subscriber];
      auto t = s.copies.find(a.topic);
      if (t == s.copies.end() || !t->second.count(a.seq))
        return broken("message " + std::to_string(a.seq) + " on " + a.topic
                      + " (QoS " + std::to_string(int(a.q)) + ", acknowledged at "
                      + std::to_string(a.at / ms) + " ms) never reached " + s.id);
    }
    for (auto& node : nodes_)
      for (auto& [sid, s] : node.sessions) {
        auto* ses = s.current ? s.current->current_session() : nullptr;
        if (s.move.held() > 0 || !s.deferred.empty()
            || (ses && (ses->inflight_size() || !ses->queue().empty())))
          return broken(s.client_id + " on " + node.name
                        + " still holds messages at the end");
        if (ses && ses->counters().dropped() > 0)
          return broken(s.client_id + " on " + node.name + " dropped "
                        + std::to_string(ses->counters().dropped())
                        + " messages (queue full, expired or too large)");
      }
  }

  world w_;
  std::vector<node_host> nodes_;
  std::vector<subscriber> subs_;
  std::vector<publisher> pubs_;
  std::map<uint64_t, connection> conns_;
  std::map<std::string, uint64_t> seqs_;
  std::map<std::string, std::string> table_; ///< session_registry (node 0)
  std::vector<acked_message> acked_;
  uint64_t conn_ids_ = 0, session_ids_ = 0, message_ids_ = 0, moves_ = 0;
  std::string broken_;
};

uint64_t total_moves = 0, total_messages = 0;

} // namespace

int main(int argc, char** argv) {
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i)
    if (std::string(argv[i]) == "--slow-links")
      slow_links = true;
    else
      args.push_back(argv[i]);
  auto rc = starling::sim::run_seeds(static_cast<int>(args.size()), args.data(),
                                     slow_links ? "session_sim --slow-links"
                                                : "session_sim",
                                     [](uint64_t seed, int trace) {
                                       run r(seed, trace);
                                       auto o = r.go();
                                       total_moves += r.moves();
                                       total_messages += r.messages();
                                       return o;
                                     });
  std::printf("session_sim: %llu moves, %llu acknowledged messages checked\n",
              static_cast<unsigned long long>(total_moves),
              static_cast<unsigned long long>(total_messages));
  return rc;
}
