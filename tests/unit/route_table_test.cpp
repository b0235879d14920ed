#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "starling/broker/route_table.hpp"
#include "starling/broker/topic.hpp"

using namespace starling::broker;

namespace {

/// A subscription as the channel hands it to the router.
subscribe_filter sub(const std::string& text) { return subscription_filter(text); }

message msg(const std::string& topic, const std::string& publisher = "pub") {
  message m;
  m.topic = topic;
  m.publisher = publisher;
  return m;
}

route_table table(const std::string& me = "n1") {
  return route_table(me, shared_strategy::round_robin, {});
}

route_changes add(route_table& t, session_id s, const std::string& text) {
  bool fresh = false;
  return t.subscribe(s, "client-" + std::to_string(s), sub(text), fresh);
}

std::vector<std::string> keys_of(const route_match& m, session_id s) {
  auto i = m.local.find(s);
  if (i == m.local.end())
    return {};
  auto keys = i->second;
  std::sort(keys.begin(), keys.end());
  return keys;
}

using changes = route_changes;

} // namespace

TEST_CASE("route table: the first subscriber publishes the route, the last withdraws it") {
  auto t = table();
  bool fresh = false;
  CHECK(t.subscribe(1, "a", sub("s/+"), fresh) == changes{{"s/+", true}});
  CHECK(fresh);
  CHECK(t.subscribe(2, "b", sub("s/+"), fresh).empty());
  CHECK(fresh);
  CHECK(t.own_routes().at("s/+") == 2);
  CHECK(t.unsubscribe(1, "s/+").empty());
  CHECK(t.unsubscribe(1, "s/+").empty()); // not subscribed any more
  CHECK(t.session_down(2) == changes{{"s/+", false}});
  CHECK(t.own_routes().empty());
  CHECK(t.subscription_count() == 0);
}

TEST_CASE("route table: a replaced subscription never withdraws the route for a moment") {
  auto t = table();
  add(t, 1, "a/#");
  bool fresh = true;
  // The same filter again (new options): no change reaches the cluster.
  CHECK(t.subscribe(1, "a", sub("a/#"), fresh).empty());
  CHECK_FALSE(fresh);
  CHECK(t.subscription_count() == 1);
  CHECK(t.own_routes().at("a/#") == 1);
  route_match m;
  t.match_published(msg("a/b"), m);
  CHECK(keys_of(m, 1) == std::vector<std::string>{"a/#"});
}

TEST_CASE("route table: a published message finds local subscribers with every key they matched") {
  auto t = table();
  add(t, 1, "x/+");
  add(t, 1, "x/#");
  add(t, 2, "y");
  route_match m;
  t.match_published(msg("x/1"), m);
  CHECK(keys_of(m, 1) == std::vector<std::string>{"x/#", "x/+"});
  CHECK(m.local.count(2) == 0);
  CHECK(m.remote.empty());
  t.match_published(msg("z"), m); // reused: cleared first
  CHECK(m.local.empty());
}

TEST_CASE("route table: a message goes once to each other node with a matching route") {
  auto t = table("n1");
  t.remote_route("n2", "x/+", true);
  t.remote_route("n2", "x/#", true);
  t.remote_route("n3", "x/1", true);
  t.remote_route("n4", "y", true);
  route_match m;
  t.match_published(msg("x/1"), m);
  CHECK(m.remote.size() == 2);
  CHECK(m.remote.count("n2"));
  CHECK(m.remote.count("n3"));
  CHECK(m.remote["n2"].empty()); // no shared group picked for it
  // n2 withdraws one of its two routes: still one match.
  t.remote_route("n2", "x/#", false);
  t.match_published(msg("x/1"), m);
  CHECK(m.remote.count("n2"));
  t.remote_route("n2", "x/+", false);
  t.remote_route("n2", "x/+", false); // twice: no harm
  t.match_published(msg("x/1"), m);
  CHECK(m.remote.count("n2") == 0);
  CHECK(t.remote_routes().count("x/+") == 0);
}

TEST_CASE("route table: one member per shared group in the whole cluster") {
  auto t = table("n1");
  add(t, 1, "$share/g/job/+");
  add(t, 2, "$share/g/job/+");
  t.remote_route("n2", "$share/g/job/+", true);
  // Round robin over the nodes with members (n1, then n2), and over the
  // members within n1.
  std::vector<std::string> nodes;
  std::vector<session_id> members;
  route_match m;
  for (int i = 0; i < 4; ++i) {
    t.match_published(msg("job/1"), m);
    CHECK(m.local.empty()); // shared: never a plain delivery
    CHECK(m.picks.size() + m.remote.size() == 1);
    if (!m.picks.empty()) {
      nodes.push_back("n1");
      members.push_back(m.picks[0].first);
      CHECK(m.picks[0].second == "$share/g/job/+");
    } else {
      nodes.push_back(m.remote.begin()->first);
      CHECK(m.remote.begin()->second == std::vector<std::string>{"$share/g/job/+"});
    }
  }
  CHECK(nodes == std::vector<std::string>{"n1", "n2", "n1", "n2"});
  CHECK(members == std::vector<session_id>{1, 2});
}

TEST_CASE("route table: a forwarded message reaches the groups picked for this node only") {
  auto t = table("n2");
  add(t, 7, "$share/g/job/+");
  add(t, 8, "job/#");
  route_match m;
  t.match_forwarded(msg("job/1"), {"$share/g/job/+"}, m);
  CHECK(keys_of(m, 8) == std::vector<std::string>{"job/#"});
  REQUIRE(m.picks.size() == 1);
  CHECK(m.picks[0].first == 7);
  // Not picked for this node: the plain subscriber only.
  t.match_forwarded(msg("job/1"), {}, m);
  CHECK(m.picks.empty());
  CHECK(keys_of(m, 8) == std::vector<std::string>{"job/#"});
  // A group the peer picked that has no members here any more.
  t.session_down(7);
  t.match_forwarded(msg("job/1"), {"$share/g/job/+"}, m);
  CHECK(m.picks.empty());
}

TEST_CASE("route table: the last local member of a shared group takes this node out of it") {
  auto t = table("n1");
  t.remote_route("n2", "$share/g/t", true);
  CHECK(add(t, 1, "$share/g/t") == changes{{"$share/g/t", true}});
  CHECK(t.session_down(1) == changes{{"$share/g/t", false}});
  route_match m;
  for (int i = 0; i < 3; ++i) {
    t.match_published(msg("t"), m);
    CHECK(m.picks.empty());
    CHECK(m.remote.count("n2"));
  }
}

TEST_CASE("route table: a topic always takes the same link") {
  CHECK(route_table::link_of("any", 1) == 0);
  CHECK(route_table::link_of("any", 0) == 0);
  auto a = route_table::link_of("sensors/1", 4);
  CHECK(a < 4);
  CHECK(route_table::link_of("sensors/1", 4) == a);
}
