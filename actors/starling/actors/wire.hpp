#pragma once

// Every message between nodes, defined once. The distribution protocol
// version (runtime::dist_protocol_version) is checked in the handshake; a
// change to any message here bumps it.

#include <cstdint>
#include <string>
#include <vector>

#include <caf/actor_system_config.hpp>
#include <caf/atom.hpp>
#include <caf/error.hpp>
#include <caf/meta/type_name.hpp>

#include "starling/runtime/membership.hpp"

namespace starling::actors {

// -- handshake (gatekeeper) ----------------------------------------------------
/// (hello, uint32 version, string client_name, bool hidden)
///   -> (string server_name, string server_nonce)
using hello_atom = caf::atom_constant<caf::atom("hello")>;
/// (answer, string client_nonce, string client_proof, actor anchor)
///   -> (string server_proof, actor node_agent)
using answer_atom = caf::atom_constant<caf::atom("answer")>;

// -- node agent <-> node agent -------------------------------------------------
/// (join, member_wire joiner) -> std::vector<member_wire> (the receiver's
/// members, itself included, the joiner excluded)
using join_atom = caf::atom_constant<caf::atom("join")>;
/// (member_up, member_wire m): m joined through the sender; connect to it.
using member_up_atom = caf::atom_constant<caf::atom("member_up")>;
/// (leave, string node) -> ok: `node` is no longer a member.
using leave_atom = caf::atom_constant<caf::atom("leave")>;

// -- hidden clients (ctl, remsh) -> node agent ---------------------------------
using status_atom = caf::atom_constant<caf::atom("status")>;
using cluster_atom = caf::atom_constant<caf::atom("cluster")>;
using force_atom = caf::atom_constant<caf::atom("force")>;
using nodes_atom = caf::atom_constant<caf::atom("nodes")>;
using shell_atom = caf::atom_constant<caf::atom("shell")>;

// -- inside a node --------------------------------------------------------------
/// (inspect) -> (string one_line_state, uint64 mailbox_length)
using inspect_atom = caf::atom_constant<caf::atom("inspect")>;
/// (nodedown, string node, string reason) from a node monitor to the agent.
using nodedown_atom = caf::atom_constant<caf::atom("nodedown")>;
using members_atom = caf::atom_constant<caf::atom("members")>;
using connect_atom = caf::atom_constant<caf::atom("connect")>;
/// (seeds): the agent's timer for joining cluster.static.seeds.
using seeds_atom = caf::atom_constant<caf::atom("seeds")>;

/// A member as it travels between nodes.
struct member_wire {
  std::string name;
  std::string host;
  uint16_t port = 0;
  uint16_t data_port = 0;
  std::string role;
  std::string status;
  int64_t started_at_ms = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, member_wire& x) {
  return f(caf::meta::type_name("member_wire"), x.name, x.host, x.port,
           x.data_port, x.role, x.status, x.started_at_ms);
}

member_wire to_wire(const runtime::member& m);
/// Nullopt when role or status is unknown (a malformed message).
std::optional<runtime::member> from_wire(const member_wire& w);

/// Announces the types above to CAF; every process that talks distribution
/// (node, ctl, remsh, probe) calls this.
void register_wire_types(caf::actor_system_config& cfg);

/// An error carrying a sentence for the operator.
caf::error fail(std::string text);

/// The sentence inside `err` (ours), or CAF's error said in plain words.
std::string describe(const caf::error& err);

} // namespace starling::actors
