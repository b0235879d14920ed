#pragma once

// The node's access control (broker/access_control.hpp) and the actor that
// keeps it current: it mirrors the replicated tables `mqtt_user` and
// `banned` (shard `auth_shard`) through a `watch` on the local shard actor,
// as the router mirrors `retained`, and reloads the ACL file on
// `ctl authz reload`. The sessions' authenticate and authorize hooks read
// it under the mutex.

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>

#include <caf/actor.hpp>
#include <caf/atom.hpp>

#include "starling/actors/mqtt/protocol.hpp"
#include "starling/broker/access_control.hpp"
#include "starling/broker/channel_config.hpp"

namespace starling::actors::mqtt {

struct mqtt_context;

struct access_guard {
  std::mutex mu;
  broker::access_control control; ///< guarded by mu
  std::string acl_source;         ///< guarded by mu: "N rules from FILE"
  std::atomic<uint64_t> authn_ok{0}, authn_failed{0};
  std::atomic<uint64_t> denied_publish{0}, denied_subscribe{0};
};

/// (m_authz, m_reload) -> string: re-reads authz.file; a file that does not
/// parse keeps the rules in force and answers the error.
/// (m_authz) -> string: the ACL in force and the counters.
using authz_atom = caf::atom_constant<caf::atom("m_authz")>;
using reload_atom = caf::atom_constant<caf::atom("m_reload")>;
/// (m_users) -> string: the users of the built-in database (no hashes).
using users_atom = caf::atom_constant<caf::atom("m_users")>;
/// (m_banned) -> string: every ban with its expiry.
using banned_atom = caf::atom_constant<caf::atom("m_banned")>;

/// Sets ctx.access up from ctx.settings: settings, authn.password_file and
/// authz.file. Called once before the listeners open; returns the error
/// (naming the key and where its value came from) or "".
std::string load_access(mqtt_context& ctx);

/// The authenticate and authorize hooks of a channel for a connection from
/// `origin` (`random` is left to the caller): they ask ctx.access, log
/// refused logins with the client id and the peer, and count denials.
broker::channel_hooks access_hooks(mqtt_context& ctx, const client_origin& origin);

/// The actor `mqtt_access` (after the db manager: it watches its tables).
caf::actor spawn_access(mqtt_context& ctx);

} // namespace starling::actors::mqtt
