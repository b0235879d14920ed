// The MQTT codec: round trips of every packet in every version, byte-exact
// spec examples, incremental input, encoder refusals and connection state.
// The malformed-packet rules are in mqtt_codec_malformed_test.cpp.

#include <algorithm>

#include "mqtt_codec_support.hpp"

using namespace mqtt_codec_test;

namespace {

// --- Sample packets ----------------------------------------------------------

binary bin(std::string_view s) {
  return binary(s.begin(), s.end());
}

/// One of each packet type with every field 3.x has, for version `v`.
std::vector<packet> v3_samples(protocol_version v) {
  connect c;
  c.version = v;
  c.clean_start = false;
  c.keep_alive = 60;
  c.client_id = "client-1";
  c.will =
      will_message{"will/topic", bin("gone"), qos::at_least_once, true, {}};
  c.username = "user";
  c.password = bin("secret");
  publish p0{false, qos::at_most_once, false, "a/b", 0, {}, bin("hello")};
  publish p2{true, qos::exactly_once, true, "caf\xC3\xA9/\xF0\x9D\x84\x9E", 7,
             {},   binary(300, 0xAB)};
  subscribe s{
      1, {{"a/+", {qos::at_least_once}}, {"b/#", {qos::exactly_once}}}, {}};
  return {c,
          connack{v != v3_1, reason_code::success, {}},
          connack{false, reason_code::not_authorized, {}},
          p0,
          p2,
          puback{1, {}, {}},
          pubrec{2, {}, {}},
          pubrel{3, {}, {}},
          pubcomp{65535, {}, {}},
          s,
          suback{1,
                 {reason_code::granted_qos_1, reason_code::unspecified_error},
                 {}},
          unsubscribe{2, {"a/+", "b"}, {}},
          unsuback{2, {}, {}},
          pingreq{},
          pingresp{},
          disconnect{}};
}

user_properties some_user_properties() {
  return {{"region", "eu"}, {"region", "us"}, {"empty", ""}};
}

connect v5_connect() {
  connect c;
  c.clean_start = false;
  c.keep_alive = 30;
  c.client_id = "device-42";
  c.props.session_expiry_interval = 3600;
  c.props.receive_maximum = 20;
  c.props.maximum_packet_size = 65536;
  c.props.topic_alias_maximum = 10;
  c.props.request_response_information = true;
  c.props.request_problem_information = false;
  c.props.authentication_method = "SCRAM-SHA-1";
  c.props.authentication_data = bin("client-first");
  c.props.user = some_user_properties();
  will_message w{
      "device/42/status", bin("offline"), qos::exactly_once, true, {}};
  w.props.will_delay_interval = 5;
  w.props.payload_format_indicator = payload_format::utf8;
  w.props.message_expiry_interval = 60;
  w.props.content_type = "text/plain";
  w.props.response_topic = "device/42/reply";
  w.props.correlation_data = bin("\x01\x02");
  w.props.user = {{"k", "v"}};
  c.will = w;
  c.password = bin("no user name needed in MQTT 5");
  return c;
}

connack v5_connack() {
  connack a{true, reason_code::success, {}};
  auto& p = a.props;
  p.session_expiry_interval = 7200;
  p.assigned_client_identifier = "auto-7F3A";
  p.server_keep_alive = 45;
  p.authentication_method = "SCRAM-SHA-1";
  p.authentication_data = bin("server-final");
  p.response_information = "responses/";
  p.server_reference = "core2.example:1883";
  p.reason_string = "welcome";
  p.receive_maximum = 100;
  p.topic_alias_maximum = 5;
  p.maximum_qos = qos::at_least_once;
  p.retain_available = false;
  p.user = some_user_properties();
  p.maximum_packet_size = 1 << 20;
  p.wildcard_subscription_available = true;
  p.subscription_identifiers_available = true;
  p.shared_subscription_available = false;
  return a;
}

publish v5_publish() {
  publish p{false, qos::at_least_once, true, "sensors/1", 9, {}, bin("{}")};
  p.props.payload_format_indicator = payload_format::utf8;
  p.props.message_expiry_interval = 10;
  p.props.content_type = "application/json";
  p.props.response_topic = "replies/1";
  p.props.correlation_data = bin("req-1");
  p.props.subscription_identifiers = {1, 268'435'455};
  p.props.topic_alias = 3;
  p.props.user = some_user_properties();
  return p;
}

properties reason_props(std::string reason) {
  properties p;
  p.reason_string = std::move(reason);
  p.user = {{"trace", "abc"}};
  return p;
}

/// Every packet type in MQTT 5, using every property at least once.
std::vector<packet> v5_samples() {
  subscribe s{10, {}, {}};
  s.props.subscription_identifiers = {42};
  s.props.user = {{"k", "v"}};
  s.subscriptions = {
      {"a/+",
       {qos::at_most_once, false, false, retain_handling::send_on_subscribe}},
      {"$share/g/b/#",
       {qos::exactly_once, false, true,
        retain_handling::send_on_new_subscribe}},
      {"c", {qos::at_least_once, true, true, retain_handling::do_not_send}}};
  disconnect d{reason_code::server_moved, reason_props("moving")};
  d.props.server_reference = "core3.example:1883";
  d.props.session_expiry_interval = 0;
  publish aliased{false, qos::at_most_once, false, "", 0, {}, {}};
  aliased.props.topic_alias = 1; // an empty topic is valid with an alias
  auth a{reason_code::continue_authentication, reason_props("round 2")};
  properties user_only;
  user_only.user = {{"why", "cleanup"}};
  a.props.authentication_method = "SCRAM-SHA-1";
  a.props.authentication_data = bin("server-first");
  return {
      v5_connect(),
      v5_connack(),
      connack{false, reason_code::bad_authentication_method, {}},
      v5_publish(),
      aliased,
      puback{1, reason_code::no_matching_subscribers, reason_props("none")},
      puback{2, reason_code::quota_exceeded, {}},
      puback{3, {}, {}},
      pubrec{4, reason_code::payload_format_invalid, reason_props("bad")},
      pubrel{5, reason_code::packet_identifier_not_found, reason_props("?")},
      pubcomp{6, {}, reason_props("done")},
      s,
      suback{10,
             {reason_code::granted_qos_2, reason_code::topic_filter_invalid,
              reason_code::wildcard_subscriptions_not_supported},
             reason_props("partly")},
      unsubscribe{11, {"a/+", "c"}, user_only},
      unsuback{11,
               {reason_code::success, reason_code::no_subscription_existed},
               reason_props("y")},
      pingreq{},
      pingresp{},
      d,
      disconnect{},
      a,
      auth{}};
}

/// Whether a property field is set.
template <class T>
bool present(const std::optional<T>& field) {
  return field.has_value();
}

template <class T>
bool present(const std::vector<T>& field) {
  return !field.empty();
}

std::vector<packet> samples(protocol_version v) {
  return v == v5 ? v5_samples() : v3_samples(v);
}

} // namespace

// --- Round trips -------------------------------------------------------------

TEST_CASE("mqtt every packet type round-trips in 3.1, 3.1.1 and 5.0") {
  for (auto v : all_versions) {
    for (const auto& p : samples(v)) {
      INFO("version " << to_string(v) << ", " << to_string(type_of(p)));
      CHECK(round_trip(p, v) == p);
      // Encoding is a function of the packet: the second encoding is the same.
      CHECK(encoded(round_trip(p, v), v) == encoded(p, v));
    }
  }
}

TEST_CASE("mqtt the MQTT 5 samples carry every property") {
  const auto packets = v5_samples();
  std::vector<const properties*> blocks;
  for (const auto& p : packets)
    std::visit(
        [&blocks](const auto& x) {
          if constexpr (requires { x.props; })
            blocks.push_back(&x.props);
        },
        p);
  for (const auto& p : packets)
    if (auto* c = std::get_if<connect>(&p); c && c->will)
      blocks.push_back(&c->will->props);
#define STARLING_CHECK_SAMPLED(field)                                          \
  CHECK_MESSAGE(std::any_of(blocks.begin(), blocks.end(),                      \
                            [](auto* b) { return present(b->field); }),        \
                #field)
  STARLING_CHECK_SAMPLED(payload_format_indicator);
  STARLING_CHECK_SAMPLED(message_expiry_interval);
  STARLING_CHECK_SAMPLED(content_type);
  STARLING_CHECK_SAMPLED(response_topic);
  STARLING_CHECK_SAMPLED(correlation_data);
  STARLING_CHECK_SAMPLED(subscription_identifiers);
  STARLING_CHECK_SAMPLED(session_expiry_interval);
  STARLING_CHECK_SAMPLED(assigned_client_identifier);
  STARLING_CHECK_SAMPLED(server_keep_alive);
  STARLING_CHECK_SAMPLED(authentication_method);
  STARLING_CHECK_SAMPLED(authentication_data);
  STARLING_CHECK_SAMPLED(request_problem_information);
  STARLING_CHECK_SAMPLED(will_delay_interval);
  STARLING_CHECK_SAMPLED(request_response_information);
  STARLING_CHECK_SAMPLED(response_information);
  STARLING_CHECK_SAMPLED(server_reference);
  STARLING_CHECK_SAMPLED(reason_string);
  STARLING_CHECK_SAMPLED(receive_maximum);
  STARLING_CHECK_SAMPLED(topic_alias_maximum);
  STARLING_CHECK_SAMPLED(topic_alias);
  STARLING_CHECK_SAMPLED(maximum_qos);
  STARLING_CHECK_SAMPLED(retain_available);
  STARLING_CHECK_SAMPLED(user);
  STARLING_CHECK_SAMPLED(maximum_packet_size);
  STARLING_CHECK_SAMPLED(wildcard_subscription_available);
  STARLING_CHECK_SAMPLED(subscription_identifiers_available);
  STARLING_CHECK_SAMPLED(shared_subscription_available);
#undef STARLING_CHECK_SAMPLED
}

TEST_CASE("mqtt 3.x drops MQTT 5 fields and maps reason codes") {
  auto ack = puback{1, reason_code::quota_exceeded, reason_props("dropped")};
  CHECK(encoded(ack, v3_1_1) == bytes{0x40, 0x02, 0x00, 0x01});
  auto sub =
      suback{1, {reason_code::granted_qos_0, reason_code::quota_exceeded}, {}};
  CHECK(encoded(sub, v3_1_1) == bytes{0x90, 0x04, 0x00, 0x01, 0x00, 0x80});
  auto refused = connack{false, reason_code::banned, {}};
  CHECK(encoded(refused, v3_1_1) == bytes{0x20, 0x02, 0x00, 0x05});
  CHECK(encoded(unsuback{9, {reason_code::success}, {}}, v3_1) ==
        bytes{0xB0, 0x02, 0x00, 0x09});
  CHECK(encoded(disconnect{reason_code::server_busy, {}}, v3_1_1) ==
        bytes{0xE0, 0x00});
  // 3.1 has no session present flag.
  CHECK(encoded(connack{true, reason_code::success, {}}, v3_1) ==
        bytes{0x20, 0x02, 0x00, 0x00});
}

TEST_CASE("mqtt v3 connack return codes map to and from reason codes") {
  using cr = connack_return_code;
  CHECK(to_connack_return_code(reason_code::success) == cr::accepted);
  CHECK(to_connack_return_code(reason_code::unsupported_protocol_version) ==
        cr::unacceptable_protocol_version);
  CHECK(to_connack_return_code(reason_code::client_identifier_not_valid) ==
        cr::identifier_rejected);
  CHECK(to_connack_return_code(reason_code::bad_authentication_method) ==
        cr::bad_username_or_password);
  CHECK(to_connack_return_code(reason_code::banned) == cr::not_authorized);
  CHECK(to_connack_return_code(reason_code::server_busy) ==
        cr::server_unavailable);
  CHECK(to_connack_return_code(reason_code::malformed_packet) ==
        cr::server_unavailable);
  for (std::uint8_t code = 0; code <= 5; ++code) {
    auto mapped = from_connack_return_code(code);
    REQUIRE(mapped);
    CHECK(static_cast<std::uint8_t>(to_connack_return_code(*mapped)) == code);
  }
  CHECK_FALSE(from_connack_return_code(6));
  CHECK(to_string(reason_code::packet_too_large) == "packet too large");
  CHECK(to_string(static_cast<reason_code>(0x03)) == "unknown reason code");
  CHECK(is_defined(reason_code::wildcard_subscriptions_not_supported));
  CHECK_FALSE(is_defined(static_cast<reason_code>(0xA3)));
}

// --- Byte-exact spec examples ------------------------------------------------

TEST_CASE("mqtt 3.1.1 CONNECT matches the spec bytes") {
  const bytes wire = {0x10, 0x0F, 0x00, 0x04, 'M',  'Q', 'T', 'T', 0x04,
                      0x02, 0x00, 0x3C, 0x00, 0x03, 'a', 'b', 'c'};
  connect c;
  c.version = v3_1_1;
  c.keep_alive = 60;
  c.client_id = "abc";
  CHECK(encoded(c, v3_1_1) == wire);
  decoder d;
  CHECK(decode_one(d, wire) == packet{c});
  CHECK(d.version() == v3_1_1);
}

TEST_CASE("mqtt 3.1 CONNECT uses MQIsdp level 3") {
  const bytes wire = {0x10, 0x11, 0x00, 0x06, 'M',  'Q',  'I', 's', 'd', 'p',
                      0x03, 0x02, 0x00, 0x3C, 0x00, 0x03, 'a', 'b', 'c'};
  connect c;
  c.version = v3_1;
  c.keep_alive = 60;
  c.client_id = "abc";
  CHECK(encoded(c, v3_1) == wire);
  decoder d;
  CHECK(decode_one(d, wire) == packet{c});
  CHECK(d.version() == v3_1);
}

TEST_CASE("mqtt 5 CONNECT with a session expiry property matches the bytes") {
  const bytes wire = {0x10, 0x15, 0x00, 0x04, 'M',  'Q',  'T',  'T',
                      0x05, 0x02, 0x00, 0x3C, 0x05, 0x11, 0x00, 0x00,
                      0x0E, 0x10, 0x00, 0x03, 'a',  'b',  'c'};
  connect c;
  c.keep_alive = 60;
  c.client_id = "abc";
  c.props.session_expiry_interval = 3600;
  CHECK(encoded(c, v5) == wire);
  decoder d;
  CHECK(decode_one(d, wire) == packet{c});
}

TEST_CASE("mqtt PUBLISH and SUBSCRIBE match the spec bytes") {
  const bytes pub = {0x32, 0x09, 0x00, 0x03, 'a', '/',
                     'b',  0x00, 0x0A, 'h',  'i'};
  publish p{false, qos::at_least_once, false, "a/b", 10, {}, bin("hi")};
  CHECK(encoded(p, v3_1_1) == pub);
  decoder d{{default_max_packet_size, v3_1_1}};
  CHECK(decode_one(d, pub) == packet{p});

  const bytes sub = {0x82, 0x08, 0x00, 0x01, 0x00, 0x03, 'a', '/', 'b', 0x01};
  subscribe s{1, {{"a/b", {qos::at_least_once}}}, {}};
  CHECK(encoded(s, v3_1_1) == sub);
  CHECK(decode_one(d, sub) == packet{s});

  // MQTT 5 options: QoS 2, No Local, Retain As Published, Retain Handling 2.
  subscribe s5{
      1,
      {{"a/b", {qos::exactly_once, true, true, retain_handling::do_not_send}}},
      {}};
  CHECK(encoded(s5, v5) ==
        bytes{0x82, 0x09, 0x00, 0x01, 0x00, 0x00, 0x03, 'a', '/', 'b', 0x2E});
}

TEST_CASE("mqtt 5 acknowledgements use their short forms") {
  decoder d{{default_max_packet_size, v5}};
  CHECK(encoded(puback{1, {}, {}}, v5) == bytes{0x40, 0x02, 0x00, 0x01});
  const auto no_match = puback{1, reason_code::no_matching_subscribers, {}};
  CHECK(encoded(no_match, v5) == bytes{0x40, 0x03, 0x00, 0x01, 0x10});
  // A sender may also write an empty property block; it means the same.
  CHECK(decode_one(d, {0x40, 0x04, 0x00, 0x01, 0x10, 0x00}) ==
        packet{no_match});
  CHECK(encoded(pubrel{1, {}, {}}, v5) == bytes{0x62, 0x02, 0x00, 0x01});
  CHECK(encoded(disconnect{}, v5) == bytes{0xE0, 0x00});
  CHECK(encoded(auth{}, v5) == bytes{0xF0, 0x00});
  CHECK(encoded(pingreq{}, v5) == bytes{0xC0, 0x00});
  CHECK(decode_one(d, {0xE0, 0x01, 0x04}) ==
        packet{disconnect{reason_code::disconnect_with_will_message, {}}});
}

TEST_CASE("mqtt a bridge sets bit 7 of the protocol level") {
  connect c;
  c.version = v3_1_1;
  c.bridge = true;
  c.client_id = "bridge-1";
  auto wire = encoded(c, v3_1_1);
  CHECK(wire[8] == 0x84);
  CHECK(round_trip(c, v3_1_1) == packet{c});
}

// --- Incremental input -------------------------------------------------------

TEST_CASE("mqtt partial input at every split point needs more, then decodes") {
  for (auto v : all_versions) {
    for (const auto& p : samples(v)) {
      INFO("version " << to_string(v) << ", " << to_string(type_of(p)));
      const auto wire = encoded(p, v);
      auto d = decoder_for(p, v);
      for (std::size_t k = 0; k < wire.size(); ++k) {
        auto result = d.decode(std::span{wire}.first(k));
        auto* more = std::get_if<need_more>(&result);
        REQUIRE(more);
        CHECK(more->total > k);
        CHECK(more->total <= wire.size());
      }
      CHECK(decode_one(d, wire) == p);
    }
  }
}

TEST_CASE("mqtt need_more reports the whole packet once the header is read") {
  publish p{false, qos::at_most_once, false, "t", 0, {}, binary(1000, 'x')};
  const auto wire = encoded(p, v3_1_1); // 1 + 2 length bytes + 1003
  decoder d{{default_max_packet_size, v3_1_1}};
  CHECK(std::get<need_more>(d.decode(std::span{wire}.first(0))).total == 1);
  CHECK(std::get<need_more>(d.decode(std::span{wire}.first(1))).total == 2);
  CHECK(std::get<need_more>(d.decode(std::span{wire}.first(2))).total == 3);
  CHECK(std::get<need_more>(d.decode(std::span{wire}.first(3))).total == 1006);
  CHECK(std::get<need_more>(d.decode(std::span{wire}.first(500))).total ==
        1006);
  CHECK(decode_one(d, wire) == packet{p});
}

TEST_CASE("mqtt two packets in one buffer decode one after the other") {
  connect c;
  c.version = v3_1_1;
  c.client_id = "two";
  publish p{false, qos::exactly_once, false, "x/y", 5, {}, bin("payload")};
  auto wire = encoded(c, v3_1_1);
  const auto connect_size = wire.size();
  REQUIRE_FALSE(encode(p, v3_1_1, wire));
  REQUIRE_FALSE(encode(pingreq{}, v3_1_1, wire));

  decoder d; // learns the version from the CONNECT
  std::span<const std::uint8_t> rest{wire};
  auto first = std::get<decoded>(d.decode(rest));
  CHECK(first.pkt == packet{c});
  CHECK(first.consumed == connect_size);
  rest = rest.subspan(first.consumed);
  auto second = std::get<decoded>(d.decode(rest));
  CHECK(second.pkt == packet{p});
  rest = rest.subspan(second.consumed);
  auto third = std::get<decoded>(d.decode(rest));
  CHECK(third.pkt == packet{pingreq{}});
  CHECK(third.consumed == rest.size());
  CHECK(std::get<need_more>(d.decode(rest.subspan(third.consumed))).total == 1);
}

TEST_CASE("mqtt encode appends and leaves the buffer alone on error") {
  bytes out = {0xEE};
  REQUIRE_FALSE(encode(pingresp{}, v5, out));
  CHECK(out == bytes{0xEE, 0xD0, 0x00});
  auto error = encode(puback{0, {}, {}}, v5, out);
  REQUIRE(error);
  CHECK(error->code == reason_code::malformed_packet);
  CHECK(out == bytes{0xEE, 0xD0, 0x00});
}

TEST_CASE("mqtt encode refuses packets the decoder would refuse") {
  bytes out;
  auto code = [&out](const packet& p, protocol_version v) {
    auto error = encode(p, v, out);
    REQUIRE(error);
    return error->code;
  };
  CHECK(code(auth{}, v3_1_1) == reason_code::malformed_packet);
  CHECK(code(connect{}, v3_1_1) == reason_code::malformed_packet); // version
  connect no_user;
  no_user.version = v3_1_1;
  no_user.password = bin("pw");
  CHECK(code(no_user, v3_1_1) == reason_code::malformed_packet);
  CHECK(code(subscribe{1, {}, {}}, v5) == reason_code::protocol_error);
  CHECK(code(unsubscribe{1, {}, {}}, v5) == reason_code::protocol_error);
  CHECK(code(suback{1, {}, {}}, v5) == reason_code::protocol_error);
  CHECK(code(publish{false, qos::at_least_once, false, "t", 0, {}, {}}, v5) ==
        reason_code::malformed_packet);
  CHECK(code(publish{true, qos::at_most_once, false, "t", 0, {}, {}}, v5) ==
        reason_code::malformed_packet);
  CHECK(code(publish{}, v5) == reason_code::topic_name_invalid); // empty topic
  publish aliased{false, qos::at_most_once, false, "", 0, {}, {}};
  aliased.props.topic_alias = 2;
  CHECK(code(aliased, v3_1_1) == reason_code::topic_name_invalid);
  puback with_alias{1, {}, {}};
  with_alias.props.topic_alias = 1; // not a PUBACK property
  CHECK(code(with_alias, v5) == reason_code::malformed_packet);
  connack zero_receive;
  zero_receive.props.receive_maximum = 0;
  CHECK(code(zero_receive, v5) == reason_code::protocol_error);
  CHECK(code(puback{1, reason_code::granted_qos_1, {}}, v5) ==
        reason_code::malformed_packet);
  CHECK(code(connack{true, reason_code::not_authorized, {}}, v5) ==
        reason_code::protocol_error);
  publish long_topic{
      false, qos::at_most_once, false, std::string(65536, 'a'), 0, {}, {}};
  CHECK(code(long_topic, v5) == reason_code::malformed_packet);
  CHECK(code(pingreq{}, static_cast<protocol_version>(6)) ==
        reason_code::unsupported_protocol_version);
  CHECK(out.empty());
}

// --- Connection state --------------------------------------------------------

TEST_CASE("mqtt the first packet must be CONNECT, and only the first") {
  CHECK(error_code({0xC0, 0x00}, std::nullopt) == reason_code::protocol_error);
  connect c;
  c.version = v3_1_1;
  auto wire = encoded(c, v3_1_1);
  wire.insert(wire.end(), wire.begin(), wire.end());
  decoder d;
  auto first = std::get<decoded>(d.decode(wire));
  auto again = d.decode(std::span{wire}.subspan(first.consumed));
  REQUIRE(std::holds_alternative<codec_error>(again));
  CHECK(std::get<codec_error>(again).code == reason_code::protocol_error);
}

TEST_CASE("mqtt an unsupported protocol name or level gives 0x84") {
  auto wire = [](std::string_view name, std::uint8_t level) {
    return frame(0x10, cat({str(name), {level, 0x02, 0, 60}, str("id")}));
  };
  using attempt = std::pair<const char*, int>;
  for (auto [name, level] :
       {attempt{"MQTT", 6}, attempt{"MQTT", 3}, attempt{"MQIsdp", 4},
        attempt{"MQTX", 4}, attempt{"MQTT", 0x44}}) {
    INFO(name << " " << level);
    decoder d;
    auto result = d.decode(wire(name, static_cast<std::uint8_t>(level)));
    REQUIRE(std::holds_alternative<codec_error>(result));
    CHECK(std::get<codec_error>(result).code ==
          reason_code::unsupported_protocol_version);
    CHECK_FALSE(d.version());
  }
}

TEST_CASE("mqtt a malformed CONNECT still tells the version it announced") {
  decoder d;
  // Reserved flag set, after a valid MQTT 5 name and level.
  auto result = d.decode(connect_bytes(v5, 0x03, str("id")));
  REQUIRE(std::holds_alternative<codec_error>(result));
  CHECK(std::get<codec_error>(result).code == reason_code::malformed_packet);
  CHECK(d.version() == v5);
}

TEST_CASE("mqtt after an error the decoder keeps failing") {
  decoder d{{default_max_packet_size, v3_1_1}};
  auto bad = d.decode(bytes{0x00, 0x00});
  REQUIRE(std::holds_alternative<codec_error>(bad));
  auto next = d.decode(bytes{0xC0, 0x00});
  REQUIRE(std::holds_alternative<codec_error>(next));
  CHECK(std::get<codec_error>(next) == std::get<codec_error>(bad));
}

TEST_CASE("mqtt a packet over max_packet_size fails on its fixed header") {
  // Only three bytes of a 203-byte PUBLISH: the error must not wait for more.
  CHECK(decode_error({0x30, 0xC8, 0x01}, v5, 64).code ==
        reason_code::packet_too_large);
  CHECK(decode_error({0x30, 0xC8, 0x01}, v3_1_1, 202).code ==
        reason_code::packet_too_large);
  decoder fits{{203, v3_1_1}};
  CHECK(std::get<need_more>(fits.decode(bytes{0x30, 0xC8, 0x01})).total == 203);
  // The CONNECT itself is measured too.
  auto big = connect_bytes(v3_1_1, 0x02, str(std::string(100, 'c')));
  CHECK(decode_error(bytes(big.begin(), big.begin() + 3), std::nullopt, 50)
            .code == reason_code::packet_too_large);
}
