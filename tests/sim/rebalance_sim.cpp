// A deterministic simulation of a rebalance (issue 17's decisions, issue
// 18's way of testing them): the real decision class, broker::rebalance,
// coordinates N nodes whose clients are evicted and come back through a
// round-robin load balancer, on a simulated clock. The workload and the
// faults are drawn from a seed; the same seed replays the same run.
//
// What is simulated: each node's connection count; the coordinator counting
// the participants' loads when its timer fires (what the balancer actor
// gathers from the client managers); a donor refusing new clients while the
// machine says so; evicted clients reconnecting 50-900 ms later through a
// load balancer that hands out the nodes round robin (a refused or dead
// node sends the client on to the next one, 20 ms later); some clients that
// do not come back; a participant that dies (its clients reconnect
// elsewhere; the coordinator is told, as its monitor would).
// What is not: sessions (the session phase runs with none), MQTT, the
// actors' messages (the counts are read at once).
//
// The checker:
//  - the rebalance ends, in the time its rounds need;
//  - no client is lost or counted twice (connected + on their way + gone =
//    the clients at the start);
//  - a round never asks a donor for more clients than it holds;
//  - once it ends, no node refuses clients any more;
//  - when nobody died and every client came back: the donors' average ends
//    within the thresholds of the recipients' (the machine's own test, on
//    the settled counts; the recipients are not evened out among
//    themselves, as in EMQX), and no
//    donor ends below the recipients' average by more than the absolute
//    threshold plus what one round moves while clients are on their way
//    (a donor overshooting into a swap: 400/200 becoming 200/400).

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <queue>
#include <random>
#include <string>
#include <vector>

#include "seeds.hpp"
#include "starling/broker/rebalance.hpp"

using namespace starling::broker;

namespace {

using starling::sim::event;

struct node {
  std::string name;
  uint64_t conns = 0;
  bool refusing = false, alive = true;
};

class simulation {
public:
  simulation(uint64_t seed, int trace) : rng_(seed), trace_(trace) {
    int n = static_cast<int>(pick(2, 6));
    for (int i = 0; i < n; ++i)
      nodes_.push_back({"n" + std::to_string(i)});
    // One to n-1 busy nodes, the rest empty or lightly loaded.
    int busy = static_cast<int>(pick(1, n - 1));
    for (int i = 0; i < n; ++i)
      nodes_[i].conns = static_cast<uint64_t>(i < busy ? pick(200, 3000) : pick(0, 100));
    for (auto& x : nodes_)
      clients_ += x.conns;
    o_.conn_evict_rate = static_cast<uint64_t>(pick(20, 600));
    o_.abs_conn_threshold = static_cast<uint64_t>(pick(5, 200));
    o_.rel_conn_threshold = 1.0 + static_cast<double>(pick(0, 50)) / 100.0;
    o_.wait_health_check_ms = pick(0, 3000);
    o_.wait_takeover_ms = pick(0, 3000);
    o_.abs_sess_threshold = 10;
    quitters_ = pick(0, 2) == 0 ? static_cast<int>(pick(1, 20)) : 0; // per cent
    death_ = n >= 3 && pick(0, 3) == 0;
    shape_ = std::to_string(n) + " nodes, " + std::to_string(clients_) + " clients, rate "
             + std::to_string(o_.conn_evict_rate) + "/s, thresholds "
             + std::to_string(o_.abs_conn_threshold) + "/"
             + std::to_string(o_.rel_conn_threshold)
             + (quitters_ ? ", " + std::to_string(quitters_) + "% leave" : "")
             + (death_ ? ", a participant dies" : "");
  }

  const std::string& shape() const { return shape_; }
  uint64_t events() const { return seq_; }

  std::string run() {
    rebalance_effects fx;
    if (auto err = machine_.start(o_, loads(), 0, fx)) {
      // Nothing to balance is an answer, not a failure: check it is true.
      if (*err == "nothing to balance" && !balanced())
        return "said nothing to balance for " + counts();
      return "";
    }
    donors_ = machine_.donors();
    carry(fx);
    if (death_) {
      auto victim = static_cast<size_t>(pick(0, static_cast<int64_t>(nodes_.size()) - 1));
      at(pick(0, 20000), [this, victim] { kill(victim); });
    }
    drain();
    if (!broken_.empty())
      return broken_;
    if (machine_.current() != rebalance::phase::disabled)
      return "the rebalance did not end";
    for (auto& x : nodes_)
      if (x.refusing)
        return x.name + " still refuses clients after the end";
    uint64_t connected = 0;
    for (auto& x : nodes_)
      connected += x.conns;
    if (connected + away_ + gone_ != clients_)
      return "clients lost or doubled: " + std::to_string(connected) + " connected, "
             + std::to_string(away_) + " on their way, " + std::to_string(gone_)
             + " gone, of " + std::to_string(clients_);
    if (!died_ && gone_ == 0) {
      // The donors' average against the recipients' (the sets chosen at
      // the start: a rebalance drains donors, it does not even out the
      // recipients among themselves).
      double donors = 0, recipients = 0;
      int nd = 0, nr = 0;
      for (auto& x : nodes_) {
        bool donor = std::find(donors_.begin(), donors_.end(), x.name) != donors_.end();
        (donor ? donors : recipients) += static_cast<double>(x.conns);
        ++(donor ? nd : nr);
      }
      donors /= nd;
      recipients /= nr;
      if (!within_thresholds(donors, recipients, o_.abs_conn_threshold,
                             o_.rel_conn_threshold))
        return "ended outside the thresholds: " + counts();
      auto slack = static_cast<double>(o_.abs_conn_threshold + o_.conn_evict_rate);
      for (auto& x : nodes_)
        if (std::find(donors_.begin(), donors_.end(), x.name) != donors_.end()
            && static_cast<double>(x.conns) + slack < recipients)
          return "donor " + x.name + " overshot: " + counts();
    }
    return "";
  }

private:
  int64_t pick(int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng_);
  }

  void at(int64_t when, std::function<void()> f) {
    queue_.push({when, seq_++, std::move(f)});
  }

  void drain() {
    while (!queue_.empty() && broken_.empty()) {
      auto e = queue_.top();
      queue_.pop();
      now_ = e.at;
      e.run();
      // Every round moves at least one client: an hour is far beyond any run.
      if (now_ > 3'600'000) {
        broken_ = "still running after an hour: " + counts();
        return;
      }
    }
  }

  std::vector<node_load> loads() const {
    std::vector<node_load> out;
    for (auto& x : nodes_)
      if (x.alive)
        out.push_back({x.name, x.conns, 0});
    return out;
  }

  bool balanced() const {
    double total = 0;
    for (auto& x : nodes_)
      total += static_cast<double>(x.conns);
    double avg = total / static_cast<double>(nodes_.size());
    double d = 0, r = 0;
    int nd = 0, nr = 0;
    for (auto& x : nodes_) {
      if (static_cast<double>(x.conns) >= avg) {
        d += static_cast<double>(x.conns);
        ++nd;
      } else {
        r += static_cast<double>(x.conns);
        ++nr;
      }
    }
    return nr == 0 || within_thresholds(d / nd, r / nr, o_.abs_conn_threshold,
                                        o_.rel_conn_threshold);
  }

  std::string counts() const {
    std::string s;
    for (auto& x : nodes_)
      s += (s.empty() ? "" : " ") + x.name + "=" + std::to_string(x.conns);
    return s;
  }

  node* find(const std::string& name) {
    for (auto& x : nodes_)
      if (x.name == name)
        return &x;
    return nullptr;
  }

  void carry(const rebalance_effects& fx) {
    for (auto& e : fx) {
      if (trace_ > 1 && e.what != rebalance_effect::timer)
        std::printf("%7lld ms  effect %d %s %llu %s\n", static_cast<long long>(now_),
                    static_cast<int>(e.what), e.node.c_str(),
                    static_cast<unsigned long long>(e.count), e.text.c_str());
      switch (e.what) {
        case rebalance_effect::refuse_connections:
          for (auto& d : machine_.donors())
            if (auto x = find(d))
              x->refusing = true;
          break;
        case rebalance_effect::restore:
          for (auto& x : nodes_)
            x.refusing = false;
          break;
        case rebalance_effect::evict_connections: {
          auto x = find(e.node);
          if (!x || !x->alive)
            break;
          if (e.count > x->conns) {
            broken_ = "asked " + e.node + " for " + std::to_string(e.count)
                      + " clients; it holds " + std::to_string(x->conns);
            return;
          }
          x->conns -= e.count;
          for (uint64_t k = 0; k < e.count; ++k)
            leave_and_return();
          break;
        }
        case rebalance_effect::timer: {
          auto gen = ++gen_;
          at(now_ + e.delay_ms, [this, gen] {
            if (gen != gen_ || machine_.current() == rebalance::phase::disabled)
              return;
            carry(machine_.on_timer(loads(), now_));
          });
          break;
        }
        case rebalance_effect::log:
          if (trace_)
            std::printf("%7lld ms  %s   [%s]\n", static_cast<long long>(now_),
                        e.text.c_str(), counts().c_str());
          break;
        default:
          break; // the health check and sessions have no part here
      }
    }
  }

  /// A client that was disconnected: gone for good, or back later through
  /// the load balancer.
  void leave_and_return() {
    if (quitters_ && pick(1, 100) <= quitters_) {
      ++gone_;
      return;
    }
    ++away_;
    at(now_ + pick(50, 900), [this] { arrive(0); });
  }

  /// The load balancer's next node; refused or dead: the next one.
  void arrive(size_t tries) {
    auto& x = nodes_[next_++ % nodes_.size()];
    if (x.alive && !x.refusing) {
      --away_;
      ++x.conns;
      return;
    }
    if (tries > 4 * nodes_.size()) { // every node refuses: wait a while
      at(now_ + 1000, [this] { arrive(0); });
      return;
    }
    at(now_ + 20, [this, tries] { arrive(tries + 1); });
  }

  void kill(size_t i) {
    auto& x = nodes_[i];
    if (!x.alive)
      return;
    x.alive = false;
    died_ = true;
    if (trace_)
      std::printf("%7lld ms  %s dies with %llu clients\n", static_cast<long long>(now_),
                  x.name.c_str(), static_cast<unsigned long long>(x.conns));
    auto n = x.conns;
    x.conns = 0;
    x.refusing = false;
    for (uint64_t k = 0; k < n; ++k)
      leave_and_return();
    carry(machine_.node_down(x.name));
  }

  std::mt19937_64 rng_;
  int trace_;
  std::priority_queue<event, std::vector<event>, std::greater<event>> queue_;
  uint64_t seq_ = 0, gen_ = 0;
  int64_t now_ = 0;
  std::vector<node> nodes_;
  std::vector<std::string> donors_;
  rebalance machine_;
  rebalance_options o_;
  uint64_t clients_ = 0, away_ = 0, gone_ = 0;
  size_t next_ = 0;
  int quitters_ = 0;
  bool death_ = false, died_ = false;
  std::string shape_, broken_;
};

} // namespace

int main(int argc, char** argv) {
  return starling::sim::run_seeds(argc, argv, "rebalance_sim",
                                  [](uint64_t seed, int trace) {
                                    simulation s(seed, trace);
                                    starling::sim::outcome o;
                                    o.shape = s.shape();
                                    o.broken = s.run();
                                    o.events = s.events();
                                    return o;
                                  });
}
