#include <doctest/doctest.h>

#include <string>
#include <string_view>
#include <vector>

#include "starling/broker/topic.hpp"

using namespace starling::broker;
using namespace std::string_literals;
using namespace std::string_view_literals;

namespace {

/// Whether `error` is set and contains `part`; prints the error otherwise.
bool says(const std::optional<std::string>& error, std::string_view part) {
  if (!error)
    return false;
  INFO("error: " << *error);
  return error->find(part) != std::string::npos;
}

} // namespace

TEST_CASE("topic names: valid ones pass") {
  for (auto name : {"a", "/", "//", "a/b/c", "/finance", "sport/", "$SYS/x",
                    "a b/ü/日本", "$share/g/x", "a$", "x/$y"}) {
    INFO(name);
    CHECK_FALSE(topic_name_error(name));
  }
  CHECK_FALSE(topic_name_error(std::string(max_topic_bytes, 'x')));
}

TEST_CASE("topic names: invalid ones are refused with a precise reason") {
  CHECK(says(topic_name_error(""), "topic name is empty"));
  CHECK(says(topic_name_error("a/+/c"), "wildcard '+' at byte 2"));
  CHECK(says(topic_name_error("#"), "wildcard '#' at byte 0"));
  CHECK(says(topic_name_error("a/b#"), "wildcard '#' at byte 3"));
  CHECK(says(topic_name_error("a\0b"s), "U+0000 at byte 1"));
  CHECK(says(topic_name_error(std::string(max_topic_bytes + 1, 'x')),
             "65536 bytes; the limit is 65535"));
}

TEST_CASE("topic filters: valid ones pass (§4.7.1)") {
  for (auto filter :
       {"#", "+", "+/+", "/+", "+/", "sport/#", "sport/tennis/#", "a/+/c",
        "sport/tennis/player1", "/", "$SYS/#", "+/monitor/Clients", "a//b",
        "$share/g/x", "a$/b", "+/+/#"}) {
    INFO(filter);
    CHECK_FALSE(topic_filter_error(filter));
  }
}

TEST_CASE("topic filters: misplaced wildcards name the level") {
  CHECK(says(topic_filter_error(""), "topic filter is empty"));
  CHECK(says(topic_filter_error("sport/tennis#"),
             "level 2 (\"tennis#\") mixes '#'"));
  CHECK(says(topic_filter_error("sport/tennis/#/ranking"),
             "level 3 (\"#\") is '#' but not the last level"));
  CHECK(says(topic_filter_error("#/"), "level 1 (\"#\") is '#' but not"));
  CHECK(says(topic_filter_error("sport+"), "level 1 (\"sport+\") mixes '+'"));
  CHECK(says(topic_filter_error("a/++/b"), "level 2 (\"++\") mixes '+'"));
  CHECK(says(topic_filter_error("a/+#"), "mixes '#'"));
  CHECK(says(topic_filter_error("a\0/#"s), "U+0000 at byte 1"));
  CHECK(says(topic_filter_error(std::string(max_topic_bytes + 1, '+')),
             "the limit is 65535"));
  // Long levels are cut short in the message.
  auto long_level = "a/" + std::string(100, 'x') + "+";
  CHECK(says(topic_filter_error(long_level), "xxxx...\")"));
}

TEST_CASE("topic levels split on every slash, empty levels included") {
  CHECK(split_levels("a/b/c") == std::vector{"a"sv, "b"sv, "c"sv});
  CHECK(split_levels("a//b") == std::vector{"a"sv, ""sv, "b"sv});
  CHECK(split_levels("/finance") == std::vector{""sv, "finance"sv});
  CHECK(split_levels("sport/") == std::vector{"sport"sv, ""sv});
  CHECK(split_levels("/") == std::vector{""sv, ""sv});
  CHECK(split_levels("") == std::vector{""sv});
  CHECK(level_count("a/b/c") == 3);
  CHECK(level_count("/") == 2);
  CHECK(level_count("x") == 1);
}

TEST_CASE("topic wildcards and $ topics are recognised") {
  CHECK(has_wildcards("a/+"));
  CHECK(has_wildcards("#"));
  CHECK_FALSE(has_wildcards("a/b"));
  CHECK(is_dollar_topic("$SYS/brokers"));
  CHECK(is_dollar_topic("$"));
  CHECK_FALSE(is_dollar_topic("a/$SYS"));
  CHECK_FALSE(is_dollar_topic(""));
}

TEST_CASE("shared topic filters split into group and filter (§4.8.2)") {
  std::string err;
  auto s = parse_shared_filter("$share/consumer1/sport/tennis/+", err);
  REQUIRE(s);
  CHECK(*s == shared_filter{"consumer1", "sport/tennis/+"});
  s = parse_shared_filter("$share/g/#", err);
  REQUIRE(s);
  CHECK(*s == shared_filter{"g", "#"});
  s = parse_shared_filter("$share/g//", err);
  REQUIRE(s);
  CHECK(s->filter == "/");
  s = parse_shared_filter("$share/g/$SYS/#", err);
  REQUIRE(s);
  CHECK(s->filter == "$SYS/#");
  CHECK(is_shared_filter("$share/g/x"));
  CHECK_FALSE(is_shared_filter("$share"));
  CHECK_FALSE(is_shared_filter("$SHARE/g/x"));
  CHECK_FALSE(is_shared_filter("a/$share/g/x"));
}

TEST_CASE("malformed shared topic filters are refused with a reason") {
  struct row {
    std::string_view text;
    std::string_view reason;
  };
  for (auto [text, reason] : std::vector<row>{
           {"sport/#", "does not start with $share/"},
           {"$share", "does not start with $share/"},
           {"$share/", "empty share name"},
           {"$share//x", "empty share name"},
           {"$share/group", "no topic filter after the share name"},
           {"$share/group/", "topic filter is empty"},
           {"$share/gr+oup/x", "share name \"gr+oup\" contains a wildcard"},
           {"$share/#/x", "contains a wildcard"},
           {"$share/+/x", "contains a wildcard"},
           {"$share/g/a/#/b", "group \"g\": topic filter level 2"},
           {"$share/g/a+", "mixes '+'"},
       }) {
    INFO(text);
    std::string err;
    CHECK_FALSE(parse_shared_filter(text, err));
    CHECK(err.find(reason) != std::string::npos);
  }
  std::string err;
  CHECK_FALSE(parse_shared_filter("$share/g\0/x"s, err));
  CHECK(err.find("U+0000") != std::string::npos);
}

TEST_CASE("topic matching follows the examples of MQTT 5 §4.7") {
  struct row {
    std::string_view filter;
    std::string_view name;
    bool matches;
  };
  for (auto [filter, name, matches] : std::vector<row>{
           // §4.7.1.2: the multi-level wildcard.
           {"sport/tennis/player1/#", "sport/tennis/player1", true},
           {"sport/tennis/player1/#", "sport/tennis/player1/ranking", true},
           {"sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon",
            true},
           {"sport/tennis/player1/#", "sport/tennis/player2", false},
           {"sport/tennis/player1/#", "sport/tennis", false},
           {"sport/#", "sport", true},
           {"sport/#", "sports", false},
           {"#", "sport/tennis", true},
           {"#", "/", true},
           // §4.7.1.3: the single-level wildcard.
           {"sport/tennis/+", "sport/tennis/player1", true},
           {"sport/tennis/+", "sport/tennis/player2", true},
           {"sport/tennis/+", "sport/tennis/player1/ranking", false},
           {"sport/tennis/+", "sport/tennis", false},
           {"sport/+", "sport", false},
           {"sport/+", "sport/", true},
           {"+", "sport", true},
           {"+", "/finance", false},
           {"+/+", "/finance", true},
           {"/+", "/finance", true},
           {"+/tennis/#", "sport/tennis/player1", true},
           {"+/tennis/#", "sport/tennis", true},
           {"a/+/c", "a//c", true},
           {"+/+/+", "//", true},
           // §4.7.2: topics beginning with $.
           {"#", "$SYS/broker", false},
           {"+/monitor/Clients", "$SYS/monitor/Clients", false},
           {"$SYS/#", "$SYS/monitor/Clients", true},
           {"$SYS/#", "$SYS", true},
           {"$SYS/monitor/+", "$SYS/monitor/Clients", true},
           {"a/+", "a/$x", true},
           {"a/#", "a/$x/y", true},
           // Literal levels compare exactly: case, spaces, empty levels.
           {"Sport", "sport", false},
           {"a b", "a b", true},
           {"a/b", "a/b/", false},
           {"a//b", "a/b", false},
           {"/", "/", true},
       }) {
    INFO(filter << " vs " << name);
    CHECK(topic_matches(filter, name) == matches);
  }
}
