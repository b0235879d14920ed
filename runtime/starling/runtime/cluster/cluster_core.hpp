#pragma once

// The cluster logic of one node, without actors: which members to dial
// again, the node's own view (the cores it sees and, of those, the ones
// whose databases agree with its own), the gossip of views, the database
// group and its sequencer, the leader (the oldest running core), the
// partition alarm and its reports, and autoheal on the leader. The node
// agent (actors/src/node_agent_heal.cpp) feeds it and carries out its
// effects; the whole-cluster simulation (tests/sim) does the same on a
// simulated network.
//
// Host contract:
//   - on_members whenever the running members change (nodeup, nodedown,
//     left); on_down / on_removed for a member that went down or left;
//   - on_compared with what the database found (per peer core: agrees?);
//   - on_gossip with views a peer sent; on_report, on_view, on_healed,
//     on_heal_done with the autoheal messages; on_tick on a timer;
//   - carry out the effects in order (see cluster_effect).

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "starling/runtime/cluster/autoheal.hpp"
#include "starling/runtime/cluster/reconnect.hpp"
#include "starling/runtime/cluster/rules.hpp"
#include "starling/runtime/cluster/topology.hpp"

namespace starling::runtime::cluster {

struct cluster_effect {
  enum kind_t {
    gossip,        ///< send views() to every up peer but `node`
    new_group,     ///< the database group changed: `group`
    report,        ///< report the partition to the leader `node`
    request_views, ///< autoheal: ask `nodes` for their view (`round`)
    order_heal,    ///< autoheal: `nodes` (losers) re-sync from `winner`
    heal_finished, ///< autoheal: a round ended (`record`): tell every peer
    log,           ///< `text` (`warning` or info)
  } kind = log;
  std::string node;
  std::vector<std::string> nodes;
  std::vector<std::string> winner;
  std::string round;
  db_group group;
  heal_record record;
  std::string text;
  bool warning = false;
};

using cluster_effects = std::vector<cluster_effect>;

/// A running member as the core needs it.
struct running_member {
  std::string name;
  bool core = true;
  int64_t started_at_ms = 0;
};

class cluster_core {
public:
  cluster_core(std::string self, int64_t started_at_ms, bool core,
               autoheal_settings heal, reconnect_schedule::settings dial);

  /// The running members now (this node excluded).
  cluster_effects on_members(std::vector<running_member> running, int64_t now);
  /// A member went down (not removed): dial it again later.
  cluster_effects on_down(const std::string& node, int64_t now, double jitter);
  /// A member came up (dialled or dialling us).
  void on_up(const std::string& node);
  /// A member left or was removed: nothing of it is kept.
  cluster_effects on_removed(const std::string& node);
  /// Members loaded at start (as down): dialled.
  void on_loaded(const std::string& node, int64_t now, double jitter);

  cluster_effects on_compared(const std::string& peer, bool agrees,
                              const std::string& detail, int64_t now);
  cluster_effects on_gossip(const std::vector<core_view>& views,
                            const std::string& from);
  cluster_effects on_report(const std::string& from, int64_t now);
  cluster_effects on_view(const std::string& round, const core_view& view,
                          int64_t now);
  cluster_effects on_healed(const std::string& round, const std::string& from,
                            uint64_t discarded, int64_t now);
  cluster_effects on_heal_done(const heal_record& record);
  /// A leader orders this core to heal from `winner`: "" when this core's
  /// own views agree it lost, else why not. A core never discards its data
  /// on another core's word alone: in an asymmetric split two cores can each
  /// be the oldest one they see, and a leader that does not see all the
  /// cores can pick the wrong winner.
  std::string check_heal_order(const std::vector<std::string>& winner) const;

  struct tick_result {
    std::vector<std::string> dial; ///< members to dial now
    cluster_effects effects;
  };
  tick_result on_tick(int64_t now);
  /// A dial ended: `ok` or failed (its error logged once per change).
  cluster_effects on_dialed(const std::string& node, bool ok,
                            const std::string& why, int64_t now, double jitter);

  /// Views to gossip (a replicant relays the cores'; it has none).
  std::vector<core_view> views() const;
  const core_view& own() const { return topo_.own(); }
  const db_group& group() const { return group_; }
  const std::string& leader() const { return leader_; }
  const partition_alarm& alarm() const { return alarm_; }
  const autoheal& heal() const { return heal_; }
  const std::optional<heal_record>& last_heal() const { return last_heal_; }
  const reconnect_schedule& dialling() const { return dial_; }
  const std::map<std::string, std::string>& dial_errors() const { return dial_errors_; }
  bool core() const { return core_; }
  const topology& topo() const { return topo_; }

  static constexpr int64_t gossip_every_ms = 2000;

private:
  cluster_effects refresh(int64_t now);
  void run_alarm(std::vector<partition_alarm::effect> e, cluster_effects& out,
                 int64_t now);
  void run_heal(std::vector<heal_effect> e, cluster_effects& out, int64_t now);
  void update_group(cluster_effects& out);
  std::vector<std::string> running_cores() const;

  std::string self_;
  int64_t started_at_ms_;
  bool core_;
  topology topo_;
  autoheal heal_;
  partition_alarm alarm_;
  reconnect_schedule dial_;
  std::map<std::string, std::string> dial_errors_;
  std::vector<running_member> running_;
  std::set<std::string> agreeing_;
  std::string leader_;
  db_group group_;
  std::optional<heal_record> last_heal_;
  int64_t last_gossip_ms_ = 0;
};

} // namespace starling::runtime::cluster
