#include "starling/actors/mqtt/message_wire.hpp"

#include <caf/actor_system.hpp>
#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>

namespace starling::actors::mqtt {

message_wire to_wire(const broker::message& m) {
  message_wire w;
  w.topic = m.topic;
  auto& bytes = m.payload.bytes();
  w.payload.assign(bytes.begin(), bytes.end());
  w.qos = static_cast<uint8_t>(m.qos);
  w.retain = m.retain;
  w.publisher = m.publisher;
  w.timestamp_ms = m.timestamp_ms;
  w.expires = m.expires_at_ms.has_value();
  w.expires_at_ms = m.expires_at_ms.value_or(0);
  if (m.props) {
    auto& p = *m.props;
    w.has_props = true;
    if (p.payload_format_indicator)
      w.payload_format = static_cast<uint8_t>(*p.payload_format_indicator);
    w.has_content_type = p.content_type.has_value();
    w.content_type = p.content_type.value_or("");
    w.has_response_topic = p.response_topic.has_value();
    w.response_topic = p.response_topic.value_or("");
    w.has_correlation = p.correlation_data.has_value();
    if (p.correlation_data)
      w.correlation.assign(p.correlation_data->begin(), p.correlation_data->end());
    for (auto& [k, v] : p.user) {
      w.user.push_back(k);
      w.user.push_back(v);
    }
  }
  return w;
}

std::optional<broker::message> from_wire(message_wire w) {
  if (w.qos > 2 || (w.payload_format > 1 && w.payload_format != 255)
      || w.user.size() % 2 != 0)
    return std::nullopt;
  broker::message m;
  m.topic = std::move(w.topic);
  m.payload = broker::shared_binary(broker::binary(w.payload.begin(), w.payload.end()));
  m.qos = static_cast<broker::qos>(w.qos);
  m.retain = w.retain;
  m.publisher = std::move(w.publisher);
  m.timestamp_ms = w.timestamp_ms;
  if (w.expires)
    m.expires_at_ms = w.expires_at_ms;
  if (w.has_props) {
    broker::message_properties p;
    if (w.payload_format != 255)
      p.payload_format_indicator = static_cast<broker::payload_format>(w.payload_format);
    if (w.has_content_type)
      p.content_type = std::move(w.content_type);
    if (w.has_response_topic)
      p.response_topic = std::move(w.response_topic);
    if (w.has_correlation)
      p.correlation_data = broker::binary(w.correlation.begin(), w.correlation.end());
    for (size_t i = 0; i + 1 < w.user.size(); i += 2)
      p.user.emplace_back(std::move(w.user[i]), std::move(w.user[i + 1]));
    m.props = std::make_shared<const broker::message_properties>(std::move(p));
  }
  return m;
}

std::string encode_message(caf::actor_system& sys, const broker::message& m) {
  std::vector<char> buf;
  caf::binary_serializer sink{sys, buf};
  auto w = to_wire(m);
  static_cast<void>(sink(w)); // serializing into memory cannot fail
  return std::string(buf.begin(), buf.end());
}

std::optional<broker::message> decode_message(caf::actor_system& sys,
                                              const std::string& bytes) {
  std::vector<char> buf(bytes.begin(), bytes.end());
  caf::binary_deserializer source{sys, buf};
  message_wire w;
  if (source(w))
    return std::nullopt;
  return from_wire(std::move(w));
}

} // namespace starling::actors::mqtt
