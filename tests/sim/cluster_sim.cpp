// A deterministic simulation of a whole Starling cluster's database
// (issue 18): 2-4 cores and 0-2 replicants run the real decision classes
// (runtime::cluster::cluster_core for membership, views, the database group,
// the partition alarm and autoheal; runtime::db::shard_core and
// subscriber_stream for sequencing, following, subscriptions, catch-up and
// reset) in one process, hosted as the actors host them (cluster_host.hpp),
// on a simulated network with a simulated clock and CPUs (sim_world.hpp).
//
// Workload: every node writes (through the sequencer, with the db
// manager's retries): records of its own, and shared records that nodes
// overwrite and erase.
// Faults, drawn from the seed while the workload runs: partitions into two
// sides, a cut between one pair only (the others still see both: an
// asymmetric split), kill and restart from the disc, freeze (SIGSTOP) and
// thaw, slow links. Then the network heals, every node runs again, and the
// cluster gets 150 s to settle.
//
// The checker then fails the seed when:
//  - a node does not see every other node, or a core's database group is
//    not all the cores with the oldest as sequencer, or a partition alarm
//    is still raised;
//  - the oldest core does not lead the shard, or another replica does not
//    follow (normal state), or a replicant follows the sequencer although
//    another core could feed it;
//  - two replicas differ in seqno, history or checksum, or a core's file
//    differs from what it holds;
//  - an acknowledged write is missing although the final history kept the
//    segment it was committed in, or was discarded without a heal report
//    naming it (by its transaction, or in a gap: a range of seqnos of that
//    branch no longer in the rlog);
//  - anything is still queued or waiting (stash, callers, replay buffer,
//    stream queues), or a stream has no shard that feeds it;
//  - a host contract was broken (a subscription to a node that is no peer).
// What is not simulated: BASP and sockets, SQLite (its writes are taken as
// durable at once), the MQTT side, merge tables, operator commands.
// Clocks: half the seeds give each node a wall clock off by up to 5 s.

#include <algorithm>
#include <cstdio>
#include <set>
#include <string>

#include "cluster_host.hpp"

using namespace starling::sim;
namespace rdb = starling::runtime::db;

namespace {

constexpr int64_t second = 1'000'000;

struct totals {
  uint64_t acked = 0, discarded = 0, in_gap = 0, unverifiable = 0, resets = 0,
           faults = 0, failed_writes = 0;
} sum;

class run {
public:
  run(uint64_t seed, int trace) : w_(seed, trace) {
    cores_ = static_cast<int>(w_.pick(2, 4));
    replicants_ = static_cast<int>(w_.pick(0, 2));
    c_.emplace(w_, cores_, replicants_);
    // Half the seeds run on clocks that disagree by up to 5 s either way
    // (no NTP): starts, and with them the oldest core, are as each node's
    // clock says.
    if (w_.pick(0, 1)) {
      for (auto& node : c_->nodes())
        node.clock_skew_ms = w_.pick(-5000, 5000);
      shape_ = "clocks off by up to 5 s";
    }
  }

  starling::sim::outcome go() {
    auto n = c_->nodes().size();
    for (size_t a = 0; a < n; ++a)
      for (size_t b = a + 1; b < n; ++b)
        w_.set_latency(a, b, 200, w_.pick(500, 5000));
    for (size_t i = 0; i < n; ++i)
      w_.at(w_.pick(0, 300) * 1000, [this, i] { c_->start(i); });
    auto end = w_.pick(20, 40) * second;
    writes(end);
    auto faults = w_.pick(1, 6);
    for (int64_t f = 0; f < faults; ++f)
      fault(w_.pick(3 * second, end - 2 * second), end);
    w_.at(end, [this] { heal_all(); });
    w_.run_until(end + 150 * second);
    starling::sim::outcome o;
    o.shape = std::to_string(cores_) + " cores, " + std::to_string(replicants_)
              + " replicants; " + shape_;
    o.broken = check();
    o.events = w_.events();
    sum.faults += static_cast<uint64_t>(faults);
    sum.resets += c_->resets();
    sum.failed_writes += c_->failed_writes();
    return o;
  }

private:
  std::string name(size_t i) { return c_->nodes()[i].name; }

  void writes(int64_t end) {
    uint64_t unique = 0;
    for (size_t i = 0; i < c_->nodes().size(); ++i) {
      auto count = w_.pick(20, 80);
      for (int64_t k = 0; k < count; ++k) {
        rdb::op o;
        o.table = "t";
        auto kind = w_.pick(0, 9);
        if (kind < 7) {
          o.key = "u/" + std::to_string(++unique);
          o.value = name(i) + "." + std::to_string(k);
        } else {
          o.key = "s/" + std::to_string(w_.pick(0, 9));
          o.kind = kind < 9 ? rdb::op::write : rdb::op::erase;
          o.value = kind < 9 ? name(i) + "." + std::to_string(k) : "";
        }
        w_.at(w_.pick(2 * second, end), [this, i, o] {
          if (w_.alive(i))
            c_->write(i, o);
        });
      }
    }
  }

  void describe(const std::string& what, int64_t from, int64_t to) {
    char when[48];
    std::snprintf(when, sizeof when, " %.1f-%.1fs", from / 1e6, to / 1e6);
    shape_ += (shape_.empty() ? "" : ", ") + what + when;
  }

  /// One fault at `t`, undone by `end` at the latest.
  void fault(int64_t t, int64_t end) {
    auto n = c_->nodes().size();
    auto until = std::min(end, t + w_.pick(300'000, 15 * second));
    auto a = static_cast<size_t>(w_.pick(0, static_cast<int64_t>(n) - 1));
    auto b = static_cast<size_t>(w_.pick(0, static_cast<int64_t>(n) - 2));
    if (b >= a)
      ++b;
    switch (w_.pick(0, 4)) {
      case 0: { // two sides
        std::vector<bool> side(n);
        for (size_t i = 0; i < n; ++i)
          side[i] = w_.chance(0.5);
        side[a] = true;
        side[b] = false;
        std::string text = "split {";
        for (size_t i = 0; i < n; ++i)
          text += side[i] ? name(i) + " " : "";
        describe(text + "}", t, until);
        for (size_t x = 0; x < n; ++x)
          for (size_t y = x + 1; y < n; ++y)
            if (side[x] != side[y]) {
              w_.at(t, [this, x, y] { w_.block(x, y); });
              w_.at(until, [this, x, y] { w_.unblock(x, y); });
            }
        break;
      }
      case 1:
        describe("cut " + name(a) + "-" + name(b), t, until);
        w_.at(t, [this, a, b] { w_.block(a, b); });
        w_.at(until, [this, a, b] { w_.unblock(a, b); });
        break;
      case 2:
        describe("kill " + name(a), t, until);
        w_.at(t, [this, a] {
          if (w_.alive(a)) {
            w_.log(name(a) + " killed");
            w_.kill(a);
          }
        });
        w_.at(until, [this, a] {
          if (!w_.alive(a))
            c_->start(a);
        });
        break;
      case 3:
        describe("freeze " + name(a), t, until);
        w_.at(t, [this, a] {
          if (w_.alive(a)) {
            w_.log(name(a) + " frozen");
            w_.freeze(a);
          }
        });
        w_.at(until, [this, a] {
          w_.log(name(a) + " thawed");
          w_.thaw(a);
        });
        break;
      default:
        describe("slow " + name(a) + "-" + name(b), t, until);
        w_.at(t, [this, a, b] { w_.set_latency(a, b, 20'000, 300'000); });
        w_.at(until, [this, a, b] { w_.set_latency(a, b, 200, 3000); });
        break;
    }
  }

  void heal_all() {
    auto n = c_->nodes().size();
    w_.log("the network heals; every node runs");
    for (size_t a = 0; a < n; ++a) {
      for (size_t b = a + 1; b < n; ++b) {
        w_.unblock(a, b);
        w_.set_latency(a, b, 200, 3000);
      }
      if (!w_.alive(a))
        c_->start(a);
      w_.thaw(a);
    }
  }

  std::string check() {
    if (!c_->broken().empty())
      return c_->broken();
    auto& nodes = c_->nodes();
    std::vector<std::string> cores;
    const sim_node* oldest = nullptr;
    for (auto& n : nodes) {
      if (!n.core)
        continue;
      cores.push_back(n.name);
      if (!oldest || std::tie(n.started_at_ms, n.name)
                       < std::tie(oldest->started_at_ms, oldest->name))
        oldest = &n;
    }
    std::sort(cores.begin(), cores.end());
    // One cluster.
    for (auto& n : nodes)
      for (auto& p : nodes)
        if (&n != &p && !n.up.count(p.idx))
          return n.name + " does not see " + p.name;
    for (auto& n : nodes) {
      if (!n.core)
        continue;
      auto& g = n.cl->group();
      if (g.members != cores || g.leader != oldest->name)
        return n.name + "'s database group is not every core with "
               + oldest->name + " sequencing";
      if (n.cl->alarm().active())
        return n.name + "'s partition alarm is still raised";
    }
    // One database.
    auto& ref = *oldest->shard;
    if (!ref.leading())
      return oldest->name + ", the oldest core, does not lead the shard";
    for (auto& n : nodes) {
      auto& s = *n.shard;
      if (&n != oldest && (s.leading() || s.fsm().state() != rdb::replica_state::normal))
        return n.name + " does not follow (state "
               + rdb::to_string(s.fsm().state()) + ")";
      if (!n.core && cores.size() > 1 && s.fsm().upstream() == oldest->name)
        return n.name + " still follows the sequencer " + oldest->name
               + " although other cores serve";
      if (s.store().seqno() != ref.store().seqno()
          || s.store().checksum() != ref.store().checksum()
          || s.fsm().history() != ref.fsm().history())
        return n.name + " differs from " + oldest->name + ": seqno "
               + std::to_string(s.store().seqno()) + " vs "
               + std::to_string(ref.store().seqno()) + ", history "
               + s.fsm().history().str() + " vs " + ref.fsm().history().str();
      if (n.core && (n.disc.checksum() != s.store().checksum()
                     || n.disc.seqno() != s.store().seqno()
                     || n.disc_history != s.fsm().history().str()))
        return n.name + "'s file differs from what it holds (seqno "
               + std::to_string(n.disc.seqno()) + " vs "
               + std::to_string(s.store().seqno()) + ", history "
               + n.disc_history + " vs " + s.fsm().history().str()
               + ", checksum " + (n.disc.checksum() == s.store().checksum()
                                    ? "the same" : "not the same")
               + ")";
      if (s.stashed() || s.waiting_callers() || s.fsm().buffered())
        return n.name + " still holds " + std::to_string(s.stashed())
               + " stashed transactions, " + std::to_string(s.waiting_callers())
               + " waiting callers, " + std::to_string(s.fsm().buffered())
               + " buffered";
      if (n.agents.size() != n.agents_by_node.size())
        return n.name + " runs " + std::to_string(n.agents.size())
               + " stream agents for " + std::to_string(n.agents_by_node.size())
               + " subscribers";
      for (auto& [id, a] : n.agents)
        if (a.stream->pending())
          return n.name + "'s stream to " + a.node + " still queues "
                 + std::to_string(a.stream->pending());
    }
    // Acknowledged writes: kept, or discarded by a heal that names them.
    auto& history = ref.fsm().history();
    for (auto& a : c_->acked()) {
      if (a.key.rfind("u/", 0) != 0)
        continue; // shared records are overwritten by design
      ++sum.acked;
      auto seg = history.segment_of(a.seqno);
      auto v = ref.store().read("t", a.key);
      if (!seg) {
        ++sum.unverifiable;
        continue;
      }
      if (*seg == a.segment && v != a.value)
        return "acknowledged write " + a.id + " (" + a.key + " at seqno "
               + std::to_string(a.seqno) + " of segment " + a.segment
               + ") is missing, though the history kept that segment";
      if (*seg != a.segment && !v) {
        ++sum.discarded;
        if (c_->discarded_ids().count(a.id))
          continue;
        auto in_gap = [&](const cluster::gap& g) {
          return g.from <= a.seqno && a.seqno <= g.to
                 && g.branch.segment_of(a.seqno) == a.segment;
        };
        if (std::none_of(c_->gaps().begin(), c_->gaps().end(), in_gap))
          return "acknowledged write " + a.id + " (" + a.key + " at seqno "
                 + std::to_string(a.seqno) + " of segment " + a.segment
                 + ") was discarded, and no heal report names it";
        ++sum.in_gap;
      }
    }
    return "";
  }

  world w_;
  int cores_ = 0, replicants_ = 0;
  std::optional<cluster> c_;
  std::string shape_;
};

} // namespace

int main(int argc, char** argv) {
  int rc = starling::sim::run_seeds(argc, argv, "cluster_sim",
                                    [](uint64_t seed, int trace) {
                                      run r(seed, trace);
                                      return r.go();
                                    });
  std::printf("cluster_sim: %llu acknowledged writes checked, %llu discarded by "
              "autoheal (each named by a heal report, %llu of them in a gap), "
              "%llu beyond the kept history; %llu faults, %llu resets, %llu "
              "writes failed after every retry\n",
              static_cast<unsigned long long>(sum.acked),
              static_cast<unsigned long long>(sum.discarded),
              static_cast<unsigned long long>(sum.in_gap),
              static_cast<unsigned long long>(sum.unverifiable),
              static_cast<unsigned long long>(sum.faults),
              static_cast<unsigned long long>(sum.resets),
              static_cast<unsigned long long>(sum.failed_writes));
  return rc;
}
