// EMQX's acl.conf format, over the examples of EMQX's documentation and its
// default acl.conf.

#include <doctest/doctest.h>

#include "starling/broker/acl.hpp"

using namespace starling::broker;

namespace {

// EMQX 5's default etc/acl.conf, comments included.
const char* emqx_default = R"(%%--------------------------------------------------------------------
%% -type(ipaddr() :: {ipaddr, string()}).
%% -type(who() :: ipaddr() | ipaddrs() | username() | clientid() | all).
%% -type(rule() :: {permission(), who(), action(), topics()} | {permission(), all}).
%%--------------------------------------------------------------------

{allow, {username, {re, "^dashboard$"}}, subscribe, ["$SYS/#"]}.

{allow, {ipaddr, "127.0.0.1"}, all, ["$SYS/#", "#"]}.

{deny, all, subscribe, ["$SYS/#", {eq, "#"}]}.

{allow, all}.
)";

acl parse(const char* text) {
  std::string err;
  auto a = acl::parse(text, err);
  REQUIRE_MESSAGE(a, err);
  return std::move(*a);
}

constexpr auto pub = access_action::publish;
constexpr auto sub = access_action::subscribe;

acl_client client(std::string_view id, std::optional<std::string_view> user,
                  std::string_view host = "10.1.2.3") {
  return {id, user, host};
}

} // namespace

TEST_CASE("acl: EMQX's default acl.conf") {
  auto a = parse(emqx_default);
  CHECK(a.size() == 4);
  auto dash = client("d", "dashboard");
  CHECK(a.check(dash, sub, "$SYS/brokers/x/uptime") == true);
  auto local = client("l", std::nullopt, "127.0.0.1");
  CHECK(a.check(local, sub, "#") == true);
  CHECK(a.check(local, pub, "$SYS/x") == true);
  auto other = client("o", "someone");
  CHECK(a.check(other, sub, "$SYS/brokers") == false);
  CHECK(a.check(other, sub, "#") == false);     // {eq, "#"}
  CHECK(a.check(other, sub, "a/#") == true);    // {allow, all}
  CHECK(a.check(other, pub, "$SYS/x") == true); // the deny is for subscribe
}

TEST_CASE("acl: %u and %c placeholders, and their ${...} forms") {
  auto a = parse(R"(
{allow, {username, "dev1"}, publish, ["dev/%u/#"]}.
{allow, all, subscribe, ["clients/%c/inbox", "users/${username}/+", "c/${clientid}"]}.
{deny, all}.
)");
  auto dev1 = client("c1", "dev1");
  CHECK(a.check(dev1, pub, "dev/dev1/temp") == true);
  CHECK(a.check(dev1, pub, "dev/dev2/temp") == false);
  CHECK(a.check(client("c2", "dev2"), pub, "dev/dev2/temp") == false);
  CHECK(a.check(dev1, sub, "clients/c1/inbox") == true);
  CHECK(a.check(dev1, sub, "clients/c2/inbox") == false);
  CHECK(a.check(dev1, sub, "users/dev1/x") == true);
  CHECK(a.check(dev1, sub, "c/c1") == true);
  // No username: a rule naming %u does not match.
  CHECK(a.check(client("c3", std::nullopt), sub, "users//x") == false);
  // A username holding a separator or a wildcard does not widen the rule.
  CHECK(a.check(client("c4", "#"), sub, "users/#/x") == false);
  CHECK(a.check(client("a/b", "u"), sub, "clients/a/b/inbox") == false);
}

TEST_CASE("acl: who by client id, address, CIDR, and/or") {
  auto a = parse(R"(
{allow, {clientid, "sensor-1"}, publish, ["s/1"]}.
{allow, {client, {re, "^gw-[0-9]+$"}}, publish, ["gw/#"]}.
{allow, {ipaddr, "192.168.0.0/16"}, subscribe, ["lan/#"]}.
{allow, {ipaddrs, ["10.0.0.1", "fd00::/8"]}, subscribe, ["ops/#"]}.
{allow, {'and', [{user, "op"}, {ipaddr, "10.9.0.0/24"}]}, all, ["admin/#"]}.
{allow, {'or', [{user, "a"}, {clientid, "b"}]}, publish, ["ab"]}.
{deny, all}.
)");
  CHECK(a.check(client("sensor-1", std::nullopt), pub, "s/1") == true);
  CHECK(a.check(client("sensor-2", std::nullopt), pub, "s/1") == false);
  CHECK(a.check(client("gw-17", std::nullopt), pub, "gw/x/y") == true);
  CHECK(a.check(client("gw-x", std::nullopt), pub, "gw/x") == false);
  CHECK(a.check(client("x", std::nullopt, "192.168.4.5"), sub, "lan/a") == true);
  CHECK(a.check(client("x", std::nullopt, "192.169.4.5"), sub, "lan/a") == false);
  CHECK(a.check(client("x", std::nullopt, "10.0.0.1"), sub, "ops/a") == true);
  CHECK(a.check(client("x", std::nullopt, "fd12::5"), sub, "ops/a") == true);
  CHECK(a.check(client("x", std::nullopt, "10.0.0.2"), sub, "ops/a") == false);
  CHECK(a.check(client("x", "op", "10.9.0.7"), pub, "admin/1") == true);
  CHECK(a.check(client("x", "op", "10.9.1.7"), pub, "admin/1") == false);
  CHECK(a.check(client("x", "a"), pub, "ab") == true);
  CHECK(a.check(client("b", std::nullopt), pub, "ab") == true);
  CHECK(a.check(client("c", "c"), pub, "ab") == false);
}

TEST_CASE("acl: rules are tried in order; no match gives nullopt") {
  auto a = parse(R"(
{deny, {username, "x"}, publish, ["t/secret"]}.
{allow, {username, "x"}, publish, ["t/#"]}.
)");
  auto x = client("c", "x");
  CHECK(a.check(x, pub, "t/secret") == false);
  CHECK(a.check(x, pub, "t/open") == true);
  CHECK(a.check(x, pub, "u/open") == std::nullopt);
  CHECK(a.check(x, sub, "t/open") == std::nullopt); // publish rules only
}

TEST_CASE("acl: subscription filters against rule filters") {
  auto a = parse(R"(
{allow, all, subscribe, ["a/+", "b/#", {eq, "c/#"}]}.
{deny, all}.
)");
  auto c = client("c", std::nullopt);
  CHECK(a.check(c, sub, "a/x") == true);
  CHECK(a.check(c, sub, "a/+") == true);
  CHECK(a.check(c, sub, "a/#") == true);   // '+' covers the word '#', as in EMQX
  CHECK(a.check(c, sub, "a/x/y") == false);
  CHECK(a.check(c, sub, "b/x/#") == true);
  CHECK(a.check(c, sub, "#") == false);
  CHECK(a.check(c, sub, "c/#") == true);   // eq: exactly that
  CHECK(a.check(c, sub, "c/x") == false);
  // A shared subscription is checked by its filter.
  CHECK(a.check(c, sub, "$share/g/a/x") == true);
  CHECK(a.check(c, sub, "$share/g/z") == false);
}

TEST_CASE("acl: '#' does not reach $SYS unless the rule names it") {
  auto a = parse(R"({allow, all, all, ["#"]}.)");
  auto c = client("c", std::nullopt);
  CHECK(a.check(c, pub, "x/y") == true);
  CHECK(a.check(c, sub, "$SYS/brokers") == std::nullopt);
}

TEST_CASE("acl: errors name the line and what is wrong") {
  std::string err;
  CHECK_FALSE(acl::parse("{allow, all}.\n{permit, all}.\n", err));
  CHECK(err == "line 2: expected allow or deny, got 'permit'");
  CHECK_FALSE(acl::parse("{allow, {username, \"u\"}, publish, [\"a\"]}\n", err));
  CHECK(err == "line 1: expected '.' after the rule");
  CHECK_FALSE(acl::parse("\n\n{allow, {user, 7}, publish, [\"a\"]}.", err));
  CHECK(err.rfind("line 3: expected a string or {re", 0) == 0);
  CHECK_FALSE(acl::parse("{allow, all, publish, [\"a/#/b\"]}.", err));
  CHECK(err.find("invalid topic filter \"a/#/b\"") != std::string::npos);
  CHECK_FALSE(acl::parse("{allow, {ipaddr, \"300.1.1.1\"}, all, [\"#\"]}.", err));
  CHECK(err.find("invalid address") != std::string::npos);
  CHECK_FALSE(acl::parse("{allow, all, {publish, [{qos, 1}]}, [\"a\"]}.", err));
  CHECK(err.find("not supported") != std::string::npos);
  CHECK_FALSE(acl::parse("{allow, all, publish, [\"a\"]", err));
  CHECK_FALSE(acl::parse("{allow, {username, \"open", err));
  CHECK(err.find("unterminated string") != std::string::npos);
  CHECK_FALSE(acl::parse("{allow, {username, {re, \"(\"}}, all, [\"a\"]}.", err));
  CHECK(err.find("invalid regex") != std::string::npos);
  CHECK(acl::parse("% only a comment\n", err)->size() == 0);
}

TEST_CASE("cidr: parse and contains") {
  auto n = cidr::parse("10.0.0.0/8");
  REQUIRE(n);
  CHECK(n->contains("10.255.1.1"));
  CHECK_FALSE(n->contains("11.0.0.1"));
  CHECK_FALSE(n->contains("::1"));
  CHECK(cidr::parse("0.0.0.0/0")->contains("1.2.3.4"));
  CHECK(cidr::parse("::1")->contains("::1"));
  CHECK_FALSE(cidr::parse("10.0.0.0/33"));
  CHECK_FALSE(cidr::parse("10.0.0.0/"));
  CHECK_FALSE(cidr::parse("nope"));
}
