// The protocol side of a bench connection: what each packet from the broker
// does. The socket side is in connection.cpp.

#include <algorithm>

#include "starling/broker/reason_codes.hpp"
#include "starling/loadgen/connection.hpp"

namespace starling::loadgen {

namespace {

/// Filters per SUBSCRIBE: keeps packets small while a million filters still
/// take only 10,000 round trips' worth of packets.
constexpr std::uint32_t filters_per_packet = 100;

} // namespace

void connection::on_connected() {
  state_ = state::awaiting_connack;
  auto encoded = encode_packet(make_connect(ctx_.opts, client_id_), ctx_.version);
  if (auto* why = std::get_if<std::string>(&encoded))
    return fail(*why);
  queue(std::get<std::vector<std::uint8_t>>(encoded));
  flush();
}

void connection::handle(broker::packet& p) {
  using broker::packet_type;
  switch (broker::type_of(p)) {
    case packet_type::connack:
      return on_connack(std::get<broker::connack>(p));
    case packet_type::suback:
      return on_suback(std::get<broker::suback>(p));
    case packet_type::publish:
      return on_publish(std::get<broker::publish>(p));
    case packet_type::puback: {
      const auto& a = std::get<broker::puback>(p);
      if (broker::is_failure(a.code))
        return fail("the broker refused a QoS 1 message: " +
                    std::string(broker::to_string(a.code)));
      return on_publisher_ack(a.packet_id, true);
    }
    case packet_type::pubrec: {
      const auto& a = std::get<broker::pubrec>(p);
      if (broker::is_failure(a.code))
        return fail("the broker refused a QoS 2 message: " +
                    std::string(broker::to_string(a.code)));
      return on_publisher_ack(a.packet_id, false);
    }
    case packet_type::pubcomp:
      return on_publisher_ack(std::get<broker::pubcomp>(p).packet_id, true);
    case packet_type::pubrel:
      return queue_ack(ctx_.pubcomp, std::get<broker::pubrel>(p).packet_id);
    case packet_type::pingresp:
      return;
    case packet_type::disconnect: {
      const auto& d = std::get<broker::disconnect>(p);
      if (d.code == broker::reason_code::use_another_server
          || d.code == broker::reason_code::server_moved)
        ++ctx_.stats.moved;
      return lost("the broker sent DISCONNECT: " +
                      std::string(broker::to_string(d.code)),
                  d.props.server_reference);
    }
    default:
      return fail("unexpected " +
                  std::string(broker::to_string(broker::type_of(p))) +
                  " from the broker");
  }
}

void connection::on_connack(const broker::connack& c) {
  if (state_ != state::awaiting_connack)
    return fail("a second CONNACK");
  if (broker::is_failure(c.code)) {
    if (c.code == broker::reason_code::use_another_server
        || c.code == broker::reason_code::server_moved)
      ++ctx_.stats.moved;
    return lost("the broker refused the connection: " +
                    std::string(broker::to_string(c.code)),
                c.props.server_reference);
  }
  --ctx_.stats.connecting;
  ++ctx_.stats.connected;
  // MQTT 5: the broker's Receive Maximum bounds our QoS 1/2 window.
  max_inflight_ = std::min<std::uint32_t>(
      ctx_.opts.inflight, c.props.receive_maximum.value_or(65535));
  switch (ctx_.opts.mode) {
    case bench_mode::conn:
      return become_ready();
    case bench_mode::sub:
      return send_subscribes();
    case bench_mode::pub:
      break;
  }
  auto topic = ctx_.topic.expand(index_, client_id_);
  auto made = publish_template::make(
      topic, static_cast<broker::qos>(ctx_.opts.qos), ctx_.version,
      ctx_.opts.payload_size);
  if (auto* why = std::get_if<std::string>(&made))
    return fail(*why);
  publish_ = std::move(std::get<publish_template>(made));
  auto packet_size = publish_->head_size() + publish_->body_size();
  if (c.props.maximum_packet_size && packet_size > *c.props.maximum_packet_size)
    return fail("a " + std::to_string(packet_size) +
                "-byte PUBLISH exceeds the broker's Maximum Packet Size of " +
                std::to_string(*c.props.maximum_packet_size) + " bytes");
  become_ready();
}

void connection::send_subscribes() {
  state_ = state::subscribing;
  auto q = static_cast<broker::qos>(ctx_.opts.qos);
  for (std::uint32_t j = 0; j < ctx_.opts.filters_per_client;
       j += filters_per_packet) {
    broker::subscribe s;
    s.packet_id = next_packet_id();
    auto end = std::min(ctx_.opts.filters_per_client, j + filters_per_packet);
    for (auto k = j; k < end; ++k)
      s.subscriptions.push_back(
          {ctx_.topic.expand(index_, client_id_, k), broker::subscription_options{q}});
    auto encoded = encode_packet(s, ctx_.version);
    if (auto* why = std::get_if<std::string>(&encoded))
      return fail(*why);
    queue(std::get<std::vector<std::uint8_t>>(encoded));
    ++pending_subacks_;
  }
  flush();
}

void connection::on_suback(const broker::suback& s) {
  if (state_ != state::subscribing || pending_subacks_ == 0)
    return fail("an unexpected SUBACK");
  for (auto code : s.codes) {
    if (broker::is_failure(code))
      return fail("the broker refused a subscription to '" +
                  ctx_.opts.topic + "': " +
                  std::string(broker::to_string(code)));
    ++ctx_.stats.subscriptions;
  }
  if (--pending_subacks_ == 0)
    become_ready();
}

void connection::become_ready() {
  state_ = state::ready;
  if (++ctx_.stats.ready == ctx_.clients)
    ctx_.stats.all_ready_ns = monotonic_ns();
  if (ctx_.opts.mode == bench_mode::pub)
    ctx_.newly_ready.push_back(slot_);
}

void connection::on_publish(const broker::publish& p) {
  auto& s = ctx_.stats;
  auto now = ctx_.now_ns;
  ++s.received;
  if (s.first_receive_ns == 0)
    s.first_receive_ns = now;
  s.last_receive_ns = now;
  stamp st;
  if (p.payload.size() >= stamp::size
      && (st = stamp::read(p.payload.data())).plausible(now)) {
    auto latency = now > st.sent_ns ? now - st.sent_ns : 0;
    s.first_stamp_ns = engine_stats::earliest(s.first_stamp_ns, st.sent_ns);
    ctx_.latency_interval.record(latency); // into `latency` at each report
    auto d = tracker_.record(st.source(), st.seq);
    s.lost += d.lost;
    s.duplicates += d.duplicates;
    s.out_of_order += d.out_of_order;
  } else {
    ++s.unstamped;
  }
  if (p.qos == broker::qos::at_least_once)
    queue_ack(ctx_.puback, p.packet_id);
  else if (p.qos == broker::qos::exactly_once)
    queue_ack(ctx_.pubrec, p.packet_id);
}

void connection::on_publisher_ack(std::uint16_t packet_id, bool final_ack) {
  if (inflight_.find(packet_id) == inflight_.end())
    return fail("an acknowledgement for packet id " +
                std::to_string(packet_id) + ", which is not in flight");
  if (!final_ack) {
    // PUBREC: the id stays in flight until PUBCOMP.
    queue_ack(ctx_.pubrel, packet_id);
    return;
  }
  inflight_.erase(packet_id);
  ++ctx_.stats.acked;
}

std::uint16_t connection::next_packet_id() {
  // Callers keep fewer than 65535 ids in flight, so this ends.
  do {
    if (++last_packet_id_ == 0)
      last_packet_id_ = 1;
  } while (!inflight_.empty() && inflight_.count(last_packet_id_) != 0);
  return last_packet_id_;
}

} // namespace starling::loadgen
