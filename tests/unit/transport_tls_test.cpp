// TLS over memory BIOs and the development CA: real OpenSSL on both ends,
// certificates made by dev_ca in a temporary directory.

#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include <filesystem>
#include <string>

#include "starling/transport/dev_ca.hpp"
#include "starling/transport/tls.hpp"

using namespace starling::transport;
namespace fs = std::filesystem;

namespace {

struct pki {
  std::string dir;
  issued_files ca, server, client;

  explicit pki(const std::string& tag) {
    dir = (fs::temp_directory_path()
           / ("starling-tls-" + tag + "-" + std::to_string(::getpid())))
            .string();
    fs::remove_all(dir);
    REQUIRE(create_ca(dir, "test CA " + tag, 1, ca) == "");
    REQUIRE(issue_certificate(dir, "core1@127.0.0.1", {"localhost"}, 1, server)
            == "");
    REQUIRE(issue_certificate(dir, "device-7", {}, 1, client) == "");
  }
  ~pki() {
    fs::remove_all(dir);
  }
};

/// Moves bytes between a client and a server layer until neither has
/// anything more to say; returns what each side's application received.
struct pipe_result {
  bytes to_server_app, to_client_app;
};

void pump(tls_layer& client, tls_layer& server, bytes c2s, pipe_result& r) {
  bytes s2c;
  for (int round = 0; round < 20 && (!c2s.empty() || !s2c.empty()); ++round) {
    bytes next_s2c;
    server.receive(c2s.data(), c2s.size(), r.to_server_app, next_s2c);
    c2s.clear();
    s2c.insert(s2c.end(), next_s2c.begin(), next_s2c.end());
    bytes next_c2s;
    client.receive(s2c.data(), s2c.size(), r.to_client_app, next_c2s);
    s2c.clear();
    c2s = std::move(next_c2s);
  }
}

bytes text(const std::string& s) {
  return bytes(s.begin(), s.end());
}

} // namespace

TEST_CASE("tls: a client that trusts the CA talks to the server both ways") {
  pki p("ok");
  std::string err;
  auto sctx = tls_context::server({p.server.cert, p.server.key, "", false, false}, err);
  REQUIRE_MESSAGE(sctx, err);
  auto cctx = tls_context::client({"", "", p.ca.cert, false, false}, err);
  REQUIRE_MESSAGE(cctx, err);
  tls_layer server(sctx), client(cctx);
  bytes c2s;
  auto hello = text("CONNECT");
  client.send(hello.data(), hello.size(), c2s); // held until established
  pipe_result r;
  pump(client, server, c2s, r);
  CHECK(server.established());
  CHECK(client.established());
  CHECK(server.error() == "");
  CHECK(server.protocol() == "TLSv1.3");
  CHECK(r.to_server_app == hello);
  CHECK_FALSE(server.peer_common_name()); // verify_none: no certificate asked
  bytes s2c;
  auto ack = text("CONNACK");
  server.send(ack.data(), ack.size(), s2c);
  CHECK(s2c != ack); // encrypted
  bytes got, back;
  client.receive(s2c.data(), s2c.size(), got, back);
  CHECK(got == ack);
  // close_notify reaches the server as a clean end.
  bytes bye;
  client.close(bye);
  bytes none, reply;
  server.receive(bye.data(), bye.size(), none, reply);
  CHECK(server.peer_closed());
  CHECK(server.error() == "");
}

TEST_CASE("tls: TLS 1.2 is accepted too") {
  pki p("v12");
  std::string err;
  auto sctx = tls_context::server({p.server.cert, p.server.key, "", false, false}, err);
  auto cctx = tls_context::client({"", "", p.ca.cert, false, false}, err);
  REQUIRE(cctx);
  SSL_CTX_set_max_proto_version(cctx->native(), TLS1_2_VERSION);
  tls_layer server(sctx), client(cctx);
  bytes c2s;
  auto x = text("x");
  client.send(x.data(), x.size(), c2s);
  pipe_result r;
  pump(client, server, c2s, r);
  REQUIRE(server.established());
  CHECK(server.protocol() == "TLSv1.2");
  CHECK(r.to_server_app == x);
}

TEST_CASE("tls: a client that trusts another CA fails the handshake") {
  pki p("ours"), other("theirs");
  std::string err;
  auto sctx = tls_context::server({p.server.cert, p.server.key, "", false, false}, err);
  auto cctx = tls_context::client({"", "", other.ca.cert, false, false}, err);
  tls_layer server(sctx), client(cctx);
  bytes c2s;
  auto x = text("x");
  client.send(x.data(), x.size(), c2s);
  pipe_result r;
  pump(client, server, c2s, r);
  CHECK_FALSE(client.established());
  CHECK(client.error().find("certificate verify failed") != std::string::npos);
  // The client's alert tells the server why it was refused.
  CHECK(server.error().find("unknown ca") != std::string::npos);
  CHECK(r.to_server_app.empty());
}

TEST_CASE("tls: verify_peer checks client certificates and gives their CN") {
  pki p("mutual"), other("rogue");
  std::string err;
  tls_options server_opts{p.server.cert, p.server.key, p.ca.cert, true, true};
  auto sctx = tls_context::server(server_opts, err);
  REQUIRE_MESSAGE(sctx, err);
  SUBCASE("a certificate from the CA") {
    auto cctx = tls_context::client({p.client.cert, p.client.key, p.ca.cert,
                                     false, false}, err);
    tls_layer server(sctx), client(cctx);
    bytes c2s;
    auto x = text("x");
    client.send(x.data(), x.size(), c2s);
    pipe_result r;
    pump(client, server, c2s, r);
    REQUIRE(server.established());
    CHECK(server.peer_common_name() == "device-7");
    CHECK(r.to_server_app == x);
  }
  SUBCASE("no certificate, with fail_if_no_peer_cert") {
    auto cctx = tls_context::client({"", "", p.ca.cert, false, false}, err);
    tls_layer server(sctx), client(cctx);
    bytes c2s;
    auto x = text("x");
    client.send(x.data(), x.size(), c2s);
    pipe_result r;
    pump(client, server, c2s, r);
    CHECK(server.error().find("peer did not return a certificate")
          != std::string::npos);
    CHECK(r.to_server_app.empty());
  }
  SUBCASE("a certificate from another CA") {
    auto cctx = tls_context::client({other.client.cert, other.client.key,
                                     p.ca.cert, false, false}, err);
    tls_layer server(sctx), client(cctx);
    bytes c2s;
    auto x = text("x");
    client.send(x.data(), x.size(), c2s);
    pipe_result r;
    pump(client, server, c2s, r);
    CHECK(server.error().find("certificate verify failed") != std::string::npos);
    CHECK(r.to_server_app.empty());
  }
}

TEST_CASE("tls: garbage instead of a ClientHello fails that connection only") {
  pki p("garbage");
  std::string err;
  auto sctx = tls_context::server({p.server.cert, p.server.key, "", false, false}, err);
  tls_layer bad(sctx), good(sctx);
  const bytes plain{0x10, 0x0c, 0x00, 0x04, 'M', 'Q', 'T', 'T',
                    0x04, 0x02, 0x00, 0x3c, 0x00, 0x00};
  bytes up, down;
  bad.receive(plain.data(), plain.size(), up, down);
  INFO(bad.error());
  CHECK(bad.error().find("TLS handshake failed") != std::string::npos);
  CHECK(up.empty());
  CHECK(good.error() == "");
}

TEST_CASE("tls: set-up errors name the file") {
  pki p("files");
  std::string err;
  CHECK_FALSE(tls_context::server({p.dir + "/missing.pem", p.server.key, "",
                                   false, false}, err));
  CHECK(err.find("missing.pem") != std::string::npos);
  CHECK_FALSE(tls_context::server({p.server.cert, p.client.key, "", false,
                                   false}, err));
  // OpenSSL refuses a key that does not belong to the certificate.
  CHECK(err.find(p.client.key) != std::string::npos);
  CHECK_FALSE(tls_context::server({p.server.cert, p.server.key, "", true,
                                   false}, err));
  CHECK(err.find("cacertfile") != std::string::npos);
}

TEST_CASE("dev CA: keys are private, a second init is refused") {
  pki p("ca");
  struct stat st {};
  REQUIRE(::stat(p.ca.key.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  REQUIRE(::stat(p.server.key.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  issued_files again;
  CHECK(create_ca(p.dir, "again", 1, again).find("already exists")
        != std::string::npos);
  issued_files none;
  CHECK(issue_certificate(p.dir + "/nothing", "x", {}, 1, none).find("certs init")
        != std::string::npos);
}
