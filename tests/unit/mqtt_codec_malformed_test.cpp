// The MQTT decoder's malformed-packet and protocol-error rules, one by one,
// each with the reason code the decoder must give (see codec.hpp).

#include "mqtt_codec_support.hpp"

using namespace mqtt_codec_test;

// --- Malformed packets, rule by rule -----------------------------------------

TEST_CASE("mqtt reserved packet types are malformed") {
  CHECK(error_code({0x00, 0x00}, v5) == reason_code::malformed_packet);
  CHECK(error_code({0xF0, 0x00}, v3_1_1) == reason_code::malformed_packet);
  CHECK(error_code({0xF0, 0x00}, v3_1) == reason_code::malformed_packet);
  CHECK(refusal({0xF0, 0x00}, v5) == "");
}

TEST_CASE("mqtt reserved fixed header flags are malformed") {
  for (auto v : all_versions) {
    INFO(to_string(v));
    CHECK(error_code({0x80, 0x06, 0, 1, 0, 1, 'a', 0}, v) ==
          reason_code::malformed_packet); // SUBSCRIBE 0000
    CHECK(error_code({0xA0, 0x05, 0, 1, 0, 1, 'a'}, v) ==
          reason_code::malformed_packet); // UNSUBSCRIBE 0000
    CHECK(error_code({0x60, 0x02, 0, 1}, v) == reason_code::malformed_packet);
    CHECK(error_code({0x42, 0x02, 0, 1}, v) == reason_code::malformed_packet);
    CHECK(error_code({0xC1, 0x00}, v) == reason_code::malformed_packet);
    CHECK(error_code({0xE8, 0x00}, v) == reason_code::malformed_packet);
    CHECK(refusal({0x62, 0x02, 0, 1}, v) == "");
  }
  // MQTT 3.1 retried PUBREL, SUBSCRIBE and UNSUBSCRIBE with DUP set.
  CHECK(refusal({0x6A, 0x02, 0, 1}, v3_1) == "");
  CHECK(error_code({0x6A, 0x02, 0, 1}, v3_1_1) ==
        reason_code::malformed_packet);
}

TEST_CASE("mqtt PUBLISH with QoS 3, or DUP on QoS 0, is malformed") {
  for (auto v : {v3_1_1, v5}) {
    CHECK(error_code({0x36, 0x05, 0, 1, 't', 0, 1}, v) ==
          reason_code::malformed_packet);
    CHECK(error_code({0x38, 0x03, 0, 1, 't'}, v) ==
          reason_code::malformed_packet);
  }
  CHECK(refusal({0x3A, 0x05, 0, 1, 't', 0, 1}, v3_1_1) == ""); // DUP with QoS 1
}

TEST_CASE("mqtt a remaining length over four bytes is malformed") {
  CHECK(error_code({0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F}, v5) ==
        reason_code::malformed_packet);
  // Known after four continuation bytes, without waiting for a fifth.
  CHECK(error_code({0x30, 0x80, 0x80, 0x80, 0x80}, v5) ==
        reason_code::malformed_packet);
  decoder d{{max_packet_size_limit, v5}};
  auto result = d.decode(bytes{0x30, 0xFF, 0xFF, 0xFF});
  CHECK(std::holds_alternative<need_more>(result));
}

TEST_CASE(
    "mqtt a remaining length that does not match the fields is malformed") {
  CHECK(error_code({0xC0, 0x01, 0x00}, v3_1_1) ==
        reason_code::malformed_packet);
  CHECK(error_code({0x40, 0x03, 0, 1, 0}, v3_1_1) ==
        reason_code::malformed_packet);
  CHECK(error_code({0x40, 0x01, 0}, v5) == reason_code::malformed_packet);
  CHECK(error_code({0xE0, 0x01, 0x00}, v3_1_1) ==
        reason_code::malformed_packet);
  // A string running past the end of the packet.
  CHECK(error_code({0x82, 0x06, 0, 1, 0, 9, 'a', 'b'}, v3_1_1) ==
        reason_code::malformed_packet);
  // Properties running past the end of the packet, and past their length.
  CHECK(error_code({0x40, 0x05, 0, 1, 0x10, 0x05, 0x1F}, v5) ==
        reason_code::malformed_packet);
  CHECK(error_code(frame(0x40, {0, 1, 0x10, 0x02, 0x1F, 0x00, 0x01, 'x'}),
                   v5) == reason_code::malformed_packet);
  // A CONNECT whose password is cut short.
  auto cut =
      connect_bytes(v3_1_1, 0xC2, cat({str("id"), str("u"), {0, 5, 'p'}}));
  CHECK(error_code(cut, std::nullopt) == reason_code::malformed_packet);
}

TEST_CASE("mqtt strings must be well-formed UTF-8 without U+0000") {
  auto publish_topic = [](const bytes& topic) {
    return frame(0x30,
                 cat({{0, static_cast<std::uint8_t>(topic.size())}, topic}));
  };
  const bytes bad_topics[] = {
      {0xC3, 0x28},             // truncated sequence
      {'a', 0x00, 'b'},         // U+0000
      {0xED, 0xA0, 0x80},       // U+D800, a UTF-16 surrogate
      {0xED, 0xBF, 0xBF},       // U+DFFF
      {0xC0, 0xAF},             // overlong '/'
      {0xE0, 0x80, 0xAF},       // overlong '/'
      {0xF4, 0x90, 0x80, 0x80}, // above U+10FFFF
      {0xFF},
      {'l', 'o', 'n', 'g', 'e', 'r', '/', 't', 'o', 'p', 'i', 'c', 0x00, '!'},
  };
  for (const auto& topic : bad_topics)
    CHECK(error_code(publish_topic(topic), v3_1_1) ==
          reason_code::malformed_packet);
  CHECK(refusal(publish_topic({0xED, 0x9F, 0xBF}), v3_1_1) == ""); // U+D7FF
  CHECK(refusal(publish_topic({0xF4, 0x8F, 0xBF, 0xBF}), v3_1_1) ==
        ""); // U+10FFFF
  // Client identifiers, user names and user properties too.
  CHECK(error_code(connect_bytes(v3_1_1, 0x02, {0, 1, 0x00}), std::nullopt) ==
        reason_code::malformed_packet);
  CHECK(error_code(connect_bytes(v3_1_1, 0x82, cat({str("id"), {0, 1, 0x80}})),
                   std::nullopt) == reason_code::malformed_packet);
  CHECK(error_code(publish_v5("t", cat({{0x26}, str("k"), {0, 1, 0xC0}})),
                   v5) == reason_code::malformed_packet);

  CHECK(is_valid_mqtt_utf8("plain ascii topic/with/levels"));
  CHECK(is_valid_mqtt_utf8("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9D\x84\x9E"));
  CHECK_FALSE(is_valid_mqtt_utf8(std::string_view("0123456789\0abc", 14)));
  CHECK_FALSE(is_valid_mqtt_utf8("0123456789\xC3"));
}

TEST_CASE("mqtt a zero packet identifier is malformed") {
  for (auto v : all_versions) {
    INFO(to_string(v));
    CHECK(error_code({0x32, 0x05, 0, 1, 't', 0, 0}, v) ==
          reason_code::malformed_packet);
    CHECK(error_code({0x40, 0x02, 0, 0}, v) == reason_code::malformed_packet);
    CHECK(error_code({0x62, 0x02, 0, 0}, v) == reason_code::malformed_packet);
    const bytes no_props = v == v5 ? bytes{0} : bytes{};
    CHECK(error_code(frame(0x82, cat({{0, 0}, no_props, str("a"), {0}})), v) ==
          reason_code::malformed_packet);
    CHECK(error_code(frame(0xA2, cat({{0, 0}, no_props, str("a")})), v) ==
          reason_code::malformed_packet);
  }
}

TEST_CASE("mqtt SUBSCRIBE and UNSUBSCRIBE need at least one topic filter") {
  CHECK(error_code({0x82, 0x02, 0, 1}, v3_1_1) == reason_code::protocol_error);
  CHECK(error_code({0x82, 0x03, 0, 1, 0}, v5) == reason_code::protocol_error);
  CHECK(error_code({0xA2, 0x02, 0, 1}, v3_1_1) == reason_code::protocol_error);
  CHECK(error_code({0xA2, 0x03, 0, 1, 0}, v5) == reason_code::protocol_error);
  CHECK(error_code({0x90, 0x02, 0, 1}, v3_1_1) == reason_code::protocol_error);
  CHECK(error_code({0xB0, 0x03, 0, 1, 0}, v5) == reason_code::protocol_error);
  CHECK(refusal({0xB0, 0x02, 0, 1}, v3_1_1) == ""); // 3.x UNSUBACK has no codes
}

TEST_CASE("mqtt wildcards in a topic name are refused with 0x90") {
  for (auto v : {v3_1, v3_1_1}) {
    CHECK(error_code(frame(0x30, str("a/+")), v) ==
          reason_code::topic_name_invalid);
    CHECK(error_code(frame(0x30, str("a/#")), v) ==
          reason_code::topic_name_invalid);
  }
  CHECK(error_code(publish_v5("+", {}), v5) == reason_code::topic_name_invalid);
  CHECK(error_code(publish_v5("#", {}), v5) == reason_code::topic_name_invalid);
  // The will topic is a topic name too.
  auto will =
      connect_bytes(v3_1_1, 0x06, cat({str("id"), str("w/#"), str("m")}));
  CHECK(error_code(will, std::nullopt) == reason_code::topic_name_invalid);
  // A topic filter is only checked by the channel, per subscription.
  CHECK(refusal({0x82, 0x08, 0, 1, 0, 3, 'a', '#', 'b', 0}, v3_1_1) == "");
}

TEST_CASE("mqtt an empty PUBLISH topic needs an MQTT 5 topic alias") {
  CHECK(error_code(frame(0x30, str("")), v3_1_1) ==
        reason_code::topic_name_invalid);
  CHECK(error_code(publish_v5("", {}), v5) == reason_code::protocol_error);
  CHECK(refusal(publish_v5("", {0x23, 0x00, 0x01}), v5) == "");
}

TEST_CASE("mqtt CONNECT flags: reserved bit, will flags, password") {
  const auto id = str("id");
  for (auto v : all_versions) {
    INFO(to_string(v));
    const auto will_props = v == v5 ? bytes{0} : bytes{};
    const auto with_will = cat({id, will_props, str("w"), str("m")});
    auto error = [v](std::uint8_t flags, const bytes& payload) {
      return error_code(connect_bytes(v, flags, payload), std::nullopt);
    };
    CHECK(error(0x03, id) == reason_code::malformed_packet); // reserved
    CHECK(error(0x0A, id) == reason_code::malformed_packet); // will QoS 1 alone
    CHECK(error(0x22, id) ==
          reason_code::malformed_packet); // will retain alone
    CHECK(error(0x1E, with_will) ==
          reason_code::malformed_packet); // will QoS 3
    CHECK(refusal(connect_bytes(v, 0x36, with_will), std::nullopt) == "");
  }
  const auto password_only = cat({id, str("pw")});
  CHECK(error_code(connect_bytes(v3_1_1, 0x42, password_only), std::nullopt) ==
        reason_code::malformed_packet);
  CHECK(error_code(connect_bytes(v3_1, 0x42, password_only), std::nullopt) ==
        reason_code::malformed_packet);
  CHECK(refusal(connect_bytes(v5, 0x42, password_only), std::nullopt) == "");
}

TEST_CASE(
    "mqtt subscription options: reserved bits, QoS 3, retain handling 3") {
  auto sub = [](std::uint8_t options, bool v5_props) {
    return frame(
        0x82,
        cat({{0, 1}, v5_props ? bytes{0} : bytes{}, str("a/b"), {options}}));
  };
  CHECK(error_code(sub(0x04, false), v3_1_1) == reason_code::malformed_packet);
  CHECK(error_code(sub(0x80, false), v3_1) == reason_code::malformed_packet);
  CHECK(error_code(sub(0x03, false), v3_1_1) == reason_code::malformed_packet);
  CHECK(error_code(sub(0x40, true), v5) == reason_code::malformed_packet);
  CHECK(error_code(sub(0x03, true), v5) == reason_code::malformed_packet);
  CHECK(error_code(sub(0x30, true), v5) == reason_code::protocol_error);
  CHECK(refusal(sub(0x2E, true), v5) == "");
}

TEST_CASE("mqtt reason codes a packet cannot carry are malformed") {
  CHECK(error_code({0x40, 0x03, 0, 1, 0x92}, v5) ==
        reason_code::malformed_packet);
  CHECK(error_code({0x62, 0x03, 0, 1, 0x10}, v5) ==
        reason_code::malformed_packet);
  CHECK(error_code({0x20, 0x03, 0, 0x04, 0}, v5) ==
        reason_code::malformed_packet);
  CHECK(error_code({0x20, 0x02, 0, 0x06}, v3_1_1) ==
        reason_code::malformed_packet);
  CHECK(error_code({0x90, 0x03, 0, 1, 0x03}, v3_1_1) ==
        reason_code::malformed_packet);
  CHECK(error_code({0x90, 0x04, 0, 1, 0, 0x11}, v5) ==
        reason_code::malformed_packet);
  CHECK(error_code({0xE0, 0x01, 0x18}, v5) == reason_code::malformed_packet);
  CHECK(error_code({0xF0, 0x01, 0x04}, v5) == reason_code::malformed_packet);
}

TEST_CASE("mqtt CONNACK flags and session present") {
  CHECK(error_code({0x20, 0x02, 0x02, 0x00}, v3_1_1) ==
        reason_code::malformed_packet);
  CHECK(error_code({0x20, 0x03, 0x01, 0x87, 0}, v5) ==
        reason_code::protocol_error);
  CHECK(error_code({0x20, 0x02, 0x01, 0x05}, v3_1_1) ==
        reason_code::protocol_error);
  // 3.1's first byte is unused.
  CHECK(refusal({0x20, 0x02, 0x01, 0x00}, v3_1) == "");
}

TEST_CASE("mqtt properties that may appear once must not repeat") {
  const bytes expiry = {0x02, 0, 0, 0, 10};
  CHECK(error_code(publish_v5("t", cat({expiry, expiry})), v5) ==
        reason_code::protocol_error);
  const auto user = cat({{0x26}, str("k"), str("v")});
  CHECK(refusal(publish_v5("t", cat({user, user})), v5) == "");
  CHECK(refusal(publish_v5("t", {0x0B, 0x01, 0x0B, 0x02}), v5) == "");
  auto subscribe_with = [](const bytes& property_list) {
    return frame(0x82, cat({{0, 1}, props(property_list), str("a"), {0}}));
  };
  CHECK(refusal(subscribe_with({0x0B, 0x01}), v5) == "");
  CHECK(error_code(subscribe_with({0x0B, 0x01, 0x0B, 0x02}), v5) ==
        reason_code::protocol_error);
  CHECK(error_code(
            connect_bytes(v5, 0x02, str("id"), props({0x21, 0, 5, 0x21, 0, 6})),
            std::nullopt) == reason_code::protocol_error);
}

TEST_CASE("mqtt properties not allowed in the packet are malformed") {
  CHECK(error_code(publish_v5("t", {0x11, 0, 0, 0, 1}), v5) ==
        reason_code::malformed_packet); // session expiry in PUBLISH
  CHECK(error_code(frame(0x40, cat({{0, 1, 0}, props({0x23, 0, 1})})), v5) ==
        reason_code::malformed_packet); // topic alias in PUBACK
  CHECK(
      error_code(connect_bytes(v5, 0x02, str("id"), props({0x18, 0, 0, 0, 1})),
                 std::nullopt) ==
      reason_code::malformed_packet); // will delay outside the will
  // Session expiry in the will properties.
  auto will = cat({str("id"), props({0x11, 0, 0, 0, 1}), str("w"), str("m")});
  CHECK(error_code(connect_bytes(v5, 0x06, will), std::nullopt) ==
        reason_code::malformed_packet);
}

TEST_CASE("mqtt unknown property identifiers are malformed") {
  CHECK(error_code(publish_v5("t", {0x05, 0}), v5) ==
        reason_code::malformed_packet);
  CHECK(error_code(publish_v5("t", {0x00, 0}), v5) ==
        reason_code::malformed_packet);
  CHECK(error_code(publish_v5("t", {0x7F, 0}), v5) ==
        reason_code::malformed_packet);
  CHECK(error_code(publish_v5("t", {0x80, 0x01, 0}), v5) // identifier 128
        == reason_code::malformed_packet);
}

TEST_CASE("mqtt invalid property values are refused") {
  auto connect_with = [](const bytes& property_list) {
    return error_code(connect_bytes(v5, 0x02, str("id"), props(property_list)),
                      std::nullopt);
  };
  auto connack_with = [](const bytes& property_list) {
    return error_code(frame(0x20, cat({{0, 0}, props(property_list)})), v5);
  };
  CHECK(connect_with({0x21, 0, 0}) ==
        reason_code::protocol_error); // receive max
  CHECK(connect_with({0x27, 0, 0, 0, 0}) ==
        reason_code::protocol_error); // max size
  CHECK(connect_with({0x17, 2}) == reason_code::protocol_error);
  CHECK(connect_with({0x19, 2}) == reason_code::protocol_error);
  CHECK(connect_with(cat({{0x16}, str("data")})) ==
        reason_code::protocol_error);
  CHECK(connack_with({0x24, 2}) == reason_code::protocol_error); // maximum QoS
  CHECK(connack_with({0x25, 2}) == reason_code::protocol_error);
  CHECK(connack_with({0x28, 7}) == reason_code::protocol_error);
  CHECK(error_code(publish_v5("t", {0x23, 0, 0}), v5) ==
        reason_code::topic_alias_invalid);
  CHECK(error_code(publish_v5("t", {0x01, 2}), v5) ==
        reason_code::protocol_error);
  CHECK(error_code(publish_v5("t", {0x0B, 0x00}), v5) ==
        reason_code::protocol_error);
  CHECK(error_code(publish_v5("t", cat({{0x08}, str("r/+")})), v5) ==
        reason_code::protocol_error);
  CHECK(error_code(frame(0x82, cat({{0, 1}, props({0x0B, 0}), str("a"), {0}})),
                   v5) == reason_code::protocol_error);
}
