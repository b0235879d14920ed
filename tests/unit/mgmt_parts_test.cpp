// The management API's parts: credentials, tokens, the login limiter,
// Prometheus rendering, online configuration rules.

#include <doctest/doctest.h>

#include <sstream>

#include "starling/mgmt/auth_store.hpp"
#include "starling/mgmt/credentials.hpp"
#include "starling/mgmt/prometheus.hpp"
#include "starling/runtime/online_config.hpp"

using namespace starling;
using namespace starling::mgmt;

namespace {

runtime::random_source fixed_random(unsigned char b) {
  return [b](unsigned char* p, size_t n) {
    for (size_t i = 0; i < n; ++i)
      p[i] = static_cast<unsigned char>(b + i);
  };
}

runtime::node_config cfg_with(std::vector<std::string> env = {}) {
  runtime::config_inputs in;
  in.args = {"-name", "core1@127.0.0.1", "-cookie", "c"};
  in.environment = std::move(env);
  auto r = runtime::load_node_config(in);
  REQUIRE(r.config);
  return *r.config;
}

} // namespace

TEST_CASE("credentials: PBKDF2-SHA256 with a salt") {
  auto h = hash_password("secret", fixed_random(1), 1000);
  CHECK(h.salt.size() == 32);
  CHECK(h.hash.size() == 64);
  CHECK(verify_password("secret", h));
  CHECK(!verify_password("Secret", h));
  // Another salt, another hash.
  CHECK(hash_password("secret", fixed_random(2), 1000).hash != h.hash);
  // RFC 7914 §11's PBKDF2-HMAC-SHA256 vector (P="passwd", S="salt", c=1).
  password_hash v{"salt", "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc", 1};
  CHECK(verify_password("passwd", v));
  auto u = user_record::from_json("admin", user_record{"admin", h, "d", true, 5}.to_json().dump());
  REQUIRE(u);
  CHECK(u->must_change);
  CHECK(verify_password("secret", u->password));
  CHECK(!user_record::from_json("x", "{}"));
}

TEST_CASE("credentials: tokens are signed with the cookie and carry the password version") {
  token_signer s("cookie"), other("other");
  auto t = s.issue("ad.min", "abcd", 5000);
  auto c = s.verify(t);
  REQUIRE(c);
  CHECK(c->username == "ad.min");
  CHECK(c->pwv == "abcd");
  CHECK(c->expires_ms == 5000);
  CHECK(!other.verify(t));
  auto forged = t;
  forged[0] = 'x';
  CHECK(!s.verify(forged));
  CHECK(!s.verify("nonsense"));
}

TEST_CASE("credentials: names, passwords and base64") {
  CHECK(check_name("name", "ci-key_1").empty());
  CHECK(check_name("name", "a b") == "name 'a b' may hold only letters, digits and _ - . @");
  CHECK(check_new_password("abcdefgh") != "");
  CHECK(check_new_password("abcdefg1").empty());
  CHECK(base64_decode("YWJjOmRlZg==") == std::optional<std::string>("abc:def"));
  CHECK(!base64_decode("abc"));
}

TEST_CASE("login limiter: failures within the interval lock the address") {
  login_limiter l;
  login_limiter::settings s{3, 1000, 5000};
  l.failed("a", 0, s);
  l.failed("a", 500, s);
  CHECK(l.locked_for("a", 500) == 0);
  l.failed("a", 1200, s); // the first one no longer counts
  CHECK(l.locked_for("a", 1200) == 0);
  l.failed("a", 1300, s);
  CHECK(l.locked_for("a", 1300) == 5000);
  CHECK(l.locked_for("b", 1300) == 0);
  CHECK(l.locked_for("a", 6300) == 0);
  l.failed("b", 0, s);
  l.succeeded("b");
  l.failed("b", 1, s);
  l.failed("b", 2, s);
  CHECK(l.locked_for("b", 2) == 0);
}

TEST_CASE("prometheus: one HELP and TYPE per family, samples labelled by node and shard") {
  node_figures core{"core1@h", {}, nlohmann::json::parse(R"({"role":"core","shards":[
    {"shard":"kv_shard","seqno":7,"mailbox":2,"agents":[{"core":false},{"core":true}]}]})"), 1};
  core.stats.received = {1, 2, 3};
  core.stats.dropped_no_subscribers = 4;
  node_figures repl{"repl\"1@h", {}, nlohmann::json::parse(R"({"role":"replicant","shards":[
    {"shard":"kv_shard","lag":3,"bootstrap_ms":12,"bootstrap_records":9,"mailbox":0,"replay_queue":0}]})"), 0};
  auto text = render_prometheus({core, repl});
  std::istringstream in(text);
  std::map<std::string, int> help;
  for (std::string line; std::getline(in, line);)
    if (line.rfind("# HELP ", 0) == 0)
      ++help[line.substr(7, line.find(' ', 7) - 7)];
  for (auto& [name, n] : help) {
    INFO(name);
    CHECK(n == 1);
  }
  CHECK(text.find("starling_messages_received_total{node=\"core1@h\",qos=\"2\"} 3\n") != std::string::npos);
  CHECK(text.find("starling_messages_dropped_total{node=\"core1@h\",reason=\"no_subscribers\"} 4\n") != std::string::npos);
  CHECK(text.find("starling_mria_last_intercepted_trans{node=\"core1@h\",shard=\"kv_shard\"} 7\n") != std::string::npos);
  CHECK(text.find("starling_mria_replicants{node=\"core1@h\",shard=\"kv_shard\"} 1\n") != std::string::npos);
  CHECK(text.find("starling_mria_weight{node=\"core1@h\",shard=\"kv_shard\"} 2\n") != std::string::npos);
  CHECK(text.find("starling_mria_lag{node=\"repl\\\"1@h\",shard=\"kv_shard\"} 3\n") != std::string::npos);
  CHECK(text.find("starling_mria_bootstrap_num_keys{node=\"repl\\\"1@h\",shard=\"kv_shard\"} 9\n") != std::string::npos);
  CHECK(text.find("starling_mria_lag{node=\"core1@h\"") == std::string::npos);
  CHECK(text.find("starling_alarms_active{node=\"core1@h\"} 1\n") != std::string::npos);
}

TEST_CASE("online config: only online keys change, validated as at start-up") {
  runtime::online_config c(cfg_with());
  CHECK(c.check({{"mqtt.max_inflight", "64"}}).empty());
  CHECK(c.check({{"mqtt.max_inflight", "0"}})
        == "invalid value for mqtt.max_inflight: '0': expected a whole number between 1 and 65535");
  CHECK(c.check({{"mqtt.listener.tcp", "1884"}})
        == "mqtt.listener.tcp cannot change while the node runs (it is read once at start): "
           "set it in the config file or STARLING_MQTT__LISTENER__TCP and restart the node");
  CHECK(c.check({{"nope.key", "1"}}) == "unknown config key 'nope.key'");
  CHECK(c.check({{"log.level", "loud"}}).find("expected one of debug, info, warning, error") != std::string::npos);
  CHECK(c.check({}) == "no configuration key given");
  auto a = c.set_cluster({{"mqtt.max_inflight", "64"}, {"cluster.autoclean", "1h"},
                          {"mqtt.listener.tcp", "9"}}); // ignored: not online
  CHECK(a.error.empty());
  CHECK(a.changed == std::vector<std::string>{"cluster.autoclean", "mqtt.max_inflight"});
  CHECK(c.effective().number("mqtt.max_inflight") == 64);
  CHECK(c.effective().settings.at("mqtt.max_inflight").second == "cluster configuration");
  CHECK(c.effective().text("mqtt.listener.tcp") == "0.0.0.0:1883");
  // A record dropped: the node's own value again.
  a = c.set_cluster({{"cluster.autoclean", "1h"}});
  CHECK(a.changed == std::vector<std::string>{"mqtt.max_inflight"});
  CHECK(c.effective().number("mqtt.max_inflight") == 32);
  // An invalid record changes nothing.
  a = c.set_cluster({{"mqtt.max_inflight", "x"}});
  CHECK(!a.error.empty());
  CHECK(c.effective().text("cluster.autoclean") == "1h");
  CHECK(runtime::config_sections().front() == "node");
}

TEST_CASE("config: validate_key and the online flag") {
  CHECK(runtime::validate_key("mqtt.max_qos_allowed", "2").empty());
  CHECK(runtime::validate_key("mqtt.max_qos_allowed", "3") == "expected a whole number between 0 and 2");
  CHECK(runtime::validate_key("x.y", "1") == "unknown config key 'x.y'");
  CHECK(runtime::find_config_key("cluster.autoclean")->online);
  CHECK(!runtime::find_config_key("node.name")->online);
  CHECK(runtime::find_config_key("dashboard.listener.http")->default_value == "18083");
}

TEST_CASE("auth store: the default user stands in while the synced table is empty") {
  auth_store a;
  user_record def{"admin", hash_password_salted("public", "salt", 1000), "", true, 0};
  a.set_default(def);
  CHECK(!a.user("admin")); // a replica not yet in sync accepts no one
  a.mark_synced();
  REQUIRE(a.user("admin"));
  CHECK(a.user("admin")->must_change);
  CHECK(a.users().size() == 1);
  CHECK(!a.user("other"));
  user_record changed{"admin", hash_password_salted("n3w-pass", "s2", 1000), "", false, 1};
  CHECK(a.apply(user_table, "admin", changed.to_json().dump()));
  CHECK(!a.user("admin")->must_change);
  CHECK(verify_password("n3w-pass", a.user("admin")->password));
  CHECK(!a.apply(user_table, "bad", "not json"));
  // A bootstrap: cleared (not in sync), then the records again.
  a.clear(user_table);
  CHECK(!a.user("admin"));
  a.apply(user_table, "admin", changed.to_json().dump());
  a.mark_synced();
  CHECK(!a.user("admin")->must_change);
}
