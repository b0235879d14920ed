// Actor tests (issue 18): the real shard actors of several nodes in one
// actor system on CAF 0.17.6's deterministic scheduler (test_coordinator),
// stepped message by message. They test what the simulation only models:
// the actors' own handling of replies, agents and delegation.
//
// Each test node has its own node_context and db_context (name, log,
// directory, no SQLite file: ram tables); they share the actor system, so
// every sender counts as a node of the cluster.

#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <vector>

#include <caf/all.hpp>
#include <nlohmann/json.hpp>

#include "actor_test.hpp"

#include "starling/actors/actor_directory.hpp"
#include "starling/actors/db/agent.hpp"
#include "starling/actors/db/context.hpp"
#include "starling/actors/db/manager.hpp"
#include "starling/actors/db/shard.hpp"
#include "starling/actors/wire/db.hpp"
#include "starling/actors/node_context.hpp"
#include "starling/actors/peer_registry.hpp"
#include "starling/actors/wire/node.hpp"

using namespace starling;
using actors::db::shard_peer;

namespace {

using namespace starling::actor_test;

/// One node's database side: its shard actor of shard "s".
struct test_node : node_base {
  actors::db::db_context db;
  caf::actor shard;
  int64_t started_at_ms;

  test_node(test_system& t, const std::string& name, int64_t started)
    : node_base(t, name, started), started_at_ms(started) {
    db.node = &ctx;
    db.schema = runtime::db::schema(
      {{"t", "s", runtime::db::storage::ram, runtime::db::table_type::regular}});
    shard = actors::db::spawn_shard(db, "s");
  }

  /// The actors end while this node's contexts (which they use) live.
  void stop(test_system& t, std::vector<caf::actor> more = {}) {
    more.push_back(shard);
    if (db.manager)
      more.push_back(db.manager);
    stop_all(t, more);
    directory.clear();
  }

  shard_peer as_peer() const {
    return {ctx.cfg.name.str(), true, started_at_ms, shard};
  }
};

/// The shard's status (rlog status), after every pending message ran.
nlohmann::json status(test_system& t, test_node& n) {
  t.self->send(n.shard, actors::status_atom::value);
  t.sched.run();
  nlohmann::json j;
  t.self->receive([&](const std::string& text) { j = nlohmann::json::parse(text); },
                  caf::after(std::chrono::seconds(0)) >> [] { FAIL("no status"); });
  return j;
}

void set_peers(test_system& t, test_node& n, std::vector<shard_peer> peers,
               const test_node& leader) {
  t.self->send(n.shard, actors::db::peers_atom::value, std::move(peers),
               leader.ctx.cfg.name.str());
}

} // namespace

TEST_CASE("a follower's transaction is forwarded to the sequencer, which "
          "answers the caller once the follower has it") {
  test_system t;
  test_node c1(t, "c1", 1), c2(t, "c2", 2);
  set_peers(t, c1, {c2.as_peer()}, c1);
  set_peers(t, c2, {c1.as_peer()}, c1);
  settle(t);
  REQUIRE(status(t, c2)["state"] == "normal");

  runtime::db::transaction txn{"w#1", "s", {{runtime::db::op::write, "t", "k", "v"}}};
  t.self->send(c2.shard, actors::db::txn_atom::value, txn);
  settle(t);
  uint64_t seqno = 0;
  t.self->receive([&](uint64_t s) { seqno = s; },
                  caf::after(std::chrono::seconds(0)) >> [] { FAIL("no answer"); });
  CHECK(seqno == 1);
  CHECK(status(t, c1)["seqno"] == 1);
  CHECK(status(t, c2)["seqno"] == 1);
  c1.stop(t);
  c2.stop(t);
}

// Found by tests/sim/cluster_sim: the reply of a subscription that a newer
// one replaced was dropped, and the stream agent it had opened on the core
// kept running, queueing every transaction for a reader that never came.
TEST_CASE("the reply of a replaced subscription closes the stream it opened") {
  test_system t;
  test_node c1(t, "c1", 1), c2(t, "c2", 2), c3(t, "c3", 3);
  set_peers(t, c1, {}, c1);
  set_peers(t, c3, {}, c3);
  t.sched.run();

  // c2 subscribes at c1; before c1's answer reaches it, c3 is the
  // sequencer and c2 subscribes there instead.
  set_peers(t, c2, {c1.as_peer(), c3.as_peer()}, c1);
  t.sched.run_once(); // c2 sends its subscription to c1
  set_peers(t, c2, {c1.as_peer(), c3.as_peer()}, c3);
  settle(t);

  auto s2 = status(t, c2);
  CHECK(s2["state"] == "normal");
  CHECK(s2["upstream"] == "c3@127.0.0.1");
  CHECK(c1.logged("c2@127.0.0.1 subscribed"));
  CHECK(status(t, c1)["agents"].empty());
  CHECK(status(t, c3)["agents"].size() == 1);
  for (auto* n : {&c1, &c2, &c3})
    n->stop(t);
}

// A peer's database that did not answer (a node too busy for 5 s, say)
// was never asked again while the peer stayed up: its shards never heard
// of it, and no comparison ever ran. Found by tests/sim/cluster_sim, where
// a node stopped right after dialling (see docs/architecture.md).
TEST_CASE("the db manager asks a running peer's database again after it did "
          "not answer") {
  test_system t;
  test_node c1(t, "c1", 1);
  auto manager = actors::db::spawn_db_manager(c1.db);
  // c2's side: its node agent fails the first ask, then names its db
  // manager, which lists one shard actor; that answers as an empty shard.
  auto peer_shard = t.sys.spawn([]() -> caf::behavior {
    return {[](actors::db::seqno_atom) {
      return caf::make_message(std::string{}, uint64_t{0}, uint64_t{0}, false, false);
    }};
  });
  auto peer_manager = t.sys.spawn([peer_shard]() -> caf::behavior {
    return {[peer_shard](actors::db::shards_atom) {
      return caf::make_message(std::vector<std::string>{"s"},
                               std::vector<caf::actor>{peer_shard});
    }};
  });
  auto asked = std::make_shared<int>(0);
  auto peer_agent = t.sys.spawn([peer_manager, asked]() -> caf::behavior {
    return {[peer_manager, asked](actors::db::db_atom) -> caf::result<caf::actor> {
      if (++*asked == 1)
        return caf::make_error(caf::sec::request_timeout);
      return peer_manager;
    }};
  });
  actors::member_wire c2{"c2@127.0.0.1", "127.0.0.1", 4372, 5372, "core", "up", 2};
  t.self->send(manager, actors::members_atom::value,
               std::vector<actors::member_wire>{c2},
               std::vector<caf::actor>{peer_agent});
  // The db manager probes every second: two rounds of timers, one for the
  // ask again.
  run_rounds(t, 2);
  CHECK(*asked == 2);
  CHECK(c1.logged("cannot reach the database of c2@127.0.0.1"));
  // The comparison ran: the manager tells its node agent (here, us).
  bool compared = false;
  t.self->receive(
    [&](actors::db::compared_atom, const std::string& peer, bool agrees,
        const std::string&) { compared = peer == "c2@127.0.0.1" && agrees; },
    caf::after(std::chrono::seconds(0)) >> [] {});
  CHECK(compared);
  c1.db.manager = manager;
  c1.stop(t, {peer_shard, peer_manager, peer_agent});
}

namespace {

/// What a shard agent sends its subscriber for three commits pushed at
/// once: the number of transactions in each live batch, before and after
/// its batch timer fires.
std::pair<std::vector<size_t>, std::vector<size_t>>
batches_of_three(bool core_subscriber) {
  test_system t;
  test_node c1(t, "c1", 1);
  c1.db.settings.replicant_batch_ms = 5;
  recorder subscriber(t);
  auto gauge = std::make_shared<actors::db::agent_gauge>();
  gauge->node = "r1@127.0.0.1";
  gauge->core = core_subscriber;
  auto agent = actors::db::spawn_agent(c1.db, caf::actor_cast<caf::actor>(t.self),
                                       "s", 1, subscriber.actor, {}, 0, gauge);
  // The subscriber says it is ready (its first acknowledgement).
  t.self->send(subscriber.actor, relay_atom::value, agent,
               caf::make_message(actors::db::ack_atom::value, uint64_t{1},
                                 uint64_t{0}));
  t.sched.run();
  for (uint64_t seqno = 1; seqno <= 3; ++seqno)
    t.self->send(agent, actors::db::push_atom::value,
                 runtime::db::committed{seqno, {"w#" + std::to_string(seqno), "s", {}}});
  auto sizes = [&] {
    std::vector<size_t> out;
    for (auto& m : subscriber.all<actors::db::live_atom, uint64_t,
                                  std::vector<runtime::db::committed>, uint64_t>())
      out.push_back(m.get_as<std::vector<runtime::db::committed>>(2).size());
    return out;
  };
  t.sched.run();
  auto before = sizes();
  t.sched.trigger_timeouts();
  t.sched.run();
  auto after = sizes();
  c1.stop(t, {agent, subscriber.actor});
  return {before, after};
}

} // namespace

TEST_CASE("a shard agent feeds a following core at once and holds a "
          "replicant's batch for rlog.replicant_batch_ms") {
  auto [core_now, core_later] = batches_of_three(true);
  CHECK(core_now == std::vector<size_t>{3});
  CHECK(core_later == std::vector<size_t>{3});
  auto [replicant_now, replicant_later] = batches_of_three(false);
  CHECK(replicant_now.empty()); // waits for the timer
  CHECK(replicant_later == std::vector<size_t>{3});
}
