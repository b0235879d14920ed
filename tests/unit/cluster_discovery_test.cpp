#include <doctest/doctest.h>

#include "starling/runtime/cluster/discovery.hpp"

using namespace starling::runtime;
using namespace starling::runtime::cluster;

namespace {

using names = std::vector<std::string>;

config_result load(std::vector<std::string> env, std::vector<std::string> args = {}) {
  config_inputs in;
  in.environment = std::move(env);
  in.args = std::move(args);
  return load_node_config(in);
}

probe_answer reached(bool core, std::vector<probe_answer::member_age> running) {
  probe_answer a;
  a.reached = true;
  a.core = core;
  a.running = std::move(running);
  return a;
}

autocluster_effect::kind_t kind(const std::vector<autocluster_effect>& e, size_t i = 0) {
  REQUIRE(e.size() > i);
  return e[i].kind;
}

} // namespace

TEST_CASE("strategy from the configuration; seeds alone still mean static") {
  auto r = load({});
  REQUIRE(r.config);
  CHECK(configured_strategy(*r.config) == strategy::manual);
  r = load({"STARLING_CLUSTER__STATIC__SEEDS=a@h,b@h"});
  CHECK(configured_strategy(*r.config) == strategy::static_seeds);
  r = load({"STARLING_CLUSTER__STATIC__SEEDS=a@h",
            "STARLING_CLUSTER__DISCOVERY_STRATEGY=manual"});
  CHECK(configured_strategy(*r.config) == strategy::manual);
  r = load({"STARLING_CLUSTER__DISCOVERY_STRATEGY=etcd"});
  REQUIRE_FALSE(r.config);
  CHECK(r.error.find("cluster.etcd.server is not set") != std::string::npos);
}

TEST_CASE("dns: a start-time check that the node's host fits the record type") {
  auto ok = load({"STARLING_CLUSTER__DISCOVERY_STRATEGY=dns",
                  "STARLING_CLUSTER__DNS__NAME=cores.test"},
                 {"-name", "starling@10.0.0.1"});
  CHECK(ok.config);
  auto bad = load({"STARLING_CLUSTER__DISCOVERY_STRATEGY=dns",
                   "STARLING_CLUSTER__DNS__NAME=cores.test"},
                  {"-name", "starling@node1.test"});
  REQUIRE_FALSE(bad.config);
  CHECK(bad.error.find("does not fit cluster.dns.record_type = a") != std::string::npos);
  auto srv = load({"STARLING_CLUSTER__DISCOVERY_STRATEGY=dns",
                   "STARLING_CLUSTER__DNS__NAME=_starling._tcp.test",
                   "STARLING_CLUSTER__DNS__RECORD_TYPE=srv"},
                  {"-name", "starling@10.0.0.1"});
  REQUIRE_FALSE(srv.config);
  CHECK(srv.error.find("the host must be a host name") != std::string::npos);
  auto none = load({"STARLING_CLUSTER__DISCOVERY_STRATEGY=dns"},
                   {"-name", "starling@10.0.0.1"});
  REQUIRE_FALSE(none.config);
  CHECK(none.error.find("cluster.dns.name is not set") != std::string::npos);
}

TEST_CASE("names from A, AAAA and SRV answers") {
  CHECK(names_from_addresses("starling", {"10.0.0.2", "10.0.0.1", "10.0.0.2"})
        == names{"starling@10.0.0.2", "starling@10.0.0.1"});
  CHECK(names_from_addresses("emqx", {"fd00::1"}) == names{"emqx@[fd00::1]"});
  CHECK(names_from_srv("s", {{10, 5, 4370, "b.test."}, {0, 1, 4370, "c.test."},
                             {10, 9, 4370, "a.test."}})
        == names{"s@c.test", "s@a.test", "s@b.test"});
}

TEST_CASE("names from a Kubernetes Endpoints object, as EMQX forms them") {
  auto ep = nlohmann::json::parse(R"({
    "kind": "Endpoints", "metadata": {"name": "starling-headless"},
    "subsets": [{"addresses": [{"ip": "10.1.0.5", "hostname": "starling-0"},
                               {"ip": "10.1.0.6", "hostname": "starling-1"}],
                 "notReadyAddresses": [{"ip": "10.1.0.7", "hostname": "starling-2"}]}]})");
  std::string err;
  CHECK(*names_from_endpoints(ep, "starling", "ip", "svc", "default", "", err)
        == names{"starling@10.1.0.5", "starling@10.1.0.6"});
  CHECK(*names_from_endpoints(ep, "starling", "dns", "svc", "ns1", "pod.cluster.local", err)
        == names{"starling@10-1-0-5.ns1.pod.cluster.local",
                 "starling@10-1-0-6.ns1.pod.cluster.local"});
  CHECK(*names_from_endpoints(ep, "starling", "hostname", "svc", "ns1",
                              "svc.cluster.local", err)
        == names{"starling@starling-0.svc.ns1.svc.cluster.local",
                 "starling@starling-1.svc.ns1.svc.cluster.local"});
  CHECK_FALSE(names_from_endpoints(nlohmann::json::parse(R"({"kind": "Status"})"),
                                   "s", "ip", "svc", "d", "", err));
  CHECK(err == "the answer is not an Endpoints object");
}

TEST_CASE("etcd: base64 keys, node keys under the prefix") {
  for (std::string s : {"", "a", "ab", "abc", "abcd", "starling/starling/nodes/x@h"})
    CHECK(base64_decode(base64_encode(s)) == s);
  CHECK(base64_encode("foo") == "Zm9v");
  CHECK_FALSE(base64_decode("Zm9*"));
  nlohmann::json answer{
    {"kvs", {{{"key", base64_encode("p/c/nodes/b@h")}, {"value", base64_encode("b@h:4400")}},
             {{"key", base64_encode("p/c/nodes/a@h")}, {"value", base64_encode("")}},
             {{"key", base64_encode("p/c/lock")}, {"value", base64_encode("a@h")}}}}};
  std::string err;
  CHECK(*names_from_etcd_range(answer, "p", "c", err) == names{"a@h", "b@h:4400"});
  CHECK(etcd_node_key("p", "c", "a@h") == "p/c/nodes/a@h");
}

TEST_CASE("autocluster: the youngest core joins the cluster of the oldest") {
  autocluster_settings s;
  s.kind = strategy::dns;
  autocluster a("c2@h", 200, s);
  a.set_running({{"c2@h", true, 200}});
  CHECK(kind(a.on_tick(0, 0.5)) == autocluster_effect::discover);
  auto e = a.on_discovered(true, {"c1@h", "c2@h", "c3@h"}, "", 10, 0.5);
  REQUIRE(kind(e) == autocluster_effect::probe);
  CHECK(e[0].nodes == names{"c1@h", "c3@h"});
  std::map<std::string, probe_answer> answers{
    {"c1@h", reached(true, {{"c1@h", true, 100}})},
    {"c3@h", reached(true, {{"c3@h", true, 300}})}};
  e = a.on_probed(answers, 20, 0.5);
  REQUIRE(kind(e) == autocluster_effect::join);
  CHECK(e[0].node == "c1@h");
  a.set_running({{"c1@h", true, 100}, {"c2@h", true, 200}});
  e = a.on_joined(true, "", 30, 0.5);
  CHECK_FALSE(a.settled()); // c3 does not run with us yet
  // c3 (younger) joins us in its own round; our next round settles.
  a.set_running({{"c1@h", true, 100}, {"c2@h", true, 200}, {"c3@h", true, 300}});
  CHECK(a.on_tick(31, 0.5).empty()); // not due yet
  auto t = a.next_round_ms();
  CHECK(t >= 30 + 2500);
  CHECK(t <= 30 + 5000);
  CHECK(kind(a.on_tick(t, 0.5)) == autocluster_effect::discover);
  e = a.on_discovered(true, {"c1@h", "c2@h", "c3@h"}, "", t, 0.5);
  CHECK(a.settled());
  CHECK(kind(e) == autocluster_effect::log);
  CHECK(e[0].text.find("settled: 3 nodes") != std::string::npos);
  CHECK(a.next_round_ms() == t + s.settled_interval_ms);
}

TEST_CASE("autocluster: the oldest core meets a younger one at once; ports are not names") {
  autocluster_settings s;
  s.kind = strategy::static_seeds;
  autocluster old("c1@h", 100, s);
  old.set_running({{"c1@h", true, 100}});
  old.on_tick(0, 0);
  old.on_discovered(true, {"c1@h:4371", "c2@h:4372"}, "", 0, 0);
  auto e = old.on_probed({{"c2@h:4372", reached(true, {{"c2@h", true, 200}})}}, 0, 0);
  REQUIRE(kind(e) == autocluster_effect::join);
  CHECK(e[0].node == "c2@h:4372");
  old.set_running({{"c1@h", true, 100}, {"c2@h", true, 200}});
  old.on_joined(true, "", 1, 0);
  CHECK(old.settled()); // c1@h:4371 is this node, c2@h:4372 is c2@h
}

TEST_CASE("autocluster: a replicant joins the first core that answers") {
  autocluster_settings s;
  s.kind = strategy::dns;
  s.core = false;
  autocluster r("r1@h", 50, s);
  r.set_running({{"r1@h", false, 50}});
  r.on_tick(0, 0);
  r.on_discovered(true, {"c1@h", "c2@h"}, "", 0, 0);
  probe_answer down;
  down.error = "refused";
  auto e = r.on_probed({{"c1@h", down}, {"c2@h", reached(true, {{"c2@h", true, 9}})}},
                       0, 0);
  REQUIRE(kind(e) == autocluster_effect::join);
  CHECK(e[0].node == "c2@h");
}

TEST_CASE("autocluster: errors are logged once per change, and rounds go on") {
  autocluster_settings s;
  s.kind = strategy::dns;
  autocluster a("c1@h", 1, s);
  a.set_running({{"c1@h", true, 1}});
  int64_t now = 0;
  std::vector<std::string> logged;
  for (int round = 0; round < 5; ++round) {
    a.on_tick(now, 0.0);
    for (auto& e : a.on_discovered(false, {}, "NXDOMAIN for cores.test", now, 0.0))
      if (e.kind == autocluster_effect::log)
        logged.push_back(e.text);
    CHECK(a.last_error() == "NXDOMAIN for cores.test");
    now = a.next_round_ms();
  }
  CHECK(logged.size() == 1);
  CHECK(logged[0].find("NXDOMAIN") != std::string::npos);
}

TEST_CASE("autocluster with etcd: lock, register, unlock; a held lock retries") {
  autocluster_settings s;
  s.kind = strategy::etcd;
  s.locks = s.registers = true;
  autocluster a("c2@h", 200, s);
  a.set_running({{"c2@h", true, 200}});
  CHECK(kind(a.on_tick(0, 0.5)) == autocluster_effect::lock);
  auto e = a.on_locked(false, "the lock is held by c1@h", 1, 0.5);
  CHECK(a.current() == autocluster::phase::idle);
  CHECK(kind(a.on_tick(a.next_round_ms(), 0.5)) == autocluster_effect::lock);
  CHECK(kind(a.on_locked(true, "", 3000, 0.5)) == autocluster_effect::discover);
  e = a.on_discovered(true, {"c1@h"}, "", 3000, 0.5);
  REQUIRE(kind(e) == autocluster_effect::probe);
  e = a.on_probed({{"c1@h", reached(true, {{"c1@h", true, 100}})}}, 3000, 0.5);
  REQUIRE(kind(e) == autocluster_effect::join);
  a.set_running({{"c1@h", true, 100}, {"c2@h", true, 200}});
  e = a.on_joined(true, "", 3001, 0.5);
  REQUIRE(kind(e) == autocluster_effect::register_self);
  e = a.on_registered(true, "", 3002, 0.5);
  REQUIRE(kind(e) == autocluster_effect::unlock);
  CHECK(a.settled());
  CHECK(a.registered());
  a.on_registration_lost();
  CHECK_FALSE(a.settled());
  CHECK(kind(a.on_tick(3003, 0.5)) == autocluster_effect::lock);
}
