#pragma once

// Every message between nodes is defined once, in this directory:
//   node.hpp  the handshake (the typed gatekeeper), the node agents' peer
//             protocol, hidden clients (ctl, remsh), the types they carry;
//   db.hpp    the replicated database: shards, agents, merge tables, the
//             db managers;
//   mgmt.hpp  the management API's requests to peers;
//   mqtt.hpp  session takeover, rebalance and evacuation, the message
//             delivery channel, and the message and session formats.
// The distribution protocol version (runtime::dist_protocol_version, 5) is
// checked in the handshake; a change to any message here bumps it.
// Messages between one node's own actors are defined next to them.

#include <cstdint>
#include <string>
#include <vector>

#include <caf/actor_system_config.hpp>
#include <caf/atom.hpp>
#include <caf/error.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/node_id.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "starling/runtime/cluster/autoheal.hpp"
#include "starling/runtime/cluster/topology.hpp"
#include "starling/runtime/membership.hpp"

// The cluster's plain types as they cross the wire (found by ADL in their
// own namespace).
namespace starling::runtime::cluster {

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, core_view& x) {
  return f(caf::meta::type_name("view_wire"), x.node, x.started_at_ms,
           x.version, x.connected, x.agreeing);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, heal_record& x) {
  return f(caf::meta::type_name("heal_record_wire"), x.round, x.leader,
           x.started_ms, x.finished_ms, x.winner, x.losers, x.left,
           x.unanswered, x.discarded, x.outcome);
}

} // namespace starling::runtime::cluster

namespace starling::actors {

// -- handshake (gatekeeper) ----------------------------------------------------
/// (hello, uint32 version, string client_name, bool hidden)
///   -> (string server_name, string server_nonce)
using hello_atom = caf::atom_constant<caf::atom("hello")>;
/// (answer, string client_nonce, string client_proof, actor anchor)
///   -> (string server_proof, actor node_agent)
using answer_atom = caf::atom_constant<caf::atom("answer")>;

// -- node agent <-> node agent -------------------------------------------------
/// (join, member_wire joiner, bool automatic) -> std::vector<member_wire>
/// (the receiver's members, itself included, the joiner excluded).
/// `automatic`: a reconnect, not an operator's join; refused (error code
/// `removed_code`) when the joiner was force-left or autocleaned.
using join_atom = caf::atom_constant<caf::atom("join")>;
/// (member_up, member_wire m): m joined through the sender; connect to it.
using member_up_atom = caf::atom_constant<caf::atom("member_up")>;
/// (leave, string node, string reason) -> ok: `node` is no longer a member.
/// An empty reason: it left by itself; otherwise it was removed (force-leave,
/// autoclean) and is not let back in automatically.
using leave_atom = caf::atom_constant<caf::atom("leave")>;
/// (views, vector<view_wire>): gossip of the cores' views (who each sees
/// and agrees with), newest per origin; see cluster/topology.hpp.
using views_atom = caf::atom_constant<caf::atom("views")>;
/// (partition, string from): to the leader: `from` disagrees with a core.
using partition_atom = caf::atom_constant<caf::atom("partition")>;
/// (healview, string round) -> view_wire: the leader collects views.
using heal_view_atom = caf::atom_constant<caf::atom("healview")>;
/// (healorder, string round, vector<string> winner) -> uint64 discarded:
/// the receiver lost; it re-syncs from the winners.
using heal_order_atom = caf::atom_constant<caf::atom("healorder")>;
/// (healdone, heal_record_wire): the leader's round ended.
using heal_done_atom = caf::atom_constant<caf::atom("healdone")>;

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
/// (cluster, discovery) from ctl: the autocluster state as JSON.
using discovery_atom = caf::atom_constant<caf::atom("discovery")>;
/// (tick): the agent's timer: reconnects, autoclean, autoheal, gossip.
using tick_atom = caf::atom_constant<caf::atom("tick")>;
/// (dialed, string node, bool ok, string why): a reconnect attempt ended.
using dialed_atom = caf::atom_constant<caf::atom("dialed")>;

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

using view_wire = runtime::cluster::core_view;
using heal_record_wire = runtime::cluster::heal_record;

member_wire to_wire(const runtime::member& m);
/// Nullopt when role or status is unknown (a malformed message).
std::optional<runtime::member> from_wire(const member_wire& w);

/// Announces the types above to CAF; every process that talks distribution
/// (node, ctl, remsh, probe) calls this.
void register_wire_types(caf::actor_system_config& cfg);

/// An error carrying a sentence for the operator.
caf::error fail(std::string text);
/// The one refusal of a sender that has not passed the cookie handshake.
caf::error not_authenticated();
/// The one refusal of a request only this node's own actors may make.
caf::error local_only();
/// The same, saying the requester was removed from the cluster (its
/// automatic rejoin was refused): it stops dialling that member.
caf::error fail_removed(std::string text);
bool is_removed(const caf::error& err);
/// Whether `err` is an actor's own refusal (fail()), not a timeout or a
/// lost node.
bool is_refusal(const caf::error& err);

/// The sentence inside `err` (ours), or CAF's error said in plain words.
std::string describe(const caf::error& err);

// -- typed interfaces -----------------------------------------------------------
/// The gatekeeper, the one actor a peer reaches before it has proven the
/// cookie: its whole interface, typed, so that nothing else compiles on
/// either side (the node's and the data plane's gatekeeper alike). Its own
/// timer (close_atom: drop a refused peer's connection) and the shell's
/// inspect are local; a peer that sends them is ignored.
using gatekeeper_actor = caf::typed_actor<
  caf::replies_to<hello_atom, uint32_t, std::string, bool>::with<std::string,
                                                                  std::string>,
  caf::replies_to<answer_atom, std::string, std::string,
                  caf::actor>::with<std::string, caf::actor>,
  caf::reacts_to<caf::close_atom, caf::node_id>,
  caf::replies_to<inspect_atom>::with<std::string, uint64_t>>;

} // namespace starling::actors
