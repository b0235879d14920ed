#include <doctest/doctest.h>

#include <variant>
#include <vector>

#include "starling/broker/codec.hpp"
#include "starling/loadgen/wire.hpp"

using namespace starling;
using namespace starling::loadgen;

namespace {

/// Builds one message from the template the way the engine does (head,
/// then the shared zero body) and decodes it with the broker's codec.
broker::publish round_trip(broker::qos q, broker::protocol_version v,
                           std::uint32_t size, std::uint16_t id,
                           const stamp& s) {
  auto made = publish_template::make("bench/7", q, v, size);
  REQUIRE(std::holds_alternative<publish_template>(made));
  const auto& t = std::get<publish_template>(made);
  std::vector<std::uint8_t> wire(t.head_size());
  t.write_head(wire.data(), id, s);
  wire.resize(wire.size() + t.body_size(), 0);
  broker::decoder d(broker::decoder_options{broker::max_packet_size_limit, v});
  auto r = d.decode(wire);
  REQUIRE(std::holds_alternative<broker::decoded>(r));
  CHECK(std::get<broker::decoded>(r).consumed == wire.size());
  auto p = std::get<broker::decoded>(r).pkt;
  REQUIRE(std::holds_alternative<broker::publish>(p));
  return std::get<broker::publish>(p);
}

} // namespace

TEST_CASE("loadgen wire: a patched PUBLISH decodes with its stamp") {
  for (auto v : {broker::protocol_version::v3_1_1, broker::protocol_version::v5})
    for (auto q : {broker::qos::at_most_once, broker::qos::at_least_once,
                   broker::qos::exactly_once})
      for (std::uint32_t size : {24u, 64u, 1000u, 70000u}) {
        INFO("version " << int(v) << " qos " << int(q) << " size " << size);
        stamp s{123456789, 42, 0xdeadbeef, 7};
        std::uint16_t id = q == broker::qos::at_most_once ? 0 : 0x1234;
        auto p = round_trip(q, v, size, id, s);
        CHECK(p.topic == "bench/7");
        CHECK(p.qos == q);
        CHECK(p.packet_id == id);
        REQUIRE(p.payload.size() == size);
        auto got = stamp::read(p.payload.data());
        CHECK(got.sent_ns == s.sent_ns);
        CHECK(got.seq == 42);
        CHECK(got.source() == ((std::uint64_t{0xdeadbeef} << 32) | 7));
      }
}

TEST_CASE("loadgen wire: acks are patched at a fixed offset") {
  for (auto v : {broker::protocol_version::v3_1_1, broker::protocol_version::v5}) {
    auto bytes = encode_ack(broker::packet_type::puback, v);
    put_u16(bytes.data() + ack_packet_id_offset, 0xabcd);
    broker::decoder d(broker::decoder_options{1024, v});
    auto r = d.decode(bytes);
    REQUIRE(std::holds_alternative<broker::decoded>(r));
    auto p = std::get<broker::decoded>(r).pkt;
    CHECK(std::get<broker::puback>(p).packet_id == 0xabcd);
  }
}

TEST_CASE("loadgen wire: CONNECT carries the options") {
  options o;
  o.version = 5;
  o.session_expiry_s = 30;
  o.username = "u";
  o.password = "p";
  o.clean_start = false;
  auto c = make_connect(o, "id-1");
  CHECK(c.client_id == "id-1");
  CHECK_FALSE(c.clean_start);
  CHECK(c.props.session_expiry_interval == 30u);
  CHECK(std::holds_alternative<std::vector<std::uint8_t>>(
      encode_packet(c, broker::protocol_version::v5)));
}

TEST_CASE("loadgen wire: a stamp is plausible only near the reader's clock") {
  constexpr std::uint64_t s = 1'000'000'000;
  const std::uint64_t now = 5000 * s; // a host up for 83 minutes
  stamp st;
  st.sent_ns = now - 200'000; // 200 us ago
  CHECK(st.plausible(now));
  st.sent_ns = now + s / 2; // a clock read just after ours, on another CPU
  CHECK(st.plausible(now));
  st.sent_ns = now - 3601 * s; // over an hour in flight
  CHECK_FALSE(st.plausible(now));
  // Another client's payload of 'x' bytes: centuries from now.
  std::vector<std::uint8_t> xs(stamp::size, 'x');
  CHECK_FALSE(stamp::read(xs.data()).plausible(now));
  // Zeros: the host's boot, long ago.
  std::vector<std::uint8_t> zeros(stamp::size, 0);
  CHECK_FALSE(stamp::read(zeros.data()).plausible(now));
}
