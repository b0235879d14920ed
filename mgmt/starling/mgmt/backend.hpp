#pragma once

// What the management API needs from the node, as an interface: the HTTP
// side (api.hpp) is plain C++ tested with a fake, and the node implements
// it by asking its actors (actors/mgmt/bridge.cpp). Every call may block
// the calling HTTP thread (never an actor's) for a bounded time.

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "starling/mgmt/api_error.hpp"
#include "starling/runtime/node_config.hpp"
#include "starling/runtime/online_config.hpp"

namespace starling::mgmt {

/// A message to publish from the API (POST /api/v5/publish).
struct publish_request {
  std::string topic;
  std::string payload;
  int qos = 0;
  bool retain = false;
};

/// The queries one node answers about itself (node_query on the wire):
///   node           role, status, uptime, version, connections, memory, rlog summary
///   clients        every client of the node (JSON array)
///   client  ID     one client (error: not on this node)
///   kick    ID     {"kicked": bool}
///   subscriptions  every subscription of the node's clients (JSON array)
///   routes         the cluster's route table as this node holds it
///   stats          node_stats::to_json()
///   rlog           the rlog status JSON
///   cluster        the node agent's cluster status JSON
inline constexpr const char* query_kinds[] = {
  "node", "clients", "client", "kick", "subscriptions", "routes", "stats",
  "rlog", "cluster"};

class backend {
public:
  virtual ~backend() = default;

  virtual std::string node_name() = 0;
  /// This node's `cluster status --json`.
  virtual outcome<nlohmann::json> cluster_status() = 0;
  /// Asks each of `nodes` (running members, this one included) the query
  /// `kind`: exactly one entry per asked node, its answer or the error (a
  /// node that did not answer: "no answer from <node>").
  virtual std::map<std::string, outcome<nlohmann::json>>
  gather(const std::string& kind, const std::string& arg,
         const std::vector<std::string>& nodes) = 0;
  /// `node` joins this node's cluster (it runs `cluster join` to us).
  virtual outcome<std::string> invite(const std::string& node) = 0;
  virtual outcome<std::string> force_leave(const std::string& node) = 0;
  virtual outcome<nlohmann::json> publish(const publish_request& p) = 0;
  /// Commits a record of a replicated table (nullopt: erases it).
  virtual outcome<uint64_t> write(const std::string& table, const std::string& key,
                                  const std::optional<std::string>& value) = 0;
  /// Checks and commits online configuration (cluster_config).
  virtual outcome<uint64_t> configure(const runtime::config_changes& changes) = 0;
  /// The node's configuration in force (start-up values + the cluster's).
  virtual runtime::node_config config() = 0;
  /// Rebalance and evacuation: `command` (rebalance_start, rebalance_stop,
  /// evacuation_start, evacuation_stop, status, global_status) with the
  /// start options `request`, carried out by `node`'s balancer (this node
  /// or another running member). The answer is that node's status.
  virtual outcome<nlohmann::json> balance(const std::string& node,
                                          const std::string& command,
                                          const nlohmann::json& request) = 0;
};

} // namespace starling::mgmt
