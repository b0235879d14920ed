// The db manager and partitions: comparing shard histories with the other
// cores (detection), and discarding a branched side (autoheal, or an
// operator's cluster join), with the heal report.

#include "manager_state.hpp"

#include <memory>

#include "starling/actors/node_context.hpp"
#include "starling/runtime/cluster/heal_report.hpp"

namespace starling::actors::db::manager_detail {

namespace {

constexpr auto ask_timeout = std::chrono::seconds(2);

std::string describe_state(const lineage& l, uint64_t seqno) {
  return (l.empty() ? std::string("empty") : l.str()) + " at seqno "
         + std::to_string(seqno);
}

std::vector<std::string> regular_shards(manager_actor* self) {
  std::vector<std::string> out;
  for (auto& [shard, a] : self->state.local)
    if (shard != merge_key)
      out.push_back(shard);
  return out;
}

struct shard_state_answer {
  lineage history;
  uint64_t seqno = 0;
};

/// Asks `a` for its shard's (history, seqno).
void ask_state(manager_actor* self, const caf::actor& a,
               std::function<void(std::optional<shard_state_answer>)> done) {
  self->request(a, ask_timeout, seqno_atom::value)
    .then(
      [done](const std::string& history, uint64_t seqno, uint64_t, bool, bool) {
        auto l = lineage::parse(history);
        if (!l)
          done(std::nullopt);
        else
          done(shard_state_answer{std::move(*l), seqno});
      },
      [done](caf::error&) { done(std::nullopt); });
}

std::string detail_of(const std::map<std::string, shard_comparison>& shards) {
  std::string out;
  for (auto& [shard, c] : shards)
    if (!c.relation.compatible())
      out += (out.empty() ? "" : "; ") + shard + " branched after seqno "
             + std::to_string(c.relation.common) + " (ours " + c.ours
             + ", theirs " + c.theirs + ")";
  return out;
}

/// Resets `shards` (shard -> last common seqno) and writes what they
/// discarded to the heal report; `done` gets the number of discarded
/// transactions.
void reset_shards(manager_actor* self, std::map<std::string, uint64_t> shards,
                  const std::string& reason, std::function<void(uint64_t)> done) {
  auto& st = self->state;
  auto total = std::make_shared<uint64_t>(0);
  auto lines = std::make_shared<std::vector<nlohmann::json>>();
  auto pending = std::make_shared<size_t>(shards.size() + 1);
  auto finish = [self, total, lines, pending, done] {
    if (--*pending > 0)
      return;
    auto& st = self->state;
    std::string err;
    if (!lines->empty()
        && !runtime::cluster::append_report(st.report_path, *lines, err))
      st.db->node->log->error(err);
    done(*total);
  };
  auto now = st.db->node->now_ms();
  for (auto& [shard, common] : shards) {
    auto i = st.local.find(shard);
    if (i == st.local.end()) {
      finish();
      continue;
    }
    self
      ->request(i->second, ask_timeout * 5, reset_atom::value, reason, common)
      .then(
        [=, shard = shard, common = common](const std::string& history,
                                            std::vector<committed>& discarded,
                                            uint64_t log_first, uint64_t seqno) {
          runtime::cluster::discarded_shard d{shard,     history,  common,
                                              seqno,     log_first,
                                              std::move(discarded)};
          *total += seqno > common ? seqno - common : 0;
          for (auto& l : runtime::cluster::report_lines(
                 d, self->state.self_name, reason, now))
            lines->push_back(std::move(l));
          finish();
        },
        [=, shard = shard](caf::error& err) {
          self->state.db->node->log->error("shard " + shard
                                           + ": cannot reset: " + describe(err));
          finish();
        });
  }
  finish();
}

} // namespace

void compare_with(manager_actor* self, const std::vector<std::string>& cores,
                  std::function<void(comparison)> done) {
  auto shards = regular_shards(self);
  auto result = std::make_shared<comparison>();
  auto mine = std::make_shared<std::map<std::string, shard_state_answer>>();
  auto remote = std::make_shared<
    std::map<std::pair<std::string, std::string>, shard_state_answer>>();
  // First every answer (ours and theirs, asked at the same moment), then
  // the comparison.
  auto pending = std::make_shared<size_t>(1);
  auto finish = [=] {
    if (--*pending > 0)
      return;
    for (auto& [key, theirs] : *remote) {
      auto& [peer, shard] = key;
      auto m = mine->find(shard);
      if (m == mine->end())
        continue;
      auto& ours = m->second;
      (*result)[peer][shard] = {
        compare(ours.history, ours.seqno, theirs.history, theirs.seqno),
        describe_state(ours.history, ours.seqno),
        describe_state(theirs.history, theirs.seqno)};
    }
    done(std::move(*result));
  };
  auto& st = self->state;
  for (auto& shard : shards) {
    ++*pending;
    ask_state(self, st.local.at(shard),
              [=](std::optional<shard_state_answer> a) {
                if (a)
                  (*mine)[shard] = std::move(*a);
                finish();
              });
    for (auto& peer : cores) {
      auto p = st.peers.find(peer);
      if (p == st.peers.end())
        continue;
      auto a = p->second.actors.find(shard);
      if (a == p->second.actors.end())
        continue;
      ++*pending;
      ask_state(self, a->second, [=](std::optional<shard_state_answer> ans) {
        if (ans)
          (*remote)[{peer, shard}] = std::move(*ans);
        finish();
      });
    }
  }
  finish();
}

void probe(manager_actor* self) {
  auto& st = self->state;
  if (!st.core)
    return;
  if (st.probing) {
    st.probe_again = true;
    return;
  }
  std::vector<std::string> cores;
  for (auto& [name, r] : st.peers)
    if (r.member.role == "core")
      cores.push_back(name);
  st.probing = true;
  compare_with(self, cores, [self](comparison c) {
    auto& st = self->state;
    st.probing = false;
    bool adopting = st.db->node->now_ms() < st.adopt_until_ms;
    // The join is complete once a round found every core agreeing with us.
    bool all_agree = !c.empty();
    std::map<std::string, uint64_t> to_reset;
    for (auto& [peer, shards] : c) {
      if (!st.peers.count(peer) || shards.size() < st.local.size() - 1)
        continue; // went down meanwhile, or a shard did not answer
      bool agrees = true;
      for (auto& [shard, sc] : shards)
        if (!sc.relation.compatible()) {
          agrees = false;
          if (adopting) {
            auto [i, fresh] = to_reset.emplace(shard, sc.relation.common);
            if (!fresh)
              i->second = std::min(i->second, sc.relation.common);
          }
        }
      all_agree = all_agree && agrees;
      if (adopting && !agrees)
        continue; // reset below; the next round compares again
      auto known = st.agreement.find(peer);
      if (known == st.agreement.end() || known->second != agrees) {
        st.agreement[peer] = agrees;
        if (st.agent)
          self->send(st.agent, compared_atom::value, peer, agrees,
                     detail_of(shards));
      }
    }
    if (adopting && all_agree)
      st.adopt_until_ms = 0;
    if (!to_reset.empty())
      reset_shards(self, std::move(to_reset),
                   "cluster join: this node took the data of the cluster it "
                   "joined",
                   [](uint64_t) {});
    if (st.probe_again) {
      st.probe_again = false;
      probe(self);
    }
  });
}

caf::result<uint64_t> heal(manager_actor* self, const std::string& round,
                           const std::vector<std::string>& winners) {
  auto& st = self->state;
  std::vector<std::string> cores;
  for (auto& w : winners)
    if (w != st.self_name && st.peers.count(w))
      cores.push_back(w);
  if (cores.empty())
    return fail("cannot reach the database of any winner of round " + round);
  auto rp = self->make_response_promise<uint64_t>();
  std::string reason = "autoheal round " + round + ", winner ";
  for (size_t i = 0; i < winners.size(); ++i)
    reason += (i ? ", " : "") + winners[i];
  compare_with(self, cores, [=](comparison c) mutable {
    // A shard is discarded when it branched from any winner: from the
    // last seqno it shares with all of them.
    std::map<std::string, uint64_t> to_reset;
    for (auto& [peer, shards] : c)
      for (auto& [shard, sc] : shards)
        if (!sc.relation.compatible()) {
          auto [i, fresh] = to_reset.emplace(shard, sc.relation.common);
          if (!fresh)
            i->second = std::min(i->second, sc.relation.common);
        }
    auto& st = self->state;
    if (to_reset.empty()) {
      st.db->node->log->info("autoheal round " + round
                             + ": no shard branched from the winners");
      rp.deliver(uint64_t{0});
      return;
    }
    std::string list;
    for (auto& [shard, common] : to_reset)
      list += (list.empty() ? "" : ", ") + shard;
    st.db->node->log->warning("autoheal round " + round + ": this node lost; "
                              "re-syncing " + list + " from the winners");
    reset_shards(self, std::move(to_reset), reason,
                 [rp](uint64_t n) mutable { rp.deliver(n); });
  });
  return rp;
}

caf::result<std::string> heal_report(manager_actor* self) {
  size_t bad = 0;
  auto lines = runtime::cluster::read_report(self->state.report_path, bad);
  if (bad > 0)
    self->state.db->node->log->warning(std::to_string(bad)
                                       + " unreadable lines in "
                                       + self->state.report_path);
  return nlohmann::json(lines).dump();
}

} // namespace starling::actors::db::manager_detail
