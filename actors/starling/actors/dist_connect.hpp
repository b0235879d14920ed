#pragma once

#include <chrono>
#include <string>

#include <caf/actor.hpp>
#include <caf/blocking_actor.hpp>
#include <caf/expected.hpp>
#include <caf/node_id.hpp>

#include "starling/actors/wire/node.hpp"
#include "starling/runtime/cookie_auth.hpp"
#include "starling/runtime/node_config.hpp"

namespace caf {
class actor_system_config;
}

namespace starling::actors {

struct node_context;

/// With `tls.enabled`, loads CAF's openssl module into `cfg` with these
/// files: every BASP connection the system accepts or makes is then TLS
/// with a certificate required and checked against the CA on both sides.
void configure_dist_tls(caf::actor_system_config& cfg,
                        const runtime::dist_tls_settings& tls);

/// Publishes `gatekeeper` on `port` (all interfaces, reuse_addr): over TLS
/// when the system has the openssl module (configure_dist_tls).
caf::expected<uint16_t> publish_gatekeeper(caf::actor_system& sys,
                                           const gatekeeper_actor& gatekeeper,
                                           uint16_t port);

/// A node we connected to and authenticated with.
struct dist_peer {
  caf::actor agent;     ///< its node agent
  std::string name;     ///< its node name, as proven in the handshake
};

/// "" when host:port accepts a TCP connection within `timeout`, else why not
/// (refused, no answer, unknown host). Non-blocking connect and poll.
std::string probe_tcp(const std::string& host, uint16_t port,
                      std::chrono::milliseconds timeout);

/// Connects to the distribution port `host:port`, runs the cookie handshake
/// (see runtime/cookie_auth.hpp) and returns the peer's node agent. `anchor`
/// is the local actor whose lifetime bounds the session on the peer's side
/// (our node agent, or the ctl/remsh actor). Every step is bounded by
/// `timeout`; the TCP/BASP connect is tried up to 3 times (150 ms, 300 ms
/// apart), and for as long as `patience` while it fails (every 200 ms: a
/// node that is still starting, `ctl -wait`). The hello is resent every
/// second until `timeout` is spent, on a new connection after every two
/// unanswered ones (at most twice); a refusal is final. Blocking: call it
/// from a detached or scoped actor.
caf::expected<dist_peer>
dist_connect(caf::blocking_actor& self, const std::string& host, uint16_t port,
             runtime::handshake_client& hs, const caf::actor& anchor,
             std::chrono::milliseconds timeout,
             std::chrono::milliseconds patience = std::chrono::milliseconds{0});

/// Body of a detached actor that runs one outbound handshake with the
/// node's name and cookie: it answers (connect) with (peer's agent, peer's
/// name), or the error. Blocking work stays off the scheduler's threads:
/// `self->spawn<caf::detached>(handshake_connector, &ctx, anchor, host,
/// port, timeout)`.
void handshake_connector(caf::blocking_actor* self, node_context* ctx,
                         caf::actor anchor, std::string host, uint16_t port,
                         std::chrono::milliseconds timeout);

/// Closes the BASP connection to `nid`, as if the network had dropped it:
/// proxies of its actors die and local monitors get down messages.
void disconnect_node(caf::actor_system& sys, const caf::node_id& nid);

} // namespace starling::actors
