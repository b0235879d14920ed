// Moving clients off a node (rebalance, evacuation): the kick that sends
// a client elsewhere, and a channel hosting a session that moved here
// without its client.

#include <doctest/doctest.h>

#include "channel_harness.hpp"

using namespace starling::broker;
using namespace starling::broker::test;

namespace {

connect persistent(protocol_version v, std::uint32_t expiry = 600) {
  auto c = make_connect(v, "c1", false);
  if (v == protocol_version::v5)
    c.props.session_expiry_interval = expiry;
  c.will = will_message{"status/c1", bytes("gone"), qos::at_least_once, false, {}};
  return c;
}

session with_subscription(std::uint32_t expiry) {
  session s("c1", {}, expiry);
  s.subscribe("a/#", {"a/#", std::nullopt, {}, std::nullopt});
  return s;
}

} // namespace

TEST_CASE("channel moved: MQTT 5 is told 0x9C with the Server Reference; no Will") {
  harness h;
  h.connect(persistent(protocol_version::v5));
  auto fx = h.checked(h.ch->kick(reason_code::use_another_server, h.now,
                                 "127.0.0.1:1884"));
  auto d = sent_one<disconnect>(fx);
  CHECK(d.code == reason_code::use_another_server);
  CHECK(d.props.server_reference == "127.0.0.1:1884");
  CHECK(closes(fx));
  CHECK(published(fx).empty()); // the client carries on elsewhere
  CHECK(h.ch->state() == channel_state::disconnected);
  CHECK(h.ch->release_session()); // the session stays, to be taken over
}

TEST_CASE("channel moved: without a reference there is no property; MQTT 3 is closed") {
  harness h;
  h.connect(persistent(protocol_version::v5));
  auto d = sent_one<disconnect>(h.kick(reason_code::use_another_server));
  CHECK_FALSE(d.props.server_reference);

  h.connect(persistent(protocol_version::v3_1_1));
  auto fx = h.checked(h.ch->kick(reason_code::use_another_server, h.now,
                                 "127.0.0.1:1884"));
  CHECK(packets_sent(fx) == 0);
  CHECK(closes(fx));
  CHECK(h.ch->state() == channel_state::disconnected);
}

TEST_CASE("channel moved: a session hosted without its client queues, expires, "
          "and is taken by the client's next CONNECT") {
  harness h;
  h.fresh();
  auto fx = h.checked(h.ch->host_moved("c1", with_subscription(600), h.now));
  auto subs = effects_of<subscribe_filter>(fx);
  REQUIRE(subs.size() == 1);
  CHECK(subs[0].subscription == "a/#");
  CHECK(subs[0].existed);
  CHECK_FALSE(subs[0].send_retained);
  CHECK(packets_sent(fx) == 0);
  CHECK(h.ch->state() == channel_state::disconnected);
  CHECK(h.ch->client_id() == "c1");
  auto timers = effects_of<set_timer>(fx);
  REQUIRE(timers.size() == 1);
  CHECK(timers[0].kind == timer_kind::session_expiry);
  CHECK(timers[0].due_ms == h.now + 600'000); // the interval starts again

  // Messages wait for the client.
  std::vector<std::string> keys{"a/#"};
  h.checked(h.ch->deliver(make_message("a/1", qos::at_least_once), keys, h.now));
  REQUIRE(h.ch->current_session());
  CHECK(h.ch->current_session()->queue().size() == 1);

  // Its client connects here: the session moves to the new channel with
  // the message, which goes out after CONNACK.
  auto kept = h.ch->release_session();
  REQUIRE(kept);
  fx = h.connect(persistent(protocol_version::v5), std::move(kept));
  CHECK(sent_one<connack>(fx).session_present);
  CHECK(sent<publish>(fx).size() == 1);
}

TEST_CASE("channel moved: the hosted session ends when it expires; a busy channel "
          "hosts nothing") {
  harness h;
  h.fresh();
  h.checked(h.ch->host_moved("c1", with_subscription(10), h.now));
  h.now += 10'000;
  auto fx = h.timer(timer_kind::session_expiry);
  CHECK(effects_of<session_ended>(fx).size() == 1);
  CHECK(effects_of<unsubscribe_filter>(fx).size() == 1);

  h.connect(persistent(protocol_version::v5));
  CHECK(h.ch->host_moved("c1", with_subscription(10), h.now).empty());
  CHECK(h.ch->state() == channel_state::connected);
}
