#include <doctest/doctest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "starling/runtime/db/shard_core.hpp"

using namespace starling::runtime::db;

namespace {

const schema& test_schema() {
  static const schema s(std::vector<table_spec>{{"t1", "s"}});
  return s;
}

std::vector<shard_peer_info> cores(std::vector<std::string> names) {
  std::vector<shard_peer_info> out;
  int64_t started = 0;
  for (auto& n : names)
    out.push_back({n, true, ++started});
  return out;
}

// A copy of the first effect of `kind`: `out` is often a temporary.
std::optional<shard_effect> find(const shard_effects& out, shard_effect::kind_t kind) {
  for (auto& e : out)
    if (e.kind == kind)
      return e;
  return std::nullopt;
}

// A store that holds transactions 1..n of one history.
std::unique_ptr<shard_store> store_with(uint64_t n) {
  auto s = std::make_unique<shard_store>("s");
  for (uint64_t i = 1; i <= n; ++i)
    s->apply({i, {"c1#" + std::to_string(i), "s",
                  {{op::write, "t1", "k" + std::to_string(i), "v"}}}});
  return s;
}

// Core c2 (peers c1 and c3; c1 the sequencer) holding transactions 1..3
// of segment h0.
struct follower {
  int ids = 0;
  shard_core core{"s", "c2", true, false, store_with(3),
                  *lineage::parse("h0@0"), test_schema(), shard_core_settings{},
                  [this] { return "n" + std::to_string(++ids); }};
};

// An empty replicant r1.
struct replicant {
  int ids = 0;
  shard_core core{"s", "r1", false, false, std::make_unique<shard_store>("s"),
                  lineage{}, test_schema(), shard_core_settings{},
                  [this] { return "n" + std::to_string(++ids); }};

  /// r1 learns the cores `peers` (c1 sequencing) and surveys them; given
  /// `answers`, where it subscribes.
  std::optional<shard_effect> pick(std::vector<std::string> peers,
                                   std::vector<survey_answer> answers) {
    auto survey = find(core.on_peers(cores(std::move(peers)), "c1", 0),
                       shard_effect::survey);
    REQUIRE(survey);
    CHECK(survey->purpose == shard_effect::pick_upstream);
    return find(core.on_survey(shard_effect::pick_upstream, survey->epoch,
                               std::move(answers), 10),
                shard_effect::subscribe);
  }
};

} // namespace

TEST_CASE("a replica that subscribed before this core took over gets the new "
          "segment") {
  // c1 dies. c3 learns first that c2 sequences now and subscribes at c2,
  // which still follows c1 and answers with the old history. Then c2 takes
  // over and opens its segment: c3 must not go on with the old history
  // (the next probe would call it branched, and autoheal would discard the
  // transactions it accepted meanwhile).
  follower f;
  auto& c2 = f.core;
  CHECK(find(c2.on_peers(cores({"c1", "c3"}), "c1", 0), shard_effect::subscribe));
  shard_effects out;
  auto early = c2.on_subscribe("c3", true, "h0@0", 3, "c1#3", out);
  REQUIRE(early.error.empty());
  CHECK(early.history.str() == "h0@0");
  CHECK(c2.subscribers().count("c3") == 1);

  auto took_over = c2.on_peers(cores({"c3"}), "c2", 10);
  auto survey = find(took_over, shard_effect::survey);
  REQUIRE(survey);
  CHECK(survey->nodes == std::vector<std::string>{"c3"});
  auto done = c2.on_survey(shard_effect::catch_up, survey->epoch,
                           {{"c3", true, "h0@0", 3, 1}}, 20);
  REQUIRE(c2.leading());
  auto drop = find(done, shard_effect::drop_stream);
  REQUIRE(drop);
  CHECK(drop->node == "c3");
  CHECK(c2.subscribers().empty());

  // c3 subscribes again and resumes in c2's segment.
  shard_effects again;
  auto d = c2.on_subscribe("c3", true, "h0@0", 3, "c1#3", again);
  REQUIRE(d.error.empty());
  CHECK(d.history.str() == "h0@0,n1@3");
  auto c = c2.on_txn({"t#1", "s", {{op::write, "t1", "k", "v"}}}, 7, 30);
  auto push = find(c, shard_effect::push);
  REQUIRE(push);
  CHECK(push->c.seqno == 4);
  CHECK(d.history.segment_of(4) == "n1");
  CHECK(d.history.segment_of(3) == "h0");
}

TEST_CASE("a core that takes over with no subscriber drops no stream") {
  follower f;
  auto& c2 = f.core;
  c2.on_peers(cores({"c1"}), "c1", 0);
  auto took_over = c2.on_peers(cores({}), "c2", 10);
  CHECK(c2.leading());
  CHECK_FALSE(find(took_over, shard_effect::drop_stream));
}

TEST_CASE("a replicant ahead of the core it subscribes to bootstraps, and the "
          "core says why") {
  follower f;
  auto& c2 = f.core;
  c2.on_peers(cores({}), "c2", 0);
  REQUIRE(c2.leading());
  shard_effects out;
  // r1 got transactions 4 and 5 from the dead sequencer; c2 never did.
  auto d = c2.on_subscribe("r1", false, "h0@0", 5, "c1#5", out);
  REQUIRE(d.error.empty());
  CHECK_FALSE(d.resume);
  auto said = find(out, shard_effect::log);
  REQUIRE(said);
  CHECK(said->warning);
  CHECK(said->text.find("r1 holds transactions after seqno 3") != std::string::npos);
}

// Found by tests/sim/cluster_sim: a replicant subscribed to a core while
// that core bootstrapped the shard itself, got the part it had copied so
// far at seqno 0, and kept it; another kept the segment names of data the
// core had replaced.
TEST_CASE("a core that bootstraps drops the streams it fed and refuses "
          "subscriptions until it is done") {
  follower f;
  auto& c2 = f.core;
  auto sub = find(c2.on_peers(cores({"c1", "c3"}), "c1", 0), shard_effect::subscribe);
  REQUIRE(sub);
  shard_effects served;
  REQUIRE(c2.on_subscribe("r1", false, "h0@0", 3, "c1#3", served).error.empty());
  REQUIRE(c2.subscribers().count("r1") == 1);

  // c1 answers with a bootstrap: c2's copy is replaced.
  auto boot = c2.on_subscribed(sub->epoch, "c1", false, "h1@0", 10, 5);
  auto drop = find(boot, shard_effect::drop_stream);
  REQUIRE(drop);
  CHECK(drop->node == "r1");
  CHECK(c2.subscribers().empty());

  shard_effects refused;
  auto d = c2.on_subscribe("r1", false, "", 0, "", refused);
  CHECK(d.error == "c2 is bootstrapping shard s itself; retry");
  CHECK(c2.subscribers().empty());

  c2.on_batch(sub->epoch, {{"t1", "k", "v"}}, 6);
  c2.on_batch(sub->epoch, {}, 7);
  REQUIRE(c2.fsm().state() == replica_state::normal);
  shard_effects later;
  auto ok = c2.on_subscribe("r1", false, "", 0, "", later);
  REQUIRE(ok.error.empty());
  CHECK(ok.history.str() == "h1@0");
  CHECK(ok.core_seqno == 10);
}

// Found by tests/sim/cluster_sim: the catch-up subscription of a new
// sequencer failed, its retry did nothing while it was catching up, and
// the shard refused every subscriber for good.
TEST_CASE("a sequencer whose catch-up subscription fails surveys again") {
  follower f;
  auto& c2 = f.core;
  c2.on_peers(cores({"c1", "c3"}), "c1", 0);
  auto survey = find(c2.on_peers(cores({"c3"}), "c2", 10), shard_effect::survey);
  REQUIRE(survey);
  auto catch_up = c2.on_survey(shard_effect::catch_up, survey->epoch,
                               {{"c3", true, "h0@0", 5, 0}}, 20);
  auto sub = find(catch_up, shard_effect::subscribe);
  REQUIRE(sub);
  CHECK(sub->node == "c3");

  auto failed = c2.on_subscribe_failed(sub->epoch, "c3", "c3 is catching up "
                                                         "before sequencing; retry");
  auto retry = find(failed, shard_effect::retry);
  REQUIRE(retry);
  auto again = find(c2.on_retry(retry->epoch, 400), shard_effect::survey);
  REQUIRE(again);
  CHECK(again->nodes == std::vector<std::string>{"c3"});
  CHECK(again->epoch > survey->epoch);

  // c3 has lost what it had (say it was reset): nobody is ahead now.
  c2.on_survey(shard_effect::catch_up, again->epoch, {{"c3", true, "", 0, 0}}, 410);
  CHECK(c2.leading());
  CHECK_FALSE(c2.syncing());
}

// Found by tests/sim/cluster_sim: the core a new sequencer caught up from
// left its group mid-copy; nothing asked anyone again, and the shard
// refused every transaction and subscriber for good.
TEST_CASE("a sequencer whose catch-up source goes away surveys the others") {
  follower f;
  auto& c2 = f.core;
  c2.on_peers(cores({"c1", "c3", "c4"}), "c1", 0);
  auto survey = find(c2.on_peers(cores({"c3", "c4"}), "c2", 10), shard_effect::survey);
  REQUIRE(survey);
  auto sub = find(c2.on_survey(shard_effect::catch_up, survey->epoch,
                               {{"c3", true, "h0@0", 5, 0}, {"c4", true, "h0@0", 4, 0}},
                               20),
                  shard_effect::subscribe);
  REQUIRE(sub);
  REQUIRE(sub->node == "c3");
  c2.on_subscribed(sub->epoch, "c3", true, "h0@0", 5, 30);
  REQUIRE(c2.syncing());

  auto gone = c2.on_peers(cores({"c4"}), "c2", 40);
  auto again = find(gone, shard_effect::survey);
  REQUIRE(again);
  CHECK(again->nodes == std::vector<std::string>{"c4"});
  auto next = find(c2.on_survey(shard_effect::catch_up, again->epoch,
                                {{"c4", true, "h0@0", 4, 0}}, 50),
                   shard_effect::subscribe);
  // c2 applied nothing from c3 yet (seqno 3): c4, at 4, is ahead of it.
  REQUIRE(next);
  CHECK(next->node == "c4");
}

TEST_CASE("a replicant subscribes at a following core that serves, the "
          "least loaded") {
  replicant r;
  // c1 sequences, with the fewest subscribers; c2 and c3 follow and serve;
  // c4 is still copying the shard.
  auto sub = r.pick({"c1", "c2", "c3", "c4"}, {{"c1", true, "h0@0", 3, 0, true, true},
                                               {"c2", true, "h0@0", 3, 5, false, true},
                                               {"c3", true, "h0@0", 3, 4, false, true},
                                               {"c4", true, "", 0, 0, false, false}});
  REQUIRE(sub);
  CHECK(sub->node == "c3");
}

TEST_CASE("a replicant subscribes at the sequencer when no following core "
          "serves") {
  replicant r;
  auto sub = r.pick({"c1", "c2", "c3"}, {{"c1", true, "h0@0", 3, 7, true, true},
                                         {"c2", false, "", 0, 0},
                                         {"c3", true, "", 0, 0, false, false}});
  REQUIRE(sub);
  CHECK(sub->node == "c1");
}

TEST_CASE("a replicant at the sequencer moves to a following core once one "
          "serves") {
  replicant r;
  auto& r1 = r.core;
  // Only c1 is about: the replicant follows it.
  auto sub = r.pick({"c1"}, {{"c1", true, "h0@0", 0, 0, true, true}});
  REQUIRE(sub);
  auto subscribed = r1.on_subscribed(sub->epoch, "c1", false, "h0@0", 0, 20);
  auto batch = find(subscribed, shard_effect::request_batch);
  REQUIRE(batch);
  CHECK_FALSE(find(subscribed, shard_effect::retry)); // nowhere to move to
  r1.on_batch(sub->epoch, {}, 30);
  REQUIRE(r1.fsm().state() == replica_state::normal);

  // c2 comes: in a while the replicant looks whether it could move.
  auto joined = r1.on_peers(cores({"c1", "c2"}), "c1", 40);
  auto timer = find(joined, shard_effect::retry);
  REQUIRE(timer);
  CHECK(timer->delay_ms == shard_core_settings{}.move_check_ms);
  CHECK_FALSE(find(r1.on_peers(cores({"c1", "c2"}), "c1", 41), shard_effect::retry));
  auto look = find(r1.on_retry(timer->epoch, 5040), shard_effect::survey);
  REQUIRE(look);
  CHECK(look->purpose == shard_effect::move_upstream);
  // c2 still copies the shard: stay, and look again later.
  auto stay = r1.on_survey(shard_effect::move_upstream, look->epoch,
                           {{"c1", true, "h0@0", 0, 2, true, true},
                            {"c2", true, "", 0, 0, false, false}},
                           5050);
  CHECK_FALSE(find(stay, shard_effect::subscribe));
  auto again = find(stay, shard_effect::retry);
  REQUIRE(again);
  look = find(r1.on_retry(again->epoch, 10050), shard_effect::survey);
  REQUIRE(look);
  // c2 serves now: the replicant moves there and resumes.
  auto move = r1.on_survey(shard_effect::move_upstream, look->epoch,
                           {{"c1", true, "h0@0", 0, 2, true, true},
                            {"c2", true, "h0@0", 0, 0, false, true}},
                           10060);
  CHECK(find(move, shard_effect::drop_upstream));
  auto moved = find(move, shard_effect::subscribe);
  REQUIRE(moved);
  CHECK(moved->node == "c2");
  CHECK(moved->epoch > sub->epoch);
  // Following c2, it does not look again.
  auto at_c2 = r1.on_subscribed(moved->epoch, "c2", true, "h0@0", 0, 10070);
  CHECK_FALSE(find(at_c2, shard_effect::retry));
  CHECK(r1.fsm().upstream() == "c2");
}

TEST_CASE("a replicant at the sequencer stays when the sequencer moved") {
  replicant r;
  auto& r1 = r.core;
  auto sub = r.pick({"c1", "c2"}, {{"c1", true, "h0@0", 0, 1, true, true},
                                   {"c2", true, "", 0, 0, false, false}});
  REQUIRE(sub);
  CHECK(sub->node == "c1");
  auto subscribed = r1.on_subscribed(sub->epoch, "c1", false, "h0@0", 0, 20);
  auto timer = find(subscribed, shard_effect::retry);
  REQUIRE(timer);
  r1.on_batch(sub->epoch, {}, 30);
  auto look = find(r1.on_retry(timer->epoch, 5020), shard_effect::survey);
  REQUIRE(look);
  // c2 sequences now, and c1 follows it: nobody waits on c1's fan-out.
  auto out = r1.on_survey(shard_effect::move_upstream, look->epoch,
                          {{"c1", true, "h0@0", 0, 1, false, true},
                           {"c2", true, "h0@0", 0, 1, true, true}},
                          5030);
  CHECK_FALSE(find(out, shard_effect::subscribe));
  CHECK_FALSE(find(out, shard_effect::retry));
}

TEST_CASE("a replicant sends its transactions to the sequencer, not through "
          "the core it follows") {
  replicant r;
  auto& r1 = r.core;
  auto sub = r.pick({"c1", "c2"}, {{"c1", true, "h0@0", 0, 1, true, true},
                                   {"c2", true, "h0@0", 0, 0, false, true}});
  REQUIRE(sub);
  CHECK(sub->node == "c2");
  auto fwd = find(r1.on_txn({"r1#1", "s", {{op::write, "t1", "k", "v"}}}, 1, 20),
                  shard_effect::forward);
  REQUIRE(fwd);
  CHECK(fwd->node == "c1");
  // The sequencer gone from its peers: to the core it follows.
  r1.on_peers(cores({"c2"}), "c2", 30);
  fwd = find(r1.on_txn({"r1#2", "s", {{op::write, "t1", "k", "v"}}}, 2, 40),
             shard_effect::forward);
  REQUIRE(fwd);
  CHECK(fwd->node == "c2");
}
