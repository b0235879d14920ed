#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace starling::broker {

/// MQTT 5 reason codes (MQTT 5 §2.4, table 2-6). Codes below 0x80 report
/// success, codes from 0x80 up report failure.
///
/// 0x00 has three names because the spec names it per packet: "Success"
/// (CONNACK, PUBACK, ...), "Normal disconnection" (DISCONNECT) and "Granted
/// QoS 0" (SUBACK). Which codes a given packet may carry is the codec's
/// concern; it rejects the others as malformed.
///
/// MQTT 3.1 and 3.1.1 have no reason codes on the wire except the CONNACK
/// return code and the SUBACK failure code 0x80; the codec maps those to and
/// from this enum, so the rest of the broker speaks only MQTT 5 codes.
enum class reason_code : std::uint8_t {
  success = 0x00,
  normal_disconnection = 0x00,
  granted_qos_0 = 0x00,
  granted_qos_1 = 0x01,
  granted_qos_2 = 0x02,
  disconnect_with_will_message = 0x04,
  no_matching_subscribers = 0x10,
  no_subscription_existed = 0x11,
  continue_authentication = 0x18,
  re_authenticate = 0x19,
  unspecified_error = 0x80,
  malformed_packet = 0x81,
  protocol_error = 0x82,
  implementation_specific_error = 0x83,
  unsupported_protocol_version = 0x84,
  client_identifier_not_valid = 0x85,
  bad_username_or_password = 0x86,
  not_authorized = 0x87,
  server_unavailable = 0x88,
  server_busy = 0x89,
  banned = 0x8A,
  server_shutting_down = 0x8B,
  bad_authentication_method = 0x8C,
  keep_alive_timeout = 0x8D,
  session_taken_over = 0x8E,
  topic_filter_invalid = 0x8F,
  topic_name_invalid = 0x90,
  packet_identifier_in_use = 0x91,
  packet_identifier_not_found = 0x92,
  receive_maximum_exceeded = 0x93,
  topic_alias_invalid = 0x94,
  packet_too_large = 0x95,
  message_rate_too_high = 0x96,
  quota_exceeded = 0x97,
  administrative_action = 0x98,
  payload_format_invalid = 0x99,
  retain_not_supported = 0x9A,
  qos_not_supported = 0x9B,
  use_another_server = 0x9C,
  server_moved = 0x9D,
  shared_subscriptions_not_supported = 0x9E,
  connection_rate_exceeded = 0x9F,
  maximum_connect_time = 0xA0,
  subscription_identifiers_not_supported = 0xA1,
  wildcard_subscriptions_not_supported = 0xA2,
};

/// Whether `code` reports a failure (0x80 and above).
constexpr bool is_failure(reason_code code) noexcept {
  return static_cast<std::uint8_t>(code) >= 0x80;
}

/// Whether `code` is one of the values MQTT 5 defines.
bool is_defined(reason_code code) noexcept;

/// The spec's name in lower case ("malformed packet"); 0x00 is "success".
/// A value MQTT 5 does not define gives "unknown reason code".
std::string_view to_string(reason_code code) noexcept;

/// The CONNACK return codes of MQTT 3.1 and 3.1.1 (3.1.1 §3.2.2.3).
enum class connack_return_code : std::uint8_t {
  accepted = 0,
  unacceptable_protocol_version = 1,
  identifier_rejected = 2,
  server_unavailable = 3,
  bad_username_or_password = 4,
  not_authorized = 5,
};

std::string_view to_string(connack_return_code code) noexcept;

/// The return code a 3.x client is sent for an MQTT 5 CONNACK reason code.
///
/// 3.x has five failure codes, so each MQTT 5 failure goes to the one whose
/// meaning contains it: a banned client is "not authorized", a bad
/// authentication method is "bad user name or password", and any failure the
/// client cannot fix by changing its credentials, client identifier or
/// protocol level (busy, quota, malformed, ...) is "server unavailable".
connack_return_code to_connack_return_code(reason_code code) noexcept;

/// The MQTT 5 reason code for a 3.x CONNACK return code byte, or nullopt for
/// the reserved values 6-255.
std::optional<reason_code> from_connack_return_code(std::uint8_t code) noexcept;

} // namespace starling::broker
