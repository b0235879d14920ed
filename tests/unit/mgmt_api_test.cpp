// The management API without a node: routing, credentials, validation and
// the shape of answers, against a fake backend.

#include <doctest/doctest.h>

#include "starling/mgmt/api.hpp"
#include "starling/mgmt/node_stats.hpp"

using namespace starling;
using namespace starling::mgmt;
using json = nlohmann::json;

namespace {

runtime::node_config test_config() {
  runtime::config_inputs in;
  in.args = {"-name", "core1@127.0.0.1", "-cookie", "c"};
  auto r = runtime::load_node_config(in);
  REQUIRE(r.config);
  return *r.config;
}

runtime::random_source counter_random() {
  auto n = std::make_shared<unsigned char>(0);
  return [n](unsigned char* p, size_t len) {
    for (size_t i = 0; i < len; ++i)
      p[i] = (*n)++;
  };
}

struct fake_backend : backend {
  runtime::node_config cfg = test_config();
  json clients = json::array();
  std::vector<std::string> asked_nodes;
  std::map<std::string, std::optional<std::string>> written;
  runtime::config_changes configured;

  std::string node_name() override { return "core1@127.0.0.1"; }
  outcome<json> cluster_status() override {
    return json{{"running_nodes", {"core1@127.0.0.1", "core2@127.0.0.1"}},
                {"stopped_nodes", {"core3@127.0.0.1"}},
                {"members",
                 {{{"node", "core1@127.0.0.1"}, {"role", "core"}, {"status", "up"}},
                  {{"node", "core2@127.0.0.1"}, {"role", "core"}, {"status", "up"}},
                  {{"node", "core3@127.0.0.1"}, {"role", "core"}, {"status", "down"}}}}};
  }
  std::map<std::string, outcome<json>> gather(const std::string& kind, const std::string& arg,
                                              const std::vector<std::string>& nodes) override {
    std::map<std::string, outcome<json>> out;
    for (auto& n : nodes) {
      asked_nodes.push_back(n);
      if (kind == "clients") {
        auto mine = json::array();
        for (auto& c : clients)
          if (c["at"] == n)
            mine.push_back(c);
        out.emplace(n, mine);
      } else if (kind == "node") {
        out.emplace(n, json{{"node", n}, {"node_status", "running"}});
      } else if (kind == "kick") {
        out.emplace(n, json{{"kicked", n == "core2@127.0.0.1" && arg == "c1"}});
      } else if (kind == "stats") {
        node_stats s;
        s.connections = 2;
        s.received = {1, 2, 3};
        out.emplace(n, s.to_json());
      } else {
        out.emplace(n, json::array());
      }
    }
    return out;
  }
  outcome<std::string> invite(const std::string& n) override { return "joined " + n; }
  outcome<std::string> force_leave(const std::string&) override { return std::string("ok"); }
  outcome<json> publish(const publish_request& p) override { return json{{"topic", p.topic}}; }
  outcome<uint64_t> write(const std::string& table, const std::string& key,
                          const std::optional<std::string>& value) override {
    written[table + "/" + key] = value;
    return uint64_t{7};
  }
  outcome<uint64_t> configure(const runtime::config_changes& c) override {
    configured = c;
    return uint64_t{9};
  }
  runtime::node_config config() override { return cfg; }
  std::vector<std::string> balanced; ///< "node command request"
  outcome<json> balance(const std::string& node, const std::string& command,
                        const json& request) override {
    balanced.push_back(node + " " + command + " " + request.dump());
    if (command == "rebalance_start" && !request.contains("nodes"))
      return bad_request("nothing to balance");
    return json{{"node", node}, {"rebalance", nullptr}, {"evacuation", nullptr}};
  }
};

struct fixture {
  fake_backend be;
  auth_store auth;
  health_state health;
  api_context ctx;
  int64_t now = 1'000'000;

  fixture() {
    ctx.node = &be;
    ctx.auth = &auth;
    ctx.health = &health;
    ctx.signer = std::make_unique<token_signer>("cookie");
    ctx.now_ms = [this] { return now; };
    ctx.rnd = counter_random();
    user_record u;
    u.username = "admin";
    u.password = hash_password("public", ctx.rnd, 1000);
    u.must_change = true;
    auth.apply(user_table, "admin", u.to_json().dump());
  }

  http_response req(std::string method, std::string path, std::string body = "",
                    std::string authz = "", query_params q = {}) {
    return handle(ctx, {method, path, std::move(q), std::move(body), std::move(authz), "10.0.0.1"});
  }

  std::string login(const std::string& pw = "public") {
    auto r = req("POST", "/api/v5/login", json{{"username", "admin"}, {"password", pw}}.dump());
    REQUIRE(r.status == 200);
    return "Bearer " + json::parse(r.body)["token"].get<std::string>();
  }

  /// Logs in and changes the default password: a token for everything.
  std::string admin() {
    auto t = login();
    auto r = req("POST", "/api/v5/users/admin/change_pwd",
                 json{{"old_pwd", "public"}, {"new_pwd", "s3cret-pass"}}.dump(), t);
    REQUIRE(r.status == 204);
    return login("s3cret-pass");
  }
};

json body(const http_response& r) {
  return json::parse(r.body);
}

} // namespace

TEST_CASE("mgmt api: paths, methods and the health check") {
  fixture f;
  auto r = f.req("GET", "/status");
  CHECK(r.status == 503); // starting
  CHECK(r.body == "Node core1@127.0.0.1 is starting\n");
  f.health.set(health_state::running);
  CHECK(f.req("GET", "/api/v5/status").status == 200);
  r = f.req("GET", "/api/v5/nope");
  CHECK(r.status == 404);
  CHECK(body(r)["code"] == "NOT_FOUND");
  r = f.req("PATCH", "/api/v5/nodes");
  CHECK(r.status == 405);
  CHECK(body(r)["message"] == "PATCH is not allowed on /api/v5/nodes (allowed: GET)");
}

TEST_CASE("mgmt api: every path but the health check and login needs credentials") {
  fixture f;
  for (auto p : {"/api/v5/nodes", "/api/v5/clients", "/api/v5/metrics",
                 "/api/v5/prometheus/stats", "/api/v5/configs/mqtt"}) {
    auto r = f.req("GET", p);
    INFO(p);
    CHECK(r.status == 401);
    CHECK(body(r)["code"] == "UNAUTHORIZED");
  }
  CHECK(body(f.req("GET", "/api/v5/nodes", "", "Bearer x.1.y.z"))["code"] == "BAD_TOKEN");
  CHECK(body(f.req("GET", "/api/v5/nodes", "", "Basic !!"))["code"] == "BAD_API_KEY_OR_SECRET");
}

TEST_CASE("mgmt api: the default password must be changed first") {
  fixture f;
  auto t = f.login();
  auto r = f.req("GET", "/api/v5/nodes", "", t);
  CHECK(r.status == 403);
  CHECK(body(r)["code"] == "PASSWORD_CHANGE_REQUIRED");
  r = f.req("POST", "/api/v5/users/admin/change_pwd",
            json{{"old_pwd", "public"}, {"new_pwd", "short"}}.dump(), t);
  CHECK(r.status == 400);
  CHECK(body(r)["message"] == "the new password must be 8 to 128 characters long");
  r = f.req("POST", "/api/v5/users/admin/change_pwd",
            json{{"old_pwd", "wrong"}, {"new_pwd", "s3cret-pass"}}.dump(), t);
  CHECK(r.status == 400);
  auto good = f.admin();
  // The old token named the old password: refused now.
  CHECK(body(f.req("GET", "/api/v5/nodes", "", t))["code"] == "BAD_TOKEN");
  CHECK(f.req("GET", "/api/v5/nodes", "", good).status == 200);
  CHECK(f.be.written.count("admin_user/admin"));
  // Expired tokens are refused with their own code.
  f.now += 61 * 60 * 1000;
  CHECK(body(f.req("GET", "/api/v5/nodes", "", good))["code"] == "TOKEN_TIME_OUT");
}

TEST_CASE("mgmt api: failed logins lock the address") {
  fixture f;
  for (int i = 0; i < 4; ++i)
    CHECK(f.req("POST", "/api/v5/login", R"({"username":"admin","password":"x"})").status == 401);
  auto r = f.req("POST", "/api/v5/login", R"({"username":"admin","password":"x"})");
  CHECK(r.status == 429);
  CHECK(r.headers.at("Retry-After") == "600");
  // Even the right password waits.
  CHECK(f.req("POST", "/api/v5/login", R"({"username":"admin","password":"public"})").status == 429);
  f.now += 601 * 1000;
  CHECK(f.req("POST", "/api/v5/login", R"({"username":"admin","password":"public"})").status == 200);
}

TEST_CASE("mgmt api: bad JSON, unknown fields and wrong types are named") {
  fixture f;
  auto t = f.admin();
  auto msg = [&](std::string b) {
    auto r = f.req("POST", "/api/v5/publish", b, t);
    CHECK(r.status == 400);
    return body(r)["message"].get<std::string>();
  };
  CHECK(msg("{\"topic\": ") == "the body is not valid JSON (at byte 11)");
  CHECK(msg("[1]") == "the body must be a JSON object, not an array");
  CHECK(msg(R"({"topic":"t","qso":1})") == "unknown field 'qso' (known: payload, payload_encoding, qos, retain, topic)");
  CHECK(msg(R"({"topic":"t","qos":3})") == "field 'qos' must be between 0 and 2, not 3");
  CHECK(msg(R"({"topic":"t","retain":"yes"})") == "field 'retain' must be true or false, not a string");
  CHECK(msg(R"({"topic":"a/#"})").find("field 'topic'") == 0);
  CHECK(msg(R"({"qos":1})") == "missing field 'topic'");
  CHECK(f.req("POST", "/api/v5/publish", R"({"topic":"a/b","payload":"hi"})", t).status == 200);
}

TEST_CASE("mgmt api: clients are gathered from every running node and paged") {
  fixture f;
  auto t = f.admin();
  for (int i = 0; i < 5; ++i)
    f.be.clients.push_back({{"clientid", "c" + std::to_string(i)},
                            {"at", i < 3 ? "core1@127.0.0.1" : "core2@127.0.0.1"},
                            {"conn_state", i == 4 ? "disconnected" : "connected"}});
  auto r = f.req("GET", "/api/v5/clients", "", t, {{"limit", "2"}, {"page", "2"}});
  REQUIRE(r.status == 200);
  auto j = body(r);
  CHECK(j["meta"] == json{{"page", 2}, {"limit", 2}, {"count", 5}, {"hasnext", true}});
  CHECK(j["data"].size() == 2);
  CHECK(j["data"][0]["node"] == "core1@127.0.0.1");
  j = body(f.req("GET", "/api/v5/clients", "", t, {{"conn_state", "disconnected"}}));
  CHECK(j["meta"]["count"] == 1);
  j = body(f.req("GET", "/api/v5/clients", "", t, {{"like_clientid", "c"}, {"node", "core2@127.0.0.1"}}));
  CHECK(j["meta"]["count"] == 2);
  r = f.req("GET", "/api/v5/clients", "", t, {{"limit", "0"}});
  CHECK(body(r)["message"] == "query parameter 'limit' must be a whole number between 1 and 10000, not '0'");
  r = f.req("GET", "/api/v5/clients", "", t, {{"conn_state", "up"}});
  CHECK(body(r)["message"] == "query parameter 'conn_state' must be one of connected, disconnected, not 'up'");
  r = f.req("GET", "/api/v5/clients", "", t, {{"sort", "x"}});
  CHECK(body(r)["message"].get<std::string>().find("unknown query parameter 'sort'") == 0);
  r = f.req("GET", "/api/v5/clients", "", t, {{"node", "nope@h"}});
  CHECK(r.status == 404);
  CHECK(body(r)["message"] == "node 'nope@h' is not a member of this cluster (members: "
                              "core1@127.0.0.1, core2@127.0.0.1, core3@127.0.0.1)");
}

TEST_CASE("mgmt api: nodes, kick, unknown nodes") {
  fixture f;
  auto t = f.admin();
  auto j = body(f.req("GET", "/api/v5/nodes", "", t));
  REQUIRE(j.size() == 3);
  CHECK(j[2] == json{{"node", "core3@127.0.0.1"}, {"role", "core"}, {"node_status", "stopped"},
                     {"status_since_s", 0}});
  CHECK(body(f.req("GET", "/api/v5/nodes/core2@127.0.0.1", "", t))["node_status"] == "running");
  CHECK(f.req("GET", "/api/v5/nodes/x@h", "", t).status == 404);
  CHECK(f.req("DELETE", "/api/v5/clients/c1", "", t).status == 204);
  auto r = f.req("DELETE", "/api/v5/clients/zz", "", t);
  CHECK(r.status == 404);
  CHECK(body(r)["code"] == "CLIENTID_NOT_FOUND");
  CHECK(f.req("DELETE", "/api/v5/cluster/x@h/force_leave", "", t).status == 404);
  CHECK(body(f.req("POST", "/api/v5/cluster/bad name/invite", "", t))["message"]
          .get<std::string>().find("'bad name' is not a node name") == 0);
  CHECK(f.req("POST", "/api/v5/cluster/core9@127.0.0.1/invite", "", t).status == 200);
  j = body(f.req("GET", "/api/v5/stats", "", t, {{"aggregate", "true"}}));
  CHECK(j["connections.count"] == 4);
  j = body(f.req("GET", "/api/v5/metrics", "", t));
  CHECK(j[0]["messages.qos2.received"] == 3);
}

TEST_CASE("mgmt api: API keys authenticate with HTTP Basic") {
  fixture f;
  auto t = f.admin();
  auto r = f.req("POST", "/api/v5/api_key", R"({"name":"ci"})", t);
  REQUIRE(r.status == 200);
  auto k = body(r);
  auto basic = [](std::string s) {
    static const char* tbl = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    size_t i = 0;
    for (; i + 2 < s.size(); i += 3) {
      uint32_t v = (uint8_t(s[i]) << 16) | (uint8_t(s[i + 1]) << 8) | uint8_t(s[i + 2]);
      for (int k = 3; k >= 0; --k)
        out += tbl[(v >> (6 * k)) & 63];
    }
    if (i + 1 == s.size()) {
      uint32_t v = uint8_t(s[i]) << 16;
      out += tbl[v >> 18];
      out += tbl[(v >> 12) & 63];
      out += "==";
    } else if (i + 2 == s.size()) {
      uint32_t v = (uint8_t(s[i]) << 16) | (uint8_t(s[i + 1]) << 8);
      out += tbl[v >> 18];
      out += tbl[(v >> 12) & 63];
      out += tbl[(v >> 6) & 63];
      out += "=";
    }
    return "Basic " + out;
  };
  auto good = basic(k["api_key"].get<std::string>() + ":" + k["api_secret"].get<std::string>());
  CHECK(f.req("GET", "/api/v5/nodes", "", good).status == 200);
  CHECK(f.req("GET", "/api/v5/nodes", "", good).status == 200); // cached
  auto bad = basic(k["api_key"].get<std::string>() + ":nope");
  CHECK(body(f.req("GET", "/api/v5/nodes", "", bad))["code"] == "BAD_API_KEY_OR_SECRET");
  CHECK(f.req("POST", "/api/v5/api_key", R"({"name":"ci"})", t).status == 409);
  CHECK(f.req("DELETE", "/api/v5/api_key/ci", "", t).status == 204);
  CHECK(f.req("GET", "/api/v5/nodes", "", good).status == 401);
}

TEST_CASE("mgmt api: online configuration") {
  fixture f;
  auto t = f.admin();
  auto j = body(f.req("GET", "/api/v5/configs/mqtt", "", t));
  CHECK(j["max_inflight"] == 32);
  CHECK(j["retain_available"] == true);
  CHECK(body(f.req("GET", "/api/v5/configs/node", "", t))["cookie"] == "******");
  auto r = f.req("GET", "/api/v5/configs/nope", "", t);
  CHECK(r.status == 404);
  CHECK(body(r)["message"].get<std::string>().find("unknown config section 'nope' (sections: node, cluster") == 0);
  r = f.req("PUT", "/api/v5/configs/mqtt", R"({"max_inflight": 64, "retain_available": false})", t);
  CHECK(r.status == 200);
  CHECK(f.be.configured == runtime::config_changes{{"mqtt.max_inflight", "64"},
                                                    {"mqtt.retain_available", "false"}});
  r = f.req("PUT", "/api/v5/configs/mqtt", R"({"listener": {"tcp": "1884"}})", t);
  CHECK(r.status == 400);
  CHECK(body(r)["code"] == "RESTART_REQUIRED");
  r = f.req("PUT", "/api/v5/configs/mqtt", R"({"max_inflightx": 1})", t);
  CHECK(body(r)["message"] == "unknown field 'max_inflightx' in section mqtt");
  r = f.req("PUT", "/api/v5/configs/mqtt", R"({"max_inflight": 1.5})", t);
  CHECK(body(r)["message"].get<std::string>().find("must be a string, a whole number") != std::string::npos);
}

TEST_CASE("mgmt: paths with parameters") {
  CHECK(match_path("/api/v5/nodes/{node}", "/api/v5/nodes/a@b")
        == std::map<std::string, std::string>{{"node", "a@b"}});
  CHECK(!match_path("/api/v5/nodes/{node}", "/api/v5/nodes"));
  CHECK(!match_path("/api/v5/nodes/{node}", "/api/v5/nodes/a/b"));
  CHECK(match_path("/api/v5/clients/{clientid...}", "/api/v5/clients/a/b/c")
        == std::map<std::string, std::string>{{"clientid", "a/b/c"}});
}

TEST_CASE("mgmt api: load_rebalance paths, and the availability check fails while "
          "draining") {
  fixture f;
  f.health.set(health_state::running);
  auto r = f.req("GET", "/api/v5/load_rebalance/availability_check");
  CHECK(r.status == 200); // no credentials needed
  f.health.set_draining(health_state::evacuating);
  r = f.req("GET", "/api/v5/load_rebalance/availability_check");
  CHECK(r.status == 503);
  CHECK(body(r)["message"] == "Node core1@127.0.0.1 is started; it is being evacuated");
  CHECK(f.req("GET", "/status").status == 503);
  f.health.set_draining(health_state::rebalance_donor);
  CHECK(f.req("GET", "/status").status == 503);
  f.health.set_draining(health_state::not_draining);
  CHECK(f.req("GET", "/status").status == 200);

  auto t = f.admin();
  CHECK(f.req("POST", "/api/v5/load_rebalance/core1@127.0.0.1/start").status == 401);
  r = f.req("POST", "/api/v5/load_rebalance/core2@127.0.0.1/evacuation/start",
            json{{"redirect_to", "127.0.0.1:1884"}}.dump(), t);
  CHECK(r.status == 200);
  REQUIRE(f.be.balanced.size() == 1);
  CHECK(f.be.balanced[0]
        == R"(core2@127.0.0.1 evacuation_start {"redirect_to":"127.0.0.1:1884"})");
  r = f.req("POST", "/api/v5/load_rebalance/core1@127.0.0.1/start", "", t);
  CHECK(r.status == 400);
  CHECK(body(r)["message"] == "nothing to balance");
  r = f.req("POST", "/api/v5/load_rebalance/core3@127.0.0.1/stop", "", t);
  CHECK(r.status == 503); // a member that is not running
  r = f.req("POST", "/api/v5/load_rebalance/core9@127.0.0.1/stop", "", t);
  CHECK(r.status == 404);
  r = f.req("POST", "/api/v5/load_rebalance/core1@127.0.0.1/stop", "{\"x\":1}", t);
  CHECK(r.status == 400);
  r = f.req("POST", "/api/v5/load_rebalance/core1@127.0.0.1/start", "[1]", t);
  CHECK(body(r)["message"] == "the body must be a JSON object");
  CHECK(f.req("GET", "/api/v5/load_rebalance/global_status", "", t).status == 200);
  CHECK(f.req("GET", "/api/v5/load_rebalance/status", "", t).status == 200);
}
