// The WebSocket server layer (websocketpp on its iostream transport), fed a
// client's bytes written out by hand as RFC 6455 gives them.

#include <doctest/doctest.h>

#include <string>

#include "starling/transport/layer.hpp"
#include "starling/transport/websocket.hpp"

using namespace starling::transport;

namespace {

std::string upgrade(const std::string& path, const std::string& protocols) {
  std::string req = "GET " + path + " HTTP/1.1\r\n"
                    "Host: 127.0.0.1\r\n"
                    "Upgrade: websocket\r\n"
                    "Connection: Upgrade\r\n"
                    // RFC 6455 §1.3's example key.
                    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                    "Sec-WebSocket-Version: 13\r\n";
  if (!protocols.empty())
    req += "Sec-WebSocket-Protocol: " + protocols + "\r\n";
  return req + "\r\n";
}

/// A masked client frame (RFC 6455 §5.2) with a short payload.
bytes frame(std::uint8_t opcode, const bytes& payload, bool fin = true) {
  bytes f{static_cast<std::uint8_t>((fin ? 0x80 : 0x00) | opcode)};
  const std::uint8_t mask[4] = {0x11, 0x22, 0x33, 0x44};
  if (payload.size() < 126) {
    f.push_back(static_cast<std::uint8_t>(0x80 | payload.size()));
  } else {
    f.push_back(0x80 | 126);
    f.push_back(static_cast<std::uint8_t>(payload.size() >> 8));
    f.push_back(static_cast<std::uint8_t>(payload.size()));
  }
  f.insert(f.end(), mask, mask + 4);
  for (std::size_t i = 0; i < payload.size(); ++i)
    f.push_back(payload[i] ^ mask[i % 4]);
  return f;
}

std::string as_text(const bytes& b) {
  return std::string(b.begin(), b.end());
}

struct session {
  websocket_layer ws{websocket_options{}};
  bytes up, down;
  void in(const std::string& s) {
    ws.receive(reinterpret_cast<const std::uint8_t*>(s.data()), s.size(), up, down);
  }
  void in(const bytes& b) {
    ws.receive(b.data(), b.size(), up, down);
  }
};

} // namespace

TEST_CASE("websocket: the upgrade on /mqtt with subprotocol mqtt") {
  session s;
  s.in(upgrade("/mqtt", "mqtt"));
  CHECK(s.ws.error() == "");
  REQUIRE(s.ws.established());
  auto reply = as_text(s.down);
  CHECK(reply.rfind("HTTP/1.1 101", 0) == 0);
  // RFC 6455 §1.3: the accept value for the example key.
  CHECK(reply.find("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") != std::string::npos);
  CHECK(reply.find("Sec-WebSocket-Protocol: mqtt") != std::string::npos);
  CHECK(s.ws.subprotocol() == "mqtt");
}

TEST_CASE("websocket: binary frames carry the MQTT stream, split anywhere") {
  session s;
  s.in(upgrade("/mqtt", "mqttv3.1, mqtt"));
  REQUIRE(s.ws.established());
  CHECK(s.ws.subprotocol() == "mqtt");
  s.down.clear();
  bytes pkt{0x10, 0x02, 0xAA, 0xBB};
  auto f = frame(0x2, pkt);
  // Byte by byte: websocketpp keeps a partial frame.
  for (auto b : f)
    s.in(bytes{b});
  CHECK(s.up == pkt);
  // A fragmented message: first fragment, then continuation.
  s.up.clear();
  auto first = frame(0x2, {1, 2}, false), rest = frame(0x0, {3}, true);
  s.in(first);
  s.in(rest);
  CHECK(s.up == bytes{1, 2, 3});
  // What we send goes out as one unmasked binary frame.
  bytes out;
  bytes connack{0x20, 0x02, 0x00, 0x00};
  s.ws.send(connack.data(), connack.size(), out);
  CHECK(out == bytes{0x82, 0x04, 0x20, 0x02, 0x00, 0x00});
}

TEST_CASE("websocket: ping is answered with pong; close with close") {
  session s;
  s.in(upgrade("/mqtt", "mqtt"));
  s.down.clear();
  s.in(frame(0x9, {'h', 'i'}));
  CHECK(s.down == bytes{0x8A, 0x02, 'h', 'i'});
  s.down.clear();
  s.in(frame(0x8, {0x03, 0xE8})); // 1000 normal
  CHECK(s.ws.peer_closed());
  CHECK(s.ws.error() == "");
  REQUIRE(s.down.size() >= 2);
  CHECK(s.down[0] == 0x88);
}

TEST_CASE("websocket: a wrong path or no MQTT subprotocol is refused") {
  session wrong_path;
  wrong_path.in(upgrade("/other", "mqtt"));
  CHECK_FALSE(wrong_path.ws.established());
  CHECK(wrong_path.ws.error().find("path /other") != std::string::npos);
  CHECK(as_text(wrong_path.down).rfind("HTTP/1.1 404", 0) == 0);
  session no_proto;
  no_proto.in(upgrade("/mqtt", ""));
  CHECK(no_proto.ws.error().find("subprotocol") != std::string::npos);
  CHECK(as_text(no_proto.down).rfind("HTTP/1.1 400", 0) == 0);
  session not_http;
  not_http.in(std::string("\x10\x0c\x00\x04MQTT", 8) + std::string(200, 'x')
              + "\r\n\r\n");
  CHECK_FALSE(not_http.ws.established());
  CHECK(not_http.ws.error() != "");
}

TEST_CASE("websocket: an unmasked client frame is a protocol error") {
  session s;
  s.in(upgrade("/mqtt", "mqtt"));
  s.in(bytes{0x82, 0x01, 0x10});
  CHECK(s.ws.error() != "");
  CHECK(s.up.empty());
}

TEST_CASE("stack: WebSocket over a pass-through keeps order and replies") {
  stack st;
  st.push(std::make_unique<websocket_layer>(websocket_options{}));
  bytes app, wire;
  auto req = upgrade("/mqtt", "mqtt");
  st.receive(reinterpret_cast<const std::uint8_t*>(req.data()), req.size(), app,
             wire);
  CHECK(as_text(wire).rfind("HTTP/1.1 101", 0) == 0);
  wire.clear();
  auto f = frame(0x2, {0xC0, 0x00});
  st.receive(f.data(), f.size(), app, wire);
  CHECK(app == bytes{0xC0, 0x00});
  bytes out;
  bytes resp{0xD0, 0x00};
  st.send(resp.data(), resp.size(), out);
  CHECK(out == bytes{0x82, 0x02, 0xD0, 0x00});
}
