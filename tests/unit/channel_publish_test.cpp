// PUBLISH in both directions: the QoS 1/2 state machines, topic aliases,
// flow control, message expiry, refusals and packet size limits.

#include <doctest/doctest.h>

#include "channel_harness.hpp"

using namespace starling::broker;
using namespace starling::broker::test;

namespace {

const std::vector<std::string> sub_a = {"a/#"};

/// Connects `h` (MQTT 5 unless `v3`) with one subscription "a/#" at `q`.
void connect_subscribed(harness& h, qos q, const starling::broker::connect& c) {
  h.connect(c);
  h.subscribe(1, "a/#", q);
}

void connect_subscribed(harness& h, qos q) {
  connect_subscribed(h, q, make_connect(protocol_version::v5, "c1"));
}

} // namespace

TEST_CASE("channel publish: QoS 0 inbound is routed, not acknowledged") {
  harness h;
  h.connect_v5();
  auto fx = h.in(make_publish("a/b", qos::at_most_once));
  auto msgs = published(fx);
  REQUIRE(msgs.size() == 1);
  CHECK(msgs[0].topic == "a/b");
  CHECK(msgs[0].payload.bytes() == bytes("hello"));
  CHECK(msgs[0].publisher == "c1");
  CHECK(msgs[0].timestamp_ms == h.now);
  CHECK(packets_sent(fx) == 0);
}

TEST_CASE("channel publish: QoS 1 inbound is routed and PUBACKed") {
  harness h;
  h.connect_v3();
  auto fx = h.in(make_publish("a/b", qos::at_least_once, 7));
  CHECK(published(fx).size() == 1);
  CHECK(sent_one<puback>(fx) == puback{7, reason_code::success, {}});
}

TEST_CASE("channel publish: QoS 2 inbound, the full flow") {
  harness h;
  h.connect_v5();
  auto fx = h.in(make_publish("a/b", qos::exactly_once, 9));
  CHECK(published(fx).size() == 1);
  CHECK(sent_one<pubrec>(fx) == pubrec{9, reason_code::success, {}});
  CHECK(h.ch->current_session()->awaiting_rel_size() == 1);

  // The client did not see PUBREC and sends again with DUP: acknowledged,
  // not published twice.
  auto dup = make_publish("a/b", qos::exactly_once, 9);
  dup.dup = true;
  fx = h.in(dup);
  CHECK(published(fx).empty());
  CHECK(sent_one<pubrec>(fx).code == reason_code::success);

  fx = h.in(pubrel{9, reason_code::success, {}});
  CHECK(sent_one<pubcomp>(fx) == pubcomp{9, reason_code::success, {}});
  CHECK(h.ch->current_session()->awaiting_rel_size() == 0);

  // The same id again is a new message.
  CHECK(published(h.in(make_publish("a/b", qos::exactly_once, 9))).size()
        == 1);
}

TEST_CASE("channel publish: PUBREL for an unknown packet id") {
  SUBCASE("MQTT 5: PUBCOMP 0x92") {
    harness h;
    h.connect_v5();
    auto fx = h.in(pubrel{42, reason_code::success, {}});
    CHECK(sent_one<pubcomp>(fx).code
          == reason_code::packet_identifier_not_found);
  }
  SUBCASE("3.1.1: plain PUBCOMP") {
    harness h;
    h.connect_v3();
    CHECK(sent_one<pubcomp>(h.in(pubrel{42, reason_code::success, {}})).code
          == reason_code::success);
  }
}

TEST_CASE("channel publish: QoS 2 inbound expires after await_rel_timeout") {
  harness h;
  h.config.session.await_rel_timeout_ms = 1000;
  h.connect_v5();
  auto fx = h.in(make_publish("a/b", qos::exactly_once, 3));
  CHECK(effects_of<set_timer>(fx)
        == std::vector{set_timer{timer_kind::await_rel, h.now + 1000}});
  h.now += 1000;
  h.timer(timer_kind::await_rel);
  CHECK(h.ch->current_session()->awaiting_rel_size() == 0);
  CHECK(h.ch->current_session()->counters().awaiting_rel_expired == 1);
}

TEST_CASE("channel publish: QoS 1 outbound") {
  harness h;
  connect_subscribed(h, qos::at_least_once);
  auto fx = h.deliver(make_message("a/b", qos::at_least_once), sub_a);
  auto p = sent_one<publish>(fx);
  CHECK(p.qos == qos::at_least_once);
  CHECK(p.packet_id == 1);
  CHECK_FALSE(p.dup);
  CHECK(p.topic == "a/b");
  CHECK(p.payload == bytes("payload"));
  CHECK(h.ch->current_session()->inflight_size() == 1);
  CHECK(packets_sent(h.in(puback{1, reason_code::success, {}})) == 0);
  CHECK(h.ch->current_session()->inflight_size() == 0);
  CHECK(h.ch->current_session()->counters().acked == 1);
}

TEST_CASE("channel publish: QoS 2 outbound, PUBLISH PUBREC PUBREL PUBCOMP") {
  harness h;
  connect_subscribed(h, qos::exactly_once);
  auto p = sent_one<publish>(
    h.deliver(make_message("a/b", qos::exactly_once), sub_a));
  CHECK(p.qos == qos::exactly_once);
  auto fx = h.in(pubrec{p.packet_id, reason_code::success, {}});
  CHECK(sent_one<pubrel>(fx) == pubrel{p.packet_id, reason_code::success, {}});
  const auto* entry = h.ch->current_session()->find_inflight(p.packet_id);
  REQUIRE(entry);
  CHECK(entry->state == inflight_state::awaiting_pubcomp);
  CHECK(entry->out.msg.payload.empty()); // released after PUBREC
  // A repeated PUBREC gets the PUBREL again.
  CHECK(sent<pubrel>(h.in(pubrec{p.packet_id, reason_code::success, {}}))
          .size()
        == 1);
  h.in(pubcomp{p.packet_id, reason_code::success, {}});
  CHECK(h.ch->current_session()->inflight_size() == 0);

  SUBCASE("PUBREC for an unknown id: PUBREL 0x92") {
    CHECK(sent_one<pubrel>(h.in(pubrec{77, reason_code::success, {}})).code
          == reason_code::packet_identifier_not_found);
  }
  SUBCASE("PUBREC with a failure code ends the flow") {
    auto q = sent_one<publish>(
      h.deliver(make_message("a/c", qos::exactly_once), sub_a));
    auto fx2 = h.in(pubrec{q.packet_id, reason_code::unspecified_error, {}});
    CHECK(sent<pubrel>(fx2).empty());
    CHECK(h.ch->current_session()->inflight_size() == 0);
  }
}

TEST_CASE("channel publish: QoS is min(published, granted)") {
  harness h;
  connect_subscribed(h, qos::at_least_once);
  CHECK(sent_one<publish>(
          h.deliver(make_message("a/b", qos::exactly_once), sub_a))
          .qos
        == qos::at_least_once);
  CHECK(sent_one<publish>(
          h.deliver(make_message("a/b", qos::at_most_once), sub_a))
          .qos
        == qos::at_most_once);

  SUBCASE("upgrade_qos delivers with the granted QoS") {
    harness u;
    u.config.session.upgrade_qos = true;
    connect_subscribed(u, qos::exactly_once);
    CHECK(sent_one<publish>(
            u.deliver(make_message("a/b", qos::at_most_once), sub_a))
            .qos
          == qos::exactly_once);
  }
}

TEST_CASE("channel publish: the inflight window follows the client's Receive "
          "Maximum and the rest waits in the queue") {
  harness h;
  auto c = make_connect(protocol_version::v5, "c1");
  c.props.receive_maximum = 3;
  connect_subscribed(h, qos::at_least_once, c);
  effect_list fx;
  for (int i = 0; i < 5; ++i) {
    auto more = h.deliver(make_message("a/" + std::to_string(i),
                                       qos::at_least_once),
                          sub_a);
    fx.insert(fx.end(), more.begin(), more.end());
  }
  auto first = sent<publish>(fx);
  REQUIRE(first.size() == 3);
  CHECK(h.ch->current_session()->queue().size() == 2);
  // QoS 0 does not wait for the window.
  CHECK(sent<publish>(h.deliver(make_message("a/q0", qos::at_most_once), sub_a))
          .size()
        == 1);

  fx = h.in(puback{first[1].packet_id, reason_code::success, {}});
  auto next = sent_one<publish>(fx);
  CHECK(next.topic == "a/3");
  fx = h.in(puback{first[0].packet_id, reason_code::success, {}});
  CHECK(sent_one<publish>(fx).topic == "a/4");
  CHECK(h.ch->current_session()->queue().empty());
  CHECK(h.ch->current_session()->inflight_size() == 3);
}

TEST_CASE("channel publish: max_inflight bounds the window too") {
  harness h;
  h.config.session.max_inflight = 2;
  connect_subscribed(h, qos::exactly_once);
  for (int i = 0; i < 4; ++i)
    h.deliver(make_message("a/b", qos::exactly_once), sub_a);
  CHECK(h.ch->current_session()->inflight_size() == 2);
  CHECK(h.ch->current_session()->queue().size() == 2);
}

TEST_CASE("channel publish: inbound topic aliases") {
  harness h;
  h.config.max_topic_alias = 10;
  h.connect_v5();
  auto p = make_publish("sensors/room1/temp", qos::at_most_once);
  p.props.topic_alias = 3;
  CHECK(published(h.in(p)).at(0).topic == "sensors/room1/temp");

  SUBCASE("reused with an empty topic") {
    p.topic.clear();
    CHECK(published(h.in(p)).at(0).topic == "sensors/room1/temp");
  }
  SUBCASE("re-set to another topic") {
    p.topic = "other";
    h.in(p);
    p.topic.clear();
    CHECK(published(h.in(p)).at(0).topic == "other");
  }
  SUBCASE("above our maximum: DISCONNECT 0x94") {
    p.props.topic_alias = 11;
    auto fx = h.in(p);
    CHECK(sent_one<disconnect>(fx).code == reason_code::topic_alias_invalid);
    CHECK(published(fx).empty());
    CHECK(closes(fx));
  }
  SUBCASE("unknown alias: DISCONNECT 0x82") {
    p.props.topic_alias = 4;
    p.topic.clear();
    CHECK(sent_one<disconnect>(h.in(p)).code == reason_code::protocol_error);
  }
}

TEST_CASE("channel publish: outbound topic aliases up to the client's "
          "maximum") {
  harness h;
  auto c = make_connect(protocol_version::v5, "c1");
  c.props.topic_alias_maximum = 2;
  connect_subscribed(h, qos::at_most_once, c);
  auto send = [&](std::string topic) {
    return sent_one<publish>(
      h.deliver(make_message(std::move(topic), qos::at_most_once), sub_a));
  };
  auto p = send("a/one");
  CHECK(p.topic == "a/one");
  CHECK(p.props.topic_alias == 1);
  p = send("a/one");
  CHECK(p.topic.empty());
  CHECK(p.props.topic_alias == 1);
  p = send("a/two");
  CHECK(p.topic == "a/two");
  CHECK(p.props.topic_alias == 2);
  p = send("a/three"); // no alias left
  CHECK(p.topic == "a/three");
  CHECK_FALSE(p.props.topic_alias);
  CHECK(send("a/two").topic.empty());

  SUBCASE("none for a client without Topic Alias Maximum") {
    harness plain;
    connect_subscribed(plain, qos::at_most_once);
    auto q = sent_one<publish>(
      plain.deliver(make_message("a/one", qos::at_most_once), sub_a));
    CHECK_FALSE(q.props.topic_alias);
  }
}

TEST_CASE("channel publish: inbound QoS 2 beyond our Receive Maximum") {
  SUBCASE("MQTT 5: DISCONNECT 0x93") {
    harness h;
    h.config.session.max_awaiting_rel = 2;
    auto fx = h.connect_v5();
    CHECK(sent_one<connack>(fx).props.receive_maximum == 2);
    h.in(make_publish("t", qos::exactly_once, 1));
    h.in(make_publish("t", qos::exactly_once, 2));
    // A duplicate of an awaited id is still fine.
    CHECK(sent<pubrec>(h.in(make_publish("t", qos::exactly_once, 2))).size()
          == 1);
    fx = h.in(make_publish("t", qos::exactly_once, 3));
    CHECK(sent_one<disconnect>(fx).code
          == reason_code::receive_maximum_exceeded);
    CHECK(published(fx).empty());
  }
  SUBCASE("3.1.1: closed") {
    harness h;
    h.config.session.max_awaiting_rel = 1;
    h.connect_v3();
    h.in(make_publish("t", qos::exactly_once, 1));
    auto fx = h.in(make_publish("t", qos::exactly_once, 2));
    CHECK(packets_sent(fx) == 0);
    CHECK(closes(fx));
  }
}

TEST_CASE("channel publish: message expiry") {
  harness h;
  h.connect_v5();
  auto in = make_publish("a/b", qos::at_least_once, 1);
  in.props.message_expiry_interval = 10;
  auto msg = published(h.in(in)).at(0);
  CHECK(msg.expires_at_ms == h.now + 10'000);

  h.subscribe(1, "a/#", qos::at_least_once);
  SUBCASE("the remaining interval is forwarded") {
    h.now += 3'500;
    auto p = sent_one<publish>(h.deliver(msg, sub_a));
    CHECK(p.props.message_expiry_interval == 7); // 6.5 s left, rounded up
  }
  SUBCASE("an expired message is not delivered") {
    h.now += 10'000;
    CHECK(packets_sent(h.deliver(msg, sub_a)) == 0);
    CHECK(h.ch->current_session()->counters().dropped_expired == 1);
  }
}

TEST_CASE("channel publish: a queued message that expires while offline is "
          "dropped") {
  harness h;
  auto c = make_connect(protocol_version::v5, "c1", false);
  c.props.session_expiry_interval = 600;
  connect_subscribed(h, qos::at_least_once, c);
  h.lost();
  auto short_lived = make_message("a/short", qos::at_least_once);
  short_lived.expires_at_ms = h.now + 5'000;
  h.deliver(short_lived, sub_a);
  h.deliver(make_message("a/long", qos::at_least_once), sub_a);
  CHECK(h.ch->current_session()->queue().size() == 2);

  h.now += 6'000;
  auto old = h.ch->release_session();
  auto fx = h.connect(c, std::move(old));
  auto p = sent_one<publish>(fx);
  CHECK(p.topic == "a/long");
  CHECK(h.ch->current_session()->counters().dropped_expired == 1);
}

TEST_CASE("channel publish: PUBLISH to $SYS is refused") {
  SUBCASE("MQTT 5 QoS 1: PUBACK 0x87") {
    harness h;
    h.connect_v5();
    auto fx = h.in(make_publish("$SYS/broker/x", qos::at_least_once, 1));
    CHECK(published(fx).empty());
    CHECK(sent_one<puback>(fx).code == reason_code::not_authorized);
  }
  SUBCASE("MQTT 5 QoS 2: PUBREC 0x87, nothing awaits PUBREL") {
    harness h;
    h.connect_v5();
    auto fx = h.in(make_publish("$SYS", qos::exactly_once, 1));
    CHECK(published(fx).empty());
    CHECK(sent_one<pubrec>(fx).code == reason_code::not_authorized);
    CHECK(h.ch->current_session()->awaiting_rel_size() == 0);
  }
  SUBCASE("QoS 0: dropped") {
    harness h;
    h.connect_v5();
    auto fx = h.in(make_publish("$SYS/x", qos::at_most_once));
    CHECK(published(fx).empty());
    CHECK(packets_sent(fx) == 0);
    CHECK_FALSE(closes(fx));
  }
  SUBCASE("3.1.1 QoS 1: acknowledged and dropped") {
    harness h;
    h.connect_v3();
    auto fx = h.in(make_publish("$SYS/x", qos::at_least_once, 1));
    CHECK(published(fx).empty());
    CHECK(sent_one<puback>(fx).code == reason_code::success);
  }
  SUBCASE("other $ topics are allowed") {
    harness h;
    h.connect_v5();
    CHECK(published(h.in(make_publish("$SYSTEM/x", qos::at_most_once)))
            .size()
          == 1);
  }
}

TEST_CASE("channel publish: the authorize hook refuses publishing") {
  harness h;
  h.hooks.authorize = [](std::string_view, std::optional<std::string_view>,
                         access_action action, std::string_view topic) {
    return !(action == access_action::publish && topic.starts_with("secret/"));
  };
  h.connect_v5();
  auto fx = h.in(make_publish("secret/x", qos::at_least_once, 1));
  CHECK(published(fx).empty());
  CHECK(sent_one<puback>(fx).code == reason_code::not_authorized);
  CHECK(published(h.in(make_publish("open/x", qos::at_least_once, 2))).size()
        == 1);
}

TEST_CASE("channel publish: limits announced in CONNACK") {
  SUBCASE("QoS above Maximum QoS: DISCONNECT 0x9B") {
    harness h;
    h.config.max_qos = qos::at_least_once;
    auto fx = h.connect_v5();
    CHECK(sent_one<connack>(fx).props.maximum_qos == qos::at_least_once);
    fx = h.in(make_publish("t", qos::exactly_once, 1));
    CHECK(sent_one<disconnect>(fx).code == reason_code::qos_not_supported);
  }
  SUBCASE("RETAIN without Retain Available: DISCONNECT 0x9A") {
    harness h;
    h.config.retain_available = false;
    h.connect_v5();
    auto p = make_publish("t", qos::at_most_once);
    p.retain = true;
    CHECK(sent_one<disconnect>(h.in(p)).code
          == reason_code::retain_not_supported);
  }
}

TEST_CASE("channel publish: payload declared UTF-8 must be UTF-8") {
  harness h;
  h.connect_v5();
  auto p = make_publish("t", qos::at_least_once, 1);
  p.props.payload_format_indicator = payload_format::utf8;
  p.payload = binary{'o', 'k', 0x00, 'x'}; // U+0000 is fine in a payload
  CHECK(published(h.in(p)).size() == 1);
  p.payload = binary{0xFF};
  auto fx = h.in(p);
  CHECK(published(fx).empty());
  CHECK(sent_one<puback>(fx).code == reason_code::payload_format_invalid);
}

TEST_CASE("channel publish: request/response properties pass through") {
  harness h;
  connect_subscribed(h, qos::at_most_once);
  auto in = make_publish("a/req", qos::at_most_once);
  in.props.response_topic = "a/resp";
  in.props.correlation_data = bytes("corr-1");
  in.props.content_type = "application/json";
  in.props.payload_format_indicator = payload_format::utf8;
  in.props.user = {{"k", "v"}, {"k", "w"}};
  auto msg = published(h.in(in)).at(0);
  REQUIRE(msg.props);
  CHECK(msg.props->response_topic == "a/resp");

  auto out = sent_one<publish>(h.deliver(msg, sub_a));
  CHECK(out.props.response_topic == "a/resp");
  CHECK(out.props.correlation_data == bytes("corr-1"));
  CHECK(out.props.content_type == "application/json");
  CHECK(out.props.payload_format_indicator == payload_format::utf8);
  CHECK(out.props.user == in.props.user);
  CHECK_FALSE(out.props.message_expiry_interval);
}

TEST_CASE("channel publish: messages over the client's Maximum Packet Size "
          "are discarded as if sent") {
  harness h;
  auto c = make_connect(protocol_version::v5, "c1");
  c.props.maximum_packet_size = 64;
  connect_subscribed(h, qos::at_least_once, c);
  auto big = make_message("a/b", qos::at_least_once, "x",
                          std::string(100, 'z'));
  CHECK(packets_sent(h.deliver(big, sub_a)) == 0);
  CHECK(h.ch->current_session()->inflight_size() == 0);
  CHECK(h.ch->current_session()->counters().dropped_too_large == 1);
  // Near the limit the exact size decides: 2 + 2 + 3 + 2 + 1 + payload.
  auto fits = make_message("a/b", qos::at_least_once, "x",
                           std::string(54, 'z'));
  CHECK(packets_sent(h.deliver(fits, sub_a)) == 1);
  auto over = make_message("a/b", qos::at_least_once, "x",
                           std::string(55, 'z'));
  CHECK(packets_sent(h.deliver(over, sub_a)) == 0);
}

TEST_CASE("channel publish: $share/ is not a topic name") {
  harness h;
  h.connect_v5();
  auto fx = h.in(make_publish("$share/g/t", qos::at_least_once, 1));
  CHECK(published(fx).empty());
  CHECK(sent_one<puback>(fx).code == reason_code::topic_name_invalid);
}

TEST_CASE("channel publish: retained messages go to the router as retained") {
  harness h;
  h.connect_v5();
  auto p = make_publish("status", qos::at_most_once);
  p.retain = true;
  auto msgs = published(h.in(p));
  REQUIRE(msgs.size() == 1);
  CHECK(msgs[0].retain);
  CHECK_FALSE(effects_of<publish_message>(h.in(p)).at(0).will);
}

TEST_CASE("channel publish: deliveries before the session is open are "
          "dropped") {
  harness h;
  h.fresh();
  h.in(make_connect(protocol_version::v5, "c1"));
  CHECK(h.deliver(make_message("a", qos::at_least_once), {"a"}).empty());
}

TEST_CASE("channel publish: topic names deeper than max_topic_levels are "
          "refused") {
  harness h;
  h.config.max_topic_levels = 3;
  h.connect_v5();
  auto fx = h.in(make_publish("a/b/c/d", qos::at_least_once, 1));
  CHECK(published(fx).empty());
  CHECK(sent_one<puback>(fx).code == reason_code::topic_name_invalid);
  CHECK(published(h.in(make_publish("a/b/c", qos::at_most_once))).size() == 1);
}
