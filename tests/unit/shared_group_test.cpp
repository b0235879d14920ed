#include <doctest/doctest.h>

#include <map>
#include <random>
#include <string>
#include <vector>

#include "starling/broker/shared_group.hpp"

using namespace starling::broker;

namespace {

using group = shared_group<std::string>;

/// `n` picks from `g` with the same message context.
std::vector<std::string> picks(group& g, int n, pick_context message = {}) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i)
    out.push_back(g.pick(message).value_or("<none>"));
  return out;
}

random_u64 seeded(std::uint64_t seed) {
  return [engine = std::mt19937_64(seed)]() mutable { return engine(); };
}

using strings = std::vector<std::string>;

} // namespace

TEST_CASE("shared group: members join once and leave once") {
  group g;
  CHECK(g.empty());
  CHECK(g.strategy() == shared_strategy::round_robin);
  CHECK(g.join("a"));
  CHECK(g.join("b"));
  CHECK_FALSE(g.join("a"));
  CHECK(g.size() == 2);
  CHECK(g.contains("b"));
  CHECK(g.members() == strings{"a", "b"});
  CHECK(g.leave("a"));
  CHECK_FALSE(g.leave("a"));
  CHECK_FALSE(g.contains("a"));
  CHECK(g.members() == strings{"b"});
}

TEST_CASE("shared group: an empty group picks nobody, whatever the strategy") {
  for (auto strategy : {shared_strategy::round_robin, shared_strategy::random,
                        shared_strategy::sticky, shared_strategy::hash_clientid,
                        shared_strategy::hash_topic}) {
    INFO(to_string(strategy));
    group g(strategy, seeded(1));
    CHECK_FALSE(g.pick({"client", "t"}));
    g.join("a");
    CHECK(g.pick({"client", "t"}) == "a");
    g.leave("a");
    CHECK_FALSE(g.pick({"client", "t"}));
  }
}

TEST_CASE("shared round robin cycles through the members fairly") {
  group g;
  for (auto m : {"a", "b", "c"})
    g.join(m);
  CHECK(picks(g, 7) == strings{"a", "b", "c", "a", "b", "c", "a"});

  // A newcomer joins the end of the round.
  g.join("d");
  CHECK(picks(g, 5) == strings{"b", "c", "d", "a", "b"});

  // The member after one that leaves is next; nobody is skipped twice.
  g.leave("c");
  CHECK(picks(g, 3) == strings{"d", "a", "b"});
  g.leave("d"); // the next one leaves: the round wraps
  CHECK(picks(g, 2) == strings{"a", "b"});
  g.leave("a"); // one already served leaves
  CHECK(picks(g, 2) == strings{"b", "b"});

  // Over many messages every member gets the same share.
  group h;
  for (auto m : {"a", "b", "c", "d", "e"})
    h.join(m);
  std::map<std::string, int> counts;
  for (const auto& m : picks(h, 1000))
    ++counts[m];
  for (const auto& [member, count] : counts)
    CHECK(count == 200);
}

TEST_CASE("shared sticky keeps its member until that member leaves") {
  group g(shared_strategy::sticky);
  for (auto m : {"a", "b", "c"})
    g.join(m);
  CHECK(picks(g, 4) == strings{"a", "a", "a", "a"});
  g.join("d");
  g.leave("b"); // another member leaving changes nothing
  CHECK(picks(g, 2) == strings{"a", "a"});
  g.leave("a"); // the sticky member leaves: the next in turn takes over
  CHECK(picks(g, 3) == strings{"c", "c", "c"});
  g.leave("c");
  CHECK(picks(g, 2) == strings{"d", "d"});
  g.join("a");
  CHECK(picks(g, 1) == strings{"d"});
}

TEST_CASE("shared random is deterministic for a seed and spreads messages") {
  group g1(shared_strategy::random, seeded(42));
  group g2(shared_strategy::random, seeded(42));
  group g3(shared_strategy::random, seeded(43));
  for (auto* g : {&g1, &g2, &g3})
    for (auto m : {"a", "b", "c", "d"})
      g->join(m);
  auto first = picks(g1, 400);
  CHECK(first == picks(g2, 400));
  CHECK(first != picks(g3, 400));
  std::map<std::string, int> counts;
  for (const auto& m : first)
    ++counts[m];
  REQUIRE(counts.size() == 4);
  for (const auto& [member, count] : counts)
    CHECK((count > 60 && count < 140)); // 100 expected; 4+ sigma margin
}

TEST_CASE("shared hash strategies keep one publisher or topic on one "
          "member") {
  group by_client(shared_strategy::hash_clientid);
  group by_topic(shared_strategy::hash_topic);
  for (auto* g : {&by_client, &by_topic})
    for (auto m : {"a", "b", "c", "d"})
      g->join(m);

  auto c1 = by_client.pick({"client-1", "t/1"});
  for (auto topic : {"t/2", "t/3", "x"})
    CHECK(by_client.pick({"client-1", topic}) == c1);
  auto t1 = by_topic.pick({"client-1", "t/1"});
  for (auto client : {"client-2", "client-3", "x"})
    CHECK(by_topic.pick({client, "t/1"}) == t1);

  // Different publishers spread over the members.
  std::map<std::string, int> counts;
  for (int i = 0; i < 400; ++i)
    ++counts[*by_client.pick({"client-" + std::to_string(i), "t"})];
  CHECK(counts.size() == 4);
  // The hash is FNV-1a, the same on every node of the cluster.
  CHECK(detail::stable_hash("") == 14695981039346656037ull);
  CHECK(detail::stable_hash("a") == 0xaf63dc4c8601ec8cull);
}

TEST_CASE("shared strategies have configuration names") {
  for (auto strategy : {shared_strategy::round_robin, shared_strategy::random,
                        shared_strategy::sticky, shared_strategy::hash_clientid,
                        shared_strategy::hash_topic})
    CHECK(shared_strategy_from(to_string(strategy)) == strategy);
  CHECK(to_string(shared_strategy::round_robin) == "round_robin");
  CHECK(shared_strategy_from("hash_clientid") ==
        shared_strategy::hash_clientid);
  CHECK_FALSE(shared_strategy_from("local"));
  CHECK_FALSE(shared_strategy_from(""));
}
