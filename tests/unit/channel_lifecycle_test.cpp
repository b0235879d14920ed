// The life of a session across connections: clean start, resuming with
// inflight resent, offline queueing, session expiry, the Will and its delay,
// takeover, and connections lost at awkward moments.

#include <doctest/doctest.h>

#include "channel_harness.hpp"

using namespace starling::broker;
using namespace starling::broker::test;

namespace {

const std::vector<std::string> sub_a = {"a/#"};

connect persistent(std::string client_id = "c1", std::uint32_t expiry = 600) {
  auto c = make_connect(protocol_version::v5, std::move(client_id), false);
  c.props.session_expiry_interval = expiry;
  return c;
}

connect with_will(connect c, std::optional<std::uint32_t> delay = {}) {
  c.will = will_message{"status/c1", bytes("gone"), qos::at_least_once, true,
                        {}};
  c.will->props.will_delay_interval = delay;
  return c;
}

/// Whether `fx` publishes the Will.
bool publishes_will(const effect_list& fx) {
  for (const auto& p : effects_of<publish_message>(fx))
    if (p.will)
      return true;
  return false;
}

} // namespace

TEST_CASE("channel session: reconnect with clean start 0 resumes the session") {
  harness h;
  h.connect(persistent());
  h.subscribe(1, "a/#", qos::exactly_once);
  auto q1 = sent_one<publish>(
    h.deliver(make_message("a/1", qos::at_least_once), sub_a));
  auto q2 = sent_one<publish>(
    h.deliver(make_message("a/2", qos::exactly_once), sub_a));
  h.in(pubrec{q2.packet_id, reason_code::success, {}});
  auto q3 = sent_one<publish>(
    h.deliver(make_message("a/3", qos::exactly_once), sub_a));
  h.in(make_publish("in/x", qos::exactly_once, 77)); // awaiting PUBREL

  h.lost();
  CHECK(h.ch->state() == channel_state::disconnected);
  h.deliver(make_message("a/offline", qos::at_least_once), sub_a);
  auto old = h.ch->release_session();
  REQUIRE(old);

  h.now += 1'000;
  auto fx = h.connect(persistent(), std::move(old));
  auto sends = effects_of<send_packet>(fx);
  REQUIRE(sends.size() == 5);
  auto ack = std::get<connack>(sends[0].pkt);
  CHECK(ack.session_present);
  // Unacknowledged PUBLISH again with DUP, PUBREL again, in the original
  // order and with the original packet identifiers; then the queue.
  auto r1 = std::get<publish>(sends[1].pkt);
  CHECK(r1.dup);
  CHECK(r1.packet_id == q1.packet_id);
  CHECK(r1.topic == "a/1");
  CHECK(std::get<pubrel>(sends[2].pkt).packet_id == q2.packet_id);
  auto r3 = std::get<publish>(sends[3].pkt);
  CHECK(r3.dup);
  CHECK(r3.packet_id == q3.packet_id);
  auto queued = std::get<publish>(sends[4].pkt);
  CHECK_FALSE(queued.dup);
  CHECK(queued.topic == "a/offline");
  CHECK(queued.packet_id != q1.packet_id);
  CHECK(queued.packet_id != q3.packet_id);
  // The router gets the subscriptions again (idempotent; needed on a node
  // the session moved to), without retained messages.
  auto subs = effects_of<subscribe_filter>(fx);
  REQUIRE(subs.size() == 1);
  CHECK(subs[0].existed);
  CHECK_FALSE(subs[0].send_retained);
  // The inbound QoS 2 flow survived too.
  CHECK(sent_one<pubcomp>(h.in(pubrel{77, reason_code::success, {}})).code
        == reason_code::success);
  CHECK(h.ch->current_session()->counters().resent == 3);
}

TEST_CASE("channel session: clean start 1 discards the old session") {
  harness h;
  h.connect(persistent());
  h.subscribe(1, "a/#", qos::at_least_once);
  h.deliver(make_message("a/1", qos::at_least_once), sub_a);
  auto old = h.drop_and_release();
  REQUIRE(old);
  auto c = persistent();
  c.clean_start = true;
  auto fx = h.connect(c, std::move(old));
  auto ack = sent_one<connack>(fx);
  CHECK_FALSE(ack.session_present);
  CHECK(sent<publish>(fx).empty());
  CHECK(effects_of<unsubscribe_filter>(fx)
        == std::vector{unsubscribe_filter{"a/#", "a/#", std::nullopt}});
  CHECK(h.ch->current_session()->subscriptions().empty());
  CHECK(h.ch->current_session()->inflight_size() == 0);
}

TEST_CASE("channel session: clean start 0 without a session is a new one") {
  harness h;
  auto fx = h.connect(persistent());
  CHECK_FALSE(sent_one<connack>(fx).session_present);
}

TEST_CASE("channel session: the offline queue") {
  harness h;
  h.config.session.max_mqueue_len = 3;
  h.connect(persistent());
  h.subscribe(1, "a/#", qos::at_least_once);
  h.lost();

  SUBCASE("bounded; the oldest make room; drops are counted") {
    for (int i = 0; i < 5; ++i)
      h.deliver(make_message("a/" + std::to_string(i), qos::at_least_once),
                sub_a);
    const auto& s = *h.ch->current_session();
    REQUIRE(s.queue().size() == 3);
    CHECK(s.queue().front().msg.topic == "a/2");
    CHECK(s.counters().dropped_queue_full == 2);
    auto fx = h.connect(persistent(), h.ch->release_session());
    auto ps = sent<publish>(fx);
    REQUIRE(ps.size() == 3);
    CHECK(ps[0].topic == "a/2");
    CHECK(ps[2].topic == "a/4");
  }
  SUBCASE("QoS 0 is queued while offline by default") {
    h.deliver(make_message("a/q0", qos::at_most_once), sub_a);
    CHECK(h.ch->current_session()->queue().size() == 1);
    auto fx = h.connect(persistent(), h.ch->release_session());
    CHECK(sent_one<publish>(fx).qos == qos::at_most_once);
  }
  SUBCASE("QoS 0 is dropped while offline when mqueue_store_qos0 is off") {
    harness k;
    k.config.session.mqueue_store_qos0 = false;
    k.connect(persistent());
    k.subscribe(1, "a/#", qos::at_least_once);
    k.lost();
    k.deliver(make_message("a/q0", qos::at_most_once), sub_a);
    k.deliver(make_message("a/q1", qos::at_least_once), sub_a);
    CHECK(k.ch->current_session()->queue().size() == 1);
    CHECK(k.ch->current_session()->counters().dropped_qos0_offline == 1);
  }
  SUBCASE("drop_newest keeps the first messages") {
    harness k;
    k.config.session.max_mqueue_len = 1;
    k.config.session.mqueue_overflow = queue_overflow::drop_newest;
    k.connect(persistent());
    k.subscribe(1, "a/#", qos::at_least_once);
    k.lost();
    k.deliver(make_message("a/first", qos::at_least_once), sub_a);
    k.deliver(make_message("a/second", qos::at_least_once), sub_a);
    CHECK(k.ch->current_session()->queue().front().msg.topic == "a/first");
    CHECK(k.ch->current_session()->counters().dropped_queue_full == 1);
  }
}

TEST_CASE("channel session: the session expiry timer") {
  harness h;
  h.connect(persistent("c1", 60));
  h.subscribe(1, "a/#", qos::at_least_once);
  const auto lost_at = h.now;
  auto fx = h.lost();
  CHECK(effects_of<set_timer>(fx)
        == std::vector{set_timer{timer_kind::session_expiry, lost_at + 60'000}});
  CHECK(effects_of<session_ended>(fx).empty());

  // Early (or stale) firings re-arm and change nothing.
  h.now = lost_at + 30'000;
  fx = h.timer(timer_kind::session_expiry);
  CHECK(effects_of<set_timer>(fx)
        == std::vector{set_timer{timer_kind::session_expiry, lost_at + 60'000}});
  CHECK(h.ch->state() == channel_state::disconnected);

  h.now = lost_at + 60'000;
  fx = h.timer(timer_kind::session_expiry);
  CHECK(effects_of<unsubscribe_filter>(fx).size() == 1);
  auto ended = effects_of<session_ended>(fx);
  REQUIRE(ended.size() == 1);
  CHECK(ended[0].client_id == "c1");
  CHECK(h.ch->state() == channel_state::closed);
  CHECK_FALSE(h.ch->current_session());
}

TEST_CASE("channel session: expiry 0 ends the session with the connection") {
  harness h;
  h.connect_v5();
  h.subscribe(1, "a", qos::at_most_once);
  auto fx = h.lost();
  CHECK(effects_of<unsubscribe_filter>(fx).size() == 1);
  CHECK(effects_of<session_ended>(fx).size() == 1);
  CHECK(h.ch->state() == channel_state::closed);
}

TEST_CASE("channel session: sessions that never expire set no timer") {
  harness h;
  h.connect(persistent("c1", session_never_expires));
  auto fx = h.lost();
  CHECK(effects_of<set_timer>(fx).empty());
  CHECK(h.ch->state() == channel_state::disconnected);
}

TEST_CASE("channel session: DISCONNECT may change the session expiry") {
  harness h;
  h.connect(persistent("c1", 60));
  disconnect d;
  d.props.session_expiry_interval = 0;
  auto fx = h.in(d);
  CHECK(effects_of<session_ended>(fx).size() == 1);

  SUBCASE("but not from 0 to something (protocol error)") {
    harness k;
    k.connect_v5();
    disconnect raise;
    raise.props.session_expiry_interval = 60;
    fx = k.in(raise);
    CHECK(sent_one<disconnect>(fx).code == reason_code::protocol_error);
  }
}

TEST_CASE("channel session: the Will") {
  harness h;
  SUBCASE("published when the connection is lost") {
    h.connect(with_will(make_connect(protocol_version::v5, "c1")));
    auto fx = h.lost();
    auto wills = effects_of<publish_message>(fx);
    REQUIRE(wills.size() == 1);
    CHECK(wills[0].will);
    CHECK(wills[0].msg.topic == "status/c1");
    CHECK(wills[0].msg.payload.bytes() == bytes("gone"));
    CHECK(wills[0].msg.retain);
    CHECK(wills[0].msg.qos == qos::at_least_once);
    CHECK(wills[0].msg.publisher == "c1");
  }
  SUBCASE("not published after DISCONNECT 0x00") {
    h.connect(with_will(make_connect(protocol_version::v5, "c1")));
    auto fx = h.in(disconnect{});
    CHECK_FALSE(publishes_will(fx));
    CHECK(closes(fx));
  }
  SUBCASE("published after DISCONNECT 0x04") {
    h.connect(with_will(make_connect(protocol_version::v5, "c1")));
    auto fx = h.in(disconnect{reason_code::disconnect_with_will_message, {}});
    CHECK(publishes_will(fx));
  }
  SUBCASE("not published after a 3.1.1 DISCONNECT") {
    h.connect(with_will(make_connect(protocol_version::v3_1_1, "c1")));
    CHECK_FALSE(publishes_will(h.in(disconnect{})));
  }
  SUBCASE("published after a protocol violation") {
    h.connect(with_will(make_connect(protocol_version::v3_1_1, "c1")));
    CHECK(publishes_will(h.in(make_connect(protocol_version::v3_1_1, "c1"))));
  }
  SUBCASE("published on keepalive timeout") {
    h.connect(with_will(make_connect(protocol_version::v5, "c1")));
    h.now += 90'000;
    CHECK(publishes_will(h.timer(timer_kind::keepalive)));
  }
  SUBCASE("not published on takeover (0x8E)") {
    h.connect(with_will(persistent()));
    auto fx = h.kick(reason_code::session_taken_over);
    CHECK(sent_one<disconnect>(fx).code == reason_code::session_taken_over);
    CHECK(closes(fx));
    CHECK_FALSE(publishes_will(fx));
    CHECK(h.ch->release_session());
  }
  SUBCASE("published on an administrative kick") {
    h.connect(with_will(persistent()));
    auto fx = h.kick(reason_code::administrative_action);
    CHECK(sent_one<disconnect>(fx).code
          == reason_code::administrative_action);
    CHECK(publishes_will(fx));
  }
}

TEST_CASE("channel session: the Will Delay Interval") {
  harness h;
  h.connect(with_will(persistent("c1", 600), 30));
  const auto lost_at = h.now;
  auto fx = h.lost();
  CHECK_FALSE(publishes_will(fx));
  CHECK(effects_of<set_timer>(fx)
        == std::vector{set_timer{timer_kind::will_delay, lost_at + 30'000},
                       set_timer{timer_kind::session_expiry,
                                 lost_at + 600'000}});

  SUBCASE("published when the delay has passed") {
    h.now = lost_at + 30'000;
    fx = h.timer(timer_kind::will_delay);
    CHECK(publishes_will(fx));
    CHECK(h.ch->state() == channel_state::disconnected); // session stays
  }
  SUBCASE("cancelled when the client reconnects in time") {
    h.now = lost_at + 10'000;
    auto old = h.ch->release_session();
    fx = h.connect(persistent(), std::move(old));
    CHECK_FALSE(publishes_will(fx));
    CHECK(sent_one<connack>(fx).session_present);
    auto cancels = effects_of<cancel_timer>(fx);
    CHECK(std::find(cancels.begin(), cancels.end(),
                    cancel_timer{timer_kind::will_delay})
          != cancels.end());
    // The old timer fires anyway: the new channel has no Will pending.
    h.now = lost_at + 30'000;
    CHECK_FALSE(publishes_will(h.timer(timer_kind::will_delay)));
  }
}

TEST_CASE("channel session: a Will delayed past the session expiry goes out "
          "when the session ends") {
  harness h;
  h.connect(with_will(persistent("c1", 10), 60));
  const auto lost_at = h.now;
  auto fx = h.lost();
  CHECK(effects_of<set_timer>(fx)
        == std::vector{set_timer{timer_kind::session_expiry, lost_at + 10'000}});
  h.now = lost_at + 10'000;
  fx = h.timer(timer_kind::session_expiry);
  CHECK(publishes_will(fx));
  CHECK(effects_of<session_ended>(fx).size() == 1);
}

TEST_CASE("channel session: a Will with a delay and session expiry 0 goes out "
          "at once") {
  harness h;
  h.connect(with_will(make_connect(protocol_version::v5, "c1"), 60));
  auto fx = h.lost();
  CHECK(publishes_will(fx));
  CHECK(effects_of<session_ended>(fx).size() == 1);
}

TEST_CASE("channel session: end_session discards a session") {
  harness h;
  h.connect(with_will(persistent(), 30));
  h.subscribe(1, "a", qos::at_most_once);
  auto fx = h.end_session(reason_code::administrative_action);
  CHECK(sent_one<disconnect>(fx).code == reason_code::administrative_action);
  CHECK(publishes_will(fx)); // the session ends, so the delay is over
  CHECK(effects_of<unsubscribe_filter>(fx).size() == 1);
  CHECK(effects_of<session_ended>(fx).size() == 1);
  CHECK(h.ch->state() == channel_state::closed);
}

TEST_CASE("channel session: the connection lost before the session opened") {
  harness h;
  h.fresh();
  h.in(persistent());
  h.lost();
  CHECK(h.ch->state() == channel_state::connecting);
  session existing("c1", {}, 600);
  existing.subscribe("a", {"a", std::nullopt, {}, std::nullopt});
  auto fx = h.opened(std::move(existing));
  CHECK(packets_sent(fx) == 0); // nobody to send CONNACK to
  CHECK(h.ch->state() == channel_state::disconnected);
  auto kept = h.ch->release_session();
  REQUIRE(kept);
  CHECK(kept->subscriptions().size() == 1);
}

TEST_CASE("channel session: release_session needs the connection closed") {
  harness h;
  h.connect(persistent());
  CHECK_FALSE(h.ch->release_session());
  h.kick(reason_code::session_taken_over);
  CHECK(h.ch->release_session());
  CHECK(h.ch->state() == channel_state::closed);
  CHECK(h.ch->deliver(make_message("a", qos::at_most_once),
                      std::vector<std::string>{"a"}, h.now)
          .empty());
}

TEST_CASE("channel session: a lost connection stops keepalive and late "
          "packets are ignored") {
  harness h;
  h.connect(persistent());
  auto fx = h.lost();
  CHECK(effects_of<cancel_timer>(fx)
        == std::vector{cancel_timer{timer_kind::keepalive}});
  CHECK(h.in(pingreq{}).empty());
  h.now += 100'000;
  CHECK(h.timer(timer_kind::keepalive).empty());
}

TEST_CASE("channel session: a kick before CONNACK closes without a word and "
          "keeps the session") {
  harness h;
  h.fresh();
  h.in(persistent());
  auto fx = h.kick(reason_code::server_shutting_down);
  CHECK(packets_sent(fx) == 0);
  CHECK(closes(fx));
  fx = h.opened(std::nullopt);
  CHECK(packets_sent(fx) == 0);
  CHECK(h.ch->state() == channel_state::disconnected);
  CHECK(h.ch->release_session());
}

TEST_CASE("channel session: a kicked session with expiry 0 ends") {
  harness h;
  h.connect(with_will(make_connect(protocol_version::v5, "c1")));
  auto fx = h.kick(reason_code::session_taken_over);
  CHECK_FALSE(publishes_will(fx));
  CHECK(effects_of<session_ended>(fx).size() == 1);
  CHECK_FALSE(h.ch->release_session());
}

TEST_CASE("channel session: MQTT 3.1.1 clean session 0 resumes with Session "
          "Present") {
  harness h;
  h.connect_v3("c1", false);
  h.subscribe(1, "a/#", qos::at_least_once);
  auto q = sent_one<publish>(
    h.deliver(make_message("a/1", qos::at_least_once), sub_a));
  auto old = h.drop_and_release();
  REQUIRE(old);
  auto fx = h.connect(make_connect(protocol_version::v3_1_1, "c1", false),
                      std::move(old));
  CHECK(sent_one<connack>(fx).session_present);
  auto again = sent_one<publish>(fx);
  CHECK(again.dup);
  CHECK(again.packet_id == q.packet_id);
}
