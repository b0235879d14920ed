// authz.deny_action: what a refused PUBLISH or SUBSCRIBE costs, and the
// reason codes each dialect gets.

#include <doctest/doctest.h>

#include "channel_harness.hpp"

using namespace starling::broker;
using namespace starling::broker::test;

namespace {

void deny_secret(harness& h) {
  h.hooks.authorize = [](std::string_view, std::optional<std::string_view>,
                         access_action, std::string_view topic) {
    return !topic.starts_with("secret");
  };
}

} // namespace

TEST_CASE("channel authz: ignore (default) refuses only the message") {
  harness h;
  deny_secret(h);
  SUBCASE("MQTT 5: PUBACK 0x87, SUBACK 0x87, QoS 0 dropped") {
    h.connect_v5();
    auto fx = h.in(make_publish("secret/a", qos::at_least_once, 1));
    CHECK(sent_one<puback>(fx).code == reason_code::not_authorized);
    CHECK(published(fx).empty());
    fx = h.in(make_publish("secret/a", qos::at_most_once));
    CHECK(published(fx).empty());
    CHECK(packets_sent(fx) == 0);
    CHECK_FALSE(closes(fx));
    CHECK(sent_one<suback>(h.subscribe(2, "secret/#", qos::at_least_once)).codes
          == std::vector{reason_code::not_authorized});
  }
  SUBCASE("3.1.1: SUBACK 0x80 on the wire, PUBACK success") {
    h.connect_v3();
    auto fx = h.subscribe(2, "secret/#", qos::at_least_once);
    auto ack = sent_one<suback>(fx);
    std::vector<std::uint8_t> wire;
    REQUIRE_FALSE(encode(ack, protocol_version::v3_1_1, wire));
    CHECK(wire.back() == 0x80);
    fx = h.in(make_publish("secret/a", qos::at_least_once, 3));
    CHECK(sent_one<puback>(fx).code == reason_code::success);
    CHECK(published(fx).empty());
  }
}

TEST_CASE("channel authz: disconnect closes the connection with 0x87") {
  harness h;
  h.config.disconnect_on_deny = true;
  deny_secret(h);
  SUBCASE("publish") {
    h.connect_v5();
    auto fx = h.in(make_publish("secret/a", qos::at_most_once));
    CHECK(sent_one<disconnect>(fx).code == reason_code::not_authorized);
    CHECK(closes(fx));
    CHECK(published(fx).empty());
  }
  SUBCASE("subscribe") {
    h.connect_v5();
    auto fx = h.subscribe(2, "secret/#", qos::at_least_once);
    CHECK(sent_one<disconnect>(fx).code == reason_code::not_authorized);
    CHECK(sent<suback>(fx).empty());
    CHECK(closes(fx));
  }
  SUBCASE("an allowed topic is unaffected") {
    h.connect_v5();
    auto fx = h.in(make_publish("open/a", qos::at_least_once, 1));
    CHECK(sent_one<puback>(fx).code == reason_code::success);
    CHECK(published(fx).size() == 1);
  }
}
