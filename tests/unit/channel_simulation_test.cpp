// Seeded random traffic between a channel and a model client that answers
// like a well-behaved MQTT 5 client, with disconnects and resumed sessions
// thrown in. After every step the trace must keep the invariants of the
// QoS 1/2 flows, and at the end every message must have arrived: QoS 0 and
// 2 exactly once, QoS 1 at least once.

#include <doctest/doctest.h>

#include <deque>
#include <map>
#include <random>
#include <set>

#include "channel_harness.hpp"

using namespace starling::broker;
using namespace starling::broker::test;

namespace {

constexpr std::uint16_t receive_maximum = 4;

/// The client's side of the flows (MQTT 5 §4.3): what it has received and
/// what it still owes an acknowledgement for.
struct model_client {
  std::set<std::uint16_t> owes_puback;
  std::set<std::uint16_t> owes_pubrec;
  std::set<std::uint16_t> awaits_pubrel; ///< PUBREC sent
  std::map<std::string, int> received;   ///< payload -> times seen as new
  std::deque<packet> to_send;            ///< acknowledgements to write

  std::size_t outstanding() const {
    return owes_puback.size() + owes_pubrec.size() + awaits_pubrel.size();
  }

  void on_publish(const publish& p) {
    std::string body(p.payload.begin(), p.payload.end());
    switch (p.qos) {
      case qos::at_most_once:
        ++received[body];
        return;
      case qos::at_least_once:
        if (!p.dup)
          CHECK_FALSE(owes_puback.contains(p.packet_id)); // id not reused
        if (!owes_puback.contains(p.packet_id))
          ++received[body];
        owes_puback.insert(p.packet_id);
        return;
      case qos::exactly_once:
        // A resend of an id already held is a duplicate, never new.
        if (owes_pubrec.contains(p.packet_id)
            || awaits_pubrel.contains(p.packet_id)) {
          CHECK(p.dup);
          return;
        }
        CHECK_FALSE(p.dup);
        ++received[body];
        owes_pubrec.insert(p.packet_id);
        return;
    }
  }

  void on_pubrel(const pubrel& r) {
    CHECK(awaits_pubrel.erase(r.packet_id) == 1);
    to_send.push_back(pubcomp{r.packet_id, reason_code::success, {}});
  }

  void take(const effect_list& fx) {
    for (const auto& p : sent<publish>(fx))
      on_publish(p);
    for (const auto& r : sent<pubrel>(fx))
      on_pubrel(r);
  }

  /// Acknowledges one of the messages it holds, picked at random.
  template <class Rng>
  void ack_one(Rng& rng) {
    auto pick_from = [&](std::set<std::uint16_t>& ids) {
      auto it = ids.begin();
      std::advance(it, static_cast<long>(rng() % ids.size()));
      auto id = *it;
      ids.erase(it);
      return id;
    };
    if (!owes_puback.empty() && (owes_pubrec.empty() || rng() % 2 == 0)) {
      to_send.push_back(
        puback{pick_from(owes_puback), reason_code::success, {}});
    } else if (!owes_pubrec.empty()) {
      auto id = pick_from(owes_pubrec);
      awaits_pubrel.insert(id);
      to_send.push_back(pubrec{id, reason_code::success, {}});
    }
  }
};

struct simulation {
  harness h;
  model_client client;
  std::map<std::string, qos> published; ///< payload -> QoS
  int next_message = 0;

  connect connect_packet() const {
    auto c = make_connect(protocol_version::v5, "sim", false);
    c.props.session_expiry_interval = 3600;
    c.props.receive_maximum = receive_maximum;
    return c;
  }

  void start() {
    h.config.session.max_mqueue_len = 0; // unbounded: nothing may be lost
    h.connect(connect_packet());
    h.subscribe(1, "t/#", qos::exactly_once);
  }

  void check_invariants() {
    const auto* s = h.ch->current_session();
    REQUIRE(s);
    CHECK(s->inflight_size() <= receive_maximum);
    if (h.ch->state() == channel_state::connected)
      CHECK(s->inflight_size() == client.outstanding());
  }

  void flush_client() {
    while (!client.to_send.empty()) {
      auto pkt = client.to_send.front();
      client.to_send.pop_front();
      client.take(h.in(pkt));
    }
  }

  void deliver(std::mt19937_64& rng) {
    auto body = "m" + std::to_string(next_message++);
    const auto q = static_cast<qos>(rng() % 3);
    published[body] = q;
    client.take(h.deliver(make_message("t/x", q, "pub", body), {"t/#"}));
  }

  void reconnect() {
    h.lost();
    h.now += 1'000;
    auto fx = h.connect(connect_packet(), h.ch->release_session());
    CHECK(sent_one<connack>(fx).session_present);
    // Everything the client still holds is asked for again, and only that.
    std::set<std::uint16_t> resent_publish;
    for (const auto& p : sent<publish>(fx))
      if (p.dup)
        resent_publish.insert(p.packet_id);
    std::set<std::uint16_t> expected = client.owes_puback;
    expected.insert(client.owes_pubrec.begin(), client.owes_pubrec.end());
    CHECK(resent_publish == expected);
    client.take(fx);
    flush_client();
  }

  void step(std::mt19937_64& rng) {
    switch (rng() % 10) {
      case 0:
        if (h.ch->state() == channel_state::connected)
          reconnect();
        break;
      case 1:
      case 2:
      case 3:
      case 4:
        client.ack_one(rng);
        flush_client();
        break;
      default:
        deliver(rng);
        break;
    }
    check_invariants();
  }

  void settle() {
    for (int guard = 0; guard < 10'000 && client.outstanding() > 0; ++guard) {
      client.ack_one(rng_settle);
      flush_client();
    }
    CHECK(client.outstanding() == 0);
    CHECK(h.ch->current_session()->queue().empty());
    CHECK(h.ch->current_session()->inflight_size() == 0);
  }

  std::mt19937_64 rng_settle{1};
};

} // namespace

TEST_CASE("channel session: seeded random traffic keeps the QoS invariants") {
  for (std::uint64_t seed : {1u, 2u, 3u, 42u, 2024u}) {
    INFO("seed " << seed);
    simulation sim;
    std::mt19937_64 rng(seed);
    sim.start();
    for (int i = 0; i < 1'500; ++i)
      sim.step(rng);
    sim.settle();
    for (const auto& [body, q] : sim.published) {
      INFO(body << " at QoS " << static_cast<int>(q));
      const auto seen = sim.client.received[body];
      if (q == qos::at_least_once)
        CHECK(seen >= 1);
      else
        CHECK(seen == 1);
    }
  }
}
