#pragma once

// Every message of the replicated database, defined once. A change bumps
// db_protocol_version: a replicant only subscribes to cores of its version.

#include <cstdint>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/atom.hpp>
#include <caf/meta/type_name.hpp>

#include "starling/runtime/db/types.hpp"

namespace starling::runtime::db {

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, op& x) {
  return f(caf::meta::type_name("db_op"), x.kind, x.table, x.key, x.value);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, transaction& x) {
  return f(caf::meta::type_name("db_txn"), x.id, x.shard, x.ops);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, committed& x) {
  return f(caf::meta::type_name("db_committed"), x.seqno, x.txn);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, record& x) {
  return f(caf::meta::type_name("db_record"), x.table, x.key, x.value);
}

} // namespace starling::runtime::db

namespace starling::actors::db {

/// 2: histories are lineages (db/lineage.hpp), partitions and autoheal.
inline constexpr uint32_t db_protocol_version = 2;

// -- node agent -> node agent ----------------------------------------------------
/// (db) -> actor: the peer's db manager.
using db_atom = caf::atom_constant<caf::atom("db")>;

// -- db manager <-> db manager ------------------------------------------------
/// (shards) -> (vector<string> names, vector<actor> servers): the shard
/// actors of the node (servers on cores, replicas on replicants) and, under
/// the name "$merge", its merge server.
using shards_atom = caf::atom_constant<caf::atom("shards")>;

// -- anyone -> shard actor ------------------------------------------------------
/// (txn, transaction) -> uint64 seqno. On a core it goes to the shard's
/// leader; the caller may retry with the same id (answered, not re-applied).
using txn_atom = caf::atom_constant<caf::atom("txn")>;
/// (seqno) -> (string history, uint64 seqno, uint64 subscribers, bool leading,
/// bool serving): `history` is the lineage's text (id@start,...); see
/// runtime::db::survey_answer.
using seqno_atom = caf::atom_constant<caf::atom("seqno")>;

// -- replica -> core shard server / agent ---------------------------------------
/// (subscribe, uint32 version, string node, bool is_core, uint64 epoch,
///  string history, uint64 seqno, string last_txn_id, actor replica)
///   -> (bool resume, string history, uint64 core_seqno, actor agent)
/// On resume the agent first streams (seqno, core_seqno].
using subscribe_atom = caf::atom_constant<caf::atom("subscribe")>;
/// (batch, uint64 epoch, bool from_start, record after) -> vector<record>
/// (empty: the copy is complete)
using batch_atom = caf::atom_constant<caf::atom("batch")>;
/// (ack, uint64 epoch, uint64 seqno): cumulative acknowledgement.
using ack_atom = caf::atom_constant<caf::atom("ack")>;

// -- core agent -> replica --------------------------------------------------------
/// (live, uint64 epoch, vector<committed> in seqno order, uint64 latest:
/// the newest seqno the core has)
using live_atom = caf::atom_constant<caf::atom("live")>;
/// (cut, uint64 epoch, string reason): the agent gave up on us; resubscribe.
using cut_atom = caf::atom_constant<caf::atom("cut")>;

// -- merge server <-> merge server ----------------------------------------------
/// (merge, string owner, string table, vector<op> ops): owner's changes
/// (write/erase of its own records).
using merge_atom = caf::atom_constant<caf::atom("merge")>;
/// (msync, string owner, string table, vector<record> all): every record
/// owner has in table (replaces what we hold of it).
using msync_atom = caf::atom_constant<caf::atom("msync")>;
/// (mpull): the sender saw us come up; we answer with an msync per table.
/// Each side pulls, so a node that saw the other go down and up again gets
/// its records back even when the other side never saw it go.
using mpull_atom = caf::atom_constant<caf::atom("mpull")>;

// -- inside a node ---------------------------------------------------------------
/// (watch, string table) to the merge server: the sender gets an mchange for
/// every record of another node in `table`, the existing ones first.
using watch_atom = caf::atom_constant<caf::atom("watch")>;
/// (mchange, string table, string owner, string key, bool present)
using mchange_atom = caf::atom_constant<caf::atom("mchange")>;
/// (watch, string table) to a shard actor: the sender gets every record of
/// `table` as an rchange, then every change as it is applied here (cores and
/// replicants alike), in seqno order.
/// (rchange, string table, string key, bool present, string value)
using rchange_atom = caf::atom_constant<caf::atom("rchange")>;
/// (rreset, string table): forget the table (a clear, or a bootstrap, which
/// is followed by every record again).
using rreset_atom = caf::atom_constant<caf::atom("rreset")>;
/// (rsynced, string table): every record of the table was sent after an
/// rreset (a watch, or a bootstrap ended): what is not there is not there.
using rsynced_atom = caf::atom_constant<caf::atom("rsynced")>;

// -- partitions (node agent <-> db manager, db manager -> shard) -----------------
/// (compared, string peer, bool agrees, string detail), db manager -> node
/// agent: whether every shard of core `peer` continues or is continued by
/// ours (no branched history); `detail` names the shards that branched.
using compared_atom = caf::atom_constant<caf::atom("compared")>;
/// (group, vector<string> cores, string leader), node agent -> db manager:
/// the cores this node runs its database with (a clique, see
/// cluster/topology.hpp) and their sequencer. On a replicant: the cores it
/// replicates from.
using group_atom = caf::atom_constant<caf::atom("group")>;
/// (heal, string round, vector<string> winner) -> uint64 discarded, node
/// agent -> db manager: this core lost; discard every shard that branched
/// from the winners' and take their data.
using heal_atom = caf::atom_constant<caf::atom("heal")>;
/// (adopt), node agent -> db manager: an operator's `cluster join`: shards
/// that branched from the joined cluster's take its data (reported).
using adopt_atom = caf::atom_constant<caf::atom("adopt")>;
/// (reset, string reason, uint64 common) -> (string history,
/// vector<committed> discarded, uint64 log_first, uint64 seqno), db manager
/// -> shard actor: forget the shard after seqno `common` was shared.
using reset_atom = caf::atom_constant<caf::atom("reset")>;
/// (healreport) -> string (a JSON array): this node's heal report.
using heal_report_atom = caf::atom_constant<caf::atom("healreport")>;
/// (peers, vector<shard_peer>, string leader), db manager -> shard actor.
using peers_atom = caf::atom_constant<caf::atom("peers")>;
/// (push, committed), shard actor -> its local agents: one message built
/// once per transaction and shared by every agent.
using push_atom = caf::atom_constant<caf::atom("push")>;
/// An agent to itself, behind the pushes waiting in its mailbox: send what
/// they queued as one batch.
using release_atom = caf::atom_constant<caf::atom("release")>;
/// (probe): the db manager's timer for partition detection.
using probe_atom = caf::atom_constant<caf::atom("probe")>;
using acked_atom = caf::atom_constant<caf::atom("acked")>;
using read_atom = caf::atom_constant<caf::atom("read")>;
using rlog_atom = caf::atom_constant<caf::atom("rlog")>;
using retry_atom = caf::atom_constant<caf::atom("retry")>;
using reconnect_atom = caf::atom_constant<caf::atom("reconnect")>;
/// The db manager to itself: ask a running peer's database again
/// (member_wire, its node agent, uint32 attempt) after it did not answer.
using resolve_atom = caf::atom_constant<caf::atom("resolve")>;
using load_atom = caf::atom_constant<caf::atom("load")>;
using put_atom = caf::atom_constant<caf::atom("put")>;
using erase_atom = caf::atom_constant<caf::atom("erase")>;

/// A running peer as a shard actor sees it.
struct shard_peer {
  std::string name;
  bool core = true;
  int64_t started_at_ms = 0;
  caf::actor shard; ///< its actor for this shard (server or replica)
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, shard_peer& x) {
  return f(caf::meta::type_name("db_shard_peer"), x.name, x.core,
           x.started_at_ms, x.shard);
}

void register_db_wire_types(caf::actor_system_config& cfg);

} // namespace starling::actors::db
