#include <doctest/doctest.h>

#include <fstream>
#include <sstream>

#include "starling/runtime/node_config.hpp"

using namespace starling::runtime;

TEST_CASE("docs/config.md lists every configuration key with its default") {
  std::ifstream in(STARLING_SOURCE_DIR "/docs/config.md");
  REQUIRE(in);
  std::stringstream text;
  text << in.rdbuf();
  auto doc = text.str();
  for (auto& key : config_schema()) {
    auto row = doc.find("| `" + key.name + "` |");
    INFO("key: " << key.name);
    REQUIRE(row != std::string::npos);
    auto line = doc.substr(row, doc.find('\n', row) - row);
    if (!key.default_value.empty())
      CHECK(line.find("`" + key.default_value + "`") != std::string::npos);
  }
}
