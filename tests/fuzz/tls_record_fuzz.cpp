// libFuzzer target for the TLS layer (transport/src/tls.cpp): OpenSSL over
// memory BIOs, the way an MQTT connection on the ssl listener runs it.
//
// Input layout:
//   byte 0    mode: even = the rest goes to a fresh server as a peer's
//             first bytes (ClientHello, alerts, garbage); odd = a real
//             client completes the handshake first and the rest is what
//             that peer sends next (application data records, alerts,
//             close_notify, key updates)
//   byte 1    where to split the rest into two receive calls
//
// Checked besides the sanitizers: no plaintext reaches the application
// before the handshake completed, and a layer that failed gives nothing
// more. The server's certificate comes from dev_ca, made at start-up.

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "starling/transport/dev_ca.hpp"
#include "starling/transport/tls.hpp"

using namespace starling::transport;

namespace {

std::shared_ptr<tls_context> server_ctx, client_ctx;

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "tls_record_fuzz: %s\n", what);
  std::abort();
}

void handshake(tls_layer& client, tls_layer& server) {
  bytes c2s, s2c, app;
  const std::uint8_t x = 'x';
  client.send(&x, 1, c2s);
  for (int i = 0; i < 10 && !c2s.empty(); ++i) {
    s2c.clear();
    server.receive(c2s.data(), c2s.size(), app, s2c);
    c2s.clear();
    client.receive(s2c.data(), s2c.size(), app, c2s);
  }
  if (!server.established())
    die("the in-memory handshake did not complete");
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  char dir[] = "/tmp/tls-fuzz-XXXXXX";
  if (!mkdtemp(dir))
    die("mkdtemp");
  issued_files ca, server;
  if (!create_ca(dir, "fuzz CA", 1, ca).empty()
      || !issue_certificate(dir, "fuzz", {}, 1, server).empty())
    die("cannot make certificates");
  std::string err;
  server_ctx = tls_context::server({server.cert, server.key, "", false, false}, err);
  client_ctx = tls_context::client({"", "", ca.cert, false, false}, err);
  std::filesystem::remove_all(dir); // the contexts hold what they loaded
  if (!server_ctx || !client_ctx)
    die(err.c_str());
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2)
    return 0;
  const bool after_handshake = data[0] & 1;
  const std::size_t split = data[1];
  data += 2;
  size -= 2;
  tls_layer server(server_ctx);
  std::unique_ptr<tls_layer> client;
  if (after_handshake) {
    client = std::make_unique<tls_layer>(client_ctx);
    handshake(*client, server);
  }
  const std::size_t first = split < size ? split : size;
  bytes app, out;
  server.receive(data, first, app, out);
  if (!server.established() && !app.empty())
    die("plaintext before the handshake completed");
  const bool failed = !server.error().empty();
  const auto app_before = app.size();
  server.receive(data + first, size - first, app, out);
  if (failed && app.size() != app_before)
    die("plaintext after the layer failed");
  bytes reply;
  const std::uint8_t ack[] = {0x20, 0x02, 0x00, 0x00};
  server.send(ack, sizeof ack, reply);
  server.close(reply);
  return 0;
}
