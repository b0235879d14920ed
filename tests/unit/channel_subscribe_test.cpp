// SUBSCRIBE and UNSUBSCRIBE, and how subscription options shape deliveries:
// granted QoS, No Local, Retain As Published, Retain Handling, Subscription
// Identifiers, shared subscriptions and overlapping subscriptions.

#include <doctest/doctest.h>

#include "channel_harness.hpp"
#include "starling/broker/codec.hpp"

using namespace starling::broker;
using namespace starling::broker::test;

TEST_CASE("channel subscribe: SUBACK grants QoS and the router is told") {
  harness h;
  h.config.max_qos = qos::at_least_once;
  h.connect_v5();
  subscribe s;
  s.packet_id = 5;
  s.subscriptions = {{"a/+", {qos::exactly_once}}, {"b", {qos::at_most_once}}};
  auto fx = h.in(s);
  CHECK(sent_one<suback>(fx).codes
        == std::vector{reason_code::granted_qos_1, reason_code::granted_qos_0});
  CHECK(sent_one<suback>(fx).packet_id == 5);
  auto subs = effects_of<subscribe_filter>(fx);
  REQUIRE(subs.size() == 2);
  CHECK(subs[0].subscription == "a/+");
  CHECK(subs[0].topic_filter == "a/+");
  CHECK_FALSE(subs[0].share_group);
  CHECK(subs[0].options.qos == qos::at_least_once);
  CHECK_FALSE(subs[0].existed);
  CHECK(subs[0].send_retained);
  // The router hears of the subscription before the client gets SUBACK.
  CHECK(std::holds_alternative<subscribe_filter>(fx.front()));
  CHECK(std::holds_alternative<send_packet>(fx.back()));
  CHECK(h.ch->current_session()->subscriptions().size() == 2);
}

TEST_CASE("channel subscribe: invalid filters fail alone") {
  SUBCASE("MQTT 5: 0x8F") {
    harness h;
    h.connect_v5();
    subscribe s;
    s.packet_id = 1;
    s.subscriptions = {{"a/#/b", {}}, {"ok", {}}, {"$share/g", {}}};
    auto fx = h.in(s);
    CHECK(sent_one<suback>(fx).codes
          == std::vector{reason_code::topic_filter_invalid,
                         reason_code::granted_qos_0,
                         reason_code::topic_filter_invalid});
    CHECK(effects_of<subscribe_filter>(fx).size() == 1);
  }
  SUBCASE("3.1.1: 0x80 on the wire") {
    harness h;
    h.connect_v3();
    auto fx = h.subscribe(1, "a/#/b", qos::at_most_once);
    auto sends = effects_of<send_packet>(fx);
    binary wire;
    REQUIRE_FALSE(encode(sends.at(0).pkt, sends.at(0).version, wire));
    CHECK(wire == binary{0x90, 0x03, 0x00, 0x01, 0x80});
  }
}

TEST_CASE("channel subscribe: capabilities the broker does not offer") {
  harness h;
  SUBCASE("wildcards: 0xA2") {
    h.config.wildcard_subscription_available = false;
    h.connect_v5();
    CHECK(sent_one<suback>(h.subscribe(1, "a/+", qos::at_most_once)).codes
          == std::vector{reason_code::wildcard_subscriptions_not_supported});
    CHECK(sent_one<suback>(h.subscribe(2, "a/b", qos::at_most_once)).codes
          == std::vector{reason_code::granted_qos_0});
  }
  SUBCASE("shared subscriptions: 0x9E") {
    h.config.shared_subscription_available = false;
    h.connect_v5();
    CHECK(sent_one<suback>(h.subscribe(1, "$share/g/a", qos::at_most_once))
            .codes
          == std::vector{reason_code::shared_subscriptions_not_supported});
  }
  SUBCASE("subscription identifiers: DISCONNECT 0xA1") {
    h.config.subscription_identifiers_available = false;
    h.connect_v5();
    auto s = make_subscribe(1, "a", qos::at_most_once);
    s.props.subscription_identifiers = {7};
    auto fx = h.in(s);
    CHECK(sent_one<disconnect>(fx).code
          == reason_code::subscription_identifiers_not_supported);
    CHECK(effects_of<subscribe_filter>(fx).empty());
  }
  SUBCASE("quota: 0x97") {
    h.config.max_subscriptions = 1;
    h.connect_v5();
    h.subscribe(1, "a", qos::at_most_once);
    CHECK(sent_one<suback>(h.subscribe(2, "b", qos::at_most_once)).codes
          == std::vector{reason_code::quota_exceeded});
    // Replacing an existing subscription is not a new one.
    CHECK(sent_one<suback>(h.subscribe(3, "a", qos::at_least_once)).codes
          == std::vector{reason_code::granted_qos_1});
  }
  SUBCASE("authorization: 0x87") {
    h.hooks.authorize = [](std::string_view, std::optional<std::string_view>,
                           access_action action, std::string_view topic) {
      return !(action == access_action::subscribe && topic == "$SYS/#");
    };
    h.connect_v5();
    CHECK(sent_one<suback>(h.subscribe(1, "$SYS/#", qos::at_most_once)).codes
          == std::vector{reason_code::not_authorized});
  }
}

TEST_CASE("channel subscribe: shared subscriptions") {
  harness h;
  h.connect_v5();
  auto fx = h.subscribe(1, "$share/workers/jobs/+", qos::at_least_once);
  auto sub = effects_of<subscribe_filter>(fx).at(0);
  CHECK(sub.subscription == "$share/workers/jobs/+");
  CHECK(sub.topic_filter == "jobs/+");
  CHECK(sub.share_group == "workers");
  CHECK_FALSE(sub.send_retained);

  SUBCASE("No Local on a shared subscription is a protocol error") {
    subscription_options nl;
    nl.no_local = true;
    fx = h.subscribe(2, "$share/g/x", qos::at_most_once, nl);
    CHECK(sent_one<disconnect>(fx).code == reason_code::protocol_error);
    CHECK(effects_of<subscribe_filter>(fx).empty());
  }
  SUBCASE("a shared and a plain subscription on one filter are two") {
    h.subscribe(2, "jobs/+", qos::at_most_once);
    CHECK(h.ch->current_session()->subscriptions().size() == 2);
  }
}

TEST_CASE("channel subscribe: Retain Handling decides send_retained") {
  harness h;
  h.connect_v5();
  subscription_options o;
  auto retained_flag = [&](std::uint16_t id, std::string filter) {
    return effects_of<subscribe_filter>(
             h.subscribe(id, std::move(filter), qos::at_most_once, o))
      .at(0);
  };
  o.retain_handling = retain_handling::send_on_subscribe;
  CHECK(retained_flag(1, "a").send_retained);
  CHECK(retained_flag(2, "a").send_retained); // again, as it says
  CHECK(retained_flag(2, "a").existed);
  o.retain_handling = retain_handling::send_on_new_subscribe;
  CHECK_FALSE(retained_flag(3, "a").send_retained);
  CHECK(retained_flag(4, "b").send_retained);
  o.retain_handling = retain_handling::do_not_send;
  CHECK_FALSE(retained_flag(5, "c").send_retained);
}

TEST_CASE("channel subscribe: No Local") {
  harness h;
  h.connect_v5("me");
  subscription_options nl;
  nl.no_local = true;
  h.subscribe(1, "t/#", qos::at_most_once, nl);
  CHECK(packets_sent(h.deliver(make_message("t/x", qos::at_most_once, "me"),
                               {"t/#"}))
        == 0);
  CHECK(packets_sent(h.deliver(
          make_message("t/x", qos::at_most_once, "other"), {"t/#"}))
        == 1);
}

TEST_CASE("channel subscribe: Retain As Published") {
  harness h;
  h.connect_v5();
  subscription_options rap;
  rap.retain_as_published = true;
  h.subscribe(1, "keep/#", qos::at_most_once, rap);
  h.subscribe(2, "clear/#", qos::at_most_once);
  auto keep = make_message("keep/x", qos::at_most_once);
  keep.retain = true;
  auto clear = make_message("clear/x", qos::at_most_once);
  clear.retain = true;
  CHECK(sent_one<publish>(h.deliver(keep, {"keep/#"})).retain);
  CHECK_FALSE(sent_one<publish>(h.deliver(clear, {"clear/#"})).retain);
  // Retained messages for a new subscription always carry RETAIN.
  CHECK(sent_one<publish>(h.retained(clear, "clear/#"))
          .retain);
}

TEST_CASE("channel subscribe: Subscription Identifiers on deliveries") {
  harness h;
  h.connect_v5();
  auto s = make_subscribe(1, "a/+", qos::at_most_once);
  s.props.subscription_identifiers = {42};
  h.in(s);
  h.subscribe(2, "b", qos::at_most_once);
  CHECK(sent_one<publish>(
          h.deliver(make_message("a/x", qos::at_most_once), {"a/+"}))
          .props.subscription_identifiers
        == std::vector<std::uint32_t>{42});
  CHECK(sent_one<publish>(h.retained(
                            make_message("a/x", qos::at_most_once), "a/+"))
          .props.subscription_identifiers
        == std::vector<std::uint32_t>{42});
  CHECK(sent_one<publish>(
          h.deliver(make_message("b", qos::at_most_once), {"b"}))
          .props.subscription_identifiers.empty());
}

TEST_CASE("channel subscribe: overlapping subscriptions give one copy") {
  SUBCASE("MQTT 5: highest QoS, every identifier") {
    harness h;
    h.connect_v5();
    auto s1 = make_subscribe(1, "a/#", qos::at_most_once);
    s1.props.subscription_identifiers = {1};
    auto s2 = make_subscribe(2, "a/+", qos::exactly_once);
    s2.props.subscription_identifiers = {2};
    h.in(s1);
    h.in(s2);
    h.subscribe(3, "+/b", qos::at_least_once);
    auto fx = h.deliver(make_message("a/b", qos::exactly_once),
                        {"a/#", "a/+", "+/b"});
    auto p = sent_one<publish>(fx);
    CHECK(p.qos == qos::exactly_once);
    CHECK(p.props.subscription_identifiers
          == std::vector<std::uint32_t>{1, 2});
  }
  SUBCASE("3.1.1: one copy at the maximum granted QoS") {
    harness h;
    h.connect_v3();
    h.subscribe(1, "a/#", qos::at_least_once);
    h.subscribe(2, "a/b", qos::at_most_once);
    auto p = sent_one<publish>(
      h.deliver(make_message("a/b", qos::exactly_once), {"a/#", "a/b"}));
    CHECK(p.qos == qos::at_least_once);
  }
  SUBCASE("a key no longer subscribed is skipped") {
    harness h;
    h.connect_v5();
    h.subscribe(1, "a/#", qos::at_most_once);
    CHECK(packets_sent(h.deliver(make_message("a/b", qos::at_most_once),
                                 {"gone/#"}))
          == 0);
  }
}

TEST_CASE("channel subscribe: UNSUBSCRIBE") {
  SUBCASE("MQTT 5: a code per filter") {
    harness h;
    h.connect_v5();
    h.subscribe(1, "$share/g/a", qos::at_most_once);
    unsubscribe u;
    u.packet_id = 9;
    u.filters = {"$share/g/a", "never", "bad/#/x"};
    auto fx = h.in(u);
    CHECK(sent_one<unsuback>(fx).codes
          == std::vector{reason_code::success,
                         reason_code::no_subscription_existed,
                         reason_code::topic_filter_invalid});
    CHECK(effects_of<unsubscribe_filter>(fx)
          == std::vector{unsubscribe_filter{"$share/g/a", "a", "g"}});
    CHECK(h.ch->current_session()->subscriptions().empty());
    CHECK(packets_sent(h.deliver(make_message("a", qos::at_most_once),
                                 {"$share/g/a"}))
          == 0);
  }
  SUBCASE("3.1.1: UNSUBACK without codes") {
    harness h;
    h.connect_v3();
    h.subscribe(1, "a", qos::at_most_once);
    unsubscribe u;
    u.packet_id = 2;
    u.filters = {"a"};
    auto fx = h.in(u);
    CHECK(sent_one<unsuback>(fx).codes.empty());
    CHECK(effects_of<unsubscribe_filter>(fx).size() == 1);
  }
}

TEST_CASE("channel subscribe: 3.x bridges get Retain As Published") {
  harness h;
  auto c = make_connect(protocol_version::v3_1_1, "bridge");
  c.bridge = true;
  h.connect(c);
  auto sub = effects_of<subscribe_filter>(h.subscribe(1, "a", qos::at_most_once))
               .at(0);
  CHECK(sub.options.retain_as_published);
}
