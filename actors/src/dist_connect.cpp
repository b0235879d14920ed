#include "starling/actors/dist_connect.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/io/basp_broker.hpp>
#include <caf/io/middleman.hpp>
#include <caf/openssl/manager.hpp>
#include <caf/openssl/publish.hpp>

#include "starling/actors/node_context.hpp"
#include "starling/actors/wire/node.hpp"

namespace starling::actors {

namespace {
constexpr int transport_attempts = 3;
constexpr auto transport_backoff = std::chrono::milliseconds(150);
constexpr int hello_attempts = 3;
constexpr auto hello_retry_after = std::chrono::milliseconds(1000);
constexpr auto patient_retry_after = std::chrono::milliseconds(200);
constexpr int max_redials = 2;
} // namespace

std::string probe_tcp(const std::string& host, uint16_t port,
                      std::chrono::milliseconds timeout) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  auto service = std::to_string(port);
  if (int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &res); rc != 0)
    return std::string("cannot resolve ") + host + ": " + gai_strerror(rc);
  std::string why = "no address for " + host;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (auto* ai = res; ai != nullptr; ai = ai->ai_next) {
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    ai->ai_protocol);
    if (fd < 0) {
      why = std::string("socket: ") + std::strerror(errno);
      continue;
    }
    int rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
    if (rc != 0 && errno == EINPROGRESS) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now())
                    .count();
      pollfd p{fd, POLLOUT, 0};
      rc = poll(&p, 1, static_cast<int>(std::max<int64_t>(left, 0)));
      if (rc == 0) {
        why = "no answer within " + std::to_string(timeout.count())
              + " ms (host down or the network drops packets)";
        close(fd);
        continue;
      }
      int err = 0;
      socklen_t len = sizeof err;
      getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      rc = err == 0 ? 0 : -1;
      errno = err;
    }
    if (rc == 0) {
      close(fd);
      freeaddrinfo(res);
      return "";
    }
    why = std::strerror(errno);
    close(fd);
  }
  freeaddrinfo(res);
  return why;
}

void configure_dist_tls(caf::actor_system_config& cfg,
                        const runtime::dist_tls_settings& tls) {
  if (!tls.enabled)
    return;
  cfg.load<caf::openssl::manager>();
  cfg.openssl_certificate = tls.certfile;
  cfg.openssl_key = tls.keyfile;
  cfg.openssl_cafile = tls.cacertfile;
}

caf::expected<uint16_t> publish_gatekeeper(caf::actor_system& sys,
                                           const gatekeeper_actor& gatekeeper,
                                           uint16_t port) {
  if (sys.has_openssl_manager())
    return caf::openssl::publish(gatekeeper, port, nullptr, true);
  return sys.middleman().publish(gatekeeper, port, nullptr, true);
}

namespace {

/// The transport step: TCP, then BASP through the middleman; sets
/// `gatekeeper` to the proxy of what is published at host:port.
caf::error dial(caf::blocking_actor& self, const std::string& host, uint16_t port,
                std::chrono::milliseconds timeout,
                std::chrono::steady_clock::time_point give_up_at,
                gatekeeper_actor& gatekeeper) {
  auto where = host + ":" + std::to_string(port);
  caf::error err;
  // The transport step is retried: a peer that was just declared dead (a
  // thawed process, a healed network) may still have its old BASP
  // connection torn down while we reconnect, which fails the first try.
  // The handshake is never retried: its refusals are final.
  // A silent peer (our request timed out) is not retried either.
  for (int attempt = 1;; ++attempt) {
    // CAF's middleman connects with a blocking connect(2), one at a time: a
    // peer behind a cut link (packets dropped) would hold every other
    // connect of this node for the kernel's SYN timeout (minutes). A
    // non-blocking probe with our own bound fails fast instead.
    if (auto why = probe_tcp(host, port, std::min<std::chrono::milliseconds>(
                                           timeout, std::chrono::seconds(2)));
        !why.empty()) {
      err = fail("cannot reach " + where + ": " + why);
      if (why.rfind("no answer", 0) == 0
          || std::chrono::steady_clock::now() + patient_retry_after >= give_up_at)
        break;
      std::this_thread::sleep_for(patient_retry_after);
      continue;
    }
    caf::error raw;
    // A TLS system dials TLS (its middleman actor wraps the socket in an
    // OpenSSL session); the probe above was plain TCP and closed at once,
    // before any handshake, so it costs the peer only an aborted accept.
    auto mm = self.system().has_openssl_manager()
                ? self.system().openssl_manager().actor_handle()
                : self.system().middleman().actor_handle();
    self
      .request(mm, timeout, caf::connect_atom::value, host, port)
      .receive(
        [&](caf::node_id&, caf::strong_actor_ptr& ptr, std::set<std::string>&) {
          gatekeeper = caf::actor_cast<gatekeeper_actor>(ptr);
        },
        [&](caf::error& e) { raw = std::move(e); });
    err = raw ? fail("cannot reach " + where + ": " + describe(raw))
              : caf::error{};
    if (!raw || raw == caf::sec::request_timeout)
      break;
    if (attempt < transport_attempts)
      std::this_thread::sleep_for(transport_backoff * attempt);
    else if (std::chrono::steady_clock::now() + patient_retry_after < give_up_at)
      std::this_thread::sleep_for(patient_retry_after);
    else
      break;
  }
  return err;
}

/// Closes our BASP connection to the node of `proxy` and waits (at most a
/// second) until the proxy is gone: the middleman answers a connect to the
/// same host:port from its cache while the proxy lives.
void drop_connection(caf::blocking_actor& self, const gatekeeper_actor& proxy) {
  self.monitor(proxy);
  disconnect_node(self.system(), proxy.node());
  bool gone = false;
  self.receive_while([&] { return !gone; })(
    [&](caf::down_msg& dm) { gone = gone || dm.source == proxy.address(); },
    caf::after(std::chrono::seconds(1)) >> [&] { gone = true; });
}

} // namespace

caf::expected<dist_peer>
dist_connect(caf::blocking_actor& self, const std::string& host, uint16_t port,
             runtime::handshake_client& hs, const caf::actor& anchor,
             std::chrono::milliseconds timeout,
             std::chrono::milliseconds patience) {
  auto where = host + ":" + std::to_string(port);
  auto give_up_at = std::chrono::steady_clock::now() + patience;
  gatekeeper_actor gatekeeper;
  auto err = dial(self, host, port, timeout, give_up_at, gatekeeper);
  if (err)
    return err;
  if (!gatekeeper)
    return fail("nothing is published at " + where
                + " (not a starling distribution port)");
  // When two nodes connect to each other at the same moment (a joiner and a
  // member told about it by member_up), BASP keeps one of the two
  // connections and closes the other, and a hello written into the closed
  // one is lost. A hello is idempotent (the gatekeeper replaces the pending
  // challenge), so it is resent with a short timeout: at least a few
  // times, and until `timeout` is spent (a node busy starting, its shards
  // bootstrapping, answers late but does answer).
  std::string server_name, server_nonce;
  auto hello_timeout = std::min<std::chrono::milliseconds>(timeout, hello_retry_after);
  auto hello_until = std::chrono::steady_clock::now() + timeout;
  int redials = 0;
  for (int attempt = 1;
       attempt <= hello_attempts
       || std::chrono::steady_clock::now() + hello_timeout <= hello_until;
       ++attempt) {
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
    // Two hellos unanswered on one connection: now and then (1 in 10-20
    // `db load` runs against a busy replicant) none written into a fresh
    // BASP connection reaches the gatekeeper, while a new connection gets
    // through at once. So drop this one and dial again, within `timeout`.
    if (attempt % 2 == 0 && redials < max_redials
        && std::chrono::steady_clock::now() + 2 * hello_timeout <= hello_until) {
      ++redials;
      drop_connection(self, gatekeeper);
      gatekeeper = nullptr;
      if (auto e = dial(self, host, port, timeout, hello_until, gatekeeper))
        return e;
      if (!gatekeeper)
        return fail("nothing is published at " + where
                    + " (not a starling distribution port)");
    }
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
