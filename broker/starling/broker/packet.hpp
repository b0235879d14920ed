#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "starling/broker/reason_codes.hpp"

// The MQTT control packets as plain values, one struct per packet type, shared
// by MQTT 3.1, 3.1.1 and 5.0. Fields that exist only in MQTT 5 (properties,
// most reason codes) are ignored when a packet is encoded for 3.x and come out
// as their defaults when a 3.x packet is decoded, so a 3.x packet survives an
// encode/decode round trip exactly when its MQTT 5 fields are defaults.
// The wire format and its rules live in codec.hpp.

namespace starling::broker {

/// The protocol level byte of CONNECT.
enum class protocol_version : std::uint8_t {
  v3_1 = 3,   ///< MQTT 3.1, protocol name "MQIsdp"
  v3_1_1 = 4, ///< MQTT 3.1.1, protocol name "MQTT"
  v5 = 5,     ///< MQTT 5.0, protocol name "MQTT"
};

/// "3.1", "3.1.1", "5.0", or "unknown" for any other value.
std::string_view to_string(protocol_version version) noexcept;

/// The control packet type, the high nibble of the first byte.
enum class packet_type : std::uint8_t {
  connect = 1,
  connack = 2,
  publish = 3,
  puback = 4,
  pubrec = 5,
  pubrel = 6,
  pubcomp = 7,
  subscribe = 8,
  suback = 9,
  unsubscribe = 10,
  unsuback = 11,
  pingreq = 12,
  pingresp = 13,
  disconnect = 14,
  auth = 15, ///< MQTT 5 only
};

/// The spec's name, "CONNECT" ... "AUTH"; "reserved" for 0 and other values.
std::string_view to_string(packet_type type) noexcept;

enum class qos : std::uint8_t {
  at_most_once = 0,
  at_least_once = 1,
  exactly_once = 2,
};

/// Which retained messages a new subscription is sent (MQTT 5 §3.8.3.1).
enum class retain_handling : std::uint8_t {
  send_on_subscribe = 0,     ///< always
  send_on_new_subscribe = 1, ///< only if the subscription did not exist
  do_not_send = 2,
};

/// Payload Format Indicator values (MQTT 5 §3.3.2.3.2).
enum class payload_format : std::uint8_t {
  unspecified = 0, ///< bytes
  utf8 = 1,        ///< UTF-8 encoded character data
};

/// Binary Data and payloads.
using binary = std::vector<std::uint8_t>;

/// User Properties in wire order; a name may repeat (MQTT 5 §3.1.2.11.8).
using user_properties = std::vector<std::pair<std::string, std::string>>;

/// Every MQTT 5 property (§2.2.2.2). A property that is absent is nullopt or
/// empty. Which properties a packet may carry is checked by the codec; this
/// struct can hold any combination.
struct properties {
  std::optional<payload_format> payload_format_indicator; // 0x01
  std::optional<std::uint32_t> message_expiry_interval;   // 0x02
  std::optional<std::string> content_type;                // 0x03
  std::optional<std::string> response_topic;              // 0x08
  std::optional<binary> correlation_data;                 // 0x09
  /// 0x0B, values 1..268435455; PUBLISH may carry several, SUBSCRIBE one.
  std::vector<std::uint32_t> subscription_identifiers;
  std::optional<std::uint32_t> session_expiry_interval;   // 0x11
  std::optional<std::string> assigned_client_identifier;  // 0x12
  std::optional<std::uint16_t> server_keep_alive;         // 0x13
  std::optional<std::string> authentication_method;       // 0x15
  std::optional<binary> authentication_data;              // 0x16
  std::optional<bool> request_problem_information;        // 0x17
  std::optional<std::uint32_t> will_delay_interval;       // 0x18
  std::optional<bool> request_response_information;       // 0x19
  std::optional<std::string> response_information;        // 0x1A
  std::optional<std::string> server_reference;            // 0x1C
  std::optional<std::string> reason_string;               // 0x1F
  std::optional<std::uint16_t> receive_maximum;           // 0x21, not 0
  std::optional<std::uint16_t> topic_alias_maximum;       // 0x22
  std::optional<std::uint16_t> topic_alias;               // 0x23, not 0
  std::optional<qos> maximum_qos;                         // 0x24, 0 or 1
  std::optional<bool> retain_available;                   // 0x25
  user_properties user;                                   // 0x26
  std::optional<std::uint32_t> maximum_packet_size;       // 0x27, not 0
  std::optional<bool> wildcard_subscription_available;    // 0x28
  std::optional<bool> subscription_identifiers_available; // 0x29
  std::optional<bool> shared_subscription_available;      // 0x2A

  /// Whether no property is present.
  bool empty() const;

  friend bool operator==(const properties&, const properties&) = default;
};

/// The Will Message of a CONNECT.
struct will_message {
  std::string topic;
  binary payload;
  broker::qos qos = broker::qos::at_most_once;
  bool retain = false;
  properties props; ///< Will Properties (MQTT 5)

  friend bool operator==(const will_message&, const will_message&) = default;
};

struct connect {
  /// Decides the protocol name and level written; see `encode`.
  protocol_version version = protocol_version::v5;
  /// Protocol level with bit 7 set: a bridge announcing itself (as mosquitto
  /// bridges do with `try_private`); EMQX treats such a client as a bridge.
  bool bridge = false;
  bool clean_start = true; ///< "Clean Session" in 3.x
  std::uint16_t keep_alive = 0;
  std::string client_id;
  std::optional<will_message> will;
  std::optional<std::string> username;
  std::optional<binary> password;
  properties props;

  friend bool operator==(const connect&, const connect&) = default;
};

struct connack {
  /// Must be false when `code` is a failure.
  bool session_present = false;
  /// In 3.x carried as a return code; see `to_connack_return_code`.
  reason_code code = reason_code::success;
  properties props;

  friend bool operator==(const connack&, const connack&) = default;
};

struct publish {
  bool dup = false;
  broker::qos qos = broker::qos::at_most_once;
  bool retain = false;
  /// Empty only in MQTT 5 with a Topic Alias in `props`.
  std::string topic;
  /// Non-zero for QoS 1 and 2, unused (0) for QoS 0.
  std::uint16_t packet_id = 0;
  properties props;
  binary payload;

  friend bool operator==(const publish&, const publish&) = default;
};

/// PUBACK, PUBREC, PUBREL and PUBCOMP carry the same fields; they are four
/// types so that the `packet` variant tells them apart.
struct puback {
  std::uint16_t packet_id = 0;
  reason_code code = reason_code::success;
  properties props;

  friend bool operator==(const puback&, const puback&) = default;
};

struct pubrec {
  std::uint16_t packet_id = 0;
  reason_code code = reason_code::success;
  properties props;

  friend bool operator==(const pubrec&, const pubrec&) = default;
};

struct pubrel {
  std::uint16_t packet_id = 0;
  reason_code code = reason_code::success;
  properties props;

  friend bool operator==(const pubrel&, const pubrel&) = default;
};

struct pubcomp {
  std::uint16_t packet_id = 0;
  reason_code code = reason_code::success;
  properties props;

  friend bool operator==(const pubcomp&, const pubcomp&) = default;
};

/// Subscription Options (MQTT 5 §3.8.3.1); 3.x has only the QoS.
struct subscription_options {
  broker::qos qos = broker::qos::at_most_once;
  bool no_local = false;
  bool retain_as_published = false;
  broker::retain_handling retain_handling =
      broker::retain_handling::send_on_subscribe;

  friend bool operator==(const subscription_options&,
                         const subscription_options&) = default;
};

struct subscription {
  /// A Topic Filter as received; its syntax is checked per subscription by
  /// the channel (`topic_filter_error`), which answers each one in SUBACK.
  std::string filter;
  subscription_options options;

  friend bool operator==(const subscription&, const subscription&) = default;
};

struct subscribe {
  std::uint16_t packet_id = 0;
  std::vector<subscription> subscriptions; ///< at least one
  properties props;

  friend bool operator==(const subscribe&, const subscribe&) = default;
};

struct suback {
  std::uint16_t packet_id = 0;
  /// One per subscription: granted_qos_0/1/2 or a failure. 3.x carries every
  /// failure as 0x80, which decodes as `unspecified_error`.
  std::vector<reason_code> codes;
  properties props;

  friend bool operator==(const suback&, const suback&) = default;
};

struct unsubscribe {
  std::uint16_t packet_id = 0;
  std::vector<std::string> filters; ///< at least one
  properties props;

  friend bool operator==(const unsubscribe&, const unsubscribe&) = default;
};

struct unsuback {
  std::uint16_t packet_id = 0;
  /// One per filter in MQTT 5; 3.x UNSUBACK has no payload, so empty there.
  std::vector<reason_code> codes;
  properties props;

  friend bool operator==(const unsuback&, const unsuback&) = default;
};

struct pingreq {
  friend bool operator==(const pingreq&, const pingreq&) = default;
};

struct pingresp {
  friend bool operator==(const pingresp&, const pingresp&) = default;
};

struct disconnect {
  reason_code code = reason_code::normal_disconnection; ///< MQTT 5
  properties props;

  friend bool operator==(const disconnect&, const disconnect&) = default;
};

/// MQTT 5 only.
struct auth {
  reason_code code = reason_code::success;
  properties props;

  friend bool operator==(const auth&, const auth&) = default;
};

/// Any control packet. The alternatives are in packet type order, so
/// `index() + 1` is the packet type; use `type_of`.
using packet = std::variant<connect, connack, publish, puback, pubrec, pubrel,
                            pubcomp, subscribe, suback, unsubscribe, unsuback,
                            pingreq, pingresp, disconnect, auth>;

inline packet_type type_of(const packet& p) noexcept {
  return static_cast<packet_type>(p.index() + 1);
}

} // namespace starling::broker
