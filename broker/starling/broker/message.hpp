#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "starling/broker/packet.hpp"

// The broker's Application Message: what a PUBLISH (or a Will) becomes once
// the channel has accepted it, what the router fans out, what the retained
// store keeps and what a session queues. One message reaches many
// subscribers, so the parts that can be large (payload, properties) are
// immutable and shared: copying a `message` copies the topic and a few
// scalars, never the payload.

namespace starling::broker {

/// Immutable bytes shared between copies: the payload of a message fanned
/// out to many sessions is stored once. A default-constructed value is
/// empty and allocates nothing.
class shared_binary {
public:
  shared_binary() noexcept = default;

  explicit shared_binary(binary bytes)
    : bytes_(bytes.empty() ? nullptr
                           : std::make_shared<const binary>(std::move(bytes))) {
  }

  /// The bytes; an empty vector for an empty value.
  const binary& bytes() const noexcept {
    return bytes_ ? *bytes_ : empty_bytes();
  }

  bool empty() const noexcept {
    return !bytes_ || bytes_->empty();
  }

  std::size_t size() const noexcept {
    return bytes_ ? bytes_->size() : 0;
  }

  /// Compares contents, not identity.
  friend bool operator==(const shared_binary& a, const shared_binary& b) {
    return a.bytes_ == b.bytes_ || a.bytes() == b.bytes();
  }

private:
  static const binary& empty_bytes() noexcept;

  std::shared_ptr<const binary> bytes_;
};

/// The PUBLISH properties that travel unchanged from the publisher to every
/// subscriber (MQTT 5 §3.3.2.3, "MUST be forwarded unaltered"): what
/// request/response (§4.10) and payload description need. Topic Alias and
/// Subscription Identifier are per connection and never part of a message;
/// the Message Expiry Interval becomes `message::expires_at_ms`.
struct message_properties {
  std::optional<payload_format> payload_format_indicator;
  std::optional<std::string> content_type;
  std::optional<std::string> response_topic;
  std::optional<binary> correlation_data;
  user_properties user;

  bool empty() const noexcept {
    return !payload_format_indicator && !content_type && !response_topic
           && !correlation_data && user.empty();
  }

  friend bool operator==(const message_properties&,
                         const message_properties&) = default;
};

/// An Application Message inside the broker. Plain data: copyable, with no
/// reference to any connection, so that it can be queued in a session,
/// kept in the retained store and sent to another node.
struct message {
  /// The Topic Name, always resolved (never a Topic Alias).
  std::string topic;
  shared_binary payload;
  /// The QoS the publisher sent it with; each subscriber gets at most the
  /// QoS of its subscription (see `session::prepare`).
  broker::qos qos = broker::qos::at_most_once;
  /// The RETAIN flag of the PUBLISH: the router keeps the message in the
  /// retained store (or clears the topic, for an empty payload).
  bool retain = false;
  /// Forwarded properties, or null when there are none (all 3.x traffic and
  /// most MQTT 5 traffic), so that a message without properties costs no
  /// allocation.
  std::shared_ptr<const message_properties> props;
  /// Client identifier of the publisher (for No Local, shared subscription
  /// `hash_clientid` and logs); empty for messages the broker makes itself.
  std::string publisher;
  /// When the broker accepted the message, in the host's clock (ms).
  std::int64_t timestamp_ms = 0;
  /// When the message expires (accepted time plus its Message Expiry
  /// Interval), or nullopt if it never does.
  std::optional<std::int64_t> expires_at_ms;
  /// Unique in the cluster, given by the router of the node that accepted
  /// it (0: none yet). A session that moves to another node receives some
  /// messages both directly and through its old node for a moment; the id
  /// lets it deliver each once. Not compared by ==.
  std::uint64_t id = 0;

  /// Whether the message has expired at `now_ms` and must no longer be
  /// delivered (MQTT 5 §3.3.2.3.3).
  bool expired(std::int64_t now_ms) const noexcept {
    return expires_at_ms && *expires_at_ms <= now_ms;
  }

  /// The Message Expiry Interval to send to a subscriber at `now_ms`: the
  /// received interval minus the time spent in the broker, rounded up so
  /// that a message still alive never goes out with 0. Nullopt if the
  /// message does not expire. Precondition: `!expired(now_ms)`.
  std::optional<std::uint32_t>
  remaining_expiry_interval(std::int64_t now_ms) const noexcept;

  /// Compares contents: payload bytes and properties, not their identity.
  friend bool operator==(const message& a, const message& b) {
    const bool same_props =
      a.props == b.props
      || (a.props && b.props && *a.props == *b.props);
    return same_props && a.topic == b.topic && a.payload == b.payload
           && a.qos == b.qos && a.retain == b.retain
           && a.publisher == b.publisher && a.timestamp_ms == b.timestamp_ms
           && a.expires_at_ms == b.expires_at_ms;
  }
};

/// The message a validated inbound PUBLISH carries, with `topic` already
/// resolved from any Topic Alias. The payload is copied once here; from
/// then on it is shared.
message make_message(const publish& packet, std::string topic,
                     std::string publisher, std::int64_t now_ms);

/// The message a Will becomes when it is published (MQTT 5 §3.1.3.2): the
/// Will Properties that are PUBLISH properties carry over, the Will Delay
/// Interval does not.
message make_will_message(const will_message& will, std::string publisher,
                          std::int64_t now_ms);

/// The forwarded subset of `props`, or null when it has none of them.
std::shared_ptr<const message_properties>
forwarded_properties(const properties& props);

} // namespace starling::broker
