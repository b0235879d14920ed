#pragma once

// The management API's messages, defined once. Between nodes every answer
// is a JSON text envelope, {"ok": ANSWER} or {"error": {"status", "code",
// "message"}}, so an error keeps its HTTP status across the wire.
//
// mgmt_protocol_version 1 (Starling 0.1): node_query kinds node, clients,
// client, kick, subscriptions, routes, stats, rlog, cluster
// (mgmt/backend.hpp). A node answers an unknown kind with a 400 error, so
// an older node in a mixed cluster says what it lacks instead of failing.

#include <cstdint>
#include <string>

#include <caf/atom.hpp>

namespace starling::actors::mgmt {

inline constexpr uint32_t mgmt_protocol_version = 1;

// -- any node's management actor -> a peer's node agent --------------------
/// (mgmt) -> actor: the node's management actor. Also asked by ctl.
using mgmt_atom = caf::atom_constant<caf::atom("mgmt")>;

// -- management actor <-> management actor -----------------------------------
/// (g_query, string kind, string arg) -> string envelope: the receiving
/// node's own answer to one query.
using node_query_atom = caf::atom_constant<caf::atom("g_query")>;

// -- ctl -> management actor (operators, after the cookie handshake) ---------
/// (g_confget, string key) -> string value in force.
using conf_get_atom = caf::atom_constant<caf::atom("g_confget")>;
/// (g_confset, string changes_json) -> string envelope {"ok": seqno}:
/// changes_json is {"key": "value" | null}.
using conf_set_atom = caf::atom_constant<caf::atom("g_confset")>;

// -- inside a node ------------------------------------------------------------
/// (g_gather, string kind, string arg, vector<string> nodes) -> string
/// {"node": envelope, ...}: the HTTP bridge asks every node at once.
using gather_atom = caf::atom_constant<caf::atom("g_gather")>;
/// (g_write, string table, string key, bool present, string value) ->
/// string envelope {"ok": seqno}: a record of the API's tables.
using write_atom = caf::atom_constant<caf::atom("g_write")>;
/// (g_publish, string topic, string payload, uint8 qos, bool retain).
using api_publish_atom = caf::atom_constant<caf::atom("g_publish")>;
/// (g_conf, string key, string value), management -> node agent: an
/// online configuration key the agent applies (cluster.autoclean).
/// (g_conf) to the router: the broker settings changed.
using conf_atom = caf::atom_constant<caf::atom("g_conf")>;

} // namespace starling::actors::mgmt
