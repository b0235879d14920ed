#include "starling/actors/wire/mqtt.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>

namespace starling::actors::mqtt {

namespace {

// -- a session, flat ------------------------------------------------------------

struct subscription_wire {
  std::string key, topic_filter, group;
  bool shared = false;
  uint8_t qos = 0, retain_handling = 0;
  bool no_local = false, retain_as_published = false;
  bool has_id = false;
  uint32_t id = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, subscription_wire& x) {
  return f(x.key, x.topic_filter, x.group, x.shared, x.qos, x.retain_handling,
           x.no_local, x.retain_as_published, x.has_id, x.id);
}

struct delivery_wire {
  message_wire msg;
  uint8_t qos = 0;
  bool retain = false;
  std::vector<uint32_t> subscription_ids;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, delivery_wire& x) {
  return f(x.msg, x.qos, x.retain, x.subscription_ids);
}

struct inflight_wire {
  uint16_t packet_id = 0;
  uint8_t state = 0;
  uint64_t sequence = 0;
  delivery_wire out;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, inflight_wire& x) {
  return f(x.packet_id, x.state, x.sequence, x.out);
}

struct session_wire {
  std::string client_id;
  uint32_t expiry = 0;
  std::vector<subscription_wire> subscriptions;
  std::vector<inflight_wire> inflight;
  uint16_t next_packet_id = 1;
  uint64_t next_sequence = 0;
  std::vector<delivery_wire> queue;
  std::vector<uint16_t> awaiting_ids;
  std::vector<int64_t> awaiting_since;
  std::vector<uint64_t> counters;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, session_wire& x) {
  return f(caf::meta::type_name("mqtt_session"), x.client_id, x.expiry,
           x.subscriptions, x.inflight, x.next_packet_id, x.next_sequence,
           x.queue, x.awaiting_ids, x.awaiting_since, x.counters);
}

delivery_wire to_wire(const broker::delivery& d) {
  return {mqtt::to_wire(d.msg), static_cast<uint8_t>(d.qos), d.retain,
          d.subscription_ids};
}

std::optional<broker::delivery> from_wire(delivery_wire w) {
  auto m = mqtt::from_wire(std::move(w.msg));
  if (!m || w.qos > 2)
    return std::nullopt;
  return broker::delivery{std::move(*m), static_cast<broker::qos>(w.qos),
                          w.retain, std::move(w.subscription_ids)};
}

/// The counters in declaration order.
template <class F>
void for_counters(broker::session_counters& c, F f) {
  for (auto* v : {&c.sent, &c.resent, &c.acked, &c.dropped_queue_full,
                  &c.dropped_qos0_offline, &c.dropped_expired,
                  &c.dropped_too_large, &c.awaiting_rel_expired})
    f(*v);
}

template <class T>
std::string to_bytes(caf::actor_system& sys, T& x) {
  std::vector<char> buf;
  caf::binary_serializer sink{sys, buf};
  static_cast<void>(sink(x)); // serializing into memory cannot fail
  return std::string(buf.begin(), buf.end());
}

template <class T>
bool from_bytes(caf::actor_system& sys, const std::string& bytes, T& x) {
  caf::binary_deserializer source{sys, bytes.data(), bytes.size()};
  return !source(x) && source.remaining() == 0;
}

} // namespace

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
  w.id = m.id;
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
  m.id = w.id;
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
  auto w = to_wire(m);
  return to_bytes(sys, w);
}

std::optional<broker::message> decode_message(caf::actor_system& sys,
                                              const std::string& bytes) {
  message_wire w;
  if (!from_bytes(sys, bytes, w))
    return std::nullopt;
  return from_wire(std::move(w));
}

std::string encode_session(caf::actor_system& sys, broker::session& s) {
  session_wire w;
  for_fields(s, [&](auto& client_id, auto&, auto& expiry, auto& subs,
                    auto& inflight, auto& next_packet_id, auto& next_sequence,
                    auto& queue, auto& awaiting_rel, auto& counters) {
    w.client_id = client_id;
    w.expiry = expiry;
    for (auto& [key, sub] : subs)
      w.subscriptions.push_back(
        {key, sub.topic_filter, sub.share_group.value_or(""),
         sub.share_group.has_value(), static_cast<uint8_t>(sub.options.qos),
         static_cast<uint8_t>(sub.options.retain_handling),
         sub.options.no_local, sub.options.retain_as_published,
         sub.identifier.has_value(), sub.identifier.value_or(0)});
    for (auto& [id, m] : inflight)
      w.inflight.push_back({id, static_cast<uint8_t>(m.state), m.sequence,
                            to_wire(m.out)});
    w.next_packet_id = next_packet_id;
    w.next_sequence = next_sequence;
    for (auto& d : queue)
      w.queue.push_back(to_wire(d));
    for (auto& [id, since] : awaiting_rel) {
      w.awaiting_ids.push_back(id);
      w.awaiting_since.push_back(since);
    }
    for_counters(counters, [&](uint64_t v) { w.counters.push_back(v); });
  });
  return to_bytes(sys, w);
}

std::optional<broker::session> decode_session(caf::actor_system& sys,
                                              const std::string& bytes,
                                              const broker::session_config& config) {
  session_wire w;
  if (!from_bytes(sys, bytes, w) || w.awaiting_ids.size() != w.awaiting_since.size()
      || w.counters.size() != 8)
    return std::nullopt;
  broker::session s(w.client_id, config, w.expiry);
  bool ok = true;
  for_fields(s, [&](auto&, auto&, auto&, auto& subs, auto& inflight,
                    auto& next_packet_id, auto& next_sequence, auto& queue,
                    auto& awaiting_rel, auto& counters) {
    for (auto& x : w.subscriptions) {
      if (x.qos > 2 || x.retain_handling > 2) {
        ok = false;
        return;
      }
      broker::session_subscription sub;
      sub.topic_filter = x.topic_filter;
      if (x.shared)
        sub.share_group = x.group;
      sub.options.qos = static_cast<broker::qos>(x.qos);
      sub.options.no_local = x.no_local;
      sub.options.retain_as_published = x.retain_as_published;
      sub.options.retain_handling = static_cast<broker::retain_handling>(x.retain_handling);
      if (x.has_id)
        sub.identifier = x.id;
      subs.emplace(x.key, std::move(sub));
    }
    for (auto& x : w.inflight) {
      auto d = from_wire(std::move(x.out));
      if (!d || x.state > 2) {
        ok = false;
        return;
      }
      inflight.emplace(x.packet_id,
                       broker::inflight_message{x.packet_id,
                                                static_cast<broker::inflight_state>(x.state),
                                                x.sequence, std::move(*d)});
    }
    next_packet_id = w.next_packet_id;
    next_sequence = w.next_sequence;
    for (auto& x : w.queue) {
      auto d = from_wire(std::move(x));
      if (!d) {
        ok = false;
        return;
      }
      queue.push_back(std::move(*d));
    }
    for (size_t i = 0; i < w.awaiting_ids.size(); ++i)
      awaiting_rel.emplace(w.awaiting_ids[i], w.awaiting_since[i]);
    size_t i = 0;
    for_counters(counters, [&](uint64_t& v) { v = w.counters[i++]; });
  });
  if (!ok)
    return std::nullopt;
  return s;
}

void register_message_wire_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<message_wire>("starling.mqtt_message");
  cfg.add_message_type<forward_wire>("starling.mqtt_forward");
  cfg.add_message_type<std::vector<forward_wire>>("starling.mqtt_forwards");
  // A takeover's answer: the message ids the session's move has seen.
  cfg.add_message_type<std::vector<uint64_t>>("starling.message_ids");
}

} // namespace starling::actors::mqtt
