// The CONNECT decisions (bans, failure limiting, users, password file,
// anonymous clients) and the listener limits, with time passed in.

#include <doctest/doctest.h>

#include <vector>

#include "starling/broker/access_control.hpp"
#include "starling/broker/listener_guard.hpp"

using namespace starling::broker;

namespace {

std::vector<std::uint8_t> bytes_of(std::string_view s) {
  return {s.begin(), s.end()};
}

struct attempt {
  std::string client_id = "c1";
  std::optional<std::string> username;
  std::optional<std::vector<std::uint8_t>> password;
  std::string host = "10.0.0.7";
  bool from_cert = false;

  authn_request request() const {
    authn_request r;
    r.client_id = client_id;
    if (username)
      r.username = *username;
    if (password)
      r.password = std::span<const std::uint8_t>(*password);
    r.peer_host = host;
    r.username_from_certificate = from_cert;
    return r;
  }
};

attempt as(std::string user, std::string password) {
  attempt a;
  a.username = std::move(user);
  a.password = bytes_of(password);
  return a;
}

const std::vector<std::uint8_t> salt(16, 7);

} // namespace

TEST_CASE("access: users of the built-in database and the password file") {
  access_control ac;
  ac.put_user("alice", hash_password("right", salt, 10));
  std::string err;
  // mosquitto_passwd's $6$ for carol / c@rol.
  ac.set_password_file(parse_password_file(
    "carol:$6$HflB64x9KPJxwOsJ$SkSVeQdhv5NqAQMocqAFr3W6LrAw/jAuFr6JJYuHMk20cDFXxMnfjDzB0BFZRiOBoYd1uaHL/cxgUatRIHnzow==\n",
    err));
  CHECK(ac.authenticate(as("alice", "right").request(), 0, 0).code
        == reason_code::success);
  auto wrong = ac.authenticate(as("alice", "wrong").request(), 0, 0);
  CHECK(wrong.code == reason_code::bad_username_or_password);
  CHECK(wrong.why == "wrong password for user 'alice'");
  CHECK(ac.authenticate(as("carol", "c@rol").request(), 0, 0).code
        == reason_code::success);
  CHECK(ac.authenticate(as("carol", "x").request(), 0, 0).code
        == reason_code::bad_username_or_password);
  attempt no_password;
  no_password.username = "alice";
  CHECK(ac.authenticate(no_password.request(), 0, 0).code
        == reason_code::bad_username_or_password);
  // The database wins over the file for a user in both.
  ac.put_user("carol", hash_password("db", salt, 10));
  CHECK(ac.authenticate(as("carol", "db").request(), 0, 0).code
        == reason_code::success);
  ac.erase_user("carol");
  CHECK(ac.authenticate(as("carol", "c@rol").request(), 0, 0).code
        == reason_code::success);
}

TEST_CASE("access: anonymous clients and unknown users follow allow_anonymous") {
  access_control open;
  CHECK(open.authenticate(attempt{}.request(), 0, 0).code == reason_code::success);
  CHECK(open.authenticate(as("nobody", "x").request(), 0, 0).code
        == reason_code::success);
  access_settings s;
  s.allow_anonymous = false;
  access_control closed(s);
  auto none = closed.authenticate(attempt{}.request(), 0, 0);
  CHECK(none.code == reason_code::not_authorized);
  CHECK(closed.authenticate(as("nobody", "x").request(), 0, 0).code
        == reason_code::bad_username_or_password);
  // A username from a verified certificate is authenticated by TLS.
  attempt cert;
  cert.username = "device-7";
  cert.from_cert = true;
  CHECK(closed.authenticate(cert.request(), 0, 0).code == reason_code::success);
}

TEST_CASE("access: bans by client id, username and host, until a time") {
  access_control ac;
  ban b;
  b.kind = ban_kind::clientid;
  b.value = "bad";
  b.until_s = 1000;
  ac.bans().put(b.key(), b.encode());
  ban u{ban_kind::username, "mallory", 0, 5, "ctl"};
  ac.bans().put(u.key(), u.encode());
  ban h{ban_kind::peerhost, "10.6.6.6", 0, 5, "ctl"};
  ac.bans().put(h.key(), h.encode());
  attempt bad;
  bad.client_id = "bad";
  auto r = ac.authenticate(bad.request(), 0, 999);
  CHECK(r.code == reason_code::banned);
  CHECK(r.why.find("clientid:bad") != std::string::npos);
  CHECK(ac.authenticate(bad.request(), 0, 1000).code == reason_code::success);
  CHECK(ac.authenticate(as("mallory", "x").request(), 0, 0).code
        == reason_code::banned);
  attempt from_host;
  from_host.host = "10.6.6.6";
  CHECK(ac.authenticate(from_host.request(), 0, 0).code == reason_code::banned);
  ac.bans().erase(h.key());
  CHECK(ac.authenticate(from_host.request(), 0, 0).code == reason_code::success);
  CHECK(ac.bans().list().size() == 2);
}

TEST_CASE("access: failed attempts are limited per peer address") {
  access_settings s;
  s.max_failures = 3;
  s.failure_window_ms = 10000;
  access_control ac(s);
  ac.put_user("alice", hash_password("right", salt, 10));
  for (int i = 0; i < 3; ++i)
    CHECK(ac.authenticate(as("alice", "guess").request(), i * 100, 0).why
          == "wrong password for user 'alice'");
  // Blocked: even the right password is not looked at now.
  auto blocked = ac.authenticate(as("alice", "right").request(), 500, 0);
  CHECK(blocked.code == reason_code::bad_username_or_password);
  CHECK(blocked.why.find("too many failed attempts") != std::string::npos);
  // Another address is not affected.
  auto other = as("alice", "right");
  other.host = "10.0.0.8";
  CHECK(ac.authenticate(other.request(), 500, 0).code == reason_code::success);
  // The window slides: the first failure (t=0) leaves it at t=10000.
  CHECK(ac.authenticate(as("alice", "right").request(), 10000, 0).code
        == reason_code::success);
}

TEST_CASE("auth_failures: bounded memory, success resets") {
  auth_failures f(2, 1000, 4);
  f.failed("a", 0);
  f.succeeded("a");
  f.failed("a", 1);
  CHECK_FALSE(f.blocked("a", 2));
  for (int i = 0; i < 10; ++i)
    f.failed("p" + std::to_string(i), 0);
  CHECK(f.tracked() <= 4);
  auth_failures off(0, 1000);
  off.failed("x", 0);
  CHECK_FALSE(off.blocked("x", 0));
}

TEST_CASE("access: authorize uses the ACL, then no_match") {
  access_settings s;
  s.no_match_allows = false;
  access_control ac(s);
  acl_client c{"c", std::nullopt, "127.0.0.1"};
  CHECK_FALSE(ac.authorize(c, access_action::publish, "a"));
  std::string err;
  ac.set_acl(acl::parse(R"({allow, all, publish, ["a"]}.)", err));
  CHECK(ac.authorize(c, access_action::publish, "a"));
  CHECK_FALSE(ac.authorize(c, access_action::publish, "b"));
}

TEST_CASE("ban: --until as a duration or a UTC time; records round trip") {
  CHECK(parse_ban_until("30m", 1000) == 1000 + 1800);
  CHECK(parse_ban_until("2030-01-31T12:00:00Z", 0) == 1896091200);
  CHECK_FALSE(parse_ban_until("2000-01-01T00:00:00Z", 1896091200));
  CHECK_FALSE(parse_ban_until("soon", 0));
  CHECK(format_utc(1896091200) == "2030-01-31T12:00:00Z");
  CHECK(format_utc(0) == "infinity");
  ban b{ban_kind::username, "u:x", 7, 3, "ctl"};
  auto back = ban::decode(b.key(), b.encode());
  REQUIRE(back);
  CHECK(back->value == "u:x");
  CHECK(back->until_s == 7);
  CHECK_FALSE(ban::decode("what:x", "{}"));
  CHECK_FALSE(ban::decode("clientid:x", "not json"));
}

TEST_CASE("listener_guard: max_connections") {
  listener_guard g(2, 0);
  CHECK(g.admit(0) == admission::accepted);
  CHECK(g.admit(0) == admission::accepted);
  CHECK(g.admit(0) == admission::too_many_connections);
  CHECK(refusal_code(admission::too_many_connections) == reason_code::quota_exceeded);
  g.release();
  CHECK(g.admit(1) == admission::accepted);
  CHECK(g.current() == 2);
  CHECK(g.refused() == 1);
  CHECK(g.summary() == "2 connections (max_connections 2, max_conn_rate unlimited), 1 refused");
}

TEST_CASE("listener_guard: max_conn_rate is a token bucket of one second") {
  listener_guard g(0, 5);
  for (int i = 0; i < 5; ++i)
    CHECK(g.admit(1000) == admission::accepted);
  CHECK(g.admit(1000) == admission::rate_exceeded);
  CHECK(refusal_code(admission::rate_exceeded) == reason_code::connection_rate_exceeded);
  CHECK(g.admit(1100) == admission::rate_exceeded); // 0.5 tokens back
  CHECK(g.admit(1200) == admission::accepted);      // 1 token at 200 ms
  CHECK(g.admit(1200) == admission::rate_exceeded);
  // Idle for long: no more than one second's worth is saved up.
  int accepted = 0;
  for (int i = 0; i < 10; ++i)
    accepted += g.admit(60000) == admission::accepted;
  CHECK(accepted == 5);
}
