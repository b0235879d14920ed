#include "starling/broker/message.hpp"

namespace starling::broker {

namespace {

constexpr std::int64_t ms_per_second = 1000;

} // namespace

const binary& shared_binary::empty_bytes() noexcept {
  static const binary empty;
  return empty;
}

std::optional<std::uint32_t>
message::remaining_expiry_interval(std::int64_t now_ms) const noexcept {
  if (!expires_at_ms)
    return std::nullopt;
  const auto left_ms = *expires_at_ms - now_ms;
  if (left_ms <= 0)
    return 1; // precondition violated; still never send 0 ("expired")
  return static_cast<std::uint32_t>((left_ms + ms_per_second - 1)
                                    / ms_per_second);
}

std::shared_ptr<const message_properties>
forwarded_properties(const properties& props) {
  message_properties out;
  out.payload_format_indicator = props.payload_format_indicator;
  out.content_type = props.content_type;
  out.response_topic = props.response_topic;
  out.correlation_data = props.correlation_data;
  out.user = props.user;
  if (out.empty())
    return nullptr;
  return std::make_shared<const message_properties>(std::move(out));
}

namespace {

std::optional<std::int64_t> expiry_deadline(const properties& props,
                                            std::int64_t now_ms) {
  if (!props.message_expiry_interval)
    return std::nullopt;
  return now_ms
         + static_cast<std::int64_t>(*props.message_expiry_interval)
             * ms_per_second;
}

} // namespace

message make_message(const publish& packet, std::string topic,
                     std::string publisher, std::int64_t now_ms) {
  message out;
  out.topic = std::move(topic);
  out.payload = shared_binary(packet.payload);
  out.qos = packet.qos;
  out.retain = packet.retain;
  out.props = forwarded_properties(packet.props);
  out.publisher = std::move(publisher);
  out.timestamp_ms = now_ms;
  out.expires_at_ms = expiry_deadline(packet.props, now_ms);
  return out;
}

message make_will_message(const will_message& will, std::string publisher,
                          std::int64_t now_ms) {
  message out;
  out.topic = will.topic;
  out.payload = shared_binary(will.payload);
  out.qos = will.qos;
  out.retain = will.retain;
  out.props = forwarded_properties(will.props);
  out.publisher = std::move(publisher);
  out.timestamp_ms = now_ms;
  out.expires_at_ms = expiry_deadline(will.props, now_ms);
  return out;
}

} // namespace starling::broker
