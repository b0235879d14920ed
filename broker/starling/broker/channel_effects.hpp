#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "starling/broker/message.hpp"
#include "starling/broker/packet.hpp"
#include "starling/broker/reason_codes.hpp"

// The effects a channel asks its host to carry out, in order. Their meaning
// and the order rules are part of the contract at the top of channel.hpp.

namespace starling::broker {

/// Encode `pkt` for `version` and write it to the client's connection.
struct send_packet {
  packet pkt;
  protocol_version version = protocol_version::v5;

  friend bool operator==(const send_packet&, const send_packet&) = default;
};

/// Close the client's connection once the packets sent before this effect
/// are written. `code` and `reason` are for logs (and metrics): the client
/// has been told already, if it can be told at all.
struct close_connection {
  reason_code code = reason_code::normal_disconnection;
  std::string reason;

  friend bool operator==(const close_connection&,
                         const close_connection&) = default;
};

/// CONNECT passed every check: register `client_id` (kicking or taking over
/// an existing connection with that id), find its existing session if any,
/// and answer with exactly one of `channel::session_opened` or
/// `channel::session_refused`.
struct open_session {
  std::string client_id;
  bool clean_start = true;
  /// The interval the session will have, already capped by the broker.
  std::uint32_t expiry_interval = 0;
  /// Whether the broker assigned `client_id` (the client sent none).
  bool assigned_client_id = false;

  friend bool operator==(const open_session&, const open_session&) = default;
};

/// Hand `msg` to the router: match it against the subscriptions, store or
/// clear it as the retained message of its topic if `msg.retain`.
struct publish_message {
  message msg;
  bool will = false; ///< the client's Will, published on its behalf

  friend bool operator==(const publish_message&,
                         const publish_message&) = default;
};

/// Add (or update) a subscription of this client at the router.
struct subscribe_filter {
  /// The filter as the client sent it (`$share/g/f` included): the key the
  /// router passes back in `channel::deliver` and `deliver_retained`.
  std::string subscription;
  /// What the router matches topic names against.
  std::string topic_filter;
  /// Set for a shared subscription: the router picks one member of the
  /// group (`$share/{group}/{topic_filter}`) per message.
  std::optional<std::string> share_group;
  subscription_options options; ///< as granted
  /// Whether the session had this subscription already (a replacement, or a
  /// resumed session re-registering its subscriptions on this node).
  bool existed = false;
  /// Whether the retained messages matching `topic_filter` go to this
  /// subscription (through `deliver_retained`): Retain Handling applied,
  /// never for shared subscriptions (as EMQX does).
  bool send_retained = false;

  friend bool operator==(const subscribe_filter&,
                         const subscribe_filter&) = default;
};

/// Remove a subscription of this client from the router.
struct unsubscribe_filter {
  std::string subscription; ///< the key of `subscribe_filter`
  std::string topic_filter;
  std::optional<std::string> share_group;

  friend bool operator==(const unsubscribe_filter&,
                         const unsubscribe_filter&) = default;
};

/// The channel's timers; the host keeps at most one per kind.
enum class timer_kind : std::uint8_t {
  keepalive,      ///< connected: the client has been silent too long?
  await_rel,      ///< an inbound QoS 2 PUBREL is overdue
  will_delay,     ///< disconnected: the Will Delay Interval has passed
  session_expiry, ///< disconnected: the Session Expiry Interval has passed
};

std::string_view to_string(timer_kind kind) noexcept;

/// Call `channel::handle_timer(kind, now)` once `now >= due_ms`, replacing
/// any timer of the same kind.
struct set_timer {
  timer_kind kind = timer_kind::keepalive;
  std::int64_t due_ms = 0;

  friend bool operator==(const set_timer&, const set_timer&) = default;
};

/// Drop the timer of this kind, if any.
struct cancel_timer {
  timer_kind kind = timer_kind::keepalive;

  friend bool operator==(const cancel_timer&, const cancel_timer&) = default;
};

/// The session is over (expired, ended with the connection, or discarded):
/// unregister the client id and discard the channel. Its subscriptions have
/// been removed by `unsubscribe_filter` effects before this one.
struct session_ended {
  std::string client_id;
  std::string reason;

  friend bool operator==(const session_ended&,
                         const session_ended&) = default;
};

using effect =
  std::variant<send_packet, close_connection, open_session, publish_message,
               subscribe_filter, unsubscribe_filter, set_timer, cancel_timer,
               session_ended>;

using effect_list = std::vector<effect>;

} // namespace starling::broker
