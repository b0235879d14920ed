#include "starling/broker/reason_codes.hpp"

namespace starling::broker {

std::string_view to_string(reason_code code) noexcept {
  using rc = reason_code;
  switch (code) {
  case rc::success:
    return "success";
  case rc::granted_qos_1:
    return "granted qos 1";
  case rc::granted_qos_2:
    return "granted qos 2";
  case rc::disconnect_with_will_message:
    return "disconnect with will message";
  case rc::no_matching_subscribers:
    return "no matching subscribers";
  case rc::no_subscription_existed:
    return "no subscription existed";
  case rc::continue_authentication:
    return "continue authentication";
  case rc::re_authenticate:
    return "re-authenticate";
  case rc::unspecified_error:
    return "unspecified error";
  case rc::malformed_packet:
    return "malformed packet";
  case rc::protocol_error:
    return "protocol error";
  case rc::implementation_specific_error:
    return "implementation specific error";
  case rc::unsupported_protocol_version:
    return "unsupported protocol version";
  case rc::client_identifier_not_valid:
    return "client identifier not valid";
  case rc::bad_username_or_password:
    return "bad user name or password";
  case rc::not_authorized:
    return "not authorized";
  case rc::server_unavailable:
    return "server unavailable";
  case rc::server_busy:
    return "server busy";
  case rc::banned:
    return "banned";
  case rc::server_shutting_down:
    return "server shutting down";
  case rc::bad_authentication_method:
    return "bad authentication method";
  case rc::keep_alive_timeout:
    return "keep alive timeout";
  case rc::session_taken_over:
    return "session taken over";
  case rc::topic_filter_invalid:
    return "topic filter invalid";
  case rc::topic_name_invalid:
    return "topic name invalid";
  case rc::packet_identifier_in_use:
    return "packet identifier in use";
  case rc::packet_identifier_not_found:
    return "packet identifier not found";
  case rc::receive_maximum_exceeded:
    return "receive maximum exceeded";
  case rc::topic_alias_invalid:
    return "topic alias invalid";
  case rc::packet_too_large:
    return "packet too large";
  case rc::message_rate_too_high:
    return "message rate too high";
  case rc::quota_exceeded:
    return "quota exceeded";
  case rc::administrative_action:
    return "administrative action";
  case rc::payload_format_invalid:
    return "payload format invalid";
  case rc::retain_not_supported:
    return "retain not supported";
  case rc::qos_not_supported:
    return "qos not supported";
  case rc::use_another_server:
    return "use another server";
  case rc::server_moved:
    return "server moved";
  case rc::shared_subscriptions_not_supported:
    return "shared subscriptions not supported";
  case rc::connection_rate_exceeded:
    return "connection rate exceeded";
  case rc::maximum_connect_time:
    return "maximum connect time";
  case rc::subscription_identifiers_not_supported:
    return "subscription identifiers not supported";
  case rc::wildcard_subscriptions_not_supported:
    return "wildcard subscriptions not supported";
  }
  return "unknown reason code";
}

bool is_defined(reason_code code) noexcept {
  return to_string(code) != "unknown reason code";
}

std::string_view to_string(connack_return_code code) noexcept {
  using cr = connack_return_code;
  switch (code) {
  case cr::accepted:
    return "connection accepted";
  case cr::unacceptable_protocol_version:
    return "unacceptable protocol version";
  case cr::identifier_rejected:
    return "identifier rejected";
  case cr::server_unavailable:
    return "server unavailable";
  case cr::bad_username_or_password:
    return "bad user name or password";
  case cr::not_authorized:
    return "not authorized";
  }
  return "reserved return code";
}

connack_return_code to_connack_return_code(reason_code code) noexcept {
  using rc = reason_code;
  using cr = connack_return_code;
  switch (code) {
  case rc::success:
    return cr::accepted;
  case rc::unsupported_protocol_version:
    return cr::unacceptable_protocol_version;
  case rc::client_identifier_not_valid:
    return cr::identifier_rejected;
  case rc::bad_username_or_password:
  case rc::bad_authentication_method:
    return cr::bad_username_or_password;
  case rc::not_authorized:
  case rc::banned:
    return cr::not_authorized;
  default:
    return cr::server_unavailable;
  }
}

std::optional<reason_code>
from_connack_return_code(std::uint8_t code) noexcept {
  using rc = reason_code;
  switch (static_cast<connack_return_code>(code)) {
  case connack_return_code::accepted:
    return rc::success;
  case connack_return_code::unacceptable_protocol_version:
    return rc::unsupported_protocol_version;
  case connack_return_code::identifier_rejected:
    return rc::client_identifier_not_valid;
  case connack_return_code::server_unavailable:
    return rc::server_unavailable;
  case connack_return_code::bad_username_or_password:
    return rc::bad_username_or_password;
  case connack_return_code::not_authorized:
    return rc::not_authorized;
  }
  return std::nullopt;
}

} // namespace starling::broker
