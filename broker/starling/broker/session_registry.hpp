#pragma once

// The cluster's session registry as one node sees it: which node holds the
// session of each client id. The table itself (`session_registry`, in
// cm_shard) is replicated; this class decides, from this node's copy of it
// and the sessions held here, what to write and when a session here gives
// way to one on another node. The client manager actor feeds it what it
// hears and carries out the effects it returns (writes to the database,
// a delayed check, telling a session it was superseded).

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

namespace starling::broker {

/// What the registry asks its actor to do.
struct registry_effect {
  enum kind {
    put,         ///< write (id -> this node)
    erase_if,    ///< erase id's entry only while it still names `node`
    check_later, ///< call gives_way(id, node) after `delay_ms`
  };
  kind what = put;
  std::string id;
  std::string node;
  int64_t delay_ms = 0;
  bool operator==(const registry_effect&) const = default;
};
using registry_effects = std::vector<registry_effect>;

/// A running member, as the registry's cleaning rule needs it.
struct registry_member {
  std::string name;
  bool core = false;
  int64_t started_at_ms = 0;
};

class session_registry {
public:
  /// How long the registry must name another node for a client id held
  /// here before the session here gives way: the table's last write wins,
  /// and the intermediate value of two racing writes must not count.
  static constexpr int64_t supersede_after_ms = 500;

  session_registry(std::string me, bool core, int64_t started_at_ms);

  // -- sessions of this node ---------------------------------------------------

  /// A session for `id` exists here (it may still be taking over).
  void hold(const std::string& id);
  /// The session for `id` is established here: its entry names this node.
  registry_effects registered(const std::string& id);
  /// The session for `id` ended or moved away: its entry goes, but only
  /// while it names this node (a new holder's entry stays).
  registry_effects released(const std::string& id);
  bool holds(const std::string& id) const { return held_.count(id) > 0; }

  // -- this node's replica of the table ----------------------------------------

  /// One entry changed (present: id -> node; absent: erased). An entry
  /// that names this node for a session not held here is erased.
  registry_effects changed(const std::string& id, bool present,
                           const std::string& node);
  /// The check that `changed` scheduled: whether the session held here
  /// gives way to `node`'s (the registry still names it).
  bool gives_way(const std::string& id, const std::string& node) const;
  /// The replica is about to be sent again from the start.
  void reset() { table_.clear(); }
  /// The replica arrived whole again (a watch, a re-sync after a heal):
  /// sessions held here that it does not name are written again.
  registry_effects synced();

  // -- the cluster ---------------------------------------------------------------

  /// The running members (not this node) changed. The oldest running core
  /// erases the entries of nodes that are not running; every node would do
  /// the same, one is enough.
  registry_effects running(const std::vector<registry_member>& others);
  /// Whether this node is the one that cleans (the oldest running core).
  bool cleans() const;

  /// The node the registry names for `id`, if any.
  const std::string* holder(const std::string& id) const;
  /// The other node that holds `id`, where a new session asks for it.
  std::optional<std::string> holder_elsewhere(const std::string& id) const;

  size_t size() const { return table_.size(); }
  /// This node's replica of the table: id -> node.
  const std::unordered_map<std::string, std::string>& table() const {
    return table_;
  }
  size_t held() const { return held_.size(); }

  struct counters {
    uint64_t cleaned = 0;          ///< entries of down nodes erased
    uint64_t registered_again = 0; ///< erased while held here, written again
    uint64_t after_sync = 0;       ///< written again after a re-sync
    uint64_t stale_erased = 0;     ///< entries naming us for no session here
  };
  const counters& stats() const { return stats_; }

private:
  registry_effect put_here(const std::string& id) const;

  std::string me_;
  bool core_;
  int64_t started_at_ms_;
  std::unordered_map<std::string, std::string> table_; ///< id -> node
  std::set<std::string> held_;
  std::vector<registry_member> running_;
  counters stats_;
};

} // namespace starling::broker
