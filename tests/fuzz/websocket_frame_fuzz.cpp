// libFuzzer target for the WebSocket layer (transport/src/websocket.cpp:
// websocketpp on its iostream transport), as the ws listener runs it.
//
// Input layout:
//   byte 0    mode: even = the rest is the client's first bytes (the HTTP
//             upgrade request and whatever follows); odd = a valid upgrade
//             to /mqtt with subprotocol mqtt goes first and the rest is
//             the client's frames
//   byte 1    where to split the rest into two receive calls
//
// Checked besides the sanitizers: no payload reaches the application
// before the upgrade completed, and a layer that failed gives nothing more.
// Compiled as C++17, like the layer (websocketpp 0.8.2).

#include <cstdio>
#include <cstdlib>
#include <string>

#include "starling/transport/websocket.hpp"

using namespace starling::transport;

namespace {

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "websocket_frame_fuzz: %s\n", what);
  std::abort();
}

const std::string upgrade =
  "GET /mqtt HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
  "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
  "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n";

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2)
    return 0;
  const bool upgraded = data[0] & 1;
  const std::size_t split = data[1];
  data += 2;
  size -= 2;
  websocket_layer ws(websocket_options{"/mqtt", 65536});
  bytes app, out;
  if (upgraded) {
    ws.receive(reinterpret_cast<const std::uint8_t*>(upgrade.data()),
               upgrade.size(), app, out);
    if (!ws.established())
      die("the valid upgrade was refused");
  }
  const std::size_t first = split < size ? split : size;
  ws.receive(data, first, app, out);
  if (!ws.established() && !app.empty())
    die("payload before the upgrade completed");
  const bool failed = !ws.error().empty() || ws.peer_closed();
  const auto app_before = app.size();
  ws.receive(data + first, size - first, app, out);
  if (failed && app.size() != app_before)
    die("payload after the layer failed or closed");
  const std::uint8_t ack[] = {0xD0, 0x00};
  ws.send(ack, sizeof ack, out);
  ws.close(out);
  return 0;
}
