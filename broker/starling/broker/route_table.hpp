#pragma once

// One node's routing state: the subscriptions of its sessions (a topic trie
// and the members of its shared groups), its own routes with reference
// counts (the first local subscriber of a filter publishes this node's
// route to the cluster's `routes` merge table, the last one withdraws it),
// the routes of other nodes, and the cluster-wide shared groups (which
// nodes have members of each). The router actor feeds it subscriptions,
// sessions that ended and other nodes' routes, publishes the route changes
// it returns, and delivers what match_published() or match_forwarded()
// finds.

#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "starling/broker/channel_effects.hpp"
#include "starling/broker/message.hpp"
#include "starling/broker/shared_group.hpp"
#include "starling/broker/topic_trie.hpp"

namespace starling::broker {

/// A subscribing session, as the router knows it (its actor's id).
using session_id = std::uint64_t;

/// This node's route for `key` (a filter, or $share/group/filter) enters
/// (present) or leaves the cluster's route table.
struct route_change {
  std::string key;
  bool present = false;
  bool operator==(const route_change&) const = default;
};
using route_changes = std::vector<route_change>;

/// Where one message goes. Reused from message to message (clear()).
struct route_match {
  /// Local sessions and the (non-shared) subscription keys they matched.
  std::unordered_map<session_id, std::vector<std::string>> local;
  /// Members of local shared groups picked for this message, with the key.
  std::vector<std::pair<session_id, std::string>> picks;
  /// Other nodes to forward to (once each), with the shared groups picked
  /// for them.
  std::map<std::string, std::vector<std::string>> remote;
  /// Shared groups picked for this node (match_published only).
  std::vector<std::string> local_groups;

  void clear();
};

/// The filter a subscription text stands for (plain, or
/// $share/group/filter) with default options, as a table entry without a
/// channel in front (simulations, tests).
subscribe_filter subscription_filter(const std::string& text);

class route_table {
public:
  /// A subscribing session: its client id and subscriptions by key.
  struct subscriber {
    std::string client_id;
    std::map<std::string, subscribe_filter> subs;
  };

  route_table(std::string me, shared_strategy strategy, random_u64 random);

  // -- the subscriptions of this node's sessions ---------------------------------

  /// Adds or replaces `f` for `session`. `new_session`: the first
  /// subscription of a session the router should now watch.
  route_changes subscribe(session_id session, const std::string& client_id,
                          const subscribe_filter& f, bool& new_session);
  route_changes unsubscribe(session_id session, const std::string& key);
  /// The session ended: all its subscriptions go.
  route_changes session_down(session_id session);

  // -- other nodes ---------------------------------------------------------------

  /// Node `owner`'s route for `key` came or went (the merge table).
  void remote_route(const std::string& owner, const std::string& key,
                    bool present);

  // -- matching --------------------------------------------------------------------

  /// A message published on this node: its local subscribers, one node per
  /// matching shared group in the cluster (one member per group in the
  /// whole cluster; members here picked into `picks`), and the other nodes
  /// with a matching route.
  void match_published(const message& m, route_match& out);
  /// A message another node forwarded here with the shared groups it picked
  /// this node for: the local subscribers and a member of each group.
  void match_forwarded(const message& m, const std::vector<std::string>& groups,
                       route_match& out);
  /// Which link of the message channel a topic takes: always the same
  /// one, so a topic's messages keep their order.
  static std::size_t link_of(const std::string& topic, std::size_t links);

  // -- what the listings and gauges show -------------------------------------------

  /// Own route keys -> number of local subscriptions.
  const std::unordered_map<std::string, std::size_t>& own_routes() const {
    return own_routes_;
  }
  /// Other nodes' route keys -> their nodes.
  const std::map<std::string, std::set<std::string>>& remote_routes() const {
    return remote_routes_;
  }
  const std::unordered_map<session_id, subscriber>& sessions() const {
    return sessions_;
  }
  std::size_t subscription_count() const { return subscription_count_; }
  std::size_t filters() const { return routes_.size(); }
  std::size_t shared_groups() const { return groups_.size(); }

private:
  struct route_key {
    session_id session = 0;
    std::string key; ///< the subscription as the client sent it
    friend bool operator==(const route_key&, const route_key&) = default;
  };
  struct route_key_hash {
    std::size_t operator()(const route_key& k) const noexcept {
      return std::hash<std::string>{}(k.key) ^ (k.session * 0x9e3779b97f4a7c15ULL);
    }
  };

  void add_own(const std::string& key, route_changes& out);
  void drop_own(const std::string& key, route_changes& out);
  void shared_node(const std::string& key, const std::string& node, bool present);
  void remove(session_id session, const subscribe_filter& f, route_changes& out);
  void match_local(const message& m, route_match& out);
  void pick_local(const message& m, const std::vector<std::string>& groups,
                  route_match& out);

  std::string me_;
  shared_strategy strategy_;
  random_u64 random_;
  topic_trie<route_key, route_key_hash> routes_;
  /// Local members of shared subscriptions, by route key ($share/g/f).
  std::unordered_map<std::string, shared_group<route_key>> groups_;
  /// Shared groups across the cluster: filter -> route key, and the nodes
  /// (this one included) with members of each.
  topic_trie<std::string> cluster_shared_;
  std::unordered_map<std::string, shared_group<std::string>> node_groups_;
  std::unordered_map<session_id, subscriber> sessions_;
  std::size_t subscription_count_ = 0;
  std::unordered_map<std::string, std::size_t> own_routes_;
  std::map<std::string, std::set<std::string>> remote_routes_;
  /// Filters of other nodes -> node, for matching a published topic.
  topic_trie<std::string> remote_trie_;
};

} // namespace starling::broker
