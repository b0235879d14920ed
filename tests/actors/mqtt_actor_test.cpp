// Actor tests of the MQTT translators (issue 18): the real router, client
// manager and session actors of one or two nodes in one actor system on
// CAF 0.17.6's deterministic scheduler. Their decisions have unit tests
// (route_table, session_registry, session_move, channel); these test that
// the actors carry them out: route writes to the cluster table, forwarding
// through the data channel, a session taken over from another node with
// its unacknowledged message, and the registry's supersede races.
//
// Around the real actors stand recorders (actor_test.hpp): the connections
// (they get the encoded packets), the database, the cluster route table and
// the other node's agent. No sockets, no SQLite.

#include <doctest/doctest.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "actor_test.hpp"

#include "starling/actors/confirm.hpp"
#include "starling/actors/db/context.hpp"
#include "starling/actors/wire/db.hpp"
#include "starling/actors/mqtt/access.hpp"
#include "starling/actors/mqtt/client_manager.hpp"
#include "starling/actors/mqtt/context.hpp"
#include "starling/actors/mqtt/protocol.hpp"
#include "starling/actors/mqtt/router.hpp"
#include "starling/actors/wire/node.hpp"
#include "starling/broker/codec.hpp"
#include "starling/broker/route_table.hpp"

using namespace starling;
using namespace starling::actor_test;
namespace am = starling::actors::mqtt;
namespace adb = starling::actors::db;

namespace {

/// One node's MQTT side: its real router and client manager; the
/// database, the registry's shard and the cluster route table are
/// recorders.
struct mqtt_node : node_base {
  test_system& t;
  adb::db_context db;
  am::mqtt_context mqtt;
  recorder db_manager;     ///< registry and retained writes (answers a seqno)
  recorder cm_shard;       ///< the registry's shard: tells the manager changes
  recorder cluster_routes; ///< the merge table "routes" (answers true)

  mqtt_node(test_system& t, const std::string& name, int64_t started)
    : node_base(t, name, started), t(t),
      db_manager(t, caf::make_message(uint64_t{1})),
      cm_shard(t),
      cluster_routes(t, caf::make_message(true)) {
    db.node = &ctx;
    db.manager = db_manager.actor;
    db.merge_server = cluster_routes.actor;
    db.shards["cm_shard"] = cm_shard.actor;
    ctx.db = &db;
    mqtt.node = &ctx;
    mqtt.settings = broker::broker_settings_from(ctx.cfg);
    mqtt.settings.sys_interval_ms = 0; // no $SYS timer among the test's timers
    mqtt.live.set(mqtt.settings);
    ctx.mqtt = &mqtt;
    REQUIRE(am::load_access(mqtt).empty());
    mqtt.router = am::spawn_router(mqtt);
    mqtt.manager = am::spawn_client_manager(mqtt);
    // The node agent, as another node's client manager reaches it: it
    // passes a takeover to this node's client manager.
    agent = t.sys.spawn([mgr = mqtt.manager](caf::event_based_actor* self)
                          -> caf::behavior {
      return {[=](am::takeover_atom, const std::string& id, bool clean_start)
                -> caf::result<std::string, caf::actor, std::vector<uint64_t>> {
        self->delegate(mgr, am::takeover_atom::value, id, clean_start);
        return caf::delegated<std::string, caf::actor, std::vector<uint64_t>>{};
      }};
    });
  }

  caf::actor agent;

  /// The actors end (sessions with their manager) while this node's
  /// contexts live, also when a check failed.
  ~mqtt_node() {
    stop_all(t, {mqtt.manager, mqtt.router, agent, db_manager.actor,
                 cm_shard.actor, cluster_routes.actor});
    directory.clear();
  }

  actors::member_wire as_member() const {
    return {name(), "127.0.0.1", 4370, 5370, "core", "up", ctx.started_at_ms};
  }

  /// Registry writes as (put|erase, client id, node).
  std::vector<std::string> registry_writes() const {
    std::vector<std::string> out;
    for (auto& m : db_manager.all<adb::put_atom, std::string, std::string, std::string>())
      out.push_back("put " + m.get_as<std::string>(2) + " " + m.get_as<std::string>(3));
    for (auto& m : db_manager.all<adb::erase_atom, std::string, std::string, std::string>())
      out.push_back("erase " + m.get_as<std::string>(2) + " " + m.get_as<std::string>(3));
    return out;
  }

  /// Route writes to the cluster table, in order: "+key" or "-key".
  std::vector<std::string> route_writes() const {
    std::vector<std::string> out;
    for (auto& m : *cluster_routes.got)
      if (m.match_elements<adb::put_atom, std::string, std::string, std::string>())
        out.push_back("+" + m.get_as<std::string>(2));
      else if (m.match_elements<adb::erase_atom, std::string, std::string>())
        out.push_back("-" + m.get_as<std::string>(2));
    return out;
  }
};

/// A client's connection: a recorder that decodes what the session sent.
struct test_conn : recorder {
  explicit test_conn(test_system& t) : recorder(t) {}

  /// Every packet sent to this connection, in order.
  std::vector<broker::packet> packets() const {
    std::vector<broker::packet> out;
    for (auto& m : all<am::out_atom, std::vector<uint8_t>, bool>()) {
      auto& bytes = m.get_as<std::vector<uint8_t>>(1);
      broker::decoder d({broker::default_max_packet_size, broker::protocol_version::v5});
      auto r = d.decode(bytes);
      auto* p = std::get_if<broker::decoded>(&r);
      REQUIRE(p);
      CHECK(p->consumed == bytes.size());
      out.push_back(p->pkt);
    }
    return out;
  }

  template <class T>
  std::vector<T> of() const {
    std::vector<T> out;
    for (auto& p : packets())
      if (auto x = std::get_if<T>(&p))
        out.push_back(*x);
    return out;
  }

  /// The session actor bound to this connection (it says so at CONNACK).
  caf::actor session() const {
    auto b = all<am::bind_atom, caf::actor, std::string>();
    REQUIRE(b.size() == 1);
    return b[0].get_as<caf::actor>(1);
  }

  bool closed() const { return !all<am::close_atom, std::string>().empty(); }

  /// A packet from the client, as the connection actor passes it on.
  void send(test_system& t, broker::packet p) {
    t.self->send(actor, relay_atom::value, session(),
                 caf::make_message(am::packet_atom::value, std::move(p)));
  }
};

/// The nodes run, each knowing the others' agents (the node agent's
/// members message).
void join(test_system& t, const std::vector<mqtt_node*>& nodes) {
  std::vector<actors::member_wire> running;
  std::vector<caf::actor> agents;
  for (auto* n : nodes) {
    running.push_back(n->as_member());
    agents.push_back(n->agent);
  }
  for (auto* n : nodes)
    t.self->send(n->mqtt.manager, actors::members_atom::value, running, agents);
}

/// The registry's shard tells `n`'s manager that `node` holds `id`.
void registry_names(test_system& t, mqtt_node& n, const std::string& id,
                    const std::string& node) {
  t.self->send(n.cm_shard.actor, relay_atom::value, n.mqtt.manager,
               caf::make_message(adb::rchange_atom::value,
                                 std::string("session_registry"), id, true, node));
  t.sched.run();
}

broker::connect connect_packet(const std::string& id, bool clean_start) {
  broker::connect c;
  c.version = broker::protocol_version::v5;
  c.client_id = id;
  c.clean_start = clean_start;
  c.props.session_expiry_interval = 300;
  return c;
}

void connect(test_system& t, mqtt_node& n, test_conn& conn,
             const broker::connect& c) {
  t.self->send(n.mqtt.manager, am::connect_atom::value, c, conn.actor,
               am::client_origin{"127.0.0.1", "127.0.0.1:40000", "tcp", false});
}

broker::subscribe subscribe_packet(uint16_t pid, const std::string& filter,
                                   broker::qos q) {
  broker::subscribe s;
  s.packet_id = pid;
  broker::subscription sub;
  sub.filter = filter;
  sub.options.qos = q;
  s.subscriptions.push_back(sub);
  return s;
}

broker::message message(const std::string& topic, const std::string& payload,
                        broker::qos q = broker::qos::at_most_once) {
  broker::message m;
  m.topic = topic;
  m.payload = broker::shared_binary(broker::binary(payload.begin(), payload.end()));
  m.qos = q;
  m.publisher = "publisher";
  return m;
}

/// The topics of what the subscriber `s` (a recorder) got from the router.
std::vector<std::string> delivered(const recorder& s) {
  std::vector<std::string> out;
  for (auto& m : s.all<am::deliver_atom, broker::message, std::vector<std::string>>())
    out.push_back(m.get_as<broker::message>(1).topic);
  return out;
}

/// `c` resumed a session: CONNACK with Session Present, then its one
/// unacknowledged message (on `topic`) again, with DUP; returns that.
broker::publish resumed_with_one(const test_conn& c, const std::string& topic) {
  auto connacks = c.of<broker::connack>();
  REQUIRE(connacks.size() == 1);
  CHECK(connacks[0].session_present);
  auto again = c.of<broker::publish>();
  REQUIRE(again.size() == 1);
  CHECK(again[0].topic == topic);
  CHECK(again[0].dup);
  return again[0];
}

/// `c` was told its session was taken over (MQTT 5: DISCONNECT 0x8E).
void kicked(const test_conn& c) {
  auto gone = c.of<broker::disconnect>();
  REQUIRE(gone.size() == 1);
  CHECK(gone[0].code == broker::reason_code::session_taken_over);
}

/// A session as the router sees it: a recorder that subscribes.
void subscribe_as(test_system& t, mqtt_node& n, recorder& session,
                  const std::string& client_id, const std::string& filter,
                  std::optional<std::string> group = std::nullopt) {
  broker::subscribe_filter f;
  f.subscription = group ? "$share/" + *group + "/" + filter : filter;
  f.topic_filter = filter;
  f.share_group = group;
  t.self->send(session.actor, relay_atom::value, n.mqtt.router,
               caf::make_message(am::subscribe_atom::value, f, client_id));
}

void publish(test_system& t, mqtt_node& n, broker::message m) {
  t.self->send(n.mqtt.router, am::publish_atom::value, std::move(m));
  t.sched.run();
}

} // namespace

TEST_CASE("router: a filter is announced to the cluster table once, whatever "
          "its subscriber count, and withdrawn with its last subscriber") {
  test_system t;
  mqtt_node n(t, "n1", 1);
  recorder s1(t), s2(t);
  subscribe_as(t, n, s1, "c1", "t/#");
  subscribe_as(t, n, s2, "c2", "t/#");
  t.sched.run();
  CHECK(n.route_writes() == std::vector<std::string>{"+t/#"});

  publish(t, n, message("t/1", "x"));
  CHECK(delivered(s1) == std::vector<std::string>{"t/1"});
  CHECK(delivered(s2) == std::vector<std::string>{"t/1"});

  // A session that ends (the router monitors it) takes its subscriptions
  // with it; the route stays while another subscriber has the filter.
  caf::anon_send_exit(s1.actor, caf::exit_reason::kill);
  t.sched.run();
  CHECK(n.route_writes() == std::vector<std::string>{"+t/#"});
  publish(t, n, message("t/2", "x"));
  CHECK(delivered(s1) == std::vector<std::string>{"t/1"});
  CHECK(delivered(s2) == std::vector<std::string>{"t/1", "t/2"});

  broker::unsubscribe_filter u;
  u.subscription = "t/#";
  t.self->send(s2.actor, relay_atom::value, n.mqtt.router,
               caf::make_message(am::unsubscribe_atom::value, u));
  t.sched.run();
  CHECK(n.route_writes() == std::vector<std::string>{"+t/#", "-t/#"});
  publish(t, n, message("t/3", "x"));
  CHECK(delivered(s2) == std::vector<std::string>{"t/1", "t/2"});
  CHECK(n.mqtt.stats.dropped_no_subscribers.load() == 1);
}

TEST_CASE("router: a message for another node's route leaves once through the "
          "topic's link; what a peer forwards reaches the local subscribers") {
  test_system t;
  mqtt_node n(t, "n1", 1);
  recorder outbox0(t), outbox1(t), inbox(t), local(t);
  t.self->send(n.mqtt.router, am::attach_atom::value, outbox0.actor, inbox.actor);
  t.self->send(n.mqtt.router, am::attach_atom::value, outbox1.actor, inbox.actor);
  // The cluster table says n2 and n3 route "t/#"; only the table itself is
  // believed.
  for (auto* owner : {"n2@127.0.0.1", "n3@127.0.0.1"})
    t.self->send(n.cluster_routes.actor, relay_atom::value, n.mqtt.router,
                 caf::make_message(adb::mchange_atom::value, std::string("routes"),
                                   std::string(owner), std::string("t/#"), true));
  t.self->send(n.mqtt.router, adb::mchange_atom::value, std::string("routes"),
               std::string("n4@127.0.0.1"), std::string("#"), true);
  t.sched.run();

  for (auto* topic : {"t/a", "t/b", "t/c", "t/d"})
    publish(t, n, message(topic, "x"));
  // Each message once per node, every message of a topic on one link.
  std::multiset<std::string> sent;
  for (auto* box : {&outbox0, &outbox1})
    for (auto& m : box->all<am::forward_atom, std::string, broker::message,
                            std::vector<std::string>>()) {
      auto topic = m.get_as<broker::message>(2).topic;
      sent.insert(m.get_as<std::string>(1) + " " + topic);
      auto link = broker::route_table::link_of(topic, 2);
      CHECK(box == (link == 0 ? &outbox0 : &outbox1));
    }
  CHECK(sent == std::multiset<std::string>{
                  "n2@127.0.0.1 t/a", "n2@127.0.0.1 t/b", "n2@127.0.0.1 t/c",
                  "n2@127.0.0.1 t/d", "n3@127.0.0.1 t/a", "n3@127.0.0.1 t/b",
                  "n3@127.0.0.1 t/c", "n3@127.0.0.1 t/d"});

  // From the data channel's inbox: delivered here, never forwarded again.
  subscribe_as(t, n, local, "c1", "t/#");
  t.sched.run();
  std::vector<am::remote_message> batch{{message("t/x", "y"), {}}};
  t.self->send(inbox.actor, relay_atom::value, n.mqtt.router,
               caf::make_message(am::remote_publish_atom::value, batch));
  // The same batch from anyone else is not believed.
  t.self->send(n.mqtt.router, am::remote_publish_atom::value, batch);
  t.sched.run();
  CHECK(delivered(local) == std::vector<std::string>{"t/x"});
  CHECK(sent.size() == outbox0.got->size() + outbox1.got->size());
}

TEST_CASE("router: a shared group gives each message to one member") {
  test_system t;
  mqtt_node n(t, "n1", 1);
  recorder a(t), b(t);
  subscribe_as(t, n, a, "a", "s/+", "g");
  subscribe_as(t, n, b, "b", "s/+", "g");
  t.sched.run();
  for (int i = 0; i < 20; ++i)
    publish(t, n, message("s/" + std::to_string(i), "x"));
  auto got_a = delivered(a), got_b = delivered(b);
  CHECK(got_a.size() + got_b.size() == 20);
  std::set<std::string> all(got_a.begin(), got_a.end());
  all.insert(got_b.begin(), got_b.end());
  CHECK(all.size() == 20);
}

TEST_CASE("session: taken over from another node with its unacknowledged QoS 1 "
          "message and its subscription; what still reaches the old node "
          "follows it, and the old node lets go") {
  test_system t;
  mqtt_node a(t, "a", 1), b(t, "b", 2);
  join(t, {&a, &b});

  // c1 on node a: subscribed to t/# at QoS 1, one message not acknowledged.
  test_conn conn_a(t);
  connect(t, a, conn_a, connect_packet("c1", false));
  t.sched.run();
  REQUIRE(conn_a.of<broker::connack>().size() == 1);
  conn_a.send(t, subscribe_packet(1, "t/#", broker::qos::at_least_once));
  t.sched.run();
  REQUIRE(conn_a.of<broker::suback>().size() == 1);
  CHECK(a.registry_writes() == std::vector<std::string>{"put c1 a@127.0.0.1"});
  publish(t, a, message("t/1", "m1", broker::qos::at_least_once));
  auto first = conn_a.of<broker::publish>();
  REQUIRE(first.size() == 1);
  CHECK(!first[0].dup);

  // b's replica of the registry names a; c1 connects to b and resumes.
  registry_names(t, b, "c1", a.name());
  test_conn conn_b(t);
  connect(t, b, conn_b, connect_packet("c1", false));
  t.sched.run();

  // The old connection is told why (MQTT 5: DISCONNECT 0x8E) and closed.
  kicked(conn_a);
  CHECK(conn_a.closed());
  CHECK(resumed_with_one(conn_b, "t/1").packet_id == first[0].packet_id);
  CHECK(b.registry_writes() == std::vector<std::string>{"put c1 b@127.0.0.1"});
  CHECK(b.route_writes() == std::vector<std::string>{"+t/#"});

  // Until the old node is done, a message routed to a (whose route the
  // cluster has not dropped yet) follows the session at once; one routed
  // to b directly waits, so that per-topic order holds. A message of a
  // third node routed both ways arrives once.
  recorder inbox_a(t), inbox_b(t), outbox(t);
  t.self->send(a.mqtt.router, am::attach_atom::value, outbox.actor, inbox_a.actor);
  t.self->send(b.mqtt.router, am::attach_atom::value, outbox.actor, inbox_b.actor);
  publish(t, a, message("t/2", "m2", broker::qos::at_least_once));
  publish(t, b, message("t/3", "m3", broker::qos::at_least_once));
  auto from_c = message("t/5", "m5", broker::qos::at_least_once);
  from_c.id = 777;
  std::vector<am::remote_message> batch{{from_c, {}}};
  for (auto* box : {&inbox_b, &inbox_a})
    t.self->send(box->actor, relay_atom::value, box == &inbox_a ? a.mqtt.router
                                                                : b.mqtt.router,
                 caf::make_message(am::remote_publish_atom::value, batch));
  t.sched.run();
  auto topics = [&] {
    std::vector<std::string> out;
    for (auto& p : conn_b.of<broker::publish>())
      out.push_back(p.topic);
    return out;
  };
  CHECK(topics() == std::vector<std::string>{"t/1", "t/2", "t/5"});

  // The grace period ends: a's session goes, its registry entry only
  // while it still names a, and a's route with it.
  run_rounds(t, 3);
  CHECK(topics() == std::vector<std::string>{"t/1", "t/2", "t/5", "t/3"});
  CHECK(a.registry_writes()
        == std::vector<std::string>{"put c1 a@127.0.0.1", "erase c1 a@127.0.0.1"});
  CHECK(a.route_writes() == std::vector<std::string>{"+t/#", "-t/#"});
  publish(t, a, message("t/4", "m4", broker::qos::at_least_once));
  CHECK(conn_b.of<broker::publish>().size() == 4);
  CHECK(conn_a.of<broker::publish>().size() == 1);
}

TEST_CASE("session registry race: the session here gives way only when the "
          "registry still names the other node after the settling time") {
  test_system t;
  mqtt_node b(t, "b", 2);
  test_conn conn(t);
  connect(t, b, conn, connect_packet("c1", false));
  t.sched.run();
  REQUIRE(conn.of<broker::connack>().size() == 1);
  CHECK(b.registry_writes() == std::vector<std::string>{"put c1 b@127.0.0.1"});

  auto registry_says = [&](const std::string& node) {
    t.self->send(b.cm_shard.actor, relay_atom::value, b.mqtt.manager,
                 caf::make_message(adb::rchange_atom::value,
                                   std::string("session_registry"),
                                   std::string("c1"), true, node));
    t.sched.run();
  };
  // Two racing writes: a's came through first, b's last. The intermediate
  // value does not count.
  registry_says("a@127.0.0.1");
  registry_says("b@127.0.0.1");
  run_rounds(t, 3);
  CHECK(conn.of<broker::disconnect>().empty());
  CHECK(!conn.closed());

  // a's write wins: the session here gives way as to a takeover (the
  // decision comes after the session opened: the clock moves on).
  *b.now += 600;
  registry_says("a@127.0.0.1");
  run_rounds(t, 3);
  kicked(conn);
  CHECK(conn.closed());
  CHECK(b.logged("session c1 superseded by a session on a@127.0.0.1"));
  // It ended here without erasing a's entry (erase_if names b).
  CHECK(b.registry_writes()
        == std::vector<std::string>{"put c1 b@127.0.0.1", "erase c1 b@127.0.0.1"});
}

namespace {

/// c1 on node `a`, subscribed to t/# at QoS 1, with one message (t/1) not
/// acknowledged; then it connects to `b` (its registry names a) and the
/// session moves there. `conn_b` gets Session Present and t/1 again.
void moved_a_to_b(test_system& t, mqtt_node& a, mqtt_node& b, test_conn& conn_a,
                  test_conn& conn_b) {
  connect(t, a, conn_a, connect_packet("c1", false));
  t.sched.run();
  conn_a.send(t, subscribe_packet(1, "t/#", broker::qos::at_least_once));
  t.sched.run();
  publish(t, a, message("t/1", "m1", broker::qos::at_least_once));
  REQUIRE(conn_a.of<broker::publish>().size() == 1);
  registry_names(t, b, "c1", a.name());
  connect(t, b, conn_b, connect_packet("c1", false));
  t.sched.run();
  REQUIRE(conn_b.of<broker::connack>().size() == 1);
  REQUIRE(conn_b.of<broker::connack>()[0].session_present);
}

std::vector<std::string> topics(const test_conn& c) {
  std::vector<std::string> out;
  for (auto& p : c.of<broker::publish>())
    out.push_back(p.topic);
  return out;
}

} // namespace

// Found by tests/sim/session_sim: the session that had moved away was
// asked to open a new channel, had none, and started an empty session
// (Session Present 0: subscriptions and queued messages gone).
TEST_CASE("session: a client back on its old node within the grace period "
          "gets its session back from where it went") {
  test_system t;
  mqtt_node a(t, "a", 1), b(t, "b", 2);
  join(t, {&a, &b});
  test_conn conn_a(t), conn_b(t), again(t);
  moved_a_to_b(t, a, b, conn_a, conn_b);

  connect(t, a, again, connect_packet("c1", false));
  t.sched.run();
  resumed_with_one(again, "t/1");
  kicked(conn_b);

  // The grace period a had started when the session left ends without
  // ending the session that came back.
  run_rounds(t, 3);
  CHECK(!again.closed());
  publish(t, a, message("t/2", "m2", broker::qos::at_least_once));
  CHECK(topics(again) == std::vector<std::string>{"t/1", "t/2"});
  CHECK(a.registry_writes().back() == "put c1 a@127.0.0.1");
  CHECK(a.logged("session c1 is taken back from"));
}

// Found by tests/sim/session_sim: a session that moved on while the node
// before still passed messages on let them overtake one another (the held
// direct ones went into the session first).
TEST_CASE("session: a takeover asked for while the session's own arrival still "
          "drains waits for the node before, and the topic keeps its order") {
  test_system t;
  mqtt_node a(t, "a", 1), b(t, "b", 2), c(t, "c", 3);
  join(t, {&a, &b, &c});
  test_conn conn_a(t), conn_b(t), conn_c(t);
  moved_a_to_b(t, a, b, conn_a, conn_b);

  // b is still draining (a passes on for its grace period) when c1
  // connects to c, whose registry names b.
  registry_names(t, c, "c1", b.name());
  connect(t, c, conn_c, connect_packet("c1", false));
  t.sched.run();
  CHECK(conn_c.of<broker::connack>().empty());
  CHECK(conn_b.of<broker::disconnect>().empty());
  publish(t, a, message("t/2", "m2", broker::qos::at_least_once));
  CHECK(topics(conn_b) == std::vector<std::string>{"t/1", "t/2"});

  // a's grace period ends (the first timer due: the others, such as c's
  // 5 s takeover timeout, stay pending): b hears that a is done and lets
  // the session go.
  REQUIRE(t.sched.trigger_timeout());
  t.sched.run();
  CHECK(conn_b.of<broker::disconnect>().size() == 1);
  auto connacks = conn_c.of<broker::connack>();
  REQUIRE(connacks.size() == 1);
  CHECK(connacks[0].session_present);
  CHECK(topics(conn_c) == std::vector<std::string>{"t/1", "t/2"});
}

// Found by tests/sim/session_sim --seeds 100000 (seed 2306): the client
// manager decided a supersede while the session was taking itself back; the
// decision waited in the session's mailbox during the take-back and then
// ended the session that had just come back (Session Present 0 next time).
TEST_CASE("session: a supersede decided while the session was being taken back "
          "does not end the session that came back") {
  test_system t;
  mqtt_node a(t, "a", 1), b(t, "b", 2), c(t, "c", 3);
  join(t, {&a, &b, &c});
  test_conn conn_a(t), conn_b(t), again(t);
  moved_a_to_b(t, a, b, conn_a, conn_b);

  // A racing write from c reaches a's replica: a's manager checks again
  // after the settling time.
  registry_names(t, a, "c1", c.name());

  // c1 comes back to a. Only a's manager and session run: the session
  // asks b for the session back and waits for the answer.
  auto here = conn_a.session();
  connect(t, a, again, connect_packet("c1", false));
  while (t.sched.prioritize(a.mqtt.manager) || t.sched.prioritize(here))
    t.sched.run_once();
  CHECK(again.of<broker::connack>().empty());

  // Meanwhile the settling time ends with the registry still naming c: the
  // manager decides that the session here gives way.
  REQUIRE(t.sched.trigger_timeout());
  while (t.sched.prioritize(a.mqtt.manager))
    t.sched.run_once();

  // The answer comes later than that decision.
  *a.now += 10;
  *b.now += 10;
  t.sched.run();
  resumed_with_one(again, "t/1");
  kicked(conn_b);
  CHECK(!a.logged("superseded"));
  run_rounds(t, 3);
  CHECK(!again.closed());
  CHECK(again.of<broker::disconnect>().empty());
  publish(t, a, message("t/2", "m2", broker::qos::at_least_once));
  CHECK(topics(again) == std::vector<std::string>{"t/1", "t/2"});
}

// Found by tests/sim/session_sim --slow-links: a client came back to its
// old node within the grace period. The node it had moved to heard first
// that the old node was done, sent what it held to the connection it was
// about to close, and the session brought those back as unacknowledged:
// resent at once, ahead of older messages still on their way. Now the
// take-back asks first and says done after, and what was held goes into
// the session, which holds its queue until the node it left is done.
TEST_CASE("session: taken back within the grace period, what the other node "
          "held goes with the session, not to the connection it closes") {
  test_system t;
  mqtt_node a(t, "a", 1), b(t, "b", 2);
  join(t, {&a, &b});
  test_conn conn_a(t), conn_b(t), again(t);
  moved_a_to_b(t, a, b, conn_a, conn_b);

  // b holds what is routed to it directly until a is done.
  publish(t, b, message("t/3", "m3", broker::qos::at_least_once));
  CHECK(topics(conn_b) == std::vector<std::string>{"t/1"});

  connect(t, a, again, connect_packet("c1", false));
  t.sched.run();
  kicked(conn_b);
  CHECK(topics(conn_b) == std::vector<std::string>{"t/1"});
  resumed_with_one(again, "t/1");

  // Once b is done (its grace period), the queue that came back goes out.
  run_rounds(t, 3);
  auto got = again.of<broker::publish>();
  REQUIRE(got.size() == 2);
  CHECK(got[1].topic == "t/3");
  CHECK(!got[1].dup);
}

namespace {

/// Whether an actor has ended: a watcher monitors it (held here: an actor
/// nothing refers to is gone).
struct end_watch {
  std::shared_ptr<bool> ended = std::make_shared<bool>(false);
  caf::actor watcher;
  bool operator*() const { return *ended; }
};

end_watch watch_end(test_system& t, const caf::actor& a) {
  end_watch w;
  w.watcher = t.sys.spawn([a, ended = w.ended](caf::event_based_actor* self)
                            -> caf::behavior {
    self->monitor(a);
    self->set_down_handler([ended](caf::down_msg&) { *ended = true; });
    return {[](int) {}};
  });
  return w;
}

} // namespace

// The manager monitors its sessions rather than linking them (CAF 0.17
// removes a link by scanning the actor's links: 10,000 sessions ending
// at once cost 10,000 scans of 10,000). What the links did, it still does.
TEST_CASE("client manager: a session that fails is forgotten with its registry "
          "entry, and the sessions end with the manager") {
  test_system t;
  mqtt_node a(t, "a", 1);
  join(t, {&a});
  test_conn first(t), again(t), other(t);
  connect(t, a, first, connect_packet("c1", false));
  connect(t, a, other, connect_packet("c2", false));
  t.sched.run();
  auto s1 = first.session(), s2 = other.session();
  auto s1_ended = watch_end(t, s1), s2_ended = watch_end(t, s2);
  t.sched.run();

  caf::anon_send_exit(s1, caf::exit_reason::kill);
  t.sched.run();
  CHECK(*s1_ended);
  CHECK(a.logged("session c1 failed"));
  auto writes = a.registry_writes();
  CHECK(std::count(writes.begin(), writes.end(), "erase c1 a@127.0.0.1") == 1);
  CHECK(std::count(writes.begin(), writes.end(), "erase c2 a@127.0.0.1") == 0);
  // The next CONNECT of c1 starts a session afresh.
  connect(t, a, again, connect_packet("c1", false));
  t.sched.run();
  auto connacks = again.of<broker::connack>();
  REQUIRE(connacks.size() == 1);
  CHECK(!connacks[0].session_present);
  CHECK(again.session() != s1);

  CHECK(!*s2_ended);
  auto s3_ended = watch_end(t, again.session());
  t.sched.run();
  caf::anon_send_exit(a.mqtt.manager, caf::exit_reason::user_shutdown);
  t.sched.run();
  CHECK(*s2_ended);
  CHECK(*s3_ended);
  // A node that stops leaves its entries to the cleaner.
  writes = a.registry_writes();
  CHECK(std::count(writes.begin(), writes.end(), "erase c2 a@127.0.0.1") == 0);
}

// The 1M-filter benchmark: the router's route writes were all requests in
// flight at once, and CAF 0.17 searches an actor's open requests (an
// unsorted vector) for every answer, so the router was busy for minutes.
namespace {
using write_atom = caf::atom_constant<caf::atom("t_write")>;
using answer_atom = caf::atom_constant<caf::atom("t_answer")>;
struct writer_state {
  actors::confirmed_writes writes;
  caf::actor target;
};
using writer_actor = caf::stateful_actor<writer_state>;
} // namespace

TEST_CASE("confirmed writes: at most a window in flight, the rest sent in "
          "order as answers come, failures logged") {
  test_system t;
  std::vector<std::string> lines;
  runtime::logger log{"", runtime::log_level::debug,
                      [&](const std::string& l) { lines.push_back(l); }};
  recorder store(t, caf::make_message(true));
  auto writer = t.sys.spawn([&](writer_actor* self) -> caf::behavior {
    self->state.target = store.actor;
    return {[self, &log](write_atom, int i) {
              self->state.writes.send<bool>(self, self->state.target, &log,
                                            "write " + std::to_string(i),
                                            adb::put_atom::value, i);
            },
            [self](actors::confirm_sweep_atom, uint64_t which) {
              self->state.writes.sweep(self, which);
            }};
  });
  auto& st = caf::actor_cast<writer_actor*>(writer)->state;
  const int n = 1000;
  for (int i = 0; i < n; ++i)
    caf::anon_send(writer, write_atom::value, i);
  auto* writer_job = dynamic_cast<caf::resumable*>(
    caf::actor_cast<caf::abstract_actor*>(writer));
  t.sched.run_jobs_filtered([&](caf::resumable* r) { return r == writer_job; });
  CHECK(store.got->empty());
  CHECK(st.writes.in_flight() == actors::confirmed_writes::window);
  CHECK(st.writes.waiting() == n - actors::confirmed_writes::window);
  settle(t);
  CHECK(st.writes.in_flight() == 0);
  CHECK(st.writes.waiting() == 0);
  auto got = store.all<adb::put_atom, int>();
  REQUIRE(got.size() == n);
  for (int i = 0; i < n; ++i)
    CHECK(got[i].template get_as<int>(1) == i);
  CHECK(lines.empty());
  // A write that fails is logged with what it was, and frees its place.
  recorder broken(t, caf::make_message(caf::make_error(caf::sec::runtime_error)));
  st.target = broken.actor;
  caf::anon_send(writer, write_atom::value, n);
  settle(t);
  CHECK(st.writes.in_flight() == 0);
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].find("write 1000: ") != std::string::npos);
  // An answer that never comes (the target holds the request, as one on a
  // node that went away does) gives its place back after the timeout, and
  // the write is logged; the writes waiting behind it go out.
  auto held = std::make_shared<std::vector<caf::response_promise>>();
  auto silent = t.sys.spawn([held](caf::event_based_actor* self) -> caf::behavior {
    return {[self, held](adb::put_atom, int) -> caf::result<bool> {
              held->push_back(self->make_response_promise());
              return caf::delegated<bool>{};
            },
            [held](answer_atom, size_t i) { (*held)[i].deliver(true); }};
  });
  st.target = silent;
  const int m = static_cast<int>(actors::confirmed_writes::window) + 3;
  for (int i = 0; i < m; ++i)
    caf::anon_send(writer, write_atom::value, 2000 + i);
  t.sched.run(); // no timeout fired yet
  CHECK(held->size() == actors::confirmed_writes::window);
  CHECK(st.writes.in_flight() == actors::confirmed_writes::window);
  CHECK(st.writes.waiting() == 3);
  lines.clear();
  REQUIRE(t.sched.trigger_timeout());
  t.sched.run();
  CHECK(lines.size() == actors::confirmed_writes::window);
  CHECK(lines[0].find("write 2000: no answer within 60 s") != std::string::npos);
  CHECK(held->size() == actors::confirmed_writes::window + 3);
  CHECK(st.writes.in_flight() == 3);
  CHECK(st.writes.waiting() == 0);
  // A late answer to a write already given up changes nothing.
  caf::anon_send(silent, answer_atom::value, size_t{0});
  t.sched.run();
  CHECK(st.writes.in_flight() == 3);
  // The rest are answered: none in flight, no timer left behind that logs.
  for (size_t i = actors::confirmed_writes::window; i < held->size(); ++i)
    caf::anon_send(silent, answer_atom::value, i);
  t.sched.run();
  CHECK(st.writes.in_flight() == 0);
  lines.clear();
  while (t.sched.trigger_timeout())
    t.sched.run();
  CHECK(lines.empty());
  stop_all(t, {writer, store.actor, broken.actor, silent});
}
