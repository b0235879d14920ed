#include <doctest/doctest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "starling/broker/retained_store.hpp"
#include "starling/broker/topic.hpp"

using namespace starling::broker;

namespace {

retained_message msg(std::string topic, std::string_view payload,
                     std::uint8_t qos = 0) {
  retained_message m;
  m.topic = std::move(topic);
  for (char c : payload)
    m.payload.push_back(static_cast<std::byte>(c));
  m.qos = qos;
  return m;
}

std::string text(const retained_message& m) {
  std::string out;
  for (auto b : m.payload)
    out += static_cast<char>(b);
  return out;
}

/// The topics of the messages matching `filter`, sorted.
std::vector<std::string> topics(const retained_store<retained_message>& store,
                                std::string_view filter) {
  std::vector<std::string> out;
  store.for_each_match(
      filter, [&out](const retained_message& m) { out.push_back(m.topic); });
  std::sort(out.begin(), out.end());
  return out;
}

using strings = std::vector<std::string>;

retained_store<retained_message> sample_store() {
  retained_store<retained_message> store;
  for (auto topic :
       {"sport", "sport/tennis", "sport/tennis/player1",
        "sport/tennis/player1/ranking", "sport/golf", "sports", "/finance", "/",
        "$SYS/broker/uptime", "$SYS", "a/$x", "a//c", "a/b/c"})
    store.set(topic, msg(topic, "v"));
  return store;
}

} // namespace

TEST_CASE("retained: set, get, replace and delete with an empty payload") {
  retained_store<retained_message> store;
  CHECK(store.empty());
  CHECK_FALSE(store.set("a/b", msg("a/b", "one", 1)));
  REQUIRE(store.get("a/b"));
  CHECK(text(*store.get("a/b")) == "one");
  CHECK(store.get("a/b")->qos == 1);
  CHECK_FALSE(store.get("a"));
  CHECK_FALSE(store.get("a/b/c"));
  CHECK(store.size() == 1);

  CHECK(store.set("a/b", msg("a/b", "two")));
  CHECK(text(*store.get("a/b")) == "two");
  CHECK(store.size() == 1);

  // §3.3.1.3: a retained message with an empty payload removes the topic's.
  CHECK(store.set("a/b", msg("a/b", "")));
  CHECK_FALSE(store.get("a/b"));
  CHECK(store.empty());
  // ... and is not stored itself.
  CHECK_FALSE(store.set("a/b", msg("a/b", "")));
  CHECK(store.empty());
  CHECK(topics(store, "#").empty());
}

TEST_CASE("retained: erase removes one topic and leaves its neighbours") {
  auto store = sample_store();
  auto before = store.size();
  CHECK(store.erase("sport/tennis"));
  CHECK_FALSE(store.erase("sport/tennis"));
  CHECK_FALSE(store.erase("no/such/topic"));
  CHECK(store.size() == before - 1);
  CHECK(store.get("sport/tennis/player1"));
  CHECK(topics(store, "sport/tennis/#") ==
        strings{"sport/tennis/player1", "sport/tennis/player1/ranking"});
  // Removing the leaves prunes the branch; the parent stays.
  CHECK(store.erase("sport/tennis/player1/ranking"));
  CHECK(store.erase("sport/tennis/player1"));
  CHECK(topics(store, "sport/#") == strings{"sport", "sport/golf"});
  CHECK_FALSE(
      store.set("sport/tennis/player1", msg("sport/tennis/player1", "x")));
  CHECK(topics(store, "sport/+/+") == strings{"sport/tennis/player1"});
}

TEST_CASE("retained: wildcard filters find the matching topics") {
  auto store = sample_store();
  CHECK(topics(store, "sport/tennis/player1/#") ==
        strings{"sport/tennis/player1", "sport/tennis/player1/ranking"});
  CHECK(topics(store, "sport/#") ==
        strings{"sport", "sport/golf", "sport/tennis", "sport/tennis/player1",
                "sport/tennis/player1/ranking"});
  CHECK(topics(store, "sport/+") == strings{"sport/golf", "sport/tennis"});
  CHECK(topics(store, "+") == strings{"sport", "sports"});
  CHECK(topics(store, "+/+") ==
        strings{"/", "/finance", "a/$x", "sport/golf", "sport/tennis"});
  CHECK(topics(store, "/+") == strings{"/", "/finance"});
  CHECK(topics(store, "a/+/c") == strings{"a//c", "a/b/c"});
  CHECK(topics(store, "a/+") == strings{"a/$x"});
  CHECK(topics(store, "sport/tennis") == strings{"sport/tennis"});
  CHECK(topics(store, "sport/tennis/+/ranking") ==
        strings{"sport/tennis/player1/ranking"});
  CHECK(topics(store, "nothing/#").empty());
  CHECK(topics(store, "sport/+/player2").empty());
}

TEST_CASE("retained: the $ rule hides $SYS from first-level wildcards") {
  auto store = sample_store();
  auto all = topics(store, "#");
  CHECK(all.size() == store.size() - 2);
  CHECK(std::none_of(all.begin(), all.end(),
                     [](const std::string& t) { return is_dollar_topic(t); }));
  CHECK(topics(store, "+/broker/uptime").empty());
  CHECK(topics(store, "$SYS/#") == strings{"$SYS", "$SYS/broker/uptime"});
  CHECK(topics(store, "$SYS/+/uptime") == strings{"$SYS/broker/uptime"});
  // Listing everything includes them.
  std::size_t listed = 0;
  store.for_each([&listed](const retained_message&) { ++listed; });
  CHECK(listed == store.size());
}

TEST_CASE("retained: a level with many topics below it") {
  retained_store<retained_message> store;
  for (int i = 0; i < 300; ++i) {
    auto topic = "dev/" + std::to_string(i) + "/status";
    store.set(topic, msg(topic, "up"));
  }
  CHECK(store.match("dev/+/status").size() == 300);
  CHECK(store.match("dev/#").size() == 300);
  CHECK(topics(store, "dev/42/+") == strings{"dev/42/status"});
  for (int i = 0; i < 290; ++i)
    CHECK(store.erase("dev/" + std::to_string(i) + "/status"));
  CHECK(store.size() == 10);
  CHECK(store.match("dev/+/status").size() == 10);
  CHECK(store.get("dev/295/status"));
  CHECK_FALSE(store.get("dev/5/status"));
}

TEST_CASE("retained: match copies messages out; clear empties the store") {
  auto store = sample_store();
  auto found = store.match("sport/tennis/+");
  REQUIRE(found.size() == 1);
  CHECK(found[0].topic == "sport/tennis/player1");
  CHECK(text(found[0]) == "v");
  store.clear();
  CHECK(store.empty());
  CHECK(store.match("#").empty());
}

TEST_CASE("retained: the broker can keep its own message type") {
  struct own_message {
    std::string payload;
    int id = 0;
  };
  retained_store<own_message> store;
  store.set("x/y", own_message{"p", 7});
  store.set("x/z", own_message{"", 8});
  CHECK(store.size() == 1);
  CHECK(store.get("x/y")->id == 7);
  CHECK(store.match("x/+").size() == 1);
}

TEST_CASE("retained match agrees with the reference matcher on random "
          "topics") {
  std::mt19937_64 rng(7);
  const std::vector<std::string> words{"a", "b", "", "$SYS"};
  auto random_topic = [&](bool filter) {
    std::string out;
    // A single empty level is no topic at all: draw again.
    while (out.empty()) {
      auto depth = 1 + rng() % 4;
      for (std::size_t i = 0; i < depth; ++i) {
        if (i > 0)
          out += '/';
        if (filter && i + 1 == depth && rng() % 5 == 0)
          out += '#';
        else if (filter && rng() % 3 == 0)
          out += '+';
        else
          out += words[rng() % words.size()];
      }
    }
    return out;
  };
  retained_store<retained_message> store;
  strings names;
  for (int i = 0; i < 300; ++i) {
    auto name = random_topic(false);
    if (!store.get(name))
      names.push_back(name);
    store.set(name, msg(name, "v"));
  }
  REQUIRE(store.size() == names.size());
  for (int round = 0; round < 1000; ++round) {
    auto filter = random_topic(true);
    strings expected;
    for (const auto& name : names)
      if (topic_matches(filter, name))
        expected.push_back(name);
    std::sort(expected.begin(), expected.end());
    INFO("filter: " << filter);
    REQUIRE(topics(store, filter) == expected);
  }
}
