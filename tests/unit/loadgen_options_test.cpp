#include <doctest/doctest.h>

#include <optional>
#include <string>

#include "starling/loadgen/options.hpp"

using namespace starling::loadgen;

namespace {

/// The validation error for `o`, or "" when valid.
std::string problem(options o) {
  auto e = validate(o, 4242);
  return e ? *e : "";
}

options pub(const char* topic = "bench/%i") {
  options o;
  o.mode = bench_mode::pub;
  o.topic = topic;
  return o;
}

bool says(const std::string& error, const char* part) {
  INFO("error: " << error);
  return error.find(part) != std::string::npos;
}

} // namespace

TEST_CASE("loadgen options: the defaults are valid and fill the prefix") {
  auto o = pub();
  CHECK(problem(o).empty());
  validate(o, 4242);
  CHECK(o.prefix == "pub-4242-");
  CHECK(o.effective_interval_ms() == 1000.0);
  options c;
  c.mode = bench_mode::conn;
  CHECK(problem(c).empty());
}

TEST_CASE("loadgen options: payloads too small for the stamp are refused") {
  auto o = pub();
  o.payload_size = 23;
  CHECK(says(problem(o), "-s/--size 23 is too small"));
  o.payload_size = 24;
  CHECK(problem(o).empty());
  // A subscriber does not stamp anything.
  o.mode = bench_mode::sub;
  o.payload_size = 0;
  CHECK(problem(o).empty());
}

TEST_CASE("loadgen options: topics are checked for the mode") {
  CHECK(says(problem(pub("")), "-t/--topic is required in pub mode"));
  CHECK(says(problem(pub("a/+/b")), "wildcard"));
  CHECK(says(problem(pub("a/%q")), "unknown placeholder"));
  CHECK(says(problem(pub("a/%j")), "%j (filter index) is for sub mode only"));
  auto s = pub("dev/%i/+/status");
  s.mode = bench_mode::sub;
  CHECK(problem(s).empty());
  s.topic = "a/#/b";
  CHECK(says(problem(s), "-t/--topic 'a/#/b' gives 'a/#/b'"));
  s.topic = "dev/%i/+";
  s.filters_per_client = 10;
  CHECK(says(problem(s), "needs %j"));
  s.topic = "dev/%i/%j/+";
  CHECK(problem(s).empty());
}

TEST_CASE("loadgen options: pacing and windows") {
  auto o = pub();
  o.interval_ms = 10;
  o.rate = 1000;
  CHECK(says(problem(o), "exclude each other"));
  o.interval_ms.reset();
  CHECK(problem(o).empty());
  CHECK_FALSE(o.effective_interval_ms());
  o.rate = 0;
  CHECK(says(problem(o), "-r/--rate must be > 0"));
  o = pub();
  o.interval_ms = -1;
  CHECK(says(problem(o), "-I/--interval must be >= 0"));
  o = pub();
  o.inflight = 0;
  CHECK(says(problem(o), "--inflight"));
}

TEST_CASE("loadgen options: connection settings") {
  auto o = pub();
  o.version = 6;
  CHECK(says(problem(o), "-V/--version"));
  o = pub();
  o.qos = 3;
  CHECK(says(problem(o), "-q/--qos"));
  o = pub();
  o.session_expiry_s = 60;
  CHECK(says(problem(o), "needs MQTT 5"));
  o.version = 5;
  CHECK(problem(o).empty());
  o = pub();
  o.password = "pw";
  CHECK(says(problem(o), "needs -u/--username"));
  o = pub();
  o.ifaddrs = {"127.0.0.2", "localhost"};
  CHECK(says(problem(o), "'localhost' is not an IPv4 address"));
  o = pub();
  o.count = 3;
  o.threads = 8;
  CHECK(problem(o).empty());
}

TEST_CASE("loadgen options: reconnecting is for conn mode, and --reconnect-to needs it") {
  auto o = pub();
  o.reconnect = true;
  CHECK(says(problem(o), "--reconnect is for conn mode only"));
  options c;
  c.mode = bench_mode::conn;
  c.reconnect_hosts = {"127.0.0.1:1884", "127.0.0.1:1885"};
  CHECK(says(problem(c), "--reconnect-to needs --reconnect"));
  c.reconnect = true;
  CHECK(problem(c).empty());
}

TEST_CASE("loadgen options: lists and modes") {
  CHECK(split_list("a,b,,c") == std::vector<std::string>{"a", "b", "c"});
  CHECK(split_list("").empty());
  CHECK(split_list("127.0.0.1") == std::vector<std::string>{"127.0.0.1"});
  CHECK(parse_mode("sub") == bench_mode::sub);
  CHECK_FALSE(parse_mode("flood"));
  CHECK(parse_ipv4("127.0.0.3"));
  CHECK_FALSE(parse_ipv4("127.0.0"));
}

TEST_CASE("loadgen options: host or host:port, as -h and a Server Reference give it") {
  using starling::loadgen::split_host_port;
  auto a = split_host_port("127.0.0.1");
  REQUIRE(a);
  CHECK(a->host == "127.0.0.1");
  CHECK_FALSE(a->port);
  auto b = split_host_port("broker.local:1884");
  REQUIRE(b);
  CHECK(b->host == "broker.local");
  CHECK(b->port == 1884);
  CHECK_FALSE(split_host_port("h:0"));
  CHECK_FALSE(split_host_port("h:65536"));
  CHECK_FALSE(split_host_port("h:"));
  CHECK_FALSE(split_host_port("h:18x3"));
}
