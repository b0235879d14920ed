#include "starling/actors/dist_connect.hpp"

#include <thread>

#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/io/basp_broker.hpp>
#include <caf/io/middleman.hpp>

#include "starling/actors/node_context.hpp"
#include "starling/actors/wire.hpp"

namespace starling::actors {

namespace {
constexpr int transport_attempts = 3;
constexpr auto transport_backoff = std::chrono::milliseconds(150);
constexpr int hello_attempts = 3;
constexpr auto hello_retry_after = std::chrono::milliseconds(1000);
} // namespace

caf::expected<dist_peer> dist_connect(caf::blocking_actor& self,
                                      const std::string& host, uint16_t port,
                                      runtime::handshake_client& hs,
                                      const caf::actor& anchor,
                                      std::chrono::milliseconds timeout) {
  auto where = host + ":" + std::to_string(port);
  caf::error err;
  caf::actor gatekeeper;
  // The transport step is retried: a peer that was just declared dead (a
  // thawed process, a healed network) may still have its old BASP
  // connection torn down while we reconnect, which fails the first try.
  // The handshake is never retried: its refusals are final.
  // A silent peer (our request timed out) is not retried either.
  for (int attempt = 1; attempt <= transport_attempts; ++attempt) {
    caf::error raw;
    self
      .request(self.system().middleman().actor_handle(), timeout,
               caf::connect_atom::value, host, port)
      .receive(
        [&](caf::node_id&, caf::strong_actor_ptr& ptr, std::set<std::string>&) {
          gatekeeper = caf::actor_cast<caf::actor>(ptr);
        },
        [&](caf::error& e) { raw = std::move(e); });
    err = raw ? fail("cannot reach " + where + ": " + describe(raw))
              : caf::error{};
    if (!raw || raw == caf::sec::request_timeout)
      break;
    if (attempt < transport_attempts)
      std::this_thread::sleep_for(transport_backoff * attempt);
  }
  if (err)
    return err;
  if (!gatekeeper)
    return fail("nothing is published at " + where
                + " (not a starling distribution port)");
  // When two nodes connect to each other at the same moment (a joiner and a
  // member told about it by member_up), BASP keeps one of the two
  // connections and closes the other, and a hello written into the closed
  // one is lost. A hello is idempotent (the gatekeeper replaces the pending
  // challenge), so it is resent a few times with a short timeout.
  std::string server_name, server_nonce;
  auto hello_timeout = std::min<std::chrono::milliseconds>(timeout, hello_retry_after);
  for (int attempt = 1; attempt <= hello_attempts; ++attempt) {
    err = caf::error{};
    self
      .request(gatekeeper, hello_timeout, hello_atom::value,
               runtime::dist_protocol_version, hs.client_name(), hs.hidden())
      .receive(
        [&](std::string& name, std::string& nonce) {
          server_name = std::move(name);
          server_nonce = std::move(nonce);
        },
        [&](caf::error& e) { err = e; });
    if (err != caf::sec::request_timeout)
      break;
  }
  if (err)
    return fail(where + " refused the handshake: " + describe(err));
  auto proof = hs.answer(server_name, server_nonce);
  dist_peer result;
  std::string server_proof;
  self
    .request(gatekeeper, timeout, answer_atom::value, hs.nonce(), proof,
             anchor)
    .receive(
      [&](std::string& sproof, caf::actor& agent) {
        server_proof = std::move(sproof);
        result.agent = std::move(agent);
      },
      [&](caf::error& e) { err = e; });
  if (err)
    return fail(server_name + " (" + where + ") refused us: " + describe(err));
  std::string why;
  if (!hs.verify_welcome(server_proof, why) || !result.agent)
    return fail(why.empty() ? "malformed welcome from " + where : why);
  result.name = server_name;
  return result;
}

void disconnect_node(caf::actor_system& sys, const caf::node_id& nid) {
  auto& mm = sys.middleman();
  // BASP state belongs to the broker, which runs on the multiplexer thread:
  // do the cleanup there, the way the broker handles a lost connection.
  mm.backend().post([&mm, nid] {
    auto hdl = mm.named_broker<caf::io::basp_broker>(caf::atom("BASP"));
    auto bb = static_cast<caf::io::basp_broker*>(
      caf::actor_cast<caf::abstract_actor*>(hdl));
    if (bb == nullptr)
      return;
    if (auto conn = bb->instance.tbl().lookup_direct(nid)) {
      auto c = *conn;
      bb->connection_cleanup(c, caf::sec::socket_disconnected);
      bb->close(c);
    }
  });
}

void handshake_connector(caf::blocking_actor* self, node_context* ctx,
                         caf::actor anchor, std::string host, uint16_t port,
                         std::chrono::milliseconds timeout) {
  self->receive([&](connect_atom) -> caf::result<caf::actor, std::string> {
    runtime::handshake_client hs(ctx->cfg.cookie, ctx->cfg.name.str(), false,
                                 ctx->rnd);
    auto peer = dist_connect(*self, host, port, hs, anchor, timeout);
    if (!peer)
      return peer.error();
    return {peer->agent, peer->name};
  });
}

} // namespace starling::actors
