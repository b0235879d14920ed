// CONNECT handling: protocol levels, client identifier rules, authentication,
// the Will checks, CONNACK properties, keepalive, and the protocol errors
// around CONNECT.

#include <doctest/doctest.h>

#include "channel_harness.hpp"
#include "starling/broker/codec.hpp"

using namespace starling::broker;
using namespace starling::broker::test;

namespace {

/// The wire bytes of `p` for `version`.
binary wire(const packet& p, protocol_version version) {
  binary out;
  REQUIRE_FALSE(encode(p, version, out));
  return out;
}

/// The CONNACK `fx` sends, encoded for the channel's version.
binary connack_wire(const effect_list& fx) {
  auto sends = effects_of<send_packet>(fx);
  REQUIRE(sends.size() == 1);
  REQUIRE(std::holds_alternative<connack>(sends.front().pkt));
  return wire(sends.front().pkt, sends.front().version);
}

} // namespace

TEST_CASE("channel connect: MQTT 5 CONNECT opens a session, CONNACK announces "
          "the capabilities") {
  harness h;
  h.fresh();
  auto fx = h.in(make_connect(protocol_version::v5, "c1"));
  auto open = effects_of<open_session>(fx);
  REQUIRE(open.size() == 1);
  CHECK(open[0] == open_session{"c1", true, 0, false});
  CHECK(packets_sent(fx) == 0); // CONNACK waits for the session
  CHECK(h.ch->state() == channel_state::connecting);

  fx = h.opened(std::nullopt);
  auto ack = sent_one<connack>(fx);
  CHECK(ack.code == reason_code::success);
  CHECK_FALSE(ack.session_present);
  CHECK(ack.props.receive_maximum == 100);
  CHECK(ack.props.topic_alias_maximum == 65535);
  CHECK(ack.props.maximum_packet_size == 1024 * 1024);
  CHECK(ack.props.retain_available == true);
  CHECK(ack.props.wildcard_subscription_available == true);
  CHECK(ack.props.shared_subscription_available == true);
  CHECK(ack.props.subscription_identifiers_available == true);
  CHECK_FALSE(ack.props.maximum_qos);       // 2 is the default
  CHECK_FALSE(ack.props.server_keep_alive); // none configured
  CHECK_FALSE(ack.props.assigned_client_identifier);
  CHECK(h.ch->state() == channel_state::connected);
  CHECK(effects_of<set_timer>(fx)
        == std::vector{set_timer{timer_kind::keepalive, h.now + 90'000}});
}

TEST_CASE("channel connect: MQTT 3.1, 3.1.1 and 5 CONNACKs") {
  for (auto version : {protocol_version::v3_1, protocol_version::v3_1_1,
                       protocol_version::v5}) {
    INFO(to_string(version));
    harness h;
    auto fx = h.connect(make_connect(version, "client"));
    auto ack = sent_one<connack>(fx);
    CHECK(ack.code == reason_code::success);
    CHECK(h.ch->version() == version);
    CHECK(effects_of<send_packet>(fx).front().version == version);
    CHECK(ack.props.empty() == (version != protocol_version::v5));
  }
}

TEST_CASE("channel connect: empty client id in 3.1.1 with clean session is "
          "assigned one") {
  harness h;
  auto fx = h.connect(make_connect(protocol_version::v3_1_1, "", true));
  auto open = effects_of<open_session>(fx);
  CHECK(open[0].assigned_client_id);
  CHECK(open[0].client_id.size() == 32);
  CHECK(open[0].client_id == h.ch->client_id());
  CHECK(sent_one<connack>(fx).code == reason_code::success);
}

TEST_CASE("channel connect: empty client id in 3.1.1 without clean session is "
          "identifier rejected") {
  harness h;
  h.fresh();
  auto fx = h.in(make_connect(protocol_version::v3_1_1, "", false));
  CHECK(effects_of<open_session>(fx).empty());
  CHECK(connack_wire(fx) == binary{0x20, 0x02, 0x00, 0x02});
  CHECK(closes(fx));
  CHECK(h.ch->state() == channel_state::closed);
}

TEST_CASE("channel connect: empty client id in 3.1 is identifier rejected") {
  harness h;
  h.fresh();
  auto fx = h.in(make_connect(protocol_version::v3_1, "", true));
  CHECK(sent_one<connack>(fx).code == reason_code::client_identifier_not_valid);
  CHECK(closes(fx));
}

TEST_CASE("channel connect: MQTT 5 empty client id gets an assigned client "
          "identifier in CONNACK") {
  harness h;
  auto fx = h.connect(make_connect(protocol_version::v5, "", false));
  auto ack = sent_one<connack>(fx);
  REQUIRE(ack.props.assigned_client_identifier);
  CHECK(*ack.props.assigned_client_identifier == h.ch->client_id());
  CHECK_FALSE(ack.session_present);
  // Seeded randomness: another channel with another seed differs.
  harness other;
  other.rng.seed(7);
  other.connect(make_connect(protocol_version::v5, ""));
  CHECK(other.ch->client_id() != h.ch->client_id());
}

TEST_CASE("channel connect: a client id over the limit is refused with 0x85") {
  harness h;
  h.config.max_clientid_len = 8;
  h.fresh();
  auto fx = h.in(make_connect(protocol_version::v5, "123456789"));
  auto ack = sent_one<connack>(fx);
  CHECK(ack.code == reason_code::client_identifier_not_valid);
  CHECK(ack.props.reason_string);
  CHECK(closes(fx));
}

TEST_CASE("channel connect: the authentication hook decides") {
  harness h;
  auth_request seen;
  h.hooks.authenticate = [&](const auth_request& r) {
    seen = r;
    if (r.username == "bad")
      return reason_code::bad_username_or_password;
    if (r.username == "banned")
      return reason_code::not_authorized;
    return reason_code::success;
  };
  auto c = make_connect(protocol_version::v5, "c1");
  c.username = "good";
  c.password = bytes("secret");
  h.connect(c);
  CHECK(seen.client_id == "c1");
  CHECK(seen.username == "good");
  REQUIRE(seen.password);
  CHECK(binary(seen.password->begin(), seen.password->end())
        == bytes("secret"));

  SUBCASE("MQTT 5 gets the reason code") {
    h.fresh();
    c.username = "bad";
    auto fx = h.in(c);
    CHECK(sent_one<connack>(fx).code == reason_code::bad_username_or_password);
    CHECK(closes(fx));
    h.fresh();
    c.username = "banned";
    CHECK(sent_one<connack>(h.in(c)).code == reason_code::not_authorized);
  }
  SUBCASE("MQTT 3.1.1 gets return codes 4 and 5") {
    c.version = protocol_version::v3_1_1;
    c.username = "bad";
    h.fresh();
    CHECK(connack_wire(h.in(c)) == binary{0x20, 0x02, 0x00, 0x04});
    c.username = "banned";
    h.fresh();
    CHECK(connack_wire(h.in(c)) == binary{0x20, 0x02, 0x00, 0x05});
  }
}

TEST_CASE("channel connect: without a hook, allow_anonymous decides") {
  harness h;
  h.config.allow_anonymous = false;
  h.fresh();
  auto fx = h.in(make_connect(protocol_version::v5, "c1"));
  CHECK(sent_one<connack>(fx).code == reason_code::not_authorized);
}

TEST_CASE("channel connect: a second CONNECT is a protocol error") {
  SUBCASE("MQTT 5: DISCONNECT 0x82") {
    harness h;
    h.connect_v5();
    auto fx = h.in(make_connect(protocol_version::v5, "c1"));
    CHECK(sent_one<disconnect>(fx).code == reason_code::protocol_error);
    CHECK(closes(fx));
    CHECK(h.ch->state() != channel_state::connected);
  }
  SUBCASE("MQTT 3.1.1: closed without a packet") {
    harness h;
    h.connect_v3();
    auto fx = h.in(make_connect(protocol_version::v3_1_1, "c1"));
    CHECK(packets_sent(fx) == 0);
    CHECK(effects_of<close_connection>(fx).at(0).code
          == reason_code::protocol_error);
  }
}

TEST_CASE("channel connect: enhanced authentication is refused cleanly") {
  SUBCASE("CONNECT with an Authentication Method: CONNACK 0x8C") {
    harness h;
    h.fresh();
    auto c = make_connect(protocol_version::v5, "c1");
    c.props.authentication_method = "SCRAM-SHA-1";
    auto fx = h.in(c);
    CHECK(sent_one<connack>(fx).code == reason_code::bad_authentication_method);
    CHECK(effects_of<open_session>(fx).empty());
    CHECK(closes(fx));
  }
  SUBCASE("AUTH after CONNECT: DISCONNECT 0x82") {
    harness h;
    h.connect_v5();
    auth a;
    a.code = reason_code::re_authenticate;
    auto fx = h.in(a);
    CHECK(sent_one<disconnect>(fx).code == reason_code::protocol_error);
    CHECK(closes(fx));
  }
}

TEST_CASE("channel connect: server packets from a client are protocol "
          "errors") {
  harness h;
  h.connect_v5();
  auto fx = h.in(suback{1, {reason_code::granted_qos_0}, {}});
  CHECK(sent_one<disconnect>(fx).code == reason_code::protocol_error);
}

TEST_CASE("channel connect: server keepalive overrides the client's") {
  harness h;
  h.config.server_keepalive = 10;
  auto fx = h.connect_v5();
  CHECK(sent_one<connack>(fx).props.server_keep_alive == 10);
  CHECK(h.ch->keepalive() == 10);
  CHECK(effects_of<set_timer>(fx)
        == std::vector{set_timer{timer_kind::keepalive, h.now + 15'000}});

  SUBCASE("traffic moves the deadline") {
    const auto start = h.now;
    h.now += 5'000;
    h.in(pingreq{});
    h.now = start + 15'000;
    fx = h.timer(timer_kind::keepalive);
    CHECK(effects_of<set_timer>(fx)
          == std::vector{set_timer{timer_kind::keepalive, start + 20'000}});
    CHECK_FALSE(closes(fx));
    h.now = start + 19'000;
    h.ch->activity(h.now); // bytes of a packet still arriving
    h.now = start + 20'000;
    fx = h.timer(timer_kind::keepalive);
    CHECK_FALSE(closes(fx));
  }
  SUBCASE("silence times out with DISCONNECT 0x8D") {
    h.now += 15'000;
    fx = h.timer(timer_kind::keepalive);
    CHECK(sent_one<disconnect>(fx).code == reason_code::keep_alive_timeout);
    CHECK(closes(fx));
    CHECK(h.ch->state() == channel_state::closed); // expiry 0: session ends
  }
}

TEST_CASE("channel connect: 3.x ignores the server keepalive; 0 means none") {
  harness h;
  h.config.server_keepalive = 10;
  auto fx = h.connect_v3();
  CHECK(h.ch->keepalive() == 60);
  auto c = make_connect(protocol_version::v5, "c2");
  c.keep_alive = 0;
  h.config.server_keepalive.reset();
  fx = h.connect(c);
  CHECK(effects_of<set_timer>(fx).empty());
}

TEST_CASE("channel connect: session expiry is capped and the cap announced") {
  harness h;
  h.config.max_session_expiry_interval = 3600;
  auto c = make_connect(protocol_version::v5, "c1", false);
  c.props.session_expiry_interval = 86'400;
  auto fx = h.connect(c);
  CHECK(effects_of<open_session>(fx).at(0).expiry_interval == 3600);
  CHECK(sent_one<connack>(fx).props.session_expiry_interval == 3600);

  c.props.session_expiry_interval = 60;
  fx = h.connect(c);
  CHECK_FALSE(sent_one<connack>(fx).props.session_expiry_interval);
}

TEST_CASE("channel connect: 3.x clean session 0 keeps the session for the "
          "configured interval") {
  harness h;
  auto fx = h.connect_v3("c1", false);
  CHECK(effects_of<open_session>(fx).at(0).expiry_interval == 7200);
  fx = h.connect_v3("c1", true);
  CHECK(effects_of<open_session>(fx).at(0).expiry_interval == 0);
}

TEST_CASE("channel connect: a Will the broker cannot honour is refused") {
  harness h;
  auto c = make_connect(protocol_version::v5, "c1");
  c.will = will_message{"dead/c1", bytes("bye"), qos::exactly_once, false, {}};

  SUBCASE("QoS above the maximum: 0x9B") {
    h.config.max_qos = qos::at_least_once;
    h.fresh();
    CHECK(sent_one<connack>(h.in(c)).code == reason_code::qos_not_supported);
  }
  SUBCASE("retained without retain available: 0x9A") {
    h.config.retain_available = false;
    c.will->retain = true;
    h.fresh();
    CHECK(sent_one<connack>(h.in(c)).code
          == reason_code::retain_not_supported);
  }
  SUBCASE("to $SYS: 0x87") {
    c.will->topic = "$SYS/broker/uptime";
    h.fresh();
    CHECK(sent_one<connack>(h.in(c)).code == reason_code::not_authorized);
  }
  SUBCASE("payload declared UTF-8 but is not: 0x99") {
    c.will->props.payload_format_indicator = payload_format::utf8;
    c.will->payload = binary{0xC3, 0x28};
    h.fresh();
    CHECK(sent_one<connack>(h.in(c)).code
          == reason_code::payload_format_invalid);
  }
}

TEST_CASE("channel connect: decoder errors are answered in the client's "
          "dialect") {
  harness h;
  SUBCASE("malformed MQTT 5 CONNECT: CONNACK 0x81") {
    h.fresh();
    auto fx = h.decode_error(reason_code::malformed_packet, protocol_version::v5);
    CHECK(sent_one<connack>(fx).code == reason_code::malformed_packet);
    CHECK(closes(fx));
  }
  SUBCASE("malformed 3.1.1 CONNECT: closed without CONNACK") {
    h.fresh();
    auto fx = h.decode_error(reason_code::malformed_packet, protocol_version::v3_1_1);
    CHECK(packets_sent(fx) == 0);
    CHECK(closes(fx));
  }
  SUBCASE("unknown protocol level: 3.1.1 return code 1") {
    h.fresh();
    auto fx = h.decode_error(reason_code::unsupported_protocol_version, std::nullopt);
    CHECK(connack_wire(fx) == binary{0x20, 0x02, 0x00, 0x01});
  }
  SUBCASE("after CONNECT, MQTT 5: DISCONNECT with the code") {
    h.connect_v5();
    auto fx = h.decode_error(reason_code::packet_too_large, protocol_version::v5);
    CHECK(sent_one<disconnect>(fx).code == reason_code::packet_too_large);
    CHECK(closes(fx));
  }
}

TEST_CASE("channel connect: packets pipelined after CONNECT are handled after "
          "CONNACK") {
  harness h;
  h.fresh();
  h.in(make_connect(protocol_version::v5, "c1"));
  CHECK(packets_sent(h.in(make_subscribe(1, "a/b", qos::at_least_once))) == 0);
  CHECK(packets_sent(h.in(pingreq{})) == 0);
  auto fx = h.opened(std::nullopt);
  auto sends = effects_of<send_packet>(fx);
  REQUIRE(sends.size() == 3);
  CHECK(std::holds_alternative<connack>(sends[0].pkt));
  CHECK(std::holds_alternative<suback>(sends[1].pkt));
  CHECK(std::holds_alternative<pingresp>(sends[2].pkt));
  CHECK(effects_of<subscribe_filter>(fx).size() == 1);
}

TEST_CASE("channel connect: the host may refuse the session") {
  harness h;
  h.fresh();
  h.in(make_connect(protocol_version::v5, "c1"));
  auto fx = h.refused(reason_code::server_busy);
  CHECK(sent_one<connack>(fx).code == reason_code::server_busy);
  CHECK(closes(fx));
  CHECK(h.ch->state() == channel_state::closed);
}

TEST_CASE("channel connect: PINGREQ gets PINGRESP") {
  harness h;
  h.connect_v3();
  CHECK(sent<pingresp>(h.in(pingreq{})).size() == 1);
}

TEST_CASE("channel connect: a channel fits jemalloc's 640 B size class") {
  // An idle fleet holds one channel per client. At 641 B jemalloc serves
  // it from its 768 B class: 128 B more per client (docs/performance.md,
  // "The channel's fields packed"). A new field needs room made for it,
  // or this limit raised knowingly.
  CHECK(sizeof(channel) <= 640);
}
