#pragma once

// Who runs one database with whom, as every core sees it.
//
// Each core publishes a view: the cores it has a live link to (`connected`)
// and, among those, the ones whose shards are compatible with its own
// (`agreeing`: no branched history, see db/lineage.hpp). Views spread by
// gossip (each core sends every view it knows, newest version per origin),
// so every core of a connected group ends up with the same table and
// computes the same answers from it:
//
// - The agreement graph has an edge a - b when a agrees with b and b with a.
// - A clique of it is a group of cores that all see and agree with each
//   other: a group that can run one database (every member reaches the
//   sequencer directly).
// - best_clique() picks the largest clique; a tie goes to the clique holding
//   the oldest core, then to the smallest list of names. So a 2-way split,
//   a 1-1-1 split and an asymmetric split (a sees b and c, b and c do not
//   see each other: {a,b} and {a,c} are cliques, {a,b,c} is not) all get
//   one answer, whatever order the views arrived in.
// - decompose() splits the cores this one can reach into cliques, best
//   first: each clique runs one database with the oldest core of it as the
//   sequencer. Each core leaves out the cores it sees as down (group_of).
//   In the asymmetric example with a oldest, a and b compute {a,b} and c
//   (which does not see b) computes {a,c}: every core follows a, and the
//   database stays one. With b oldest and a youngest, b and c each
//   sequence (c cannot reach b): c's data branches, and c is healed when
//   its link to b returns.
// - heal_plan() is autoheal's decision: the best clique wins; every core
//   outside it that is connected to each winner (so it can take the
//   winner's data and then belong to the winning clique) loses and re-syncs.
//   A core that cannot reach every winner is left alone until it can:
//   re-syncing it would not make it part of the winning clique, and it
//   would branch again (flapping).

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "starling/runtime/cluster/rules.hpp"

namespace starling::runtime::cluster {

struct core_view {
  std::string node;
  int64_t started_at_ms = 0; ///< the core's age (and incarnation)
  uint64_t version = 0;      ///< grows with every change its owner makes
  std::vector<std::string> connected; ///< sorted, without `node`
  std::vector<std::string> agreeing;  ///< sorted subset of connected

  friend bool operator==(const core_view&, const core_view&) = default;
};

/// Views by node.
using view_table = std::map<std::string, core_view>;

/// Mutual agreement edges between the cores of `views`.
using graph = std::map<std::string, std::set<std::string>>;
graph agreement_graph(const view_table& views);

/// Cores reachable from `from` over the graph (`from` included).
std::set<std::string> reachable(const graph& g, const std::string& from);

/// The best clique among `among` (see the top of this file); empty when
/// `among` is empty. `views` gives the ages.
std::vector<std::string> best_clique(const graph& g,
                                     const std::set<std::string>& among,
                                     const view_table& views);

/// `among` split into cliques, best first.
std::vector<std::vector<std::string>>
decompose(const graph& g, std::set<std::string> among, const view_table& views);

/// The clique `self` belongs to in the decomposition of what it can reach:
/// the cores it runs one database with (itself included), and their oldest,
/// the sequencer.
struct db_group {
  std::vector<std::string> members;
  std::string leader;
  friend bool operator==(const db_group&, const db_group&) = default;
};
/// `alive`: the cores this one sees running (itself aside). The views of
/// cores it sees as down are left out: a view kept from before a failure
/// (a dead core's, or a live core's that has not yet noticed) must not
/// make a clique with a core that is gone. Without that, three cores that
/// lose one at slightly different moments could for an instant each see
/// themselves outside the best clique and sequence on their own (a split
/// brain from a single failure). Empty `alive` with `use_all`: every view.
db_group group_of(const view_table& views, const std::string& self,
                  const std::set<std::string>* alive = nullptr);

/// The best clique of the cores `self` can reach (for a replicant: the
/// group whose cores it replicates from).
db_group primary_group(const view_table& views,
                       const std::vector<std::string>& reachable_cores);

struct heal_decision {
  std::vector<std::string> winner;
  std::vector<std::string> losers; ///< connected to every winner, outside it
  std::vector<std::string> left;   ///< outside it and not connected to all
  friend bool operator==(const heal_decision&, const heal_decision&) = default;
};
heal_decision heal_plan(const view_table& views);

/// The gossip table of one core: its own view and the newest one of every
/// other core it has heard of.
class topology {
public:
  topology(std::string self, int64_t started_at_ms);

  const std::string& self() const { return self_; }
  /// Sets this core's own view; true when it changed (its version grows).
  bool set_own(std::vector<std::string> connected,
               std::vector<std::string> agreeing);
  /// Takes every view newer than what is held (a later incarnation, or the
  /// same one with a higher version); true when any was. Views about this
  /// core itself are ignored: only it knows its own.
  bool merge(const std::vector<core_view>& views);
  /// Drops the views of cores no longer in the membership (removed, left).
  void forget(const std::string& node);

  const view_table& views() const { return views_; }
  std::vector<core_view> all() const;
  const core_view& own() const { return views_.at(self_); }

  db_group group(const std::set<std::string>* alive = nullptr) const {
    return group_of(views_, self_, alive);
  }

private:
  std::string self_;
  view_table views_;
};

} // namespace starling::runtime::cluster
