// The options of rebalance start / evacuation start, from ctl and HTTP.

#include <doctest/doctest.h>

#include "starling/broker/balance_request.hpp"

using namespace starling::broker;
using json = nlohmann::json;

TEST_CASE("balance request: EMQX's defaults; numbers as JSON or as ctl's text") {
  rebalance_options o;
  std::vector<std::string> nodes{"stale"};
  CHECK_FALSE(read_rebalance_request(json::object(), o, nodes));
  CHECK(nodes.empty()); // every running node
  CHECK(o.conn_evict_rate == 500);
  CHECK(o.wait_health_check_ms == 60'000);
  CHECK(o.rel_conn_threshold == doctest::Approx(1.1));

  auto j = json{{"nodes", "a@h,b@h"}, {"conn_evict_rate", "50"},
                {"sess_evict_rate", 20}, {"wait_health_check", "500ms"},
                {"wait_takeover", 3}, {"abs_conn_threshold", "10"},
                {"rel_conn_threshold", "1.5"}, {"rel_sess_threshold", 2}};
  CHECK_FALSE(read_rebalance_request(j, o, nodes));
  CHECK(nodes == std::vector<std::string>{"a@h", "b@h"});
  CHECK(o.conn_evict_rate == 50);
  CHECK(o.sess_evict_rate == 20);
  CHECK(o.wait_health_check_ms == 500);
  CHECK(o.wait_takeover_ms == 3000);
  CHECK(o.abs_conn_threshold == 10);
  CHECK(o.rel_conn_threshold == doctest::Approx(1.5));
  CHECK(o.rel_sess_threshold == doctest::Approx(2.0));
}

TEST_CASE("balance request: each bad field is named") {
  rebalance_options o;
  std::vector<std::string> nodes;
  auto err = [&](json j) { return read_rebalance_request(j, o, nodes).value_or("ok"); };
  CHECK(err({{"conn_evict_rate", "0"}})
        == "conn_evict_rate: '0' is not a positive whole number");
  CHECK(err({{"conn_evict_rate", -5}})
        == "conn_evict_rate: '-5' is not a positive whole number");
  CHECK(err({{"rel_conn_threshold", "0.5"}})
        == "rel_conn_threshold: '0.5' is not a number of at least 1.0");
  CHECK(err({{"wait_takeover", "soon"}})
        == "wait_takeover: 'soon' is not a wait (seconds, or a duration such as "
           "60s or 500ms, at most 1d)");
  CHECK(err({{"nodes", "a@h"}}) == "nodes: a rebalance needs at least two nodes");
  CHECK(err({{"nodes", "a@h,a@h"}}) == "nodes: a@h is named twice");
  CHECK(err({{"nodes", json::array({"a@h", "core2"})}})
        == "nodes: 'core2' is not a node name (NAME@HOST)");
  CHECK(err({{"colour", "red"}}).starts_with("unknown field 'colour' (known: nodes, "));
  CHECK(err(json::array()) == "the request must be a JSON object");
}

TEST_CASE("balance request: evacuation") {
  evacuation_options o;
  auto j = json{{"redirect_to", "127.0.0.1:1884"}, {"migrate_to", json::array({"b@h"})},
                {"conn_evict_rate", 100}, {"wait_health_check", "0"}};
  CHECK_FALSE(read_evacuation_request(j, o));
  CHECK(o.redirect_to == "127.0.0.1:1884");
  CHECK(o.migrate_to == std::vector<std::string>{"b@h"});
  CHECK(o.conn_evict_rate == 100);
  CHECK(o.wait_health_check_ms == 0);
  CHECK(read_evacuation_request({{"redirect_to", 5}}, o)
        == "redirect_to: a server reference (HOST:PORT) is expected");
  CHECK(read_evacuation_request({{"nodes", "a@h"}}, o).value_or("").starts_with(
    "unknown field 'nodes'"));
}
