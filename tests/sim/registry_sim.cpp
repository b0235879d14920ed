// A deterministic simulation of the cluster's session registry (issue 18,
// first part): N nodes run the real decision class, broker::session_registry,
// in one process, on a simulated network with a simulated clock, while
// clients connect, move between nodes, take sessions over and end them, and
// the network splits and heals. Faults and the workload are drawn from a
// seed; the same seed replays the same run (--trace prints it).
//
// What is simulated: the replicated `session_registry` table as Starling's
// database provides it (one sequencer per group of connected nodes, writes
// applied in its order, each node's replica fed in order over its link;
// after a heal the losing side's replica is replaced by the winner's: a
// reset, the whole table, then `synced`), takeover requests between nodes
// (answered, refused, or timing out after 5 s), membership (each node
// learns who runs within 0-50 ms of a change), and per-link FIFO delivery
// with 1-20 ms latency; a link that breaks loses what is in flight.
// What is not: BASP, sockets, SQLite, the session's own state, node
// crashes and restarts (a later part).
//
// The checker, after the network healed and every timer ran:
//  - every node's replica of the table is the same;
//  - every client id is held by at most one node;
//  - a held client id is named by the table for its holder;
//  - the table names no node for a client id that node does not hold.

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "seeds.hpp"
#include "starling/broker/session_registry.hpp"

using namespace starling::broker;

namespace {

using starling::sim::event;

struct node {
  std::string name;
  bool core = true;
  std::optional<session_registry> reg;
  std::set<std::string> held;     ///< client ids with a session here
  std::set<std::string> fetching; ///< asked another node, waiting
};

class simulation {
public:
  simulation(uint64_t seed, int nodes, int clients, int trace)
    : rng_(seed), trace_(trace) {
    for (int i = 0; i < nodes; ++i) {
      node n;
      n.name = "n" + std::to_string(i);
      // The last node of four or more is a replicant: it never cleans.
      n.core = !(nodes >= 4 && i == nodes - 1);
      n.reg.emplace(n.name, n.core, 1000 + i);
      nodes_.push_back(std::move(n));
      group_.push_back(0);
    }
    tables_[0] = {};
    for (int c = 0; c < clients; ++c)
      clients_.push_back("c" + std::to_string(c));
    for (size_t i = 0; i < nodes_.size(); ++i)
      tell_members(i);
  }

  /// The workload: `steps` random actions 0-200 ms apart, then the network
  /// heals and everything settles. Returns the invariant broken, if any.
  std::string run(int steps) {
    int64_t t = 0;
    for (int s = 0; s < steps; ++s) {
      t += pick(0, 200);
      at(t, [this] { act(); });
    }
    at(t + 1, [this] { heal_all("end of the workload"); });
    drain();
    return check();
  }

  uint64_t events() const { return seq_; }

private:
  // -- the clock and the network ---------------------------------------------------

  int64_t pick(int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng_);
  }

  void at(int64_t when, std::function<void()> f) {
    queue_.push({when, seq_++, std::move(f)});
  }

  void after(int64_t delay, std::function<void()> f) { at(now_ + delay, std::move(f)); }

  void drain() {
    while (!queue_.empty()) {
      auto e = queue_.top();
      queue_.pop();
      now_ = e.at;
      e.run();
      if (now_ > 3'600'000) {
        std::fprintf(stderr, "simulation did not settle within an hour\n");
        std::exit(2);
      }
    }
  }

  bool linked(size_t a, size_t b) const { return group_[a] == group_[b]; }

  /// Sends over the link a -> b: in order, 1-20 ms, lost if the link
  /// breaks before it arrives.
  void send(size_t a, size_t b, std::function<void()> f,
            std::function<void()> lost = {}) {
    auto& last = link_clock_[{a, b}];
    auto when = std::max(last, now_ + pick(1, 20));
    last = when;
    auto epoch = link_epoch_[{std::min(a, b), std::max(a, b)}];
    at(when, [this, a, b, epoch, f = std::move(f), lost = std::move(lost)] {
      if (epoch == link_epoch_[{std::min(a, b), std::max(a, b)}] && linked(a, b))
        f();
      else if (lost)
        lost(); // the sender learns it when the link goes down
    });
  }

  /// Sets the groups; links that break lose what is in flight on them.
  void regroup(const std::vector<int>& next) {
    for (size_t a = 0; a < nodes_.size(); ++a)
      for (size_t b = a + 1; b < nodes_.size(); ++b)
        if (group_[a] == group_[b] && next[a] != next[b])
          ++link_epoch_[{a, b}];
    group_ = next;
  }

  void log(const std::string& text) {
    if (trace_)
      std::printf("%8lld ms  %s\n", static_cast<long long>(now_), text.c_str());
  }

  // -- the replicated table ------------------------------------------------------------

  /// The sequencer of node i's group: its oldest core.
  std::optional<size_t> sequencer_of(size_t i) const {
    for (size_t j = 0; j < nodes_.size(); ++j)
      if (group_[j] == group_[i] && nodes_[j].core)
        return j;
    return std::nullopt;
  }

  void carry(size_t i, const registry_effects& effects) {
    for (auto& e : effects) {
      if (e.what == registry_effect::check_later) {
        after(e.delay_ms, [this, i, e] { check_supersede(i, e.id, e.node); });
        continue;
      }
      write(i, e, 0);
    }
  }

  /// A write goes to the sequencer of the writer's group; one lost with
  /// its link, or whose answer is lost, or with no core reachable, is
  /// resent to the sequencer in force then, up to rlog.write_retries (5)
  /// times, 100 ms apart.
  void write(size_t i, const registry_effect& e, int attempt) {
    auto retry = [this, i, e, attempt] {
      if (attempt < 5)
        after(100, [this, i, e, attempt] { write(i, e, attempt + 1); });
      else
        log(nodes_[i].name + ": write of " + e.id + " failed");
    };
    auto seq = sequencer_of(i);
    if (!seq) {
      retry();
      return;
    }
    // Done once the sequencer's answer is back; an answer lost with the
    // link counts as a lost write (the retry may apply it twice: puts and
    // erase_ifs are idempotent).
    send(i, *seq, [this, i, s = *seq, e, retry] {
      if (sequencer_of(s) != s) { // not the sequencer any more: refused
        send(s, i, retry);
        return;
      }
      apply(s, e);
      send(s, i, [] {}, retry);
    }, retry);
  }

  /// At the sequencer s: applies a write and streams the change to every
  /// node of its group (itself included).
  void apply(size_t s, const registry_effect& e) {
    auto& table = tables_[group_[s]];
    bool present;
    if (e.what == registry_effect::put) {
      if (auto i = table.find(e.id); i != table.end() && i->second == e.node)
        return;
      table[e.id] = e.node;
      present = true;
    } else {
      auto i = table.find(e.id);
      if (i == table.end() || i->second != e.node)
        return; // erase_if: it names another node now
      table.erase(i);
      present = false;
    }
    log("table of group " + std::to_string(group_[s]) + ": " + e.id + " "
        + (present ? "-> " + e.node : "erased"));
    for (size_t j = 0; j < nodes_.size(); ++j)
      if (linked(s, j))
        send(s, j, [this, s, j, e, present] {
          if (sequencer_of(j) != s)
            return; // from a former upstream: this replica follows another now
          if (trace_ > 1)
            log(nodes_[j].name + " replica: " + e.id + " " + (present ? "-> " + e.node : "erased"));
          carry(j, nodes_[j].reg->changed(e.id, present, e.node));
        });
  }

  // -- membership ---------------------------------------------------------------------

  void tell_members(size_t i) {
    after(pick(0, 50), [this, i] {
      std::vector<registry_member> others;
      for (size_t j = 0; j < nodes_.size(); ++j)
        if (j != i && linked(i, j))
          others.push_back({nodes_[j].name, nodes_[j].core, 1000 + static_cast<int64_t>(j)});
      carry(i, nodes_[i].reg->running(others));
    });
  }

  void split() {
    int g = next_group_++;
    std::vector<size_t> moved;
    for (size_t i = 0; i < nodes_.size(); ++i)
      if (pick(0, 1) == 1)
        moved.push_back(i);
    if (moved.empty() || moved.size() == nodes_.size())
      return;
    auto old = group_[moved[0]];
    for (auto i : moved)
      if (group_[i] != old)
        return; // keep splits simple: out of one group only
    auto before = sequencer_of(moved[0]);
    auto next = group_;
    for (auto i : moved)
      next[i] = g;
    regroup(next);
    // The histories branch here. A group whose sequencer changed goes on
    // from what its new sequencer had applied, and its other replicas
    // catch up to that (as a replica resumes or re-bootstraps from a new
    // upstream).
    auto authoritative = tables_[old];
    for (int side : {old, g}) {
      std::optional<size_t> member;
      for (size_t i = 0; i < nodes_.size(); ++i)
        if (group_[i] == side)
          member = i;
      auto seq = member ? sequencer_of(*member) : std::nullopt;
      if (seq == before) {
        tables_[side] = authoritative; // the same sequencer goes on
        continue;
      }
      std::map<std::string, std::string> table;
      if (seq)
        for (auto& [id, n] : nodes_[*seq].reg->table())
          table[id] = n;
      tables_[side] = table;
      for (size_t i = 0; i < nodes_.size(); ++i)
        if (group_[i] == side && (!seq || i != *seq))
          after(pick(20, 80), [this, i] { resync(i); });
    }
    log("split: " + std::to_string(moved.size()) + " nodes into group " + std::to_string(g));
    for (size_t i = 0; i < nodes_.size(); ++i)
      tell_members(i);
  }

  /// All groups become one: the largest keeps its table (on a tie, the one
  /// with the oldest core); the others' replicas are replaced by it.
  void heal_all(const std::string& why) {
    std::map<int, std::vector<size_t>> groups;
    for (size_t i = 0; i < nodes_.size(); ++i)
      groups[group_[i]].push_back(i);
    if (groups.size() == 1)
      return;
    // As autoheal decides: the group with the most cores; on a tie, the
    // one with the oldest core. A group of replicants alone has no
    // database to keep.
    int winner = -1;
    std::pair<size_t, size_t> best{0, 0}; // (cores, -oldest core)
    for (auto& [g, members] : groups) {
      size_t cores = 0, oldest = nodes_.size();
      for (auto i : members)
        if (nodes_[i].core) {
          ++cores;
          oldest = std::min(oldest, i);
        }
      std::pair<size_t, size_t> score{cores, nodes_.size() - oldest};
      if (cores > 0 && score > best) {
        best = score;
        winner = g;
      }
    }
    log("heal (" + why + "): group " + std::to_string(winner) + " wins");
    std::optional<size_t> before;
    for (size_t i = 0; i < nodes_.size() && !before; ++i)
      if (group_[i] == winner)
        before = sequencer_of(i);
    regroup(std::vector<int>(nodes_.size(), winner));
    for (auto it = tables_.begin(); it != tables_.end();)
      it = it->first == winner ? std::next(it) : tables_.erase(it);
    // The losers re-sync from the winner's table; if the merged group's
    // sequencer is another node (an older core came back), so does every
    // replica that followed the old one.
    auto seq = sequencer_of(0);
    for (auto& [g, members] : groups) {
      if (g == winner && seq == before)
        continue;
      for (auto i : members)
        after(pick(50, 150), [this, i] { resync(i); });
    }
    for (size_t i = 0; i < nodes_.size(); ++i)
      tell_members(i);
  }

  /// A losing node's replica is sent again from the winner's table.
  void resync(size_t i) {
    log(nodes_[i].name + " replica re-synced from group " + std::to_string(group_[i]));
    auto& reg = *nodes_[i].reg;
    reg.reset();
    for (auto& [id, n] : tables_[group_[i]])
      carry(i, reg.changed(id, true, n));
    carry(i, reg.synced());
  }

  // -- sessions -------------------------------------------------------------------------

  void act() {
    auto r = pick(0, 99);
    if (r < 4) {
      split();
    } else if (r < 8) {
      heal_all("the network came back");
    } else if (r < 25) {
      end_session();
    } else {
      connect(clients_[pick(0, clients_.size() - 1)], pick(0, nodes_.size() - 1));
    }
  }

  void connect(const std::string& c, size_t n) {
    auto& nd = nodes_[n];
    if (nd.fetching.count(c))
      return; // a CONNECT already waiting for the old node
    log("connect " + c + " to " + nd.name + " (group " + std::to_string(group_[n]) + (nd.held.count(c) ? ", held here" : "") + ")");
    if (nd.held.count(c)) {
      carry(n, nd.reg->registered(c)); // a local takeover
      return;
    }
    nd.reg->hold(c);
    auto holder = nd.reg->holder_elsewhere(c);
    std::optional<size_t> h;
    for (size_t j = 0; j < nodes_.size(); ++j)
      if (holder && nodes_[j].name == *holder && linked(n, j))
        h = j;
    if (!h) {
      establish(n, c);
      return;
    }
    nd.fetching.insert(c);
    // Asked for the session; no answer within 5 s: a new session here.
    auto answered = std::make_shared<bool>(false);
    after(5000, [this, n, c, answered] {
      if (!*answered) {
        log(nodes_[n].name + ": no answer for " + c + " within 5 s");
        *answered = true;
        establish(n, c);
      }
    });
    send(n, *h, [this, n, c, h = *h, answered] {
      auto& old = nodes_[h];
      if (old.held.count(c) && !old.fetching.count(c)) {
        old.held.erase(c);
        carry(h, old.reg->released(c)); // moved: its entry goes if it names h
        log(c + " handed over from " + old.name);
      }
      send(h, n, [this, n, c, answered] {
        if (!*answered) {
          *answered = true;
          establish(n, c);
        }
      });
    });
  }

  void establish(size_t n, const std::string& c) {
    auto& nd = nodes_[n];
    nd.fetching.erase(c);
    nd.held.insert(c);
    carry(n, nd.reg->registered(c));
  }

  void end_session() {
    std::vector<std::pair<size_t, std::string>> live;
    for (size_t i = 0; i < nodes_.size(); ++i)
      for (auto& c : nodes_[i].held)
        if (!nodes_[i].fetching.count(c))
          live.emplace_back(i, c);
    if (live.empty())
      return;
    auto [i, c] = live[pick(0, live.size() - 1)];
    log("session " + c + " on " + nodes_[i].name + " ends");
    nodes_[i].held.erase(c);
    carry(i, nodes_[i].reg->released(c));
  }

  void check_supersede(size_t i, const std::string& c, const std::string& other) {
    auto& nd = nodes_[i];
    if (nd.fetching.count(c) || !nd.reg->gives_way(c, other))
      return;
    log(nd.name + ": " + c + " gives way to " + other);
    nd.held.erase(c);
    carry(i, nd.reg->released(c));
  }

  // -- the checker ------------------------------------------------------------------------

  std::string check() const {
    for (auto& c : clients_) {
      std::vector<std::string> holders;
      for (auto& n : nodes_)
        if (n.held.count(c))
          holders.push_back(n.name);
      if (holders.size() > 1)
        return c + " is held by " + holders[0] + " and " + holders[1];
      const std::string* named = nodes_[0].reg->holder(c);
      for (auto& n : nodes_) {
        auto* here = n.reg->holder(c);
        if ((here == nullptr) != (named == nullptr) || (here && *here != *named))
          return "the replicas differ on " + c + ": " + nodes_[0].name + " says "
                 + (named ? *named : "none") + ", " + n.name + " says "
                 + (here ? *here : "none");
      }
      if (holders.size() == 1 && (!named || *named != holders[0]))
        return c + " is held by " + holders[0] + " but the table names "
               + (named ? *named : "no node");
      if (holders.empty() && named)
        return "the table names " + *named + " for " + c + ", which no node holds";
    }
    return "";
  }

  std::mt19937_64 rng_;
  int trace_;
  int64_t now_ = 0;
  uint64_t seq_ = 0;
  /// Bumped when a link breaks: what was in flight on it is lost.
  std::map<std::pair<size_t, size_t>, uint64_t> link_epoch_;
  std::priority_queue<event, std::vector<event>, std::greater<>> queue_;
  std::map<std::pair<size_t, size_t>, int64_t> link_clock_;
  std::vector<node> nodes_;
  std::vector<int> group_;
  int next_group_ = 1;
  std::map<int, std::map<std::string, std::string>> tables_;
  std::vector<std::string> clients_;
};

} // namespace

int main(int argc, char** argv) {
  return starling::sim::run_seeds(argc, argv, "registry_sim", [](uint64_t s, int trace) {
    std::mt19937_64 shape(s);
    int nodes = 2 + static_cast<int>(shape() % 4);   // 2..5
    int clients = 1 + static_cast<int>(shape() % 8); // 1..8
    simulation sim(s, nodes, clients, trace);
    starling::sim::outcome o;
    o.broken = sim.run(200);
    o.events = sim.events();
    o.shape = std::to_string(nodes) + " nodes, " + std::to_string(clients) + " clients";
    return o;
  });
}
