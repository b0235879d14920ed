// The session's tables on their own: packet identifiers, the QoS 1/2 flows,
// the queue and its policies, inbound QoS 2, and how routed messages become
// deliveries.

#include <doctest/doctest.h>

#include <set>

#include "starling/broker/session.hpp"

using namespace starling::broker;

namespace {

message make_msg(std::string topic, qos q, std::string publisher = "other") {
  message m;
  m.topic = std::move(topic);
  m.payload = shared_binary(binary{1, 2, 3});
  m.qos = q;
  m.publisher = std::move(publisher);
  return m;
}

delivery make_delivery(std::string topic, qos q) {
  return delivery{make_msg(std::move(topic), q), q, false, {}};
}

session_subscription plain(std::string filter, qos q,
                           std::optional<std::uint32_t> id = std::nullopt) {
  session_subscription s;
  s.topic_filter = std::move(filter);
  s.options.qos = q;
  s.identifier = id;
  return s;
}

} // namespace

TEST_CASE("session: packet identifiers are never reused while in flight") {
  session s("c", {}, 0);
  auto a = s.track(make_delivery("t", qos::at_least_once));
  auto b = s.track(make_delivery("t", qos::exactly_once));
  CHECK(a == 1);
  CHECK(b == 2);
  CHECK(s.find_inflight(b)->state == inflight_state::awaiting_pubrec);

  SUBCASE("wrapping skips identifiers still in flight") {
    std::set<std::uint16_t> ids{a, b};
    CHECK(s.puback(a));
    for (int i = 0; i < 65533; ++i)
      ids.insert(s.track(make_delivery("t", qos::at_least_once)));
    CHECK(ids.size() == 65535); // every identifier handed out once
    CHECK(s.inflight_size() == 65534);
    CHECK(s.can_send(65535));
    // 1 was freed; 2 is still in flight.
    CHECK(s.track(make_delivery("t", qos::at_least_once)) == 1);
    CHECK_FALSE(s.can_send(100'000)); // all 65535 identifiers in use
  }
}

TEST_CASE("session: resend order follows the flows, not the identifiers") {
  session s("c", {}, 0);
  for (int i = 0; i < 65534; ++i)
    s.puback(s.track(make_delivery("t", qos::at_least_once)));
  CHECK(s.track(make_delivery("t", qos::at_least_once)) == 65535);
  CHECK(s.track(make_delivery("t", qos::at_least_once)) == 1); // wrapped
  CHECK(s.inflight_order() == std::vector<std::uint16_t>{65535, 1});
}

TEST_CASE("session: acknowledgements move the flows") {
  session s("c", {}, 0);
  auto q1 = s.track(make_delivery("t", qos::at_least_once));
  auto q2 = s.track(make_delivery("t", qos::exactly_once));
  CHECK_FALSE(s.pubcomp(q1));
  CHECK(s.pubrec(q1, false) == pubrec_outcome::unknown);
  CHECK(s.puback(q1));
  CHECK_FALSE(s.puback(q1));
  CHECK_FALSE(s.puback(q2));
  CHECK_FALSE(s.pubcomp(q2)); // not before PUBREC
  CHECK(s.pubrec(q2, false) == pubrec_outcome::send_pubrel);
  CHECK(s.find_inflight(q2)->out.msg.payload.empty());
  CHECK(s.pubrec(q2, false) == pubrec_outcome::send_pubrel); // duplicate
  CHECK(s.pubcomp(q2));
  CHECK(s.inflight_size() == 0);
  CHECK(s.counters().acked == 2);
  auto q3 = s.track(make_delivery("t", qos::exactly_once));
  CHECK(s.pubrec(q3, true) == pubrec_outcome::completed);
  CHECK(s.inflight_size() == 0);
  CHECK(s.pubrec(999, false) == pubrec_outcome::unknown);
}

TEST_CASE("session: queue limits and policies") {
  session_config config;
  config.max_mqueue_len = 2;
  session s("c", config, 0);
  s.enqueue(make_delivery("1", qos::at_least_once));
  s.enqueue(make_delivery("2", qos::at_most_once));
  s.enqueue(make_delivery("3", qos::at_least_once));
  CHECK(s.queue().size() == 2);
  CHECK(s.queue().front().msg.topic == "2");
  CHECK(s.counters().dropped_queue_full == 1);

  SUBCASE("unbounded with 0") {
    config.max_mqueue_len = 0;
    s.set_config(config);
    for (int i = 0; i < 5000; ++i)
      s.enqueue(make_delivery("x", qos::at_least_once));
    CHECK(s.queue().size() == 5002);
  }
  SUBCASE("QoS 0 policy") {
    config.mqueue_store_qos0 = false;
    s.set_config(config);
    s.enqueue(make_delivery("q0", qos::at_most_once));
    CHECK(s.counters().dropped_qos0_offline == 1);
    CHECK(s.counters().dropped() == 2);
  }
  SUBCASE("expired messages are skipped when dequeued") {
    session t("c", {}, 0);
    auto d = make_delivery("old", qos::at_least_once);
    d.msg.expires_at_ms = 100;
    t.enqueue(d);
    t.enqueue(make_delivery("new", qos::at_least_once));
    auto next = t.dequeue(100);
    REQUIRE(next);
    CHECK(next->msg.topic == "new");
    CHECK(t.counters().dropped_expired == 1);
    CHECK_FALSE(t.dequeue(100));
  }
}

TEST_CASE("session: inbound QoS 2 packet identifiers") {
  session_config config;
  config.max_awaiting_rel = 2;
  config.await_rel_timeout_ms = 1000;
  session s("c", config, 0);
  CHECK(s.await_pubrel(1, 0) == qos2_admission::accepted);
  CHECK(s.await_pubrel(1, 10) == qos2_admission::duplicate);
  CHECK(s.await_pubrel(2, 500) == qos2_admission::accepted);
  CHECK(s.await_pubrel(3, 600) == qos2_admission::full);
  CHECK(s.next_await_rel_deadline() == 1000);
  CHECK(s.expire_awaiting_rel(1000) == 1);
  CHECK(s.next_await_rel_deadline() == 1500);
  CHECK_FALSE(s.release(1));
  CHECK(s.release(2));
  CHECK_FALSE(s.next_await_rel_deadline());
  CHECK(s.counters().awaiting_rel_expired == 1);
}

TEST_CASE("session: prepare applies the subscription options") {
  session s("me", {}, 0);
  CHECK_FALSE(s.subscribe("a/#", plain("a/#", qos::at_least_once, 1)));
  CHECK(s.subscribe("a/#", plain("a/#", qos::at_least_once, 1))); // existed
  auto nl = plain("a/b", qos::exactly_once, 2);
  nl.options.no_local = true;
  s.subscribe("a/b", nl);
  const std::vector<std::string> both{"a/#", "a/b"};

  SUBCASE("overlapping: one copy, highest QoS, every identifier") {
    auto d = s.prepare(make_msg("a/b", qos::exactly_once), both, 0);
    REQUIRE(d);
    CHECK(d->qos == qos::exactly_once);
    CHECK(d->subscription_ids == std::vector<std::uint32_t>{1, 2});
  }
  SUBCASE("No Local takes out only its own subscription") {
    auto d = s.prepare(make_msg("a/b", qos::exactly_once, "me"), both, 0);
    REQUIRE(d);
    CHECK(d->qos == qos::at_least_once);
    CHECK(d->subscription_ids == std::vector<std::uint32_t>{1});
    CHECK_FALSE(s.prepare(make_msg("a/b", qos::exactly_once, "me"),
                          std::vector<std::string>{"a/b"}, 0));
  }
  SUBCASE("RETAIN is cleared without Retain As Published") {
    auto m = make_msg("a/b", qos::at_most_once);
    m.retain = true;
    CHECK_FALSE(s.prepare(m, both, 0)->retain);
    CHECK(s.prepare_retained(m, "a/#", 0)->retain);
  }
  SUBCASE("unknown keys and expired messages give nothing") {
    CHECK_FALSE(s.prepare(make_msg("x", qos::at_most_once),
                          std::vector<std::string>{"x"}, 0));
    auto m = make_msg("a/b", qos::at_most_once);
    m.expires_at_ms = 5;
    CHECK_FALSE(s.prepare(m, both, 5));
    CHECK(s.counters().dropped_expired == 1);
  }
  SUBCASE("unsubscribe") {
    auto removed = s.unsubscribe("a/#");
    REQUIRE(removed);
    CHECK(removed->identifier == 1u);
    CHECK_FALSE(s.unsubscribe("a/#"));
    CHECK(s.subscriptions().size() == 1);
  }
}

TEST_CASE("session: a copy is an independent value (takeover, transfer)") {
  session s("c", {}, 60);
  s.subscribe("a", plain("a", qos::at_least_once));
  s.track(make_delivery("a", qos::at_least_once));
  session copy = s;
  CHECK(copy.puback(1));
  CHECK(s.inflight_size() == 1);
  CHECK(copy.subscriptions() == s.subscriptions());
  std::size_t fields = 0;
  for_fields(copy, [&](auto&... f) { fields = sizeof...(f); });
  CHECK(fields == 10);
}

TEST_CASE("session: message expiry interval left to forward") {
  auto m = make_msg("t", qos::at_most_once);
  CHECK_FALSE(m.remaining_expiry_interval(0));
  m.expires_at_ms = 10'000;
  CHECK(m.remaining_expiry_interval(0) == 10u);
  CHECK(m.remaining_expiry_interval(9'001) == 1u);
  CHECK_FALSE(m.expired(9'999));
  CHECK(m.expired(10'000));
}

TEST_CASE("session: messages compare by content, not by shared storage") {
  auto a = make_msg("t", qos::at_least_once);
  auto b = make_msg("t", qos::at_least_once);
  message_properties props;
  props.content_type = "text/plain";
  a.props = std::make_shared<const message_properties>(props);
  b.props = std::make_shared<const message_properties>(props);
  CHECK(a == b);
  b.props = nullptr;
  CHECK_FALSE(a == b);
  auto copy = a;
  CHECK(&copy.payload.bytes() == &a.payload.bytes()); // shared, not copied
}
