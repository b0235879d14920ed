// CONNECT and CONNACK: the checks on a CONNECT, the hand-off to the host to
// open the session (`open_session` ... `session_opened`), and what follows
// CONNACK on a resumed session (MQTT 5 §3.1, §3.2, §4.4; 3.1.1 §3.1, §3.2).

#include "starling/broker/channel.hpp"

#include <algorithm>
#include <cstdio>
#include <utility>

#include "channel_rules.hpp"

namespace starling::broker {

namespace {

/// The client identifier the broker assigns: 128 random bits in hex, like
/// EMQX's GUIDs; far inside the 23 characters 3.1.1 asks servers to accept.
std::string assigned_client_id(const random_u64& random) {
  char text[33];
  std::snprintf(text, sizeof text, "%016llx%016llx",
                static_cast<unsigned long long>(random()),
                static_cast<unsigned long long>(random()));
  return text;
}

/// Whether a 3.x client is sent a CONNACK for a refusal with `code`. 3.1.1
/// §3.1.4 closes without CONNACK when the CONNECT itself is invalid; the
/// return codes are for refusals the client can act upon.
constexpr bool v3_connack_for(reason_code code) noexcept {
  return code != reason_code::malformed_packet
         && code != reason_code::protocol_error;
}

} // namespace

void channel::on_connect(const connect& c, std::int64_t now,
                         effect_list& out) {
  version_ = c.version;
  last_activity_ms_ = now;
  std::string why;
  auto refused = check_connect(c, why);
  // A channel reads one CONNECT: the hook, which holds the client's origin,
  // is not needed again (a hundred bytes per idle client).
  hooks_.authenticate = nullptr;
  if (refused)
    return refuse_connect(*refused, std::move(why), out);
  accept_connect(c, out);
}

std::optional<reason_code> channel::check_connect(const connect& c,
                                                  std::string& why) {
  if (c.props.authentication_method) {
    why = "enhanced authentication (method \"" + *c.props.authentication_method
          + "\") is not supported";
    return reason_code::bad_authentication_method;
  }
  if (auto code = choose_client_id(c, why))
    return code;
  if (auto code = authenticate(c); is_failure(code)) {
    why = "authentication refused: " + std::string(to_string(code));
    return code;
  }
  if (c.will)
    return check_will(*c.will, why);
  return std::nullopt;
}

std::optional<reason_code> channel::choose_client_id(const connect& c,
                                                     std::string& why) {
  if (c.client_id.size() > config_->max_clientid_len) {
    why = "client identifier is " + std::to_string(c.client_id.size())
          + " bytes; the limit is " + std::to_string(config_->max_clientid_len);
    return reason_code::client_identifier_not_valid;
  }
  if (!c.client_id.empty()) {
    client_id_ = c.client_id;
    return std::nullopt;
  }
  // A zero-length ClientId: MQTT 3.1 requires one; 3.1.1 allows it only
  // with Clean Session 1 (§3.1.3.1); MQTT 5 gets one assigned and told in
  // CONNACK (§3.2.2.3.7).
  if (c.version == protocol_version::v3_1) {
    why = "MQTT 3.1 requires a client identifier";
    return reason_code::client_identifier_not_valid;
  }
  if (c.version == protocol_version::v3_1_1 && !c.clean_start) {
    why = "an empty client identifier requires Clean Session 1";
    return reason_code::client_identifier_not_valid;
  }
  client_id_ = assigned_client_id(hooks_.random);
  assigned_client_id_ = true;
  return std::nullopt;
}

reason_code channel::authenticate(const connect& c) const {
  if (!hooks_.authenticate)
    return config_->allow_anonymous ? reason_code::success
                                   : reason_code::not_authorized;
  auth_request request;
  request.client_id = client_id_;
  if (c.username)
    request.username = *c.username;
  if (c.password)
    request.password = std::span<const std::uint8_t>(*c.password);
  request.version = c.version;
  return hooks_.authenticate(request);
}

std::optional<reason_code> channel::check_will(const will_message& will,
                                               std::string& why) const {
  // §3.2.2.1.4 and §3.2.2.1.5: a Will the broker could not publish as asked
  // is refused at CONNECT, not silently altered.
  if (will.qos > config_->max_qos) {
    why = "will QoS " + std::to_string(static_cast<int>(will.qos))
          + " exceeds the maximum QoS";
    return reason_code::qos_not_supported;
  }
  if (will.retain && !config_->retain_available) {
    why = "will is retained but retained messages are not available";
    return reason_code::retain_not_supported;
  }
  if (level_count(will.topic) > config_->max_topic_levels) {
    why = "will topic has more than "
          + std::to_string(config_->max_topic_levels) + " levels";
    return reason_code::topic_name_invalid;
  }
  if (will.props.payload_format_indicator == payload_format::utf8
      && !detail::is_utf8_payload(will.payload)) {
    why = "will payload is declared UTF-8 but is not";
    return reason_code::payload_format_invalid;
  }
  const bool allowed =
    !detail::is_sys_topic(will.topic)
    && (!hooks_.authorize
        || hooks_.authorize(client_id_, username(), access_action::publish, will.topic));
  if (!allowed) {
    why = "will topic \"" + will.topic + "\" is not authorized";
    return reason_code::not_authorized;
  }
  return std::nullopt;
}

std::uint32_t
channel::capped_session_expiry(std::uint32_t requested) const noexcept {
  return std::min(requested, config_->max_session_expiry_interval);
}

void channel::accept_connect(const connect& c, effect_list& out) {
  clean_start_ = c.clean_start;
  bridge_ = c.bridge;
  has_username_ = c.username.has_value();
  username_ = c.username.value_or(std::string());
  if (is_v5()) {
    requested_expiry_ = c.props.session_expiry_interval.value_or(0);
    session_expiry_ = capped_session_expiry(requested_expiry_);
    connect_expiry_zero_ = requested_expiry_ == 0;
    client_receive_maximum_ = c.props.receive_maximum.value_or(65535);
    client_max_packet_size_ = c.props.maximum_packet_size;
    client_topic_alias_max_ = c.props.topic_alias_maximum.value_or(0);
  } else {
    // 3.x: Clean Session 0 keeps the session for the configured time, as
    // EMQX does; the spec's "until the client returns" would keep
    // abandoned sessions forever.
    requested_expiry_ =
      c.clean_start ? 0 : config_->v3_session_expiry_interval;
    session_expiry_ = requested_expiry_;
  }
  keepalive_s_ = is_v5() && config_->server_keepalive ? *config_->server_keepalive
                                                      : c.keep_alive;
  will_ = c.will ? std::make_unique<will_message>(*c.will) : nullptr;
  state_ = channel_state::connecting;
  out.push_back(
    open_session{client_id_, clean_start_, session_expiry_, assigned_client_id_});
}

void channel::refuse_connect(reason_code code, std::string why,
                             effect_list& out) {
  if (is_v5()) {
    connack ack{false, code, {}};
    ack.props.reason_string = reason_string(why);
    send(std::move(ack), out);
  } else if (v3_connack_for(code)) {
    send(connack{false, code, {}}, out);
  }
  out.push_back(close_connection{code, std::move(why)});
  connection_open_ = false;
  will_.reset();
  state_ = channel_state::closed;
}

// -- the session is open ------------------------------------------------------

effect_list channel::session_opened(std::optional<session> existing,
                                    std::int64_t now) {
  effect_list out;
  if (state_ != channel_state::connecting)
    return out;
  const bool present = adopt_session(std::move(existing), out);
  // A previous channel of this session may have left these armed.
  out.push_back(cancel_timer{timer_kind::will_delay});
  out.push_back(cancel_timer{timer_kind::session_expiry});
  state_ = channel_state::connected;
  if (!connection_open_) {
    // The client left before CONNACK: keep the session as after any loss,
    // without its Will (it never was connected).
    enter_disconnected(false, now, out);
    return out;
  }
  send(make_connack(present), out);
  last_activity_ms_ = now;
  arm_keepalive(now, out);
  if (present)
    resend_inflight(now, out);
  arm_await_rel(out);
  drain_queue(now, out);
  replay_early_packets(now, out);
  return out;
}

effect_list channel::session_refused(reason_code code, std::int64_t) {
  effect_list out;
  if (state_ != channel_state::connecting)
    return out;
  if (!connection_open_) {
    state_ = channel_state::closed;
    return out;
  }
  refuse_connect(code,
                 "session could not be opened: "
                   + std::string(to_string(code)),
                 out);
  return out;
}

bool channel::adopt_session(std::optional<session> existing,
                            effect_list& out) {
  if (existing && !clean_start_) {
    session_ = std::move(existing);
    session_->set_config(config_->session);
    session_->set_expiry_interval(session_expiry_);
    resubscribe(out);
    return true;
  }
  if (existing) {
    for (const auto& [key, sub] : existing->subscriptions())
      out.push_back(unsubscribe_filter{key, sub.topic_filter, sub.share_group});
  }
  session_.emplace(client_id_, config_->session, session_expiry_);
  return false;
}

void channel::resubscribe(effect_list& out) const {
  // Idempotent on the node that had them; needed on a node the session has
  // just moved to. Never with retained messages: not a new subscription.
  for (const auto& [key, sub] : session_->subscriptions())
    out.push_back(subscribe_filter{key, sub.topic_filter, sub.share_group,
                                   sub.options, true, false});
}

effect_list channel::host_moved(std::string client_id, session s,
                                std::int64_t now) {
  effect_list out;
  if (state_ != channel_state::idle)
    return out;
  client_id_ = std::move(client_id);
  session_ = std::move(s);
  session_->set_config(config_->session);
  resubscribe(out);
  connection_open_ = false;
  enter_disconnected(false, now, out);
  return out;
}

connack channel::make_connack(bool session_present) const {
  connack ack{session_present, reason_code::success, {}};
  if (!is_v5())
    return ack;
  auto& p = ack.props;
  if (assigned_client_id_)
    p.assigned_client_identifier = client_id_;
  if (session_expiry_ != requested_expiry_)
    p.session_expiry_interval = session_expiry_;
  if (config_->server_keepalive)
    p.server_keep_alive = keepalive_s_;
  const auto max_rel = config_->session.max_awaiting_rel;
  if (max_rel != 0 && max_rel != 65535)
    p.receive_maximum = max_rel;
  if (config_->max_topic_alias > 0)
    p.topic_alias_maximum = config_->max_topic_alias;
  if (config_->max_qos < qos::exactly_once)
    p.maximum_qos = config_->max_qos;
  p.retain_available = config_->retain_available;
  p.wildcard_subscription_available = config_->wildcard_subscription_available;
  p.subscription_identifiers_available =
    config_->subscription_identifiers_available;
  p.shared_subscription_available = config_->shared_subscription_available;
  if (config_->max_packet_size < max_packet_size_limit)
    p.maximum_packet_size = config_->max_packet_size;
  return ack;
}

void channel::replay_early_packets(std::int64_t now, effect_list& out) {
  auto pending = std::move(early_packets_);
  early_packets_.clear();
  for (const auto& pkt : pending) {
    if (state_ != channel_state::connected)
      break;
    dispatch(pkt, now, out);
  }
}

} // namespace starling::broker
