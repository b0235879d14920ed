#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "starling/broker/topic.hpp"
#include "starling/broker/topic_trie.hpp"

using namespace starling::broker;

namespace {

using trie = topic_trie<std::uint64_t>;

std::vector<std::uint64_t> sorted(std::vector<std::uint64_t> values) {
  std::sort(values.begin(), values.end());
  return values;
}

std::vector<std::string> sorted(std::vector<std::string> values) {
  std::sort(values.begin(), values.end());
  return values;
}

/// The filters of the §4.7 examples, value = position in this list.
const std::vector<std::string> spec_filters{
    "sport/tennis/player1/#", // 0
    "sport/#",                // 1
    "#",                      // 2
    "sport/tennis/+",         // 3
    "sport/+",                // 4
    "+",                      // 5
    "+/+",                    // 6
    "/+",                     // 7
    "+/monitor/Clients",      // 8
    "$SYS/#",                 // 9
    "$SYS/monitor/+",         // 10
    "sport/tennis/player1",   // 11
    "+/tennis/#",             // 12
};

trie spec_trie() {
  trie t;
  for (std::uint64_t i = 0; i < spec_filters.size(); ++i)
    t.insert(spec_filters[i], i);
  return t;
}

} // namespace

TEST_CASE("trie matches the examples of MQTT 5 §4.7") {
  auto t = spec_trie();
  struct row {
    std::string topic;
    std::vector<std::uint64_t> values;
  };
  for (const auto& [topic, values] : std::vector<row>{
           {"sport/tennis/player1", {0, 1, 2, 3, 11, 12}},
           {"sport/tennis/player1/ranking", {0, 1, 2, 12}},
           {"sport/tennis/player1/score/wimbledon", {0, 1, 2, 12}},
           {"sport/tennis/player2", {1, 2, 3, 12}},
           {"sport/tennis", {1, 2, 4, 6, 12}},
           {"sport", {1, 2, 5}},
           {"sport/", {1, 2, 4, 6}},
           {"sports", {2, 5}},
           {"/finance", {2, 6, 7}},
           {"/", {2, 6, 7}},
           {"a/monitor/Clients", {2, 8}},
           {"$SYS/monitor/Clients", {9, 10}},
           {"$SYS", {9}},
           {"$SYS/x/y", {9}},
       }) {
    INFO(topic);
    CHECK(sorted(t.match(topic)) == values);
  }
}

TEST_CASE("trie: first-level wildcards never match $ topics, deeper ones do") {
  trie t;
  t.insert("#", 1);
  t.insert("+/x", 2);
  t.insert("+", 3);
  t.insert("$SYS/#", 4);
  t.insert("$SYS/+", 5);
  t.insert("a/+", 6);
  t.insert("a/#", 7);
  CHECK(sorted(t.match("$SYS/x")) == std::vector<std::uint64_t>{4, 5});
  CHECK(sorted(t.match("$SYS")) == std::vector<std::uint64_t>{4});
  CHECK(t.match("$other/x").empty());
  CHECK(sorted(t.match("b/x")) == std::vector<std::uint64_t>{1, 2});
  CHECK(sorted(t.match("a/$SYS")) == std::vector<std::uint64_t>{1, 6, 7});
}

TEST_CASE("trie reports a value once per matching filter; dedup is the "
          "caller's") {
  trie t;
  CHECK(t.insert("a/+", 7));
  CHECK(t.insert("a/#", 7));
  CHECK(t.insert("a/b", 7));
  CHECK(t.match("a/b") == std::vector<std::uint64_t>{7, 7, 7});
  CHECK(t.match("a") == std::vector<std::uint64_t>{7});
  CHECK(t.size() == 3);
  CHECK(t.value_count() == 3);
}

TEST_CASE("trie insert and erase report when a filter appears and goes") {
  trie t;
  CHECK(t.empty());
  CHECK(t.insert("a/+/c", 1));       // new filter
  CHECK_FALSE(t.insert("a/+/c", 2)); // known filter, new value
  CHECK_FALSE(t.insert("a/+/c", 2)); // nothing new at all
  CHECK(t.insert("a/#", 1));
  CHECK(t.size() == 2);
  CHECK(t.value_count() == 3);
  CHECK(t.count("a/+/c") == 2);
  CHECK(t.contains("a/+/c", 2));
  CHECK_FALSE(t.contains("a/+/c", 3));
  CHECK_FALSE(t.contains("a/+"));
  CHECK_FALSE(t.contains("a"));

  CHECK_FALSE(t.erase("a/+/c", 3)); // not registered
  CHECK_FALSE(t.erase("x/y", 1));   // unknown filter
  CHECK_FALSE(t.erase("a/+", 1));   // a prefix of a filter is no filter
  CHECK_FALSE(t.erase("a/+/c", 1)); // value 2 remains
  CHECK(t.count("a/+/c") == 1);
  CHECK(t.erase("a/+/c", 2)); // last value: the filter is gone
  CHECK_FALSE(t.contains("a/+/c"));
  CHECK_FALSE(t.erase("a/+/c", 2));
  CHECK(t.size() == 1);
  CHECK(sorted(t.match("a/b/c")) == std::vector<std::uint64_t>{1});

  CHECK(t.erase("a/#", 1));
  CHECK(t.empty());
  CHECK(t.value_count() == 0);
  CHECK(t.filters().empty());
  CHECK(t.match("a/b/c").empty());
}

TEST_CASE("trie erase keeps the nodes other filters still need") {
  trie t;
  t.insert("a/b/c", 1);
  t.insert("a/b", 2);
  t.insert("a/b/#", 3);
  t.insert("a/+/c", 4);
  CHECK(t.erase("a/b/c", 1));
  CHECK(sorted(t.match("a/b/c")) == std::vector<std::uint64_t>{3, 4});
  CHECK(t.erase("a/b/#", 3));
  CHECK(sorted(t.match("a/b")) == std::vector<std::uint64_t>{2});
  CHECK(t.erase("a/b", 2));
  CHECK(sorted(t.match("a/x/c")) == std::vector<std::uint64_t>{4});
  CHECK(sorted(t.filters()) == std::vector<std::string>{"a/+/c"});
  // Re-inserting after pruning rebuilds the path.
  CHECK(t.insert("a/b/c", 1));
  CHECK(sorted(t.match("a/b/c")) == std::vector<std::uint64_t>{1, 4});
}

TEST_CASE("trie lists its filters, empty levels and root wildcards included") {
  trie t;
  std::vector<std::string> filters{"#",   "+",     "/",      "/x", "a//b",
                                   "a/#", "a/+/#", "$SYS/#", "a",  "+/+"};
  for (const auto& f : filters)
    t.insert(f, 1);
  CHECK(sorted(t.filters()) == sorted(filters));
  t.clear();
  CHECK(t.empty());
  CHECK(t.filters().empty());
}

TEST_CASE("trie keeps many values on one filter and drops them one by one") {
  trie t;
  for (std::uint64_t v = 0; v < 1000; ++v)
    CHECK(t.insert("broadcast/#", v) == (v == 0));
  CHECK_FALSE(t.insert("broadcast/#", 500));
  CHECK(t.count("broadcast/#") == 1000);
  CHECK(t.match("broadcast/all").size() == 1000);
  for (std::uint64_t v = 0; v < 999; ++v)
    CHECK_FALSE(t.erase("broadcast/#", v));
  CHECK(t.match("broadcast") == std::vector<std::uint64_t>{999});
  CHECK(t.erase("broadcast/#", 999));
  CHECK(t.empty());
}

TEST_CASE("trie handles a level that fans out to many children") {
  // Past a handful of children a node switches from a vector to a hash map;
  // both sides of the switch and the way back must keep every filter.
  trie t;
  for (std::uint64_t i = 0; i < 200; ++i) {
    CHECK(t.insert("dev/" + std::to_string(i) + "/+/status", i));
    CHECK(t.insert("dev/" + std::to_string(i), 1000 + i));
  }
  CHECK(t.size() == 400);
  for (std::uint64_t i = 0; i < 200; i += 7) {
    auto id = std::to_string(i);
    CHECK(t.match("dev/" + id + "/x/status") == std::vector{i});
    CHECK(t.match("dev/" + id) == std::vector{1000 + i});
  }
  for (std::uint64_t i = 0; i < 200; ++i)
    CHECK(t.erase("dev/" + std::to_string(i) + "/+/status", i));
  CHECK(t.match("dev/5/x/status").empty());
  CHECK(t.match("dev/5") == std::vector<std::uint64_t>{1005});
  for (std::uint64_t i = 0; i < 195; ++i)
    CHECK(t.erase("dev/" + std::to_string(i), 1000 + i));
  CHECK(sorted(t.filters()) == std::vector<std::string>{"dev/195", "dev/196",
                                                        "dev/197", "dev/198",
                                                        "dev/199"});
  CHECK(t.match("dev/197") == std::vector<std::uint64_t>{1197});
}

TEST_CASE("trie works with other value types, e.g. node names for routes") {
  topic_trie<std::string> routes;
  CHECK(routes.insert("dev/+/status", "core1@h"));
  CHECK_FALSE(routes.insert("dev/+/status", "core2@h"));
  CHECK(routes.insert("dev/#", "core2@h"));
  CHECK(sorted(routes.match("dev/7/status")) ==
        std::vector<std::string>{"core1@h", "core2@h", "core2@h"});
}

TEST_CASE("trie stores an invalid filter literally, so it never matches") {
  trie t;
  t.insert("a/#/b", 1);
  t.insert("a/b+", 2);
  CHECK(t.match("a/x/b").empty());
  CHECK(t.match("a/b").empty());
  CHECK(t.contains("a/#/b"));
  CHECK(t.erase("a/#/b", 1));
}

TEST_CASE("trie agrees with the reference matcher on random filters and "
          "topics") {
  // A small alphabet of levels makes matches frequent and exercises empty
  // levels and `$` topics; 2000 x 2000 pairs, seeded, so failures replay.
  std::mt19937_64 rng(20240611);
  const std::vector<std::string> words{"a", "b", "c", "", "$SYS"};
  auto pick = [&](std::size_t n) {
    return static_cast<std::size_t>(rng() % n);
  };
  auto random_topic = [&](bool filter) {
    std::string out;
    // A single empty level is no topic at all: draw again.
    while (out.empty()) {
      auto depth = 1 + pick(4);
      for (std::size_t i = 0; i < depth; ++i) {
        if (i > 0)
          out += '/';
        if (filter && i + 1 == depth && pick(5) == 0)
          out += '#';
        else if (filter && pick(3) == 0)
          out += '+';
        else
          out += words[pick(words.size())];
      }
    }
    return out;
  };

  std::vector<std::string> filters;
  trie t;
  for (std::uint64_t i = 0; i < 2000; ++i) {
    filters.push_back(random_topic(true));
    INFO("filter: " << filters.back());
    REQUIRE(topic_filter_error(filters.back()).value_or("valid") == "valid");
    t.insert(filters.back(), i);
  }
  std::size_t matched = 0;
  for (int round = 0; round < 2000; ++round) {
    auto topic = random_topic(false);
    std::vector<std::uint64_t> expected;
    for (std::uint64_t i = 0; i < filters.size(); ++i)
      if (topic_matches(filters[i], topic))
        expected.push_back(i);
    matched += expected.size();
    INFO("topic: " << topic);
    REQUIRE(sorted(t.match(topic)) == expected);
  }
  // Guard against a generator that makes the check vacuous.
  CHECK(matched > 100000);

  // Erasing half of the registrations keeps the trie in agreement.
  for (std::uint64_t i = 0; i < filters.size(); i += 2)
    t.erase(filters[i], i);
  for (int round = 0; round < 500; ++round) {
    auto topic = random_topic(false);
    std::vector<std::uint64_t> expected;
    for (std::uint64_t i = 1; i < filters.size(); i += 2)
      if (topic_matches(filters[i], topic))
        expected.push_back(i);
    INFO("topic: " << topic);
    REQUIRE(sorted(t.match(topic)) == expected);
  }
}
