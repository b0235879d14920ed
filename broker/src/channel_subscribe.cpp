// SUBSCRIBE and UNSUBSCRIBE (MQTT 5 §3.8-§3.11; 3.1.1 §3.8-§3.11).
//
// Each filter is answered on its own in SUBACK/UNSUBACK: a bad filter fails
// alone (0x8F, or 0x80 in 3.x) and the others proceed. Only what the spec
// calls a Protocol Error for the whole packet aborts it before anything
// changes: a Subscription Identifier the broker does not support (0xA1) and
// No Local on a shared subscription (0x82).
//
// The session keeps each subscription under the filter exactly as sent; a
// shared one (`$share/{group}/{filter}`) is a separate subscription from a
// plain one on the same filter, as the spec wants.

#include "starling/broker/channel.hpp"

#include <algorithm>
#include <utility>

namespace starling::broker {

namespace {

/// A Topic Filter as sent, split into what the router matches and the
/// share group of a shared subscription.
struct parsed_filter {
  std::string topic_filter;
  std::optional<std::string> share_group;
};

/// Nullopt when `text` is not a valid filter (SUBACK/UNSUBACK 0x8F).
std::optional<parsed_filter> parse_filter(const std::string& text) {
  if (!is_shared_filter(text)) {
    if (topic_filter_error(text))
      return std::nullopt;
    return parsed_filter{text, std::nullopt};
  }
  std::string error;
  auto shared = parse_shared_filter(text, error);
  if (!shared)
    return std::nullopt;
  return parsed_filter{std::move(shared->filter), std::move(shared->group)};
}

constexpr reason_code granted_code(qos granted) noexcept {
  switch (granted) {
    case qos::at_most_once: return reason_code::granted_qos_0;
    case qos::at_least_once: return reason_code::granted_qos_1;
    case qos::exactly_once: return reason_code::granted_qos_2;
  }
  return reason_code::granted_qos_0;
}

/// Whether a subscription gets the retained messages of its filter
/// (§3.8.3.1 Retain Handling). Shared subscriptions never do, as in EMQX:
/// a group member joining would otherwise replay them to the group.
constexpr bool sends_retained(const subscription_options& options,
                              bool shared, bool existed) noexcept {
  if (shared)
    return false;
  switch (options.retain_handling) {
    case retain_handling::send_on_subscribe: return true;
    case retain_handling::send_on_new_subscribe: return !existed;
    case retain_handling::do_not_send: return false;
  }
  return false;
}

} // namespace

void channel::on_subscribe(const subscribe& s, std::int64_t now,
                           effect_list& out) {
  std::optional<std::uint32_t> identifier;
  if (!s.props.subscription_identifiers.empty()) {
    if (!config_->subscription_identifiers_available)
      return protocol_violation(
        reason_code::subscription_identifiers_not_supported,
        "subscription identifiers are not supported", now, out);
    identifier = s.props.subscription_identifiers.front();
  }
  if (is_v5()) {
    auto shared_no_local = std::find_if(
      s.subscriptions.begin(), s.subscriptions.end(), [](const auto& sub) {
        return sub.options.no_local && is_shared_filter(sub.filter);
      });
    if (shared_no_local != s.subscriptions.end())
      return protocol_violation(reason_code::protocol_error,
                                "No Local on shared subscription \""
                                  + shared_no_local->filter + "\"",
                                now, out);
  }
  if (config_->disconnect_on_deny && hooks_.authorize)
    for (const auto& sub : s.subscriptions)
      if (!hooks_.authorize(client_id_, username(), access_action::subscribe,
                            sub.filter))
        return protocol_violation(reason_code::not_authorized,
                                  "SUBSCRIBE to \"" + sub.filter
                                    + "\" is not authorized",
                                  now, out);
  suback ack{s.packet_id, {}, {}};
  ack.codes.reserve(s.subscriptions.size());
  for (const auto& sub : s.subscriptions)
    ack.codes.push_back(add_subscription(sub, identifier, out));
  send(std::move(ack), out);
}

reason_code channel::add_subscription(const subscription& sub,
                                      std::optional<std::uint32_t> identifier,
                                      effect_list& out) {
  const bool shared = is_shared_filter(sub.filter);
  if (shared && !config_->shared_subscription_available)
    return reason_code::shared_subscriptions_not_supported;
  auto parsed = parse_filter(sub.filter);
  if (!parsed || level_count(parsed->topic_filter) > config_->max_topic_levels)
    return reason_code::topic_filter_invalid;
  if (!config_->wildcard_subscription_available
      && has_wildcards(parsed->topic_filter))
    return reason_code::wildcard_subscriptions_not_supported;
  if (hooks_.authorize
      && !hooks_.authorize(client_id_, username(), access_action::subscribe,
                           sub.filter))
    return reason_code::not_authorized;
  if (config_->max_subscriptions != 0
      && session_->subscriptions().size() >= config_->max_subscriptions
      && !session_->find_subscription(sub.filter))
    return reason_code::quota_exceeded;
  auto granted = sub.options;
  granted.qos = std::min(granted.qos, config_->max_qos);
  // A 3.x bridge (protocol level with bit 7) relays retained messages as
  // retained, like MQTT 5's Retain As Published (as EMQX does).
  if (!is_v5() && bridge_)
    granted.retain_as_published = true;
  const bool existed = session_->subscribe(
    sub.filter,
    session_subscription{parsed->topic_filter, parsed->share_group, granted,
                         identifier});
  out.push_back(subscribe_filter{sub.filter, std::move(parsed->topic_filter),
                                 std::move(parsed->share_group), granted,
                                 existed,
                                 sends_retained(granted, shared, existed)});
  return granted_code(granted.qos);
}

void channel::on_unsubscribe(const unsubscribe& u, effect_list& out) {
  unsuback ack{u.packet_id, {}, {}};
  for (const auto& filter : u.filters) {
    auto code = reason_code::success;
    if (auto removed = session_->unsubscribe(filter)) {
      out.push_back(unsubscribe_filter{filter, std::move(removed->topic_filter),
                                       std::move(removed->share_group)});
    } else {
      code = parse_filter(filter) ? reason_code::no_subscription_existed
                                  : reason_code::topic_filter_invalid;
    }
    // 3.x UNSUBACK carries no codes.
    if (is_v5())
      ack.codes.push_back(code);
  }
  send(std::move(ack), out);
}

} // namespace starling::broker
