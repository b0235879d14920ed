#include <doctest/doctest.h>

#include <memory>
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

const shard_effect* find(const shard_effects& out, shard_effect::kind_t kind) {
  for (auto& e : out)
    if (e.kind == kind)
      return &e;
  return nullptr;
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
