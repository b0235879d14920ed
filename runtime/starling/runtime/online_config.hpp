#pragma once

// Online, cluster-wide configuration: the records of the replicated table
// `cluster_config` (key -> value) laid over a node's own start-up
// configuration. Only keys marked `online` in the schema can be set this
// way; the others are read once at start. Values are validated exactly as
// at start-up (node_config.cpp), so a change that would not start a node
// is refused before it is committed anywhere.

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "starling/runtime/node_config.hpp"

namespace starling::runtime {

/// Where a cluster-wide value is said to come from in errors and listings.
inline constexpr const char* cluster_config_source = "cluster configuration";

/// A change request: key -> new value, or nullopt to drop the cluster's
/// value (the node's own start-up value applies again).
using config_changes = std::map<std::string, std::optional<std::string>>;

class online_config {
public:
  explicit online_config(node_config base);

  /// The start-up configuration with the cluster's values on top.
  const node_config& effective() const { return effective_; }
  /// The cluster's records as last applied.
  const std::map<std::string, std::string>& cluster() const { return cluster_; }

  struct applied {
    std::vector<std::string> changed; ///< keys whose effective value moved
    std::string error; ///< the records were refused (nothing changed)
  };

  /// The table now holds `records`: recompute the effective values. Keys
  /// that cannot change at run time are ignored (a record written by a
  /// newer node, or by hand); an invalid combination changes nothing.
  applied set_cluster(std::map<std::string, std::string> records);

  /// Why `changes` cannot be committed (the first problem, in a sentence
  /// naming the key), or "" when every node can apply them.
  std::string check(const config_changes& changes) const;

private:
  node_config base_;
  node_config effective_;
  std::map<std::string, std::string> cluster_;
};

/// The sections of the configuration (`node`, `cluster`, `mqtt`, ...), in
/// schema order.
std::vector<std::string> config_sections();

/// The sentence for a key that needs a restart.
std::string restart_required(const std::string& key);

} // namespace starling::runtime
