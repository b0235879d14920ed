#include "starling/loadgen/engine_context.hpp"

#include <climits>
#include <ctime>

#include "starling/loadgen/stamp.hpp"
#include "starling/loadgen/wire.hpp"

namespace starling::loadgen {

std::uint64_t monotonic_ns() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000u +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

namespace {

std::vector<std::uint8_t> encode_fixed(const broker::packet& p,
                                       broker::protocol_version v) {
  // Cannot fail: fixed, valid packets.
  return std::get<std::vector<std::uint8_t>>(encode_packet(p, v));
}

} // namespace

engine_context::engine_context(const options& o)
  : opts(o),
    version(o.protocol()),
    read_buffer(256 * 1024),
    iov(IOV_MAX),
    body(o.payload_size > stamp::size ? o.payload_size - stamp::size : 0, 0),
    puback(encode_ack(broker::packet_type::puback, version)),
    pubrec(encode_ack(broker::packet_type::pubrec, version)),
    pubrel(encode_ack(broker::packet_type::pubrel, version)),
    pubcomp(encode_ack(broker::packet_type::pubcomp, version)),
    pingreq(encode_fixed(broker::pingreq{}, version)),
    disconnect(encode_fixed(broker::disconnect{}, version)) {
  // validate() has checked the template; conn mode has none.
  auto parsed = topic_template::parse(o.topic);
  if (auto* t = std::get_if<topic_template>(&parsed))
    topic = std::move(*t);
}

} // namespace starling::loadgen
