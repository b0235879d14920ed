#pragma once

// The nodes of cluster_sim and the hosts that run their decision classes,
// as the actors do (actors/src/node_agent_heal.cpp, db/manager*.cpp,
// db/shard*.cpp, db/agent.cpp), but on the simulated world:
//
// - the node agent: runtime::cluster::cluster_core (membership, views and
//   their gossip, the database group, the partition alarm, autoheal) and
//   dialling the members that are down;
// - the db manager: the peers each shard works with, the comparison of
//   shard histories with every other core once a second, and the discarding
//   of a branched shard that autoheal orders;
// - the shard: runtime::db::shard_core (sequencer, follower, subscriptions,
//   catch-up, reset), with the subscriber streams (runtime::db::
//   subscriber_stream) it serves and its file on the disc.
//
// Every message between these parts goes through the world: local ones
// after 5-50 us, the others over the nodes' connection. A host decides
// nothing the real actors do not decide the same way; where the actors
// make a choice themselves (when to resolve a peer, what a survey asks),
// the host makes the same one.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "sim_world.hpp"
#include "starling/runtime/cluster/cluster_core.hpp"
#include "starling/runtime/db/shard_core.hpp"
#include "starling/runtime/db/stream.hpp"

namespace starling::sim {

namespace rc = runtime::cluster;
namespace rdb = runtime::db;

/// The actors' timings and limits the hosts use, in microseconds.
namespace timing {
constexpr int64_t ms = 1000;
constexpr int64_t tick_us = 500 * ms;      // the node agent's tick
constexpr int64_t probe_us = 1000 * ms;    // the db manager's probe
constexpr int64_t step_us = 5000 * ms;     // the node agent's asks
constexpr int64_t manager_ask_us = 2000 * ms;
constexpr int64_t subscribe_us = 5000 * ms; // subscribe_timeout, surveys
constexpr int64_t txn_us = 10000 * ms;     // db.request_timeout_ms
constexpr uint32_t write_retries = 5;      // rlog.write_retries
constexpr size_t batch_size = 500;         // rlog.bootstrap_batch_size
constexpr size_t agent_window = 1000;
constexpr uint32_t replicant_batch_ms = 20; // rlog.replicant_batch_ms
constexpr size_t agent_queue_limit = 100000;
} // namespace timing

/// What a transaction's caller hears.
struct txn_answer {
  uint64_t seqno = 0;
  std::string error;
  std::string segment; ///< the answering history's segment of seqno
};

/// A subscriber's stream served on a core (the agent actor).
struct stream_agent {
  size_t subscriber = 0; ///< the node whose shard subscribed
  std::string node;
  std::unique_ptr<rdb::subscriber_stream> stream;
  bool release_due = false; ///< as the agent actor: a release is queued
};

struct sim_node {
  size_t idx = 0;
  std::string name;
  bool core = true;
  /// How far this node's wall clock is off: drawn per seed, kept across
  /// restarts. The decision classes get it in `now`, and so does the
  /// start time the node's handshake tells its peers.
  int64_t clock_skew_ms = 0;
  // -- the disc (a core's SQLite file) -------------------------------------------
  rdb::shard_store disc{"s"};
  std::string disc_history;
  // -- this incarnation --------------------------------------------------------------
  int64_t started_at_ms = 0;
  std::unique_ptr<rc::cluster_core> cl;
  /// Peers up: connection epoch, and the peer's start as its handshake said.
  std::map<size_t, std::pair<uint64_t, int64_t>> up;
  // the db manager
  std::map<size_t, int64_t> running;  ///< peer -> incarnation (its start)
  std::map<size_t, int64_t> resolved; ///< peers whose database answered
  std::set<std::string> group;
  std::string leader;
  std::map<size_t, bool> agreement;
  bool probing = false, probe_again = false;
  // the shard actor
  std::unique_ptr<rdb::shard_core> shard;
  std::map<std::string, size_t> shard_peers;
  std::map<rdb::caller_id, world::respond_fn<txn_answer>> callers;
  rdb::caller_id next_caller = 0;
  std::map<std::string, uint64_t> agents_by_node; ///< streams served here
  std::map<uint64_t, stream_agent> agents;        ///< agents living here
  std::optional<size_t> upstream;                 ///< the core followed
  uint64_t upstream_agent = 0;
  uint64_t segment_ids = 0;
  // the writer
  uint64_t txn_counter = 0;
};

/// One acknowledged transaction, as its caller was told.
struct acked_write {
  std::string id, key, value, node;
  uint64_t seqno = 0;
  std::string segment;
};

class cluster {
public:
  cluster(world& w, int cores, int replicants);

  /// Starts node i (a new incarnation, from its disc).
  void start(size_t i);
  /// Submits a transaction on node i with retries, as the db manager does.
  void write(size_t i, rdb::op o);

  std::vector<sim_node>& nodes() { return nodes_; }
  const std::vector<acked_write>& acked() const { return acked_; }
  const std::set<std::string>& discarded_ids() const { return discarded_; }
  /// Transactions the heal reports name, and the ranges they name only as
  /// a gap (no longer in the rlog: a restart, or more than rlog.log_size),
  /// from the lines runtime::cluster::report_lines writes.
  struct gap {
    rdb::lineage branch;
    uint64_t from = 0, to = 0;
  };
  const std::vector<gap>& gaps() const { return gaps_; }
  uint64_t resets() const { return resets_; }
  /// Transactions that failed after every retry (their callers were told).
  uint64_t failed_writes() const { return failed_writes_; }
  /// A host contract the decision classes broke (empty: none).
  const std::string& broken() const { return broken_; }
  static const rdb::schema& tables();

private:
  sim_node& at(size_t i) { return nodes_[i]; }
  size_t index(const std::string& name) const;
  void local(size_t i, std::function<void()> f) { w_.send(i, i, std::move(f)); }
  /// Runs f on node i after `us`, in this incarnation only (a timer).
  void later(size_t i, int64_t us, std::function<void()> f);
  void every(size_t i, int64_t period_us, std::function<void()> f);
  /// Node i's wall clock in ms since the epoch (the simulation starts on
  /// 1 December 2026), with its skew.
  int64_t now(size_t i) const {
    return 1'796'083'200'000 + w_.now_ms() + nodes_[i].clock_skew_ms;
  }

  // the node agent
  void on_up(size_t i, size_t peer, uint64_t epoch);
  void on_down(size_t i, size_t peer, uint64_t epoch);
  void publish_view(size_t i);
  void tick(size_t i);
  void dial(size_t i, size_t peer);
  void carry(size_t i, rc::cluster_effects effects);
  void order_heal(size_t i, const std::string& round, size_t loser,
                  const std::vector<std::string>& winner);
  void local_heal(size_t i, const std::string& round,
                  const std::vector<std::string>& winner,
                  std::function<void(std::optional<uint64_t>)> done);

  // the db manager
  void manager_members(size_t i, std::map<size_t, int64_t> running);
  void resolve(size_t i, size_t peer, int64_t started_at, uint32_t attempt = 0);
  void manager_heal(size_t i, const std::string& round,
                    const std::vector<std::string>& winner,
                    world::respond_fn<std::optional<uint64_t>> respond);
  void publish_peers(size_t i);
  void probe(size_t i);
  using comparison = std::map<size_t, rdb::lineage_relation>;
  void compare_with(size_t i, const std::vector<size_t>& cores,
                    std::function<void(comparison)> done);

  // the shard
  void carry(size_t i, rdb::shard_effects effects);
  void serve_txn(size_t i, const rdb::transaction& txn,
                 world::respond_fn<txn_answer> respond);
  void subscribe(size_t i, const rdb::shard_effect& e);
  struct subscribe_reply {
    std::string error;
    bool resume = false;
    std::string history;
    uint64_t core_seqno = 0;
    uint64_t agent = 0;
  };
  subscribe_reply serve_subscribe(size_t core, size_t sub, bool is_core,
                                  uint64_t epoch, const std::string& history,
                                  uint64_t seqno, const std::string& last_id);
  void survey(size_t i, const rdb::shard_effect& e);
  void agent_carry(size_t home, uint64_t id, rdb::subscriber_stream::output out);
  /// The agent quits (or is killed): its shard and its subscriber hear.
  void agent_gone(size_t home, uint64_t id);
  void upstream_lost(size_t i, uint64_t agent);
  void on_live(size_t i, uint64_t agent, uint64_t epoch,
               const std::vector<rdb::committed>& batch, uint64_t latest);
  void submit(size_t i, rdb::transaction txn, uint32_t attempt);

  world& w_;
  std::vector<sim_node> nodes_;
  uint64_t agent_ids_ = 0;
  std::vector<acked_write> acked_;
  std::set<std::string> discarded_;
  std::vector<gap> gaps_;
  uint64_t resets_ = 0, failed_writes_ = 0;
  std::string broken_;
};

} // namespace starling::sim
