// MQTT 5 properties (§2.2.2): the table of identifiers, the packets each may
// appear in, the block parser and the block writer.
//
// A property block is a Property Length followed by (identifier, value)
// pairs. The parser reads it from a reader bounded by the Property Length, so
// a value cannot run past the block, and keeps a bit per identifier seen to
// reject repeats. Checks that concern the whole set of values (a zero
// Receive Maximum, Authentication Data without a method, ...) are one
// function, `values_error`, shared by the parser and the writer so both
// sides agree on what a valid block is.

#include <array>
#include <bit>
#include <type_traits>

#include "codec_io.hpp"
#include "starling/broker/topic.hpp"

namespace starling::broker::detail {

namespace {

enum class value_kind : std::uint8_t {
  none, // not a property identifier
  byte,
  two_byte,
  four_byte,
  varint,
  string,
  binary,
  string_pair,
};

/// Scopes are bits: bit 0 for Will Properties, bit N for packet type N.
using scope_mask = std::uint16_t;

constexpr scope_mask bit(packet_type type) {
  return static_cast<scope_mask>(1u << static_cast<unsigned>(type));
}

constexpr scope_mask bit_of(property_scope scope) {
  return scope.will ? scope_mask{1} : bit(scope.type);
}

constexpr scope_mask will_bit = 1;
constexpr scope_mask message_scopes = bit(packet_type::publish) | will_bit;
constexpr scope_mask connect_scopes =
    bit(packet_type::connect) | bit(packet_type::connack);
constexpr scope_mask reason_string_scopes =
    bit(packet_type::connack) | bit(packet_type::puback) |
    bit(packet_type::pubrec) | bit(packet_type::pubrel) |
    bit(packet_type::pubcomp) | bit(packet_type::suback) |
    bit(packet_type::unsuback) | bit(packet_type::disconnect) |
    bit(packet_type::auth);
constexpr scope_mask auth_scopes = connect_scopes | bit(packet_type::auth);
constexpr scope_mask every_scope = 0xFFFF;

struct property_info {
  std::string_view name;
  value_kind kind = value_kind::none;
  scope_mask scopes = 0;
};

constexpr std::uint32_t max_property_id = 0x2A;

// MQTT 5 table 2-4.
constexpr auto property_table = [] {
  std::array<property_info, max_property_id + 1> t{};
  using k = value_kind;
  using pt = packet_type;
  t[0x01] = {"payload format indicator", k::byte, message_scopes};
  t[0x02] = {"message expiry interval", k::four_byte, message_scopes};
  t[0x03] = {"content type", k::string, message_scopes};
  t[0x08] = {"response topic", k::string, message_scopes};
  t[0x09] = {"correlation data", k::binary, message_scopes};
  t[0x0B] = {"subscription identifier", k::varint,
             bit(pt::publish) | bit(pt::subscribe)};
  t[0x11] = {"session expiry interval", k::four_byte,
             connect_scopes | bit(pt::disconnect)};
  t[0x12] = {"assigned client identifier", k::string, bit(pt::connack)};
  t[0x13] = {"server keep alive", k::two_byte, bit(pt::connack)};
  t[0x15] = {"authentication method", k::string, auth_scopes};
  t[0x16] = {"authentication data", k::binary, auth_scopes};
  t[0x17] = {"request problem information", k::byte, bit(pt::connect)};
  t[0x18] = {"will delay interval", k::four_byte, will_bit};
  t[0x19] = {"request response information", k::byte, bit(pt::connect)};
  t[0x1A] = {"response information", k::string, bit(pt::connack)};
  t[0x1C] = {"server reference", k::string,
             bit(pt::connack) | bit(pt::disconnect)};
  t[0x1F] = {"reason string", k::string, reason_string_scopes};
  t[0x21] = {"receive maximum", k::two_byte, connect_scopes};
  t[0x22] = {"topic alias maximum", k::two_byte, connect_scopes};
  t[0x23] = {"topic alias", k::two_byte, bit(pt::publish)};
  t[0x24] = {"maximum qos", k::byte, bit(pt::connack)};
  t[0x25] = {"retain available", k::byte, bit(pt::connack)};
  t[0x26] = {"user property", k::string_pair, every_scope};
  t[0x27] = {"maximum packet size", k::four_byte, connect_scopes};
  t[0x28] = {"wildcard subscription available", k::byte, bit(pt::connack)};
  t[0x29] = {"subscription identifier available", k::byte, bit(pt::connack)};
  t[0x2A] = {"shared subscription available", k::byte, bit(pt::connack)};
  return t;
}();

/// Per scope bit, the identifiers allowed there, one bit per identifier.
constexpr auto allowed_table = [] {
  std::array<std::uint64_t, 16> allowed{};
  for (unsigned scope = 0; scope < allowed.size(); ++scope)
    for (std::uint32_t id = 0; id <= max_property_id; ++id)
      if ((property_table[id].scopes >> scope) & 1)
        allowed[scope] |= std::uint64_t{1} << id;
  return allowed;
}();

std::uint64_t allowed_ids(property_scope scope) {
  return allowed_table[scope.will ? 0 : static_cast<unsigned>(scope.type)];
}

std::string scope_name(property_scope scope) {
  return scope.will ? std::string{"the will properties"}
                    : std::string{to_string(scope.type)};
}

std::string not_allowed(std::uint32_t id, property_scope scope) {
  return "property '" + std::string{property_table[id].name} +
         "' is not allowed in " + scope_name(scope);
}

// --- Members by identifier ---------------------------------------------------

template <class T>
using member = std::optional<T> properties::*;

member<bool> flag_member(std::uint32_t id) {
  switch (id) {
  case 0x17:
    return &properties::request_problem_information;
  case 0x19:
    return &properties::request_response_information;
  case 0x25:
    return &properties::retain_available;
  case 0x28:
    return &properties::wildcard_subscription_available;
  case 0x29:
    return &properties::subscription_identifiers_available;
  default:
    return &properties::shared_subscription_available; // 0x2A
  }
}

member<std::uint16_t> two_byte_member(std::uint32_t id) {
  switch (id) {
  case 0x13:
    return &properties::server_keep_alive;
  case 0x21:
    return &properties::receive_maximum;
  case 0x22:
    return &properties::topic_alias_maximum;
  default:
    return &properties::topic_alias; // 0x23
  }
}

member<std::uint32_t> four_byte_member(std::uint32_t id) {
  switch (id) {
  case 0x02:
    return &properties::message_expiry_interval;
  case 0x11:
    return &properties::session_expiry_interval;
  case 0x18:
    return &properties::will_delay_interval;
  default:
    return &properties::maximum_packet_size; // 0x27
  }
}

member<std::string> string_member(std::uint32_t id) {
  switch (id) {
  case 0x03:
    return &properties::content_type;
  case 0x08:
    return &properties::response_topic;
  case 0x12:
    return &properties::assigned_client_identifier;
  case 0x15:
    return &properties::authentication_method;
  case 0x1A:
    return &properties::response_information;
  case 0x1C:
    return &properties::server_reference;
  default:
    return &properties::reason_string; // 0x1F
  }
}

member<binary> binary_member(std::uint32_t id) {
  return id == 0x09 ? &properties::correlation_data
                    : &properties::authentication_data; // 0x16
}

// --- Validation --------------------------------------------------------------

/// One bit per identifier present in `p`.
std::uint64_t present_ids(const properties& p) {
  std::uint64_t ids = 0;
  auto mark = [&ids](std::uint32_t id, bool present) {
    if (present)
      ids |= std::uint64_t{1} << id;
  };
  mark(0x01, p.payload_format_indicator.has_value());
  mark(0x0B, !p.subscription_identifiers.empty());
  mark(0x24, p.maximum_qos.has_value());
  mark(0x26, !p.user.empty());
  for (std::uint32_t id : {0x17u, 0x19u, 0x25u, 0x28u, 0x29u, 0x2Au})
    mark(id, (p.*flag_member(id)).has_value());
  for (std::uint32_t id : {0x13u, 0x21u, 0x22u, 0x23u})
    mark(id, (p.*two_byte_member(id)).has_value());
  for (std::uint32_t id : {0x02u, 0x11u, 0x18u, 0x27u})
    mark(id, (p.*four_byte_member(id)).has_value());
  for (std::uint32_t id : {0x03u, 0x08u, 0x12u, 0x15u, 0x1Au, 0x1Cu, 0x1Fu})
    mark(id, (p.*string_member(id)).has_value());
  for (std::uint32_t id : {0x09u, 0x16u})
    mark(id, (p.*binary_member(id)).has_value());
  return ids;
}

std::optional<codec_error> protocol_error(std::string message) {
  return codec_error{reason_code::protocol_error, std::move(message)};
}

/// Why the values in `p` cannot appear together in `scope`, or nullopt.
std::optional<codec_error> values_error(const properties& p,
                                        property_scope scope) {
  if (auto extra = present_ids(p) & ~allowed_ids(scope)) {
    auto id = static_cast<std::uint32_t>(std::countr_zero(extra));
    return codec_error{reason_code::malformed_packet, not_allowed(id, scope)};
  }
  if (p.payload_format_indicator > payload_format::utf8)
    return protocol_error("payload format indicator must be 0 or 1");
  if (p.maximum_qos > qos::at_least_once)
    return protocol_error("maximum qos must be 0 or 1");
  if (p.receive_maximum == 0)
    return protocol_error("receive maximum must not be 0");
  if (p.maximum_packet_size == 0)
    return protocol_error("maximum packet size must not be 0");
  if (p.topic_alias == 0)
    return codec_error{reason_code::topic_alias_invalid,
                       "topic alias must not be 0"};
  for (auto id : p.subscription_identifiers)
    if (id == 0 || id > max_remaining_length)
      return protocol_error("subscription identifier must be 1..268435455");
  if (p.subscription_identifiers.size() > 1 &&
      (scope.will || scope.type != packet_type::publish))
    return protocol_error("subscription identifier appears more than once");
  if (p.response_topic)
    if (auto error = topic_name_error(*p.response_topic))
      return protocol_error("response topic: " + *error);
  if (p.authentication_data && !p.authentication_method)
    return protocol_error("authentication data without authentication method");
  return std::nullopt;
}

// --- Parsing -----------------------------------------------------------------

bool read_byte(byte_reader& r, std::uint32_t id, properties& out) {
  std::uint8_t v = 0;
  if (!r.u8(v))
    return false;
  if (v > 1)
    return r.fail(reason_code::protocol_error,
                  "property '" + std::string{property_table[id].name} +
                      "' must be 0 or 1");
  if (id == 0x01)
    out.payload_format_indicator = static_cast<payload_format>(v);
  else if (id == 0x24)
    out.maximum_qos = static_cast<qos>(v);
  else
    out.*flag_member(id) = v == 1;
  return true;
}

bool read_value(byte_reader& r, std::uint32_t id, properties& out) {
  switch (property_table[id].kind) {
  case value_kind::byte:
    return read_byte(r, id, out);
  case value_kind::two_byte:
    return r.u16((out.*two_byte_member(id)).emplace());
  case value_kind::four_byte:
    return r.u32((out.*four_byte_member(id)).emplace());
  case value_kind::varint:
    return r.varint(out.subscription_identifiers.emplace_back());
  case value_kind::string:
    return r.utf8((out.*string_member(id)).emplace());
  case value_kind::binary:
    return r.bytes((out.*binary_member(id)).emplace());
  case value_kind::string_pair: {
    auto& [name, value] = out.user.emplace_back();
    return r.utf8(name) && r.utf8(value);
  }
  case value_kind::none:
    break;
  }
  return false;
}

bool read_property(byte_reader& r, property_scope scope, std::uint64_t& seen,
                   properties& out) {
  std::uint32_t id = 0;
  if (!r.varint(id))
    return false;
  if (id > max_property_id || property_table[id].kind == value_kind::none)
    return r.fail(reason_code::malformed_packet,
                  "unknown property identifier " + hex(id));
  if ((property_table[id].scopes & bit_of(scope)) == 0)
    return r.fail(reason_code::malformed_packet, not_allowed(id, scope));
  const auto id_bit = std::uint64_t{1} << id;
  const bool repeatable = id == 0x26 || (id == 0x0B && !scope.will &&
                                         scope.type == packet_type::publish);
  if ((seen & id_bit) && !repeatable)
    return r.fail(reason_code::protocol_error,
                  "property '" + std::string{property_table[id].name} +
                      "' appears more than once");
  seen |= id_bit;
  return read_value(r, id, out);
}

// --- Writing -----------------------------------------------------------------

template <class Sink>
void put_value(Sink& s, std::uint8_t id, const std::optional<bool>& v) {
  if (v) {
    s.varint(id);
    s.u8(*v ? 1 : 0);
  }
}

template <class Sink, class Enum>
requires std::is_enum_v<Enum>
void put_value(Sink& s, std::uint8_t id, const std::optional<Enum>& v) {
  if (v) {
    s.varint(id);
    s.u8(static_cast<std::uint8_t>(*v));
  }
}

template <class Sink>
void put_value(Sink& s, std::uint8_t id,
               const std::optional<std::uint16_t>& v) {
  if (v) {
    s.varint(id);
    s.u16(*v);
  }
}

template <class Sink>
void put_value(Sink& s, std::uint8_t id,
               const std::optional<std::uint32_t>& v) {
  if (v) {
    s.varint(id);
    s.u32(*v);
  }
}

template <class Sink>
void put_value(Sink& s, std::uint8_t id, const std::optional<std::string>& v) {
  if (v) {
    s.varint(id);
    s.utf8(*v);
  }
}

template <class Sink>
void put_value(Sink& s, std::uint8_t id, const std::optional<binary>& v) {
  if (v) {
    s.varint(id);
    s.bytes(*v);
  }
}

/// The properties in identifier order; repeated ones in their own order.
template <class Sink>
void put_property_list(Sink& s, const properties& p) {
  put_value(s, 0x01, p.payload_format_indicator);
  put_value(s, 0x02, p.message_expiry_interval);
  put_value(s, 0x03, p.content_type);
  put_value(s, 0x08, p.response_topic);
  put_value(s, 0x09, p.correlation_data);
  for (auto id : p.subscription_identifiers) {
    s.varint(0x0B);
    s.varint(id);
  }
  put_value(s, 0x11, p.session_expiry_interval);
  put_value(s, 0x12, p.assigned_client_identifier);
  put_value(s, 0x13, p.server_keep_alive);
  put_value(s, 0x15, p.authentication_method);
  put_value(s, 0x16, p.authentication_data);
  put_value(s, 0x17, p.request_problem_information);
  put_value(s, 0x18, p.will_delay_interval);
  put_value(s, 0x19, p.request_response_information);
  put_value(s, 0x1A, p.response_information);
  put_value(s, 0x1C, p.server_reference);
  put_value(s, 0x1F, p.reason_string);
  put_value(s, 0x21, p.receive_maximum);
  put_value(s, 0x22, p.topic_alias_maximum);
  put_value(s, 0x23, p.topic_alias);
  put_value(s, 0x24, p.maximum_qos);
  put_value(s, 0x25, p.retain_available);
  for (const auto& [name, value] : p.user) {
    s.varint(0x26);
    s.utf8(name);
    s.utf8(value);
  }
  put_value(s, 0x27, p.maximum_packet_size);
  put_value(s, 0x28, p.wildcard_subscription_available);
  put_value(s, 0x29, p.subscription_identifiers_available);
  put_value(s, 0x2A, p.shared_subscription_available);
}

} // namespace

bool decode_properties(byte_reader& r, property_scope scope, properties& out) {
  std::uint32_t length = 0;
  byte_reader block;
  if (!r.varint(length) || !r.split(length, block))
    return false;
  std::uint64_t seen = 0;
  while (!block.at_end())
    if (!read_property(block, scope, seen, out))
      return r.fail(block);
  if (auto error = values_error(out, scope))
    return r.fail(error->code, std::move(error->message));
  return true;
}

template <class Sink>
void put_properties(Sink& sink, const properties& props, property_scope scope) {
  size_counter length;
  put_property_list(length, props);
  if constexpr (std::is_same_v<Sink, size_counter>) {
    if (auto error = values_error(props, scope))
      sink.fail(error->code, error->message);
    if (auto& error = length.error())
      sink.fail(error->code, error->message);
  }
  if (length.size() > max_remaining_length) {
    sink.fail(reason_code::packet_too_large, "the properties are too long");
    return;
  }
  sink.varint(static_cast<std::uint32_t>(length.size()));
  put_property_list(sink, props);
}

template void put_properties(size_counter&, const properties&, property_scope);
template void put_properties(byte_writer&, const properties&, property_scope);

} // namespace starling::broker::detail
