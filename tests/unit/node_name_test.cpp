#include <doctest/doctest.h>

#include "starling/runtime/node_name.hpp"

using namespace starling::runtime;

TEST_CASE("node names parse as name@host with a derived port") {
  std::string err;
  auto n = parse_node_name("core1@127.0.0.1", err);
  REQUIRE(n);
  CHECK(n->name == "core1");
  CHECK(n->host == "127.0.0.1");
  CHECK_FALSE(n->port);
  CHECK(n->dist_port() == 4371);
  CHECK(n->str() == "core1@127.0.0.1");
}

TEST_CASE("the port derives from the trailing number of the short name") {
  CHECK(derived_dist_port("starling") == 4370);
  CHECK(derived_dist_port("core1") == 4371);
  CHECK(derived_dist_port("core12") == 4382);
  CHECK(derived_dist_port("n2x3") == 4373);
  CHECK(derived_dist_port("n61165") == 65535);
  CHECK_FALSE(derived_dist_port("n61166"));
  CHECK_FALSE(derived_dist_port("n9999999"));
}

TEST_CASE("an explicit port is written name@host:port") {
  std::string err;
  auto n = parse_node_name("edge@10.0.0.5:9000", err);
  REQUIRE(n);
  CHECK(n->host == "10.0.0.5");
  CHECK(n->port == 9000);
  CHECK(n->dist_port() == 9000);
}

TEST_CASE("malformed node names are rejected with a reason") {
  std::string err;
  CHECK_FALSE(parse_node_name("foo", err));
  CHECK(err.find("expected name@host") != std::string::npos);
  CHECK_FALSE(parse_node_name("a@b@c", err));
  CHECK(err.find("more than one '@'") != std::string::npos);
  CHECK_FALSE(parse_node_name("@host", err));
  CHECK_FALSE(parse_node_name("name@", err));
  CHECK_FALSE(parse_node_name("na me@host", err));
  CHECK_FALSE(parse_node_name("name@ho/st", err));
  CHECK_FALSE(parse_node_name("name@host:0", err));
  CHECK_FALSE(parse_node_name("name@host:70000", err));
  CHECK_FALSE(parse_node_name("name@host:12ab", err));
  CHECK(err.find("port must be") != std::string::npos);
  CHECK_FALSE(parse_node_name("n99999@host", err));
  CHECK(err.find("above 65535") != std::string::npos);
}

TEST_CASE("an IPv6 host is written in brackets") {
  std::string err;
  auto n = starling::runtime::parse_node_name("core1@[fd00::1]:4400", err);
  REQUIRE(n);
  CHECK(n->host == "fd00::1");
  CHECK(n->dist_port() == 4400);
  CHECK(n->str() == "core1@[fd00::1]");
  auto m = starling::runtime::parse_node_name("core2@[fd00::2]", err);
  REQUIRE(m);
  CHECK(m->dist_port() == 4372);
  CHECK_FALSE(starling::runtime::parse_node_name("core2@[fd00::2", err));
  CHECK_FALSE(starling::runtime::parse_node_name("core2@[zz]", err));
}
