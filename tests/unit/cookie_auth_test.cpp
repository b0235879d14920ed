#include <doctest/doctest.h>

#include "starling/runtime/cookie_auth.hpp"

using namespace starling::runtime;

namespace {
/// A deterministic random source: bytes counting up from a seed.
random_source counting(unsigned char seed) {
  return [seed](unsigned char* buf, size_t n) mutable {
    for (size_t i = 0; i < n; ++i)
      buf[i] = seed++;
  };
}
} // namespace

TEST_CASE("same cookie: both sides prove it and the cookie never travels") {
  handshake_server srv("s3cret", "core1@h", counting(1));
  handshake_client cli("s3cret", "core2@h", false, counting(100));
  std::string err;
  auto ch = srv.hello("peer", dist_protocol_version, cli.client_name(),
                      cli.hidden(), 0, err);
  REQUIRE(ch);
  CHECK(ch->server_name == "core1@h");
  auto proof = cli.answer(ch->server_name, ch->server_nonce);
  CHECK(proof.find("s3cret") == std::string::npos);
  CHECK(proof.size() == 64);
  auto ok = srv.answer("peer", cli.nonce(), proof, 10, err);
  REQUIRE(ok);
  CHECK(ok->client_name == "core2@h");
  CHECK_FALSE(ok->hidden);
  CHECK(cli.verify_welcome(ok->server_proof, err));
  CHECK(srv.pending() == 0);
}

TEST_CASE("a wrong cookie is refused with a message naming both nodes") {
  handshake_server srv("s3cret", "core1@h", counting(1));
  handshake_client cli("wrong", "ctl-1@h", true, counting(7));
  std::string err;
  auto ch = srv.hello("p", dist_protocol_version, cli.client_name(), true, 0, err);
  REQUIRE(ch);
  auto proof = cli.answer(ch->server_name, ch->server_nonce);
  CHECK_FALSE(srv.answer("p", cli.nonce(), proof, 0, err));
  CHECK(err.find("cookie of ctl-1@h does not match") != std::string::npos);
}

TEST_CASE("a server without our cookie cannot fake the welcome") {
  handshake_server impostor("guess", "core1@h", counting(1));
  handshake_client cli("s3cret", "core2@h", false, counting(9));
  std::string err;
  auto ch = impostor.hello("p", dist_protocol_version, "core2@h", false, 0, err);
  cli.answer(ch->server_name, ch->server_nonce);
  // The impostor cannot verify our proof; even a self-made welcome fails.
  auto fake = handshake_proof("guess", "server", cli.nonce(), ch->server_nonce,
                              "core2@h", "core1@h");
  CHECK_FALSE(cli.verify_welcome(fake, err));
  CHECK(err.find("wrong proof") != std::string::npos);
}

TEST_CASE("challenges are single-use and expire") {
  handshake_server srv("c", "s@h", counting(1), 1000);
  handshake_client cli("c", "x@h", false, counting(50));
  std::string err;
  auto ch = srv.hello("p", dist_protocol_version, "x@h", false, 0, err);
  auto proof = cli.answer(ch->server_name, ch->server_nonce);
  CHECK(srv.answer("p", cli.nonce(), proof, 10, err));
  CHECK_FALSE(srv.answer("p", cli.nonce(), proof, 20, err)); // replay
  CHECK(err.find("no handshake in progress") != std::string::npos);
  ch = srv.hello("p", dist_protocol_version, "x@h", false, 100, err);
  proof = cli.answer(ch->server_name, ch->server_nonce);
  CHECK_FALSE(srv.answer("p", cli.nonce(), proof, 1200, err)); // expired
}

TEST_CASE("a proof for one name does not authenticate another") {
  handshake_server srv("c", "s@h", counting(1));
  std::string err;
  auto ch = srv.hello("p", dist_protocol_version, "victim@h", false, 0, err);
  handshake_client mallory("c-not", "victim@h", false, counting(3));
  auto proof = mallory.answer(ch->server_name, ch->server_nonce);
  CHECK_FALSE(srv.answer("p", mallory.nonce(), proof, 0, err));
}

TEST_CASE("bad hellos: version, names, nonce, flooding") {
  handshake_server srv("c", "s@h", counting(1), 10000, 2);
  std::string err;
  CHECK_FALSE(srv.hello("p", dist_protocol_version + 1, "x@h", false, 0, err));
  CHECK(err.find("version mismatch") != std::string::npos);
  CHECK_FALSE(srv.hello("p", dist_protocol_version, "", false, 0, err));
  CHECK_FALSE(srv.hello("p", dist_protocol_version, "a\nb", false, 0, err));
  CHECK(srv.hello("p1", dist_protocol_version, "x@h", false, 0, err));
  CHECK(srv.hello("p2", dist_protocol_version, "x@h", false, 0, err));
  CHECK_FALSE(srv.hello("p3", dist_protocol_version, "x@h", false, 0, err));
  CHECK(err.find("too many") != std::string::npos);
  CHECK_FALSE(srv.answer("p1", "zz", "00", 0, err));
  CHECK(err.find("malformed") != std::string::npos);
}

TEST_CASE("proof comparison") {
  CHECK(proofs_equal("abc", "abc"));
  CHECK_FALSE(proofs_equal("abc", "abd"));
  CHECK_FALSE(proofs_equal("abc", "ab"));
}
