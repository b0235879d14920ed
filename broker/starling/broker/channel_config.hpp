#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string_view>

#include "starling/broker/codec.hpp"
#include "starling/broker/packet.hpp"
#include "starling/broker/reason_codes.hpp"
#include "starling/broker/session.hpp"
#include "starling/broker/shared_group.hpp"
#include "starling/broker/topic.hpp"

// What a channel is configured with (the `mqtt.*` settings of a listener
// zone, EMQX's names and defaults) and the hooks the host plugs into it.

namespace starling::broker {

/// Session Expiry Interval meaning "never expires" (MQTT 5 §3.1.2.11.2).
inline constexpr std::uint32_t session_never_expires = 0xFFFF'FFFF;

struct channel_config {
  // -- CONNECT ---------------------------------------------------------------

  /// Longest client identifier accepted (EMQX `max_clientid_len`).
  std::size_t max_clientid_len = 65535;
  /// Whether clients may connect when no `authenticate` hook is installed
  /// (then nothing checks credentials); with a hook, the hook decides.
  bool allow_anonymous = true;
  /// Keep Alive imposed on MQTT 5 clients through CONNACK's Server Keep
  /// Alive, replacing theirs; none by default.
  std::optional<std::uint16_t> server_keepalive;
  /// A client is dropped after Keep Alive times this without a packet
  /// (MQTT says 1.5, EMQX's `keepalive_multiplier`).
  double keepalive_multiplier = 1.5;
  /// Cap on the Session Expiry Interval an MQTT 5 client asks for; a capped
  /// value is announced in CONNACK. Default: no cap.
  std::uint32_t max_session_expiry_interval = session_never_expires;
  /// Session Expiry Interval of MQTT 3.x clients with Clean Session 0,
  /// which cannot ask for one (EMQX `session_expiry_interval`, 2 hours).
  std::uint32_t v3_session_expiry_interval = 7200;

  // -- capabilities, announced to MQTT 5 clients in CONNACK ------------------

  /// Largest packet accepted, fixed header included; the host gives the
  /// same value to its decoder (`decoder_options::max_packet_size`).
  std::uint32_t max_packet_size = default_max_packet_size;
  /// Topic Alias Maximum for inbound PUBLISH; 0 disables inbound aliases.
  std::uint16_t max_topic_alias = 65535;
  broker::qos max_qos = broker::qos::exactly_once;
  bool retain_available = true;
  bool wildcard_subscription_available = true;
  bool shared_subscription_available = true;
  bool subscription_identifiers_available = true;

  // -- topics and subscriptions ----------------------------------------------

  /// Deepest topic name or filter accepted (see `default_max_topic_levels`).
  std::size_t max_topic_levels = default_max_topic_levels;
  /// Subscriptions per session; 0 means unbounded (EMQX `max_subscriptions`).
  std::size_t max_subscriptions = 0;
  /// What a PUBLISH or SUBSCRIBE the `authorize` hook refuses costs (EMQX
  /// `authorization.deny_action`): false, only that message or
  /// subscription (PUBACK/SUBACK 0x87, QoS 0 dropped); true, the
  /// connection (MQTT 5 DISCONNECT 0x87).
  bool disconnect_on_deny = false;

  // -- session ---------------------------------------------------------------

  /// Inflight window, message queue and inbound QoS 2 limits.
  session_config session;

  /// Packets a client may pipeline after CONNECT before its session is
  /// open; they are handled after CONNACK. More close the connection.
  std::size_t max_packets_before_connack = 128;
};

/// What the `authenticate` hook is asked about a CONNECT.
struct auth_request {
  std::string_view client_id;
  std::optional<std::string_view> username;
  std::optional<std::span<const std::uint8_t>> password;
  protocol_version version = protocol_version::v5;
};

/// Decides a CONNECT: `success` accepts; a failure code refuses with it,
/// usually `bad_username_or_password` (0x86) or `not_authorized` (0x87),
/// which 3.x clients receive as return codes 4 and 5.
using authenticate_fn = std::function<reason_code(const auth_request&)>;

/// The action an `authorize` hook is asked about.
enum class access_action : std::uint8_t {
  publish,   ///< a PUBLISH to a topic name (or a Will at CONNECT)
  subscribe, ///< a SUBSCRIBE to a topic filter (as sent, `$share/` included)
};

/// Whether client `client_id` (authenticated as `username`) may do `action`
/// on `topic`.
using authorize_fn =
  std::function<bool(std::string_view client_id,
                     std::optional<std::string_view> username, access_action action,
                     std::string_view topic)>;

/// The host's functions a channel calls. Only `random` is required.
struct channel_hooks {
  /// Unset: `channel_config::allow_anonymous` decides for every client.
  authenticate_fn authenticate;
  /// Unset: everything is allowed except the rules the channel always
  /// applies (no PUBLISH to `$SYS`).
  authorize_fn authorize;
  /// Entropy for assigned client identifiers (e.g. a seeded mt19937_64 in
  /// tests, a per-node generator seeded from the OS in production).
  random_u64 random;
};

} // namespace starling::broker
