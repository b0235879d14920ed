#pragma once

// Private to the node agent's files: node_agent.cpp (the behavior, links to
// peers, connecting), node_agent_ops.cpp (cluster join, leave, force-leave,
// the static seeds) and node_agent_heal.cpp (membership kept across
// restarts, reconnect, autoclean, the cores' views, partitions and
// autoheal). The decisions are in runtime/membership.hpp and
// runtime/cluster/; these files carry them out.

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "starling/actors/wire/node.hpp"
#include "starling/runtime/cluster/cluster_core.hpp"
#include "starling/runtime/cluster/discovery.hpp"
#include "starling/runtime/membership.hpp"

namespace starling::actors {
struct node_context;
namespace discovery {
class etcd;
}
} // namespace starling::actors

namespace starling::actors::agent_detail {

/// Bound on each step of connecting to a peer (TCP connect, each handshake
/// message, the join request).
constexpr auto step_timeout = std::chrono::seconds(5);
/// The agent's timer: reconnects, autoclean, autoheal, gossip.
constexpr auto tick_interval = std::chrono::milliseconds(500);

using members_result = caf::expected<std::vector<member_wire>>;
using join_callback = std::function<void(members_result)>;
using text_callback = std::function<void(caf::expected<std::string>)>;

struct peer_link {
  caf::actor agent;
  caf::actor monitor;
};

struct agent_state {
  node_context* ctx = nullptr;
  std::unique_ptr<runtime::membership> view;
  std::map<std::string, peer_link> links;
  caf::actor shell;
  struct retry {
    runtime::member m;
    int attempt;
    bool automatic;
    join_callback done;
    int64_t since_ms = 0; ///< when the first attempt began
  };
  std::map<uint64_t, retry> retries; ///< connect_member attempts waiting
  uint64_t next_retry = 0;
  // -- the cluster (node_agent_heal.cpp) --
  bool core = true;
  std::string members_path; ///< <data_dir>/<node>.cluster.json
  std::string saved_text;   ///< what the file holds
  /// Every decision: dialling, views, the group, the alarm, autoheal.
  std::unique_ptr<runtime::cluster::cluster_core> cl;
  std::string healing_round; ///< this node lost that round and re-syncs
  int64_t autoclean_ms = 0;
  // -- autocluster (node_agent_discovery.cpp) --
  std::unique_ptr<runtime::cluster::autocluster> discovery;
  std::shared_ptr<discovery::etcd> etcd; ///< the etcd strategy's client
  int64_t etcd_renewed_ms = 0;
  bool etcd_renewing = false;
  static inline const char* name = "node_agent";
};

using agent_actor = caf::stateful_actor<agent_state>;

// node_agent.cpp
member_wire self_wire(agent_actor* self);
/// Tells the database and the broker which nodes run; called after every
/// change of the view.
void publish_view(agent_actor* self);
void untrack(agent_actor* self, const std::string& name);
void forget_all_peers(agent_actor* self);
void track(agent_actor* self, runtime::member m, const caf::actor& remote);
/// Tells a peer that `name` left or was removed (leave): a request, so
/// the peer's ok comes back as an answer, not as a stray message.
void tell_leave(agent_actor* self, const caf::actor& peer,
                const std::string& name, const std::string& reason);
using connect_callback = std::function<void(caf::expected<caf::actor>)>;
void connect_peer(agent_actor* self, const std::string& host, uint16_t port,
                  const std::string& expected_name, connect_callback done);
/// Asks `remote` to take us in. `automatic`: a reconnect (the remote
/// refuses it if it removed us). With `automatic` or `unless_removed`, a
/// member that we removed (autoclean, force-leave) while the request was
/// on its way is turned down here and told so.
/// `since_ms`: when the attempt began (a removal after it counts; -1: now).
void join_peer(agent_actor* self, const caf::actor& remote,
               const std::string& name, bool automatic, join_callback done,
               bool unless_removed = false, int64_t since_ms = -1);
void connect_and_join(agent_actor* self, const std::string& host,
                      uint16_t port, const std::string& name, bool automatic,
                      join_callback done, bool unless_removed = false,
                      int64_t since_ms = -1);
void connect_member(agent_actor* self, runtime::member m, int attempt,
                    bool automatic, join_callback done,
                    int64_t since_ms = -1);
std::optional<std::string> sending_peer(agent_actor* self);
bool from_operator(agent_actor* self);
/// Requests of operators (ctl, remsh): node_agent_ops.cpp.
caf::message_handler operator_requests(agent_actor* self);

// node_agent_ops.cpp
caf::result<std::string> cluster_join(agent_actor* self,
                                      const std::string& target_text);
caf::result<std::string> cluster_leave(agent_actor* self);
caf::result<std::string> cluster_force_leave(agent_actor* self,
                                             const std::string& name);
/// After a join was accepted: connects to every member it listed.
void on_joined(agent_actor* self, const std::string& target_name,
               members_result res, bool automatic, text_callback rp);

// node_agent_discovery.cpp
void init_discovery(agent_actor* self);
/// On the agent's tick: a round of autocluster when one is due.
void discovery_tick(agent_actor* self);
/// `cluster discovery --json`.
nlohmann::json discovery_json(agent_actor* self);

// node_agent_heal.cpp
/// Loads the membership file, sets up autoheal and starts the timer.
void init_cluster(agent_actor* self);
/// The view changed: keep it on disk, recompute our own view, the leader
/// and the database group, tell the others.
void after_view_change(agent_actor* self);
void on_tick(agent_actor* self);
/// A peer went down (not removed): dial it again later.
void on_member_down(agent_actor* self, const std::string& name);
/// Takes `name` out of the cluster here (force-leave, autoclean, a peer's
/// word); `reason` empty: it left by itself. `tell`: tell the other peers.
void remove_member(agent_actor* self, const std::string& name,
                   const std::string& reason, bool tell);
/// Forgets the cluster state of every peer (this node left or was removed).
void reset_cluster(agent_actor* self);
void on_compared(agent_actor* self, const std::string& peer, bool agrees,
                 const std::string& detail);
void on_gossip(agent_actor* self, const std::vector<view_wire>& views);
void on_report(agent_actor* self, const std::string& from);
caf::result<uint64_t> on_heal_order(agent_actor* self, const std::string& round,
                                    const std::vector<std::string>& winner);
void on_heal_done(agent_actor* self, const heal_record_wire& record);
/// `cluster status --json`: the membership plus partitions and healing.
nlohmann::json cluster_status_json(agent_actor* self);
caf::result<std::string> gather_heal_report(agent_actor* self);

} // namespace starling::actors::agent_detail
