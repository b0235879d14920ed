#include <doctest/doctest.h>

#include <cstdio>
#include <fstream>

#include <unistd.h>

#include "starling/runtime/node_config.hpp"
#include "temp_file.hpp"

using namespace starling::runtime;

namespace {
config_result load(std::vector<std::string> args,
                   std::vector<std::string> env = {}) {
  return load_node_config({std::move(args), std::move(env), "myhost.example"});
}
} // namespace

TEST_CASE("with nothing given the embedded defaults apply") {
  auto r = load({});
  REQUIRE(r.config);
  CHECK(r.config->name.str() == "starling@127.0.0.1");
  CHECK(r.config->dist_port == 4370);
  CHECK(r.config->role == node_role::core);
  CHECK(r.config->tick_ms == 2000);
  CHECK(r.config->cookie_is_default);
  CHECK(r.config->cookie == default_cookie);
  CHECK(r.config->settings.at("node.role").second == "default");
}

TEST_CASE("Erlang-style single-dash options") {
  auto r = load({"-name", "core3@127.0.0.1", "-cookie", "s3cret", "-role",
                 "replicant", "-tick_ms", "1000"});
  REQUIRE(r.config);
  CHECK(r.config->name.str() == "core3@127.0.0.1");
  CHECK(r.config->dist_port == 4373);
  CHECK(r.config->cookie == "s3cret");
  CHECK_FALSE(r.config->cookie_is_default);
  CHECK(r.config->role == node_role::replicant);
  CHECK(r.config->tick_ms == 1000);
}

TEST_CASE("-sname takes this host's short name") {
  auto r = load({"-sname", "core2"});
  REQUIRE(r.config);
  CHECK(r.config->name.str() == "core2@myhost");
  CHECK_FALSE(load({"-sname", "a@b"}).config);
  CHECK_FALSE(load({"-sname", "a", "-name", "a@b"}).config);
}

TEST_CASE("-dist_port overrides the derived port") {
  auto r = load({"-name", "core1@127.0.0.1", "-dist_port", "5999"});
  REQUIRE(r.config);
  CHECK(r.config->dist_port == 5999);
}

TEST_CASE("precedence: command line > environment > file > defaults") {
  auto file = temp_file("[node]\nrole = replicant\ncookie = fromfile\n"
                        "tick_ms = 3000\n");
  auto r = load({"-config", file, "-tick_ms", "900"},
                {"STARLING_NODE__COOKIE=fromenv", "PATH=/bin",
                 "STARLING_HOME=/x"});
  REQUIRE(r.config);
  CHECK(r.config->role == node_role::replicant);
  CHECK(r.config->cookie == "fromenv");
  CHECK(r.config->tick_ms == 900);
  CHECK(r.config->settings.at("node.role").second == "config file " + file);
  CHECK(r.config->settings.at("node.cookie").second
        == "environment variable STARLING_NODE__COOKIE");
  std::remove(file.c_str());
}

TEST_CASE("invalid values are rejected naming the key and the source") {
  auto r = load({"-role", "leader"});
  CHECK_FALSE(r.config);
  CHECK(r.error.find("node.role") != std::string::npos);
  CHECK(r.error.find("'leader'") != std::string::npos);
  CHECK(r.error.find("command line") != std::string::npos);

  r = load({}, {"STARLING_NODE__DIST_PORT=70000"});
  CHECK(r.error.find("node.dist_port") != std::string::npos);
  CHECK(r.error.find("STARLING_NODE__DIST_PORT") != std::string::npos);

  CHECK(load({"-tick_ms", "10"}).error.find("node.tick_ms")
        != std::string::npos);
  CHECK(load({"-tick_ms", "abc"}).error.find("node.tick_ms")
        != std::string::npos);
  CHECK(load({"-name", "foo"}).error.find("node.name") != std::string::npos);
  CHECK(load({"-name", "a@b@c"}).error.find("more than one")
        != std::string::npos);
  CHECK(load({"-cookie", ""}).error.find("empty") != std::string::npos);
}

TEST_CASE("unknown keys and options are errors, not ignored") {
  auto file = temp_file("[node]\nnmae = x\n");
  auto r = load({"-config", file});
  CHECK(r.error.find("unknown config key 'node.nmae'") != std::string::npos);
  std::remove(file.c_str());
  CHECK(load({}, {"STARLING_NODE__COOKY=x"}).error.find("node.cooky")
        != std::string::npos);
  CHECK_FALSE(load({"-bogus", "1"}).config);
  CHECK(load({"-config", "/nonexistent/x.conf"}).error.find("cannot read")
        != std::string::npos);
}

TEST_CASE("environment variable names follow the key") {
  CHECK(env_var_for("node.cookie") == "STARLING_NODE__COOKIE");
  CHECK(env_var_for("mqtt.listener.tcp") == "STARLING_MQTT__LISTENER__TCP");
}

TEST_CASE("every key is checked against its kind") {
  CHECK(load({}, {"STARLING_MQTT__MAX_INFLIGHT=0"}).error.find(
          "mqtt.max_inflight: '0' (from environment variable "
          "STARLING_MQTT__MAX_INFLIGHT): expected a whole number between 1 and")
        != std::string::npos);
  CHECK(load({}, {"STARLING_MQTT__RETAIN_AVAILABLE=maybe"})
          .error.find("expected true or false")
        != std::string::npos);
  CHECK(load({}, {"STARLING_MQTT__LISTENER__TCP=localhost"})
          .error.find("expected port or host:port")
        != std::string::npos);
  CHECK(load({}, {"STARLING_MQTT__SHARED_SUBSCRIPTION_STRATEGY=lifo"})
          .error.find("expected one of round_robin, random, sticky")
        != std::string::npos);
  auto r = load({}, {"STARLING_MQTT__LISTENER__TCP=127.0.0.1:1999",
                     "STARLING_MQTT__MQUEUE_STORE_QOS0=off"});
  REQUIRE(r.config);
  CHECK(r.config->address("mqtt.listener.tcp").host == "127.0.0.1");
  CHECK(r.config->address("mqtt.listener.tcp").port == 1999);
  CHECK_FALSE(r.config->flag("mqtt.mqueue_store_qos0"));
  CHECK(r.config->number("mqtt.max_inflight") == 32);
  CHECK(r.config->text("mqtt.shared_subscription_strategy") == "round_robin");
}

TEST_CASE("listen addresses") {
  auto a = parse_listen_address("1883");
  REQUIRE(a);
  CHECK(a->host == "0.0.0.0");
  CHECK(a->port == 1883);
  CHECK(parse_listen_address("::1:1883")->host == "::1");
  CHECK_FALSE(parse_listen_address(":1883"));
  CHECK_FALSE(parse_listen_address("host:"));
  CHECK_FALSE(parse_listen_address("host:99999"));
}

TEST_CASE("the write hard limit must exceed the high watermark") {
  auto r = load({}, {"STARLING_MQTT__WRITE_BUFFER__HARD_LIMIT=5000",
                     "STARLING_MQTT__WRITE_BUFFER__HIGH_WATERMARK=6000"});
  CHECK(r.error.find("mqtt.write_buffer.hard_limit: '5000'") != std::string::npos);
  CHECK(r.error.find("must be larger than mqtt.write_buffer.high_watermark (6000)")
        != std::string::npos);
}

TEST_CASE("durations: units, zero, and a clear error for the rest") {
  using starling::runtime::parse_duration_ms;
  CHECK(parse_duration_ms("500ms") == 500u);
  CHECK(parse_duration_ms("30s") == 30000u);
  CHECK(parse_duration_ms("5m") == 300000u);
  CHECK(parse_duration_ms("24h") == 86400000u);
  CHECK(parse_duration_ms("7d") == 604800000u);
  CHECK(parse_duration_ms("0") == 0u);
  CHECK_FALSE(parse_duration_ms("10"));
  CHECK_FALSE(parse_duration_ms("h"));
  CHECK_FALSE(parse_duration_ms("5 m"));
  CHECK_FALSE(parse_duration_ms("-1s"));
  starling::runtime::config_inputs in;
  in.environment = {"STARLING_CLUSTER__AUTOCLEAN=soon"};
  auto r = starling::runtime::load_node_config(in);
  REQUIRE_FALSE(r.config);
  CHECK(r.error.find("cluster.autoclean") != std::string::npos);
  CHECK(r.error.find("expected a duration") != std::string::npos);
  in.environment = {"STARLING_CLUSTER__AUTOCLEAN=90s"};
  r = starling::runtime::load_node_config(in);
  REQUIRE(r.config);
  CHECK(r.config->duration_ms("cluster.autoclean") == 90000u);
  CHECK(r.config->flag("cluster.autoheal"));
}

TEST_CASE("node.cookie_file: read when node.cookie is not set") {
  auto path = temp_file("  f1le-c00kie\n");
  auto conf = temp_file("[node]\ncookie_file = " + path + "\n");
  auto r = load({"-config", conf});
  REQUIRE(r.config);
  CHECK(r.config->cookie == "f1le-c00kie");
  CHECK_FALSE(r.config->cookie_is_default);
  CHECK(r.config->settings.at("node.cookie").second == "node.cookie_file " + path);
  // A cookie given anywhere wins over the file.
  r = load({"-config", conf, "-cookie", "cli"});
  REQUIRE(r.config);
  CHECK(r.config->cookie == "cli");
  r = load({"-config", conf}, {"STARLING_NODE__COOKIE=env"});
  REQUIRE(r.config);
  CHECK(r.config->cookie == "env");
  std::remove(conf.c_str());
  std::remove(path.c_str());
}

TEST_CASE("node.cookie_file: a file that cannot give a cookie is an error") {
  auto r = load({}, {"STARLING_NODE__COOKIE_FILE=/nonexistent/cookie"});
  REQUIRE_FALSE(r.config);
  CHECK(r.error.find("invalid value for node.cookie_file: '/nonexistent/cookie' "
                     "(from environment variable STARLING_NODE__COOKIE_FILE): "
                     "cannot read cookie file '/nonexistent/cookie': No such file")
        == 0);
  for (auto text : {"", " \n\n", "two\nlines\n"}) {
    auto path = temp_file(text);
    r = load({}, {"STARLING_NODE__COOKIE_FILE=" + path});
    INFO("content: " << text);
    REQUIRE_FALSE(r.config);
    CHECK(r.error.find("node.cookie_file") != std::string::npos);
    CHECK((r.error.find("is empty") != std::string::npos
           || r.error.find("more than one line") != std::string::npos));
    std::remove(path.c_str());
  }
}
