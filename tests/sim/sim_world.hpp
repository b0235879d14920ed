#pragma once

// The simulated world of cluster_sim: one clock, the nodes' processes and
// CPUs, and the network between them.
//
// - Time is in microseconds; events due at the same moment run in the
//   order they were scheduled, so a seed replays exactly.
// - A node runs one event at a time; each costs 20-200 us of its CPU, and
//   an event that finds the CPU busy waits for it, in arrival order. A
//   frozen node (SIGSTOP) runs nothing: what reaches it waits, and runs in
//   order when it is thawed. A killed node loses what waits and its state; the
//   host starts it again as a new incarnation.
// - Two nodes talk over one connection (as BASP does), opened by a dial.
//   Each direction is FIFO with a per-link latency. A blocked link (a
//   partition, symmetric or one pair only) holds what is sent: if it is
//   unblocked before either side's heartbeat runs out, everything arrives,
//   in order; otherwise the connection closes and what was in flight is
//   lost. The side that times out learns at once; the other learns when
//   its own heartbeat runs out, or when the FIN reaches it after the link
//   heals. A killed node's peers learn after one latency (the kernel
//   resets its sockets); a frozen node's peers by their heartbeat.
// - request() is an ask with a timeout: the answer may come from another
//   node than the one asked (a delegation), and a timer in a frozen node
//   fires when it is thawed, as it does in a stopped process.

#include <cstdint>
#include <cstdio>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <queue>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "seeds.hpp"

namespace starling::sim {

class world {
public:
  /// Heartbeat timeout (node.tick_ms) and the dial handshake timeout.
  static constexpr int64_t heartbeat_us = 2'000'000;
  static constexpr int64_t handshake_us = 5'000'000;

  world(uint64_t seed, int trace) : rng_(seed), trace_(trace) {}

  // -- clock and randomness ------------------------------------------------------

  int64_t pick(int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng_);
  }
  double unit() { return std::uniform_real_distribution<double>(0, 1)(rng_); }
  bool chance(double p) { return unit() < p; }
  int64_t now_us() const { return now_; }
  int64_t now_ms() const { return now_ / 1000; }
  uint64_t events() const { return seq_; }
  int trace() const { return trace_; }

  void at(int64_t when, std::function<void()> f) {
    queue_.push({when, seq_++, std::move(f)});
  }
  void after_us(int64_t delay, std::function<void()> f) {
    at(now_ + delay, std::move(f));
  }
  void run_until(int64_t until) {
    while (!queue_.empty() && queue_.top().at <= until) {
      auto e = queue_.top();
      queue_.pop();
      now_ = e.at;
      e.run();
    }
    now_ = until;
  }

  void log(const std::string& text) {
    if (trace_)
      std::printf("%10.3f ms  %s\n", static_cast<double>(now_) / 1000, text.c_str());
  }

  // -- processes ----------------------------------------------------------------------

  size_t add_node() {
    procs_.emplace_back();
    return procs_.size() - 1;
  }
  bool alive(size_t n) const { return procs_[n].alive; }
  uint64_t incarnation(size_t n) const { return procs_[n].incarnation; }

  /// A new incarnation of `n` runs from now.
  void start(size_t n) {
    auto& p = procs_[n];
    p.alive = true;
    p.frozen = false;
    ++p.incarnation;
    p.waiting.clear();
    p.wake_pending = false;
  }

  void kill(size_t n) {
    auto& p = procs_[n];
    p.alive = false;
    p.frozen = false;
    p.waiting.clear();
    for (size_t peer = 0; peer < procs_.size(); ++peer)
      if (peer != n && connected(n, peer)) {
        auto e = close(n, peer);
        tell_down_later(peer, n, e);
      }
  }

  void freeze(size_t n) {
    auto& p = procs_[n];
    p.frozen = true;
    ++p.freeze_gen;
    for (size_t peer = 0; peer < procs_.size(); ++peer)
      if (peer != n && connected(n, peer))
        miss_heartbeats(peer, n);
  }

  void thaw(size_t n) {
    auto& p = procs_[n];
    if (!p.alive || !p.frozen)
      return;
    p.frozen = false;
    wake(n);
  }

  /// Runs `f` on node `n`'s current incarnation, once its CPU is free (and
  /// it is not frozen); dropped if that incarnation dies first.
  void run_on(size_t n, std::function<void()> f) {
    run_in(n, procs_[n].incarnation, std::move(f));
  }

  // -- links ---------------------------------------------------------------------------

  bool connected(size_t a, size_t b) const {
    auto i = conns_.find(key(a, b));
    return i != conns_.end() && i->second.up;
  }
  bool blocked(size_t a, size_t b) const { return blocked_.count(key(a, b)) > 0; }

  void block(size_t a, size_t b) {
    if (a == b || !blocked_.insert(key(a, b)).second)
      return;
    auto gen = ++conn(a, b).block_gen;
    if (!connected(a, b))
      return;
    auto e = conn(a, b).epoch;
    for (auto side : {a, b}) {
      auto other = side == a ? b : a;
      after_us(heartbeat_us + pick(0, heartbeat_us / 2), [=, this] {
        if (blocked(a, b) && conn(a, b).block_gen == gen)
          time_out(side, other, e);
      });
    }
  }

  void unblock(size_t a, size_t b) {
    if (!blocked_.erase(key(a, b)))
      return;
    auto& c = conn(a, b);
    for (auto [from, to] : {std::pair{a, b}, std::pair{b, a}})
      after_us(latency(from, to), [=, this, e = c.epoch] {
        if (conn(from, to).epoch == e)
          deliver_ready(from, to);
      });
    auto fins = std::move(c.fins);
    c.fins.clear();
    for (auto [node, peer, e] : fins)
      after_us(latency(peer, node), [=, this] { tell_down(node, peer, e); });
  }

  /// Latency of a (both directions) from now: [lo, hi] us.
  void set_latency(size_t a, size_t b, int64_t lo, int64_t hi) {
    conn(a, b).latency = {lo, hi};
  }

  /// Over the connection a -> b (a == b: a local message, 5-50 us, FIFO).
  void send(size_t a, size_t b, std::function<void()> f) {
    if (a == b) { // in order, as between two actors of a node
      auto& p = procs_[a];
      p.local_clock = std::max(p.local_clock, now_ + pick(5, 50));
      at(p.local_clock, [this, b, inc = p.incarnation, f = std::move(f)]() mutable {
        run_in(b, inc, std::move(f));
      });
      return;
    }
    if (!connected(a, b))
      return;
    auto& d = dir(a, b);
    auto e = conn(a, b).epoch;
    auto n = d.sent++;
    auto when = std::max(d.clock, now_ + latency(a, b));
    d.clock = when;
    at(when, [=, this, f = std::move(f)]() mutable {
      if (conn(a, b).epoch != e)
        return; // the connection closed: lost
      dir(a, b).ready.emplace(n, std::move(f));
      if (!blocked(a, b))
        deliver_ready(a, b);
    });
  }

  /// Node `a` dials `b`: `done(ok, why)` runs on a. `up(node, peer, epoch)`
  /// (set by the host) runs on each side once the connection is open;
  /// `down(node, peer, epoch)` when a side learns it closed.
  void dial(size_t a, size_t b, std::function<void(bool, std::string)> done) {
    auto inc = procs_[a].incarnation;
    auto reply = [=, this](int64_t delay, bool ok, std::string why) {
      after_us(delay, [=, this] { run_in(a, inc, [=] { done(ok, why); }); });
    };
    if (connected(a, b))
      return reply(0, true, "");
    if (!procs_[b].alive)
      return reply(1000, false, "connection refused");
    if (blocked(a, b) || procs_[b].frozen)
      return reply(handshake_us, false, "handshake timed out");
    auto rtt = 2 * latency(a, b);
    after_us(rtt, [=, this] {
      if (connected(a, b))
        return reply(0, true, "");
      if (!procs_[a].alive || procs_[a].incarnation != inc || !procs_[b].alive
          || blocked(a, b)
          || procs_[b].frozen)
        return reply(0, false, "handshake failed");
      auto& c = conn(a, b);
      c.up = true;
      auto e = ++c.epoch;
      dirs_.erase({a, b});
      dirs_.erase({b, a});
      // b saw the handshake of a dialler that stopped right after sending it.
      if (procs_[a].frozen)
        miss_heartbeats(b, a);
      run_on(b, [=, this] { on_up(b, a, e); });
      after_us(latency(b, a), [=, this] {
        run_in(a, inc, [=, this] {
          on_up(a, b, e);
          done(true, "");
        });
      });
    });
  }

  std::function<void(size_t, size_t, uint64_t)> on_up, on_down;

  /// An ask from `from` to `to`: `serve` runs on `to` and answers with
  /// respond(answering node, value); `ok` or `failed` (after `timeout_us`,
  /// 0: never) runs on `from`. A lost message is only ever a timeout.
  template <class T>
  using respond_fn = std::function<void(size_t, T)>;
  template <class T>
  void request(size_t from, size_t to, int64_t timeout_us,
               std::function<void(respond_fn<T>)> serve,
               std::function<void(T)> ok, std::function<void()> failed) {
    auto id = ++request_ids_;
    auto inc = procs_[from].incarnation;
    pending_.insert(id);
    respond_fn<T> respond = [=, this](size_t at, T value) {
      send(at, from, [=, this] {
        if (pending_.erase(id))
          ok(value);
      });
    };
    send(from, to, [serve, respond] { serve(respond); });
    if (timeout_us > 0)
      after_us(timeout_us, [=, this] {
        run_in(from, inc, [=, this] {
          if (pending_.erase(id))
            failed();
        });
      });
  }

private:
  struct proc {
    bool alive = false, frozen = false;
    uint64_t incarnation = 0, freeze_gen = 0;
    int64_t busy_until = 0, local_clock = 0;
    bool wake_pending = false;
    std::deque<std::function<void()>> waiting; ///< for the CPU, or frozen
  };
  struct connection {
    bool up = false;
    uint64_t epoch = 0, block_gen = 0;
    std::pair<int64_t, int64_t> latency{200, 3000};
    /// Sides that must still learn of a close: (node, peer, epoch).
    std::vector<std::tuple<size_t, size_t, uint64_t>> fins;
  };
  struct direction {
    uint64_t sent = 0, delivered = 0;
    int64_t clock = 0;
    std::map<uint64_t, std::function<void()>> ready;
  };

  static std::pair<size_t, size_t> key(size_t a, size_t b) {
    return {std::min(a, b), std::max(a, b)};
  }
  connection& conn(size_t a, size_t b) { return conns_[key(a, b)]; }
  direction& dir(size_t a, size_t b) { return dirs_[{a, b}]; }
  int64_t latency(size_t a, size_t b) {
    auto [lo, hi] = conn(a, b).latency;
    return pick(lo, hi);
  }

  /// Events wait for the CPU in arrival order (what reaches a node's actor
  /// from one sender stays in order, as in a mailbox).
  void run_in(size_t n, uint64_t inc, std::function<void()> f) {
    auto& p = procs_[n];
    if (!p.alive || p.incarnation != inc)
      return;
    if (p.frozen || !p.waiting.empty() || p.busy_until > now_) {
      p.waiting.push_back(std::move(f));
      wake(n);
      return;
    }
    p.busy_until = now_ + pick(20, 200);
    f();
  }

  /// Runs the next waiting event once the CPU is free (not while frozen).
  void wake(size_t n) {
    auto& p = procs_[n];
    if (p.wake_pending || p.frozen || p.waiting.empty())
      return;
    p.wake_pending = true;
    at(std::max(now_, p.busy_until), [this, n, inc = p.incarnation] {
      auto& p = procs_[n];
      if (!p.alive || p.incarnation != inc)
        return;
      p.wake_pending = false;
      if (p.frozen || p.waiting.empty())
        return;
      if (p.busy_until > now_)
        return wake(n);
      auto f = std::move(p.waiting.front());
      p.waiting.pop_front();
      p.busy_until = now_ + pick(20, 200);
      f();
      wake(n);
    });
  }

  void deliver_ready(size_t a, size_t b) {
    auto& d = dir(a, b);
    for (auto i = d.ready.find(d.delivered); i != d.ready.end();
         i = d.ready.find(d.delivered)) {
      auto f = std::move(i->second);
      d.ready.erase(i);
      ++d.delivered;
      run_on(b, std::move(f));
    }
  }

  /// Closes the connection a - b; returns the epoch it had.
  uint64_t close(size_t a, size_t b) {
    auto& c = conn(a, b);
    auto e = c.epoch;
    c.up = false;
    ++c.epoch;
    dirs_.erase({a, b});
    dirs_.erase({b, a});
    return e;
  }

  void tell_down(size_t node, size_t peer, uint64_t e) {
    run_on(node, [=, this] { on_down(node, peer, e); });
  }

  /// `node` will learn that its connection (epoch e) to `peer` closed: as
  /// soon as a packet can reach it, or by its own heartbeat (block()).
  void tell_down_later(size_t node, size_t peer, uint64_t e) {
    if (!blocked(node, peer))
      after_us(latency(peer, node), [=, this] { tell_down(node, peer, e); });
    else
      conn(node, peer).fins.emplace_back(node, peer, e);
  }

  /// `peer` hears nothing from the frozen node `n` on their connection: its
  /// heartbeat runs out unless `n` is thawed first.
  void miss_heartbeats(size_t peer, size_t n) {
    auto e = conn(n, peer).epoch;
    auto gen = procs_[n].freeze_gen;
    after_us(heartbeat_us + pick(0, heartbeat_us / 2), [=, this] {
      if (procs_[n].frozen && procs_[n].freeze_gen == gen)
        time_out(peer, n, e);
    });
  }

  /// `side`'s heartbeat for `peer` ran out (connection epoch e).
  void time_out(size_t side, size_t peer, uint64_t e) {
    if (conn(side, peer).epoch == e && connected(side, peer)) {
      close(side, peer);
      tell_down_later(peer, side, e);
    }
    tell_down(side, peer, e);
  }

  std::mt19937_64 rng_;
  int trace_;
  int64_t now_ = 0;
  uint64_t seq_ = 0;
  std::priority_queue<event, std::vector<event>, std::greater<>> queue_;
  std::vector<proc> procs_;
  std::map<std::pair<size_t, size_t>, connection> conns_;
  std::map<std::pair<size_t, size_t>, direction> dirs_;
  std::set<std::pair<size_t, size_t>> blocked_;
  uint64_t request_ids_ = 0;
  std::set<uint64_t> pending_;
};

} // namespace starling::sim
