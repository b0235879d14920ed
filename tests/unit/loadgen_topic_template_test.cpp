#include <doctest/doctest.h>

#include <string>
#include <variant>

#include "starling/loadgen/topic_template.hpp"

using starling::loadgen::topic_template;

namespace {

topic_template parsed(const char* text) {
  auto r = topic_template::parse(text);
  REQUIRE(std::holds_alternative<topic_template>(r));
  return std::get<topic_template>(r);
}

std::string error_of(const char* text) {
  auto r = topic_template::parse(text);
  REQUIRE(std::holds_alternative<std::string>(r));
  return std::get<std::string>(r);
}

} // namespace

TEST_CASE("loadgen topic template: %i, %c, %j and %% expand") {
  CHECK(parsed("dev/%i/+/status").expand(42, "c42") == "dev/42/+/status");
  CHECK(parsed("to/%c").expand(7, "bench-7") == "to/bench-7");
  CHECK(parsed("dev/%i/%j/+").expand(3, "x", 999) == "dev/3/999/+");
  CHECK(parsed("100%%/%i%i").expand(5, "x") == "100%/55");
  CHECK(parsed("plain/topic").expand(1, "x") == "plain/topic");
  CHECK(parsed("%i").expand(0, "x") == "0");
  CHECK(parsed("").expand(0, "x").empty());
}

TEST_CASE("loadgen topic template: what it depends on") {
  CHECK_FALSE(parsed("a/b").uses_client());
  CHECK(parsed("a/%i").uses_client());
  CHECK(parsed("a/%c").uses_client());
  CHECK_FALSE(parsed("a/%%i").uses_client());
  CHECK(parsed("a/%j").uses_filter_index());
  CHECK_FALSE(parsed("a/%i").uses_filter_index());
}

TEST_CASE("loadgen topic template: unknown placeholders are refused") {
  CHECK(error_of("a/%x").find("unknown placeholder '%x'") != std::string::npos);
  CHECK(error_of("a/%").find("ends with '%'") != std::string::npos);
  CHECK(error_of("%I").find("use %i (client index)") != std::string::npos);
}
