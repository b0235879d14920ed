// PUBLISH in both directions with the QoS 1/2 packet identifier state
// machines (MQTT 5 §4.3), topic aliases (§3.3.2.3.4), flow control (§4.9)
// and message expiry (§3.3.2.3.3).
//
// Inbound (client -> broker):
//   QoS 0  PUBLISH                  -> publish_message
//   QoS 1  PUBLISH                  -> publish_message, PUBACK
//   QoS 2  PUBLISH (new id)         -> publish_message, PUBREC; id awaits PUBREL
//          PUBLISH (id awaited)     -> PUBREC only: never published twice
//          PUBREL                   -> PUBCOMP (0x92 if the id is unknown)
// A refused message (not authorized, bad topic, bad UTF-8 payload) is
// answered with the failure code in PUBACK/PUBREC (MQTT 5) or acknowledged
// and dropped (3.x, which has no way to say no), and never published.
//
// Outbound (broker -> client), per session flow (session.hpp):
//   QoS 1  PUBLISH -> awaiting PUBACK  -> done
//   QoS 2  PUBLISH -> awaiting PUBREC  -> PUBREL -> awaiting PUBCOMP -> done
// Each completed flow frees a slot of the window, which the queue refills.

#include "starling/broker/channel.hpp"

#include <algorithm>
#include <utility>

#include "channel_rules.hpp"

namespace starling::broker {

namespace {

/// Room a property can take besides its value: identifier byte plus a
/// two-byte length.
constexpr std::size_t property_overhead = 3;

/// An upper bound on the encoded size of the PUBLISH properties `p` can
/// carry, so that most packets need no exact encoding to be checked.
std::size_t publish_properties_bound(const properties& p) noexcept {
  std::size_t size = 4; // Property Length
  auto add = [&](const auto& field) {
    if (field)
      size += property_overhead + field->size();
  };
  add(p.content_type);
  add(p.response_topic);
  add(p.correlation_data);
  size += p.payload_format_indicator ? 2 : 0;
  size += p.message_expiry_interval ? 5 : 0;
  size += p.topic_alias ? 3 : 0;
  size += p.subscription_identifiers.size() * 5;
  for (const auto& [name, value] : p.user)
    size += 1 + 2 + name.size() + 2 + value.size();
  return size;
}

constexpr std::size_t packet_id_limit = 65535;

} // namespace

// -- inbound PUBLISH ----------------------------------------------------------

void channel::on_publish(const publish& p, std::int64_t now,
                         effect_list& out) {
  std::string topic;
  if (!resolve_topic(p, topic, now, out))
    return;
  // Limits announced in CONNACK: breaking them is a protocol violation
  // (§3.2.2.3.4, §3.2.2.3.5), not a refusal of one message.
  if (p.qos > config_->max_qos)
    return protocol_violation(reason_code::qos_not_supported,
                              "PUBLISH QoS "
                                + std::to_string(static_cast<int>(p.qos))
                                + " exceeds the maximum QoS",
                              now, out);
  if (p.retain && !config_->retain_available)
    return protocol_violation(reason_code::retain_not_supported,
                              "PUBLISH is retained but retained messages "
                              "are not available",
                              now, out);
  auto refusal = publish_refusal(p, topic);
  if (!refusal && hooks_.authorize
      && !hooks_.authorize(client_id_, username(), access_action::publish, topic)) {
    if (config_->disconnect_on_deny)
      return protocol_violation(reason_code::not_authorized,
                                "PUBLISH to \"" + topic + "\" is not authorized",
                                now, out);
    refusal = reason_code::not_authorized;
  }
  const auto ack_code = refusal && is_v5() ? *refusal : reason_code::success;
  switch (p.qos) {
    case qos::at_most_once:
      if (!refusal)
        out.push_back(publish_message{
          make_message(p, std::move(topic), client_id_, now), false});
      return;
    case qos::at_least_once:
      if (!refusal)
        out.push_back(publish_message{
          make_message(p, std::move(topic), client_id_, now), false});
      return send(puback{p.packet_id, ack_code, {}}, out);
    case qos::exactly_once:
      return on_qos2_publish(p, std::move(topic), refusal, now, out);
  }
}

bool channel::resolve_topic(const publish& p, std::string& topic,
                            std::int64_t now, effect_list& out) {
  if (!is_v5() || !p.props.topic_alias) {
    topic = p.topic;
    return true;
  }
  const auto alias = *p.props.topic_alias;
  if (alias == 0 || alias > config_->max_topic_alias) {
    protocol_violation(reason_code::topic_alias_invalid,
                       "topic alias " + std::to_string(alias)
                         + " is above the maximum "
                         + std::to_string(config_->max_topic_alias),
                       now, out);
    return false;
  }
  if (!p.topic.empty()) {
    aliases().inbound[alias] = p.topic;
    topic = p.topic;
    return true;
  }
  const std::string* known = nullptr;
  if (aliases_)
    if (auto it = aliases_->inbound.find(alias); it != aliases_->inbound.end())
      known = &it->second;
  if (!known) {
    protocol_violation(reason_code::protocol_error,
                       "topic alias " + std::to_string(alias)
                         + " is not set on this connection",
                       now, out);
    return false;
  }
  topic = *known;
  return true;
}

std::optional<reason_code>
channel::publish_refusal(const publish& p, std::string_view topic) const {
  if (level_count(topic) > config_->max_topic_levels)
    return reason_code::topic_name_invalid;
  // `$SYS` is the broker's; `$share/` names a shared subscription, never a
  // topic (§4.8.2).
  if (detail::is_sys_topic(topic))
    return reason_code::not_authorized;
  if (is_shared_filter(topic))
    return reason_code::topic_name_invalid;
  if (is_v5() && p.props.payload_format_indicator == payload_format::utf8
      && !detail::is_utf8_payload(p.payload))
    return reason_code::payload_format_invalid;
  return std::nullopt;
}

void channel::on_qos2_publish(const publish& p, std::string topic,
                              std::optional<reason_code> refusal,
                              std::int64_t now, effect_list& out) {
  // Admission first: a client over our Receive Maximum is in violation
  // whatever the message (§3.3.4), and a refused message ends its flow with
  // the failing PUBREC, so it is not kept awaiting PUBREL.
  switch (session_->await_pubrel(p.packet_id, now)) {
    case qos2_admission::full:
      return protocol_violation(
        reason_code::receive_maximum_exceeded,
        "more than "
          + std::to_string(session_->awaiting_rel_size())
          + " QoS 2 messages awaiting PUBREL (Receive Maximum)",
        now, out);
    case qos2_admission::duplicate:
      // §4.3.3: acknowledge again, never deliver twice.
      return send(pubrec{p.packet_id, reason_code::success, {}}, out);
    case qos2_admission::accepted:
      break;
  }
  if (refusal) {
    session_->release(p.packet_id);
    return send(pubrec{p.packet_id,
                       is_v5() ? *refusal : reason_code::success, {}},
                out);
  }
  out.push_back(
    publish_message{make_message(p, std::move(topic), client_id_, now), false});
  send(pubrec{p.packet_id, reason_code::success, {}}, out);
  arm_await_rel(out);
}

void channel::on_pubrel(const pubrel& r, std::int64_t, effect_list& out) {
  const bool known = session_->release(r.packet_id);
  const auto code = known || !is_v5() ? reason_code::success
                                      : reason_code::packet_identifier_not_found;
  send(pubcomp{r.packet_id, code, {}}, out);
}

// -- acknowledgements of outbound PUBLISH -------------------------------------

void channel::on_puback(const puback& a, std::int64_t now, effect_list& out) {
  // An unknown id (a duplicate, or a flow the session dropped) is ignored.
  if (session_->puback(a.packet_id))
    drain_queue(now, out);
}

void channel::on_pubrec(const pubrec& r, std::int64_t now, effect_list& out) {
  switch (session_->pubrec(r.packet_id, is_failure(r.code))) {
    case pubrec_outcome::send_pubrel:
      return send(pubrel{r.packet_id, reason_code::success, {}}, out);
    case pubrec_outcome::completed:
      return drain_queue(now, out);
    case pubrec_outcome::unknown:
      return send(pubrel{r.packet_id,
                         is_v5() ? reason_code::packet_identifier_not_found
                                 : reason_code::success,
                         {}},
                  out);
  }
}

void channel::on_pubcomp(const pubcomp& c, std::int64_t now,
                         effect_list& out) {
  if (session_->pubcomp(c.packet_id))
    drain_queue(now, out);
}

// -- outbound PUBLISH ---------------------------------------------------------

effect_list channel::deliver(const message& msg,
                             std::span<const std::string> keys,
                             std::int64_t now) {
  effect_list out;
  if (!session_)
    return out;
  if (auto d = session_->prepare(msg, keys, now))
    route(std::move(*d), now, out);
  return out;
}

effect_list channel::deliver(delivery d, std::int64_t now) {
  effect_list out;
  if (session_ && !d.msg.expired(now))
    route(std::move(d), now, out);
  return out;
}

effect_list channel::deliver_retained(const message& msg, std::string_view key,
                                      std::int64_t now) {
  effect_list out;
  if (!session_)
    return out;
  if (auto d = session_->prepare_retained(msg, key, now))
    route(std::move(*d), now, out);
  return out;
}

std::size_t channel::window() const noexcept {
  const std::size_t configured = config_->session.max_inflight == 0
                                   ? packet_id_limit
                                   : config_->session.max_inflight;
  return std::min<std::size_t>(configured, client_receive_maximum_);
}

void channel::route(delivery d, std::int64_t now, effect_list& out) {
  if (state_ != channel_state::connected)
    return session_->enqueue(std::move(d));
  if (d.qos == qos::at_most_once) {
    if (auto p = render(d, now)) {
      ++session_->counters().sent;
      send(std::move(*p), out);
    }
    return;
  }
  // Behind queued messages, or with the window full, wait in line: the
  // queue keeps the order the router delivered in.
  if (!session_->queue().empty() || !session_->can_send(window()))
    return session_->enqueue(std::move(d));
  start_flow(std::move(d), now, out);
}

void channel::start_flow(delivery d, std::int64_t now, effect_list& out) {
  auto p = render(d, now);
  if (!p)
    return; // too large for the client: as if delivered (§3.1.2.25)
  p->packet_id = session_->track(std::move(d));
  ++session_->counters().sent;
  send(std::move(*p), out);
}

std::optional<publish> channel::render(const delivery& d, std::int64_t now) {
  publish p;
  p.qos = d.qos;
  p.retain = d.retain;
  p.topic = d.msg.topic;
  p.payload = d.msg.payload.bytes();
  // Placeholder of the same size; the caller sets the real identifier.
  p.packet_id = d.qos == qos::at_most_once ? 0 : 1;
  std::optional<std::uint16_t> new_alias;
  if (is_v5()) {
    if (const auto* props = d.msg.props.get()) {
      p.props.payload_format_indicator = props->payload_format_indicator;
      p.props.content_type = props->content_type;
      p.props.response_topic = props->response_topic;
      p.props.correlation_data = props->correlation_data;
      p.props.user = props->user;
    }
    p.props.message_expiry_interval = d.msg.remaining_expiry_interval(now);
    p.props.subscription_identifiers = d.subscription_ids;
    // Aliases are handed out in order until the client's maximum and kept
    // for the connection: no eviction, so a busy client's first topics keep
    // theirs (as EMQX does).
    if (client_topic_alias_max_ > 0) {
      auto& outbound = aliases().outbound;
      if (auto it = outbound.find(p.topic); it != outbound.end()) {
        p.props.topic_alias = it->second;
        p.topic.clear();
      } else if (outbound.size() < client_topic_alias_max_) {
        new_alias = static_cast<std::uint16_t>(outbound.size() + 1);
        p.props.topic_alias = new_alias;
      }
    }
  }
  if (!fits(p)) {
    ++session_->counters().dropped_too_large;
    return std::nullopt;
  }
  if (new_alias)
    aliases().outbound.emplace(d.msg.topic, *new_alias);
  return p;
}

bool channel::fits(const publish& p) {
  if (!client_max_packet_size_)
    return true;
  const std::size_t limit = *client_max_packet_size_;
  // Fixed header (at most 5) + topic + packet id + properties + payload.
  const auto upper = 5 + 2 + p.topic.size() + 2
                     + (is_v5() ? publish_properties_bound(p.props) : 0)
                     + p.payload.size();
  if (upper <= limit)
    return true;
  if (2 + 2 + p.topic.size() + p.payload.size() > limit)
    return false;
  // Close to the limit: only the encoder knows the exact size.
  // One buffer per thread, not per channel: rarely used, and an idle
  // client should not carry it.
  thread_local std::vector<std::uint8_t> scratch;
  scratch.clear();
  if (encode(p, version_, scratch))
    return false;
  return scratch.size() <= limit;
}

void channel::drain_queue(std::int64_t now, effect_list& out) {
  if (state_ != channel_state::connected)
    return;
  while (session_->can_send(window())) {
    auto d = session_->dequeue(now);
    if (!d)
      return;
    if (d->qos != qos::at_most_once) {
      start_flow(std::move(*d), now, out);
    } else if (auto p = render(*d, now)) {
      ++session_->counters().sent;
      send(std::move(*p), out);
    }
  }
}

void channel::resend_inflight(std::int64_t now, effect_list& out) {
  // §4.4: on a resumed session, unacknowledged PUBLISH packets go again
  // with DUP set and PUBRELs again as they were, in the original order and
  // with their original packet identifiers.
  for (auto id : session_->inflight_order()) {
    const auto& entry = *session_->find_inflight(id);
    if (entry.state == inflight_state::awaiting_pubcomp) {
      ++session_->counters().resent;
      send(pubrel{id, reason_code::success, {}}, out);
      continue;
    }
    // An expired message is dropped rather than resent, as EMQX does: the
    // client may not have it, and it must not see it after its expiry.
    if (entry.out.msg.expired(now)) {
      session_->forget(id);
      ++session_->counters().dropped_expired;
      continue;
    }
    auto p = render(entry.out, now);
    if (!p) {
      session_->forget(id);
      continue;
    }
    p->packet_id = id;
    p->dup = true;
    ++session_->counters().resent;
    send(std::move(*p), out);
  }
}

} // namespace starling::broker
