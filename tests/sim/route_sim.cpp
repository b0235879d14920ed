// A deterministic simulation of cluster routing (issue 18): N nodes run the
// real broker::route_table, their sessions subscribe and unsubscribe
// (plain and shared filters, wildcards) and end, while the network splits
// and heals. The `routes` merge table is modelled as Starling's merge
// server provides it: each node owns its records and streams its changes
// in order to the nodes it is linked with; a node that loses the link to
// another drops that node's records, and a link that comes back sends each
// side's records whole. Faults and workload come from a seed; the same
// seed replays (--seed N --trace).
//
// The checker, once the network has healed and every message arrived:
//  - every node's view of the others' routes is exactly their own routes;
//  - every node's own routes count exactly its live local subscriptions;
//  - a message published on any node, to any topic, reaches every session
//    with a matching plain subscription exactly once (a session with
//    several matching filters once), and every shared group with a
//    matching filter and a member anywhere exactly once.

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <optional>
#include <queue>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "seeds.hpp"
#include "starling/broker/route_table.hpp"
#include "starling/broker/topic.hpp"

using namespace starling::broker;

namespace {

const std::vector<std::string> filters = {
  "a/b", "a/+", "a/#", "#", "+/b", "c", "$share/g1/a/+", "$share/g1/c",
  "$share/g2/a/b", "$share/g2/#"};
const std::vector<std::string> topics = {"a/b", "a/c", "a", "c", "x/b", "c/d"};

subscribe_filter parse(const std::string& text) { return subscription_filter(text); }

using starling::sim::event;

struct node {
  std::string name;
  std::optional<route_table> table;
  /// Live sessions here -> their subscriptions (what the checker expects).
  std::map<session_id, std::set<std::string>> sessions;
};

class simulation {
public:
  simulation(uint64_t seed, int nodes, bool trace) : rng_(seed), trace_(trace) {
    for (int i = 0; i < nodes; ++i) {
      node n;
      n.name = "n" + std::to_string(i);
      n.table.emplace(n.name, shared_strategy::round_robin, [] { return 0; });
      nodes_.push_back(std::move(n));
      group_.push_back(0);
    }
  }

  std::string run(int steps) {
    int64_t t = 0;
    for (int s = 0; s < steps; ++s) {
      t += pick(0, 100);
      at(t, [this] { act(); });
    }
    at(t + 1, [this] { heal(); });
    while (!queue_.empty()) {
      auto e = queue_.top();
      queue_.pop();
      now_ = e.at;
      e.run();
    }
    return check();
  }

  uint64_t events() const { return seq_; }

private:
  int64_t pick(int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng_);
  }
  void at(int64_t when, std::function<void()> f) { queue_.push({when, seq_++, std::move(f)}); }
  void log(const std::string& text) {
    if (trace_)
      std::printf("%8lld ms  %s\n", static_cast<long long>(now_), text.c_str());
  }
  bool linked(size_t a, size_t b) const { return group_[a] == group_[b]; }

  void send(size_t a, size_t b, std::function<void()> f) {
    auto& last = clock_[{a, b}];
    auto when = std::max(last, now_ + pick(1, 20));
    last = when;
    auto epoch = epoch_[{std::min(a, b), std::max(a, b)}];
    at(when, [this, a, b, epoch, f = std::move(f)] {
      if (epoch == epoch_[{std::min(a, b), std::max(a, b)}] && linked(a, b))
        f();
    });
  }

  // -- the merge table ---------------------------------------------------------

  void publish(size_t i, const route_changes& changes) {
    for (auto& c : changes) {
      log(nodes_[i].name + (c.present ? " adds " : " removes ") + c.key);
      for (size_t j = 0; j < nodes_.size(); ++j)
        if (j != i && linked(i, j))
          send(i, j, [this, i, j, c] {
            nodes_[j].table->remote_route(nodes_[i].name, c.key, c.present);
          });
    }
  }

  /// Links a-b broke: each drops the other's records (as on nodedown).
  void unlink(size_t a, size_t b) {
    ++epoch_[{std::min(a, b), std::max(a, b)}];
    drop_records(a, b);
    drop_records(b, a);
  }

  void drop_records(size_t at_node, size_t owner) {
    auto& t = *nodes_[at_node].table;
    std::vector<std::string> keys;
    for (auto& [key, owners] : t.remote_routes())
      if (owners.count(nodes_[owner].name))
        keys.push_back(key);
    for (auto& k : keys)
      t.remote_route(nodes_[owner].name, k, false);
  }

  /// Link a-b came back: each side sends its own records whole.
  void link(size_t a, size_t b) {
    for (auto [from, to] : {std::pair{a, b}, std::pair{b, a}}) {
      std::vector<std::string> own;
      for (auto& [key, n] : nodes_[from].table->own_routes())
        own.push_back(key);
      send(from, to, [this, from, to, own] {
        for (auto& k : own)
          nodes_[to].table->remote_route(nodes_[from].name, k, true);
      });
    }
  }

  void regroup(const std::vector<int>& next) {
    auto before = group_;
    group_ = next;
    for (size_t a = 0; a < nodes_.size(); ++a)
      for (size_t b = a + 1; b < nodes_.size(); ++b) {
        bool was = before[a] == before[b], is = next[a] == next[b];
        if (was && !is)
          unlink(a, b);
        else if (!was && is)
          link(a, b);
      }
  }

  void split() {
    auto next = group_;
    int g = next_group_++;
    for (size_t i = 0; i < nodes_.size(); ++i)
      if (pick(0, 1))
        next[i] = g;
    log("split");
    regroup(next);
  }

  void heal() {
    log("heal");
    regroup(std::vector<int>(nodes_.size(), 0));
  }

  // -- sessions ---------------------------------------------------------------------

  void act() {
    auto r = pick(0, 99);
    auto i = static_cast<size_t>(pick(0, nodes_.size() - 1));
    auto& n = nodes_[i];
    if (r < 5) {
      split();
    } else if (r < 10) {
      heal();
    } else if (r < 20 && !n.sessions.empty()) {
      auto it = std::next(n.sessions.begin(), pick(0, n.sessions.size() - 1));
      log(n.name + ": session " + std::to_string(it->first) + " ends");
      publish(i, n.table->session_down(it->first));
      n.sessions.erase(it);
    } else if (r < 35 && !n.sessions.empty()) {
      auto it = std::next(n.sessions.begin(), pick(0, n.sessions.size() - 1));
      if (it->second.empty())
        return;
      auto key = *std::next(it->second.begin(), pick(0, it->second.size() - 1));
      publish(i, n.table->unsubscribe(it->first, key));
      it->second.erase(key);
    } else {
      // Subscribe a session here (a new one now and then) to a filter.
      session_id s = i * 1000 + static_cast<session_id>(pick(0, 5));
      auto& f = filters[static_cast<size_t>(pick(0, filters.size() - 1))];
      bool fresh = false;
      publish(i, n.table->subscribe(s, "c" + std::to_string(s), parse(f), fresh));
      n.sessions[s].insert(f);
    }
  }

  // -- the checker --------------------------------------------------------------------

  std::string check() {
    for (size_t j = 0; j < nodes_.size(); ++j) {
      auto& t = *nodes_[j].table;
      // Own routes: exactly the live subscriptions' keys, counted.
      std::map<std::string, size_t> want;
      for (auto& [s, subs] : nodes_[j].sessions)
        for (auto& f : subs)
          ++want[f];
      std::map<std::string, size_t> own(t.own_routes().begin(), t.own_routes().end());
      if (own != want)
        return nodes_[j].name + "'s own routes differ from its subscriptions";
      // Remote routes: exactly the others' own routes.
      std::map<std::string, std::set<std::string>> expected;
      for (size_t i = 0; i < nodes_.size(); ++i)
        if (i != j)
          for (auto& [key, n] : nodes_[i].table->own_routes())
            expected[key].insert(nodes_[i].name);
      if (t.remote_routes() != expected)
        return nodes_[j].name + "'s view of the other nodes' routes is wrong";
    }
    for (size_t p = 0; p < nodes_.size(); ++p)
      for (auto& topic : topics)
        if (auto why = deliveries(p, topic); !why.empty())
          return why;
    return "";
  }

  /// Publishes on node p and follows the message to every node it goes to.
  std::string deliveries(size_t p, const std::string& topic) {
    message m;
    m.topic = topic;
    m.publisher = "pub";
    std::map<session_id, int> plain;
    std::map<std::string, int> groups; // "$share/g/f" -> deliveries
    auto count = [&](const route_match& r) {
      for (auto& [s, keys] : r.local)
        ++plain[s];
      for (auto& [s, key] : r.picks)
        ++groups[key];
    };
    route_match r;
    nodes_[p].table->match_published(m, r);
    count(r);
    auto remote = r.remote;
    for (auto& [name, picked] : remote) {
      auto j = static_cast<size_t>(std::stoi(name.substr(1)));
      route_match there;
      nodes_[j].table->match_forwarded(m, picked, there);
      count(there);
    }
    // What should happen: every session with a matching plain filter once,
    // every shared group with a matching filter and a member once.
    std::map<session_id, int> want_plain;
    std::set<std::string> want_groups;
    for (auto& n : nodes_)
      for (auto& [s, subs] : n.sessions)
        for (auto& f : subs) {
          auto parsed = parse(f);
          if (!topic_matches(parsed.topic_filter, topic))
            continue;
          if (parsed.share_group)
            want_groups.insert(f);
          else
            want_plain[s] = 1;
        }
    auto where = " (published on " + nodes_[p].name + " to " + topic + ")";
    if (plain != want_plain)
      return "plain subscribers did not get exactly one copy each" + where;
    for (auto& g : want_groups)
      if (groups[g] != 1)
        return g + " got " + std::to_string(groups[g]) + " copies" + where;
    for (auto& [g, n] : groups)
      if (!want_groups.count(g))
        return g + " got a copy it did not match" + where;
    return "";
  }

  std::mt19937_64 rng_;
  bool trace_;
  int64_t now_ = 0;
  uint64_t seq_ = 0;
  std::priority_queue<event, std::vector<event>, std::greater<>> queue_;
  std::map<std::pair<size_t, size_t>, int64_t> clock_;
  std::map<std::pair<size_t, size_t>, uint64_t> epoch_;
  std::vector<node> nodes_;
  std::vector<int> group_;
  int next_group_ = 1;
};

} // namespace

int main(int argc, char** argv) {
  return starling::sim::run_seeds(argc, argv, "route_sim", [](uint64_t s, int trace) {
    int nodes = 2 + static_cast<int>(std::mt19937_64(s)() % 4); // 2..5
    simulation sim(s, nodes, trace > 0);
    starling::sim::outcome o;
    o.broken = sim.run(150);
    o.events = sim.events();
    o.shape = std::to_string(nodes) + " nodes";
    return o;
  });
}
