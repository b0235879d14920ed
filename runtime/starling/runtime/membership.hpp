#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "starling/runtime/node_config.hpp"

namespace starling::runtime {

/// Lifecycle of a cluster member as this node sees it (the states of
/// `emqx ctl cluster status`: running members are `up`, stopped ones `down`).
enum class member_status { joining, up, down, leaving };

std::string to_string(member_status status);
std::optional<member_status> member_status_from(const std::string& text);

/// One member of the cluster, as kept in the membership view.
struct member {
  std::string name;          ///< "core1@127.0.0.1"
  std::string host;          ///< where its distribution port listens
  uint16_t dist_port = 0;
  uint16_t data_port = 0;    ///< its message delivery port
  node_role role = node_role::core;
  member_status status = member_status::joining;
  int64_t started_at_ms = 0; ///< the member's own start time: its age
  int64_t since_ms = 0;      ///< when `status` last changed, on our clock

  friend bool operator==(const member&, const member&) = default;
};

/// What changed in the view; the node agent logs and publishes these.
struct membership_event {
  enum kind_t { nodeup, nodedown, removed } kind;
  std::string node;
  friend bool operator==(const membership_event&,
                         const membership_event&) = default;
};

/// A member that was taken out of the cluster (force-leave, autoclean): it is
/// not dialled again, and its automatic rejoin is refused until it joins
/// with `cluster join` again.
struct removal {
  std::string name;
  std::string reason; ///< "force-left by core1@h", "autoclean (down 24h)"
  int64_t at_ms = 0;
  friend bool operator==(const removal&, const removal&) = default;
};

/// The membership view of one node: itself plus every peer it knows, with
/// status and age. Pure data; the node agent feeds it events and the current
/// time. Reconnect, autoheal and autoclean decide from this view.
class membership {
public:
  explicit membership(member self);

  const member& self() const { return self_; }

  /// Adds `m` or updates what we know of it; returns `nodeup` when it was not
  /// up before and is now. A newer incarnation (later start time) replaces
  /// the old record.
  std::optional<membership_event> upsert(member m, int64_t now_ms);

  /// Sets the status of a known peer; returns nodeup/nodedown on a change
  /// into or out of `up`.
  std::optional<membership_event> set_status(const std::string& name,
                                             member_status status,
                                             int64_t now_ms);

  /// Forgets a peer (leave, force-leave, autoclean). Returns whether it was
  /// known.
  bool remove(const std::string& name);

  /// Forgets every peer: this node is alone again (after `cluster leave`).
  void reset();

  const member* find(const std::string& name) const;

  /// Peers that are up, sorted: Erlang's nodes().
  std::vector<std::string> nodes() const;
  /// This node and the peers that are up.
  std::vector<std::string> running_nodes() const;
  /// Known peers that are down.
  std::vector<std::string> stopped_nodes() const;
  /// All members including this node, sorted by name.
  std::vector<member> members() const;

  /// The oldest running core (cluster::older): the leader for autoheal
  /// and the node autocluster joins.
  const member* oldest_core() const;

  /// Peers down since at least `ms` before `now` (autoclean).
  std::vector<std::string> down_longer_than(int64_t ms, int64_t now) const;

  /// Remembers that `name` was removed (the removal replaces an older one).
  void add_removal(removal r);
  /// Forgets the removal of `name` (it joined again); whether there was one.
  bool clear_removal(const std::string& name);
  const removal* removed(const std::string& name) const;
  const std::vector<removal>& removals() const { return removals_; }
  /// Removals kept (the oldest go first).
  static constexpr size_t max_removals = 1000;

  /// `cluster status --json` body.
  nlohmann::json to_json(int64_t now_ms) const;

private:
  member self_;
  std::vector<member> peers_; // sorted by name
  std::vector<removal> removals_;
};

} // namespace starling::runtime
