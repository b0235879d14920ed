#include "starling/runtime/db/shard_core.hpp"

#include <algorithm>
#include <functional>

namespace starling::runtime::db {

namespace {

shard_effect make(shard_effect::kind_t k) {
  shard_effect e;
  e.kind = k;
  return e;
}

} // namespace

shard_core::shard_core(std::string shard, std::string self, bool core,
                       bool disc, std::unique_ptr<shard_store> store,
                       lineage history, const schema& s,
                       shard_core_settings settings,
                       std::function<std::string()> new_id)
  : shard_(std::move(shard)),
    self_(std::move(self)),
    core_(core),
    disc_(disc),
    schema_(s),
    settings_(settings),
    store_(std::move(store)),
    new_id_(std::move(new_id)) {
  fsm_ = std::make_unique<replica_fsm>(*store_, std::move(history),
                                       settings_.replay_buffer_limit);
  if (core_) {
    log_ = std::make_unique<rlog>(settings_.log_size);
    seq_ = std::make_unique<sequencer>(*store_, *log_, schema_);
  }
}

void shard_core::retry_later(shard_effects& out) const {
  auto r = make(shard_effect::retry);
  r.epoch = fsm_->epoch();
  r.delay_ms = settings_.reconnect_delay_ms;
  out.push_back(std::move(r));
}

void shard_core::log(shard_effects& out, std::string text, bool warning) {
  auto e = make(shard_effect::log);
  e.text = "shard " + shard_ + ": " + std::move(text);
  e.warning = warning;
  out.push_back(std::move(e));
}

bool shard_core::has_core_peer() const {
  return std::any_of(peers_.begin(), peers_.end(),
                     [](auto& p) { return p.second.core; });
}

// -- callers ------------------------------------------------------------------

void shard_core::answer(shard_effects& out, const std::vector<uint64_t>& done) {
  for (auto seqno : done) {
    auto range = callers_.equal_range(seqno);
    for (auto i = range.first; i != range.second; ++i) {
      auto e = make(shard_effect::answer);
      e.caller = i->second;
      e.seqno = seqno;
      out.push_back(std::move(e));
    }
    callers_.erase(range.first, range.second);
  }
}

shard_effects shard_core::on_txn(const transaction& txn, caller_id caller,
                                 int64_t) {
  shard_effects out;
  route(txn, caller, out);
  return out;
}

/// Where a transaction goes: committed here when this core leads, sent on
/// to the sequencer (a replicant: to its upstream core, or any core), kept
/// until a sequencer is known.
void shard_core::route(const transaction& txn, caller_id caller,
                       shard_effects& out) {
  if (core_ && leading_) {
    commit(txn, caller, out);
    return;
  }
  std::string target;
  if (core_) {
    if (leader_ != self_ && peers_.count(leader_))
      target = leader_;
  } else {
    // To the sequencer itself when it is a peer: the upstream is usually a
    // following core now, which would only pass it on.
    if (peers_.count(leader_))
      target = leader_;
    else if (peers_.count(fsm_->upstream()))
      target = fsm_->upstream();
    for (auto i = peers_.begin(); target.empty() && i != peers_.end(); ++i)
      if (i->second.core)
        target = i->first;
    if (target.empty()) {
      auto e = make(shard_effect::answer);
      e.caller = caller;
      e.error = "no core is reachable for shard " + shard_;
      out.push_back(std::move(e));
      return;
    }
  }
  if (target.empty()) {
    stash_.emplace_back(txn, caller);
    return;
  }
  auto e = make(shard_effect::forward);
  e.node = target;
  e.txn = txn;
  e.caller = caller;
  out.push_back(std::move(e));
}

void shard_core::drain_stash(shard_effects& out) {
  auto stash = std::move(stash_);
  stash_.clear();
  for (auto& [txn, caller] : stash)
    route(txn, caller, out);
}

/// What every node does with a transaction it committed or applied: tell
/// the watchers; on a core also log it (replicas resume from the log),
/// store it and feed the subscribers.
void shard_core::applied(const committed& c, shard_effects& out) {
  auto w = make(shard_effect::watch_change);
  w.c = c;
  out.push_back(std::move(w));
  if (!core_)
    return;
  if (log_->last_seqno() < c.seqno) // the sequencer logged it already
    log_->append(c);
  if (disc_) {
    auto s = make(shard_effect::store);
    s.c = c;
    out.push_back(std::move(s));
  }
  if (!subscribers_.empty()) {
    auto p = make(shard_effect::push);
    p.c = c;
    out.push_back(std::move(p));
  }
}

void shard_core::commit(const transaction& txn, caller_id caller,
                        shard_effects& out) {
  auto r = seq_->commit(txn);
  if (!r.error.empty()) {
    auto e = make(shard_effect::answer);
    e.caller = caller;
    e.error = r.error;
    out.push_back(std::move(e));
    return;
  }
  if (!r.fresh) {
    // A retry of a transaction committed before: answered when the first
    // attempt is (it may still wait for acknowledgements).
    if (callers_.count(r.seqno)) {
      callers_.emplace(r.seqno, caller);
    } else {
      auto e = make(shard_effect::answer);
      e.caller = caller;
      e.seqno = r.seqno;
      out.push_back(std::move(e));
    }
    return;
  }
  applied(*r.fresh, out);
  std::vector<std::string> followers;
  for (auto& [node, is_core] : subscribers_)
    if (is_core)
      followers.push_back(node);
  if (followers.empty()) {
    auto e = make(shard_effect::answer);
    e.caller = caller;
    e.seqno = r.seqno;
    out.push_back(std::move(e));
    return;
  }
  seq_->expect(r.seqno, followers);
  callers_.emplace(r.seqno, caller);
}

// -- peers and the sequencer ---------------------------------------------------

shard_effects shard_core::on_peers(std::vector<shard_peer_info> list,
                                   const std::string& leader, int64_t now) {
  shard_effects out;
  std::map<std::string, shard_peer_info> next;
  for (auto& p : list)
    next.emplace(p.name, p);
  bool lost_upstream = false;
  for (auto& [name, p] : peers_)
    if (!next.count(name)) {
      drop_stream(name, out);
      if (fsm_->upstream() == name
          && fsm_->state() != replica_state::disconnected) {
        log(out, "upstream " + name + " is down", true);
        fsm_->on_upstream_lost(name);
        stop_following(out);
        lost_upstream = true;
      }
    }
  peers_ = std::move(next);
  if (!core_)
    leader_ = leader; // a replicant moves its subscription off the sequencer
  if (core_ && leader != leader_) {
    took_over_ = !leader_.empty();
    leader_ = leader;
    if (leader == self_) {
      become_leader(out, now);
    } else {
      leading_ = false;
      syncing_ = false;
      log(out, "sequencer is " + leader);
      connect(leader, out, now);
      drain_stash(out);
    }
    return out;
  }
  if (lost_upstream && catching_up()) {
    // The core this sequencer was catching up from went: ask the others.
    become_leader(out, now);
    return out;
  }
  pick_upstream(out, now);
  schedule_move_check(out); // a core may have come that it could move to
  return out;
}

void shard_core::stop_following(shard_effects& out) {
  if (following_)
    out.push_back(make(shard_effect::drop_upstream));
  following_ = false;
}

void shard_core::connect(const std::string& core, shard_effects& out,
                         int64_t now) {
  for (auto& e : run(fsm_->connect(core), now))
    out.push_back(std::move(e));
}

/// This core became the sequencer: before numbering anything it makes sure
/// no other core applied more of the shard's history than it has (the old
/// sequencer may have reached some followers only), and catches up from
/// the most advanced one if needed. Only a core whose history continues
/// ours counts: a branched one is a partition, for autoheal to settle.
/// A shard reset by autoheal waits until some core of its group answered
/// (the winners' data), rather than start a history of its own.
void shard_core::become_leader(shard_effects& out, int64_t now) {
  leading_ = false;
  syncing_ = true;
  sync_target_ = store_->seqno();
  stop_following(out);
  fsm_->on_upstream_lost(fsm_->upstream());
  auto s = survey_of_cores(shard_effect::catch_up, ++survey_epoch_);
  if (s.nodes.empty()) {
    for (auto& e : on_survey(shard_effect::catch_up, s.epoch, {}, now))
      out.push_back(std::move(e));
    return;
  }
  out.push_back(std::move(s));
}

void shard_core::finish_sync(shard_effects& out) {
  syncing_ = false;
  leading_ = true;
  if (healing_)
    log(out, "healed at seqno " + std::to_string(store_->seqno()));
  healing_ = false;
  // A new segment of the shard's history: every transaction this core
  // numbers is named by (segment, seqno) in the whole cluster.
  auto l = fsm_->history();
  l.fork(new_id_(), store_->seqno());
  fsm_->set_history(l);
  if (disc_) {
    auto h = make(shard_effect::store_history);
    h.history = l;
    out.push_back(std::move(h));
  }
  // A replica that subscribed before the fork (to this core while it still
  // followed the old sequencer) took the old history: the transactions we
  // now number would land in its copy under the wrong segment, and the next
  // comparison would call it branched (autoheal would then discard what it
  // accepted). Each subscribes again and resumes with the new history.
  drop_all_streams(out);
  stop_following(out);
  fsm_->on_upstream_lost(fsm_->upstream());
  if (took_over_) // a lone node leading its shards at start is no news
    log(out, "sequencer on this node at seqno " + std::to_string(store_->seqno()));
  drain_stash(out);
}

shard_effect shard_core::survey_of_cores(shard_effect::purpose_t purpose,
                                         uint64_t epoch) const {
  auto s = make(shard_effect::survey);
  s.purpose = purpose;
  s.epoch = epoch;
  for (auto& [name, p] : peers_)
    if (p.core)
      s.nodes.push_back(name);
  return s;
}

/// The core a replicant should follow: a following core that serves
/// first, then the sequencer, then any; the fewest subscribers first; ties
/// broken by a hash of both names so replicants spread.
std::optional<survey_answer>
shard_core::best_upstream(const std::vector<survey_answer>& answers) const {
  std::optional<std::pair<std::tuple<int, uint64_t, size_t>, survey_answer>> best;
  for (auto& a : answers) {
    if (!a.ok || !peers_.count(a.node))
      continue;
    int rank = a.serving && !a.leading ? 0 : a.leading ? 1 : 2;
    auto key = std::make_tuple(rank, a.load, std::hash<std::string>{}(self_ + "/" + a.node));
    if (!best || key < best->first)
      best = std::make_pair(key, a);
  }
  if (!best)
    return std::nullopt;
  return best->second;
}

bool shard_core::serving() const {
  return core_ && !syncing_
         && (leading_ || (following_ && fsm_->state() == replica_state::normal));
}

void shard_core::schedule_move_check(shard_effects& out) {
  if (core_ || (upstream_settled_ && fsm_->upstream() != leader_)
      || move_check_epoch_ == fsm_->epoch()
      || fsm_->state() == replica_state::disconnected)
    return;
  auto others = std::count_if(peers_.begin(), peers_.end(), [&](auto& p) {
    return p.second.core && p.first != fsm_->upstream();
  });
  if (others == 0)
    return;
  move_check_epoch_ = fsm_->epoch();
  auto r = make(shard_effect::retry);
  r.epoch = fsm_->epoch();
  r.delay_ms = settings_.move_check_ms;
  out.push_back(std::move(r));
}

/// A disconnected replica subscribes again: a following core at the leader,
/// a replicant at a core that does not sequence the shard, the least
/// loaded of them (fewest subscribers, ties broken by a hash of both names
/// so replicants spread); at the sequencer only when no other core answers.
/// The sequencer's work is every write's wait, so the fan-out to
/// replicants goes to the following cores: its cost per transaction stays
/// the same however many replicants there are.
void shard_core::pick_upstream(shard_effects& out, int64_t now) {
  if (fsm_->state() != replica_state::disconnected || syncing_)
    return;
  if (core_) {
    if (!leader_.empty() && leader_ != self_)
      connect(leader_, out, now);
    else if (leader_ == self_ && !leading_)
      become_leader(out, now); // a healing shard waiting for the winners
    return;
  }
  auto s = survey_of_cores(shard_effect::pick_upstream, fsm_->epoch());
  if (s.nodes.empty()) {
    retry_later(out);
    return;
  }
  out.push_back(std::move(s));
}

shard_effects shard_core::on_survey(shard_effect::purpose_t purpose,
                                    uint64_t epoch,
                                    const std::vector<survey_answer>& answers,
                                    int64_t now) {
  shard_effects out;
  if (purpose == shard_effect::pick_upstream) {
    if (epoch != fsm_->epoch() || fsm_->state() != replica_state::disconnected)
      return out;
    auto best = best_upstream(answers);
    if (best) {
      upstream_settled_ = best->serving && !best->leading;
      connect(best->node, out, now);
    } else {
      retry_later(out);
    }
    return out;
  }
  if (purpose == shard_effect::move_upstream) {
    if (epoch != fsm_->epoch())
      return out; // it subscribed again meanwhile
    if (fsm_->state() != replica_state::normal) {
      schedule_move_check(out); // still copying: look again later
      return out;
    }
    auto upstream = fsm_->upstream();
    upstream_settled_ = std::any_of(answers.begin(), answers.end(), [&](auto& a) {
      return a.ok && a.node == upstream && a.serving && !a.leading;
    });
    if (upstream_settled_)
      return out; // its upstream follows the sequencer and serves: stay
    auto best = best_upstream(answers);
    if (best && best->node != upstream && best->serving && !best->leading) {
      log(out, "moving from " + upstream + " to " + best->node
                 + ", a following core: the sequencer keeps to sequencing");
      upstream_settled_ = true;
      fsm_->on_upstream_lost(upstream);
      stop_following(out);
      connect(best->node, out, now);
      return out;
    }
    schedule_move_check(out);
    return out;
  }
  if (epoch != survey_epoch_ || !catching_up())
    return out;
  std::string best;
  size_t answered = 0;
  for (auto& a : answers) {
    if (!a.ok)
      continue;
    ++answered;
    auto theirs = lineage::parse(a.history);
    if (theirs && compare(fsm_->history(), fsm_->reported_seqno(), *theirs, a.seqno).compatible()
        && a.seqno > sync_target_) {
      sync_target_ = a.seqno;
      best = a.node;
    }
  }
  if (best.empty()) {
    if (healing_ && answered == 0 && now < healing_until_ms_) {
      syncing_ = false; // asked again on the next change or retry
      retry_later(out);
      return out;
    }
    finish_sync(out);
    return out;
  }
  log(out, "catching up to seqno " + std::to_string(sync_target_) + " from " + best
             + " before sequencing");
  connect(best, out, now);
  return out;
}

shard_effects shard_core::on_retry(uint64_t epoch, int64_t now) {
  shard_effects out;
  if (epoch != fsm_->epoch())
    return out;
  // The sequencer's catch-up subscription failed (refused, timed out, or
  // its core went): survey again, or it would stay catching up for good.
  if (catching_up() && fsm_->state() == replica_state::disconnected) {
    become_leader(out, now);
  } else if (move_check_epoch_ == epoch
             && fsm_->state() != replica_state::disconnected) {
    move_check_epoch_.reset();
    out.push_back(survey_of_cores(shard_effect::move_upstream, epoch));
  } else {
    pick_upstream(out, now);
  }
  return out;
}

// -- following a core -------------------------------------------------------------

shard_effects shard_core::run(std::vector<replica_effect> effects, int64_t now) {
  shard_effects out;
  for (auto& e : effects) {
    switch (e.kind) {
      case replica_effect::subscribe: {
        if (!peers_.count(e.core)) {
          fsm_->on_subscribe_failed(e.epoch);
          retry_later(out);
          break;
        }
        auto s = make(shard_effect::subscribe);
        s.node = e.core;
        s.epoch = e.epoch;
        s.history = e.history;
        s.seqno = e.from;
        s.text = e.last_id;
        out.push_back(std::move(s));
        break;
      }
      case replica_effect::request_batch: {
        auto b = make(shard_effect::request_batch);
        b.epoch = e.epoch;
        b.after = e.after;
        out.push_back(std::move(b));
        break;
      }
      case replica_effect::applied:
        applied(e.c, out);
        break;
      case replica_effect::bootstrapped:
        out.push_back(make(shard_effect::watch_resend));
        if (!core_)
          break;
        log_->clear();
        if (disc_)
          out.push_back(make(shard_effect::replace_disk));
        break;
      case replica_effect::discarded:
        // The file holds what memory holds, at every moment a core could
        // start to sequence (cluster_sim seed 26945).
        if (core_ && disc_)
          out.push_back(make(shard_effect::replace_disk));
        break;
    }
  }
  if (syncing_ && fsm_->state() == replica_state::normal
      && store_->seqno() >= sync_target_) {
    finish_sync(out);
  } else if (healing_ && !syncing_ && fsm_->state() == replica_state::normal) {
    healing_ = false;
    log(out, "healed from " + fsm_->upstream() + " at seqno "
               + std::to_string(store_->seqno()));
  }
  (void) now;
  return out;
}

shard_effects shard_core::on_subscribed(uint64_t epoch, const std::string& core,
                                        bool resume, const std::string& history,
                                        uint64_t core_seqno, int64_t now) {
  shard_effects out;
  if (epoch != fsm_->epoch())
    return out;
  auto theirs = lineage::parse(history);
  if (!theirs) {
    log(out, core + " sent a malformed history", true);
    fsm_->on_upstream_lost(core);
    retry_later(out);
    return out;
  }
  following_ = true;
  upstream_seqno_ = core_seqno;
  unacked_ = 0;
  // A core that bootstraps replaces the data its subscribers were fed,
  // and takes the upstream's history (even for the same transactions: a
  // segment the subscribers do not know would mislabel what they get
  // next). Each subscribes again once it is done.
  if (!resume && core_)
    drop_all_streams(out);
  auto before = fsm_->history();
  subscription_reply r{resume, std::move(*theirs), core_seqno, {}, {}};
  for (auto& e : run(fsm_->on_subscribed(epoch, std::move(r), now), now))
    out.push_back(std::move(e));
  schedule_move_check(out);
  if (resume && fsm_->history() != before) {
    // We continue the upstream's history now: keep it, and let the replicas
    // we feed take it too (they resume).
    if (disc_ && core_) {
      auto h = make(shard_effect::store_history);
      h.history = fsm_->history();
      out.push_back(std::move(h));
    }
    drop_all_streams(out);
  }
  return out;
}

shard_effects shard_core::on_subscribe_failed(uint64_t epoch,
                                              const std::string& core,
                                              const std::string& why) {
  shard_effects out;
  if (epoch != fsm_->epoch())
    return out; // a later subscription replaced it
  log(out, "subscribing at " + core + " failed: " + why, true);
  fsm_->on_subscribe_failed(epoch);
  retry_later(out);
  return out;
}

shard_effects shard_core::on_batch(uint64_t epoch,
                                   const std::vector<record>& records,
                                   int64_t now) {
  return run(fsm_->on_batch(epoch, records, now), now);
}

shard_effects shard_core::on_batch_failed(uint64_t epoch, const std::string& why) {
  shard_effects out;
  if (epoch != fsm_->epoch())
    return out;
  log(out, "bootstrap batch failed: " + why, true);
  fsm_->on_upstream_lost(fsm_->upstream());
  stop_following(out);
  retry_later(out);
  return out;
}

shard_effects shard_core::on_live(uint64_t epoch,
                                  const std::vector<committed>& batch,
                                  uint64_t latest, int64_t now) {
  shard_effects out;
  upstream_seqno_ = std::max(upstream_seqno_, latest);
  for (auto& c : batch) {
    for (auto& e : run(fsm_->on_live(epoch, c), now))
      out.push_back(std::move(e));
    if (epoch != fsm_->epoch() || !following_)
      return out; // resubscribed: the rest of the batch is stale
  }
  if (batch.empty())
    return out;
  unacked_ += batch.size();
  // A replicant acknowledges in batches: acknowledgements only move its
  // stream's window, and one per transaction would cost the core as much
  // as the transaction itself. A following core acknowledges every
  // message: the sequencer's callers wait for it.
  if (core_ || unacked_ >= settings_.replicant_ack_every) {
    auto a = make(shard_effect::ack);
    a.epoch = epoch;
    a.seqno = batch.back().seqno;
    out.push_back(std::move(a));
    unacked_ = 0;
  }
  return out;
}

shard_effects shard_core::on_cut(uint64_t epoch, const std::string& why) {
  shard_effects out;
  if (epoch != fsm_->epoch())
    return out;
  log(out, "cut off by " + fsm_->upstream() + ": " + why, true);
  following_ = false;
  fsm_->on_upstream_lost(fsm_->upstream());
  retry_later(out);
  return out;
}

shard_effects shard_core::on_upstream_lost(int64_t) {
  shard_effects out;
  following_ = false;
  if (!leading_ && fsm_->state() != replica_state::disconnected) {
    fsm_->on_upstream_lost(fsm_->upstream());
    retry_later(out);
  }
  return out;
}

// -- serving subscribers (cores) ------------------------------------------------

void shard_core::drop_stream(const std::string& node, shard_effects& out) {
  if (!subscribers_.erase(node))
    return;
  auto e = make(shard_effect::drop_stream);
  e.node = node;
  out.push_back(std::move(e));
  if (seq_)
    answer(out, seq_->follower_lost(node));
}

void shard_core::drop_all_streams(shard_effects& out) {
  while (!subscribers_.empty()) {
    // A copy: drop_stream erases the entry the key lives in.
    auto node = subscribers_.begin()->first;
    drop_stream(node, out);
  }
}

shard_effects shard_core::on_stream_lost(const std::string& node) {
  shard_effects out;
  if (subscribers_.erase(node) && seq_)
    answer(out, seq_->follower_lost(node));
  return out;
}

shard_effects shard_core::on_acked(const std::string& node, uint64_t seqno) {
  shard_effects out;
  if (seq_)
    answer(out, seq_->ack(seqno, node));
  return out;
}

subscription_decision shard_core::on_subscribe(const std::string& node,
                                               bool is_core,
                                               const std::string& history,
                                               uint64_t seqno,
                                               const std::string& last_id,
                                               shard_effects& out) {
  subscription_decision d;
  if (!core_) {
    d.error = self_ + " is a replicant and serves no subscriptions";
    return d;
  }
  if (syncing_) {
    d.error = self_ + " is catching up before sequencing; retry";
    return d;
  }
  // A core copying the shard itself holds part of it, at seqno 0: a
  // subscriber that bootstrapped from that would keep the part.
  if (fsm_->state() == replica_state::bootstrap) {
    d.error = self_ + " is bootstrapping shard " + shard_ + " itself; retry";
    return d;
  }
  auto theirs = lineage::parse(history);
  if (!theirs) {
    d.error = "malformed history '" + history + "' from " + node;
    return d;
  }
  auto reply = decide_subscription(*store_, fsm_->history(), *log_, *theirs,
                                   seqno, last_id);
  // A core's data is never thrown away by a subscription: a branched core
  // is a partition (autoheal decides which side keeps its data), and a core
  // ahead of the sequencer has transactions the sequencer must take first.
  if (is_core && seqno > 0 && !reply.resume) {
    if (reply.relation.kind == lineage_relation::branched) {
      d.error = "the history of shard " + shard_ + " on " + node
                + " branched from " + self_ + "'s after seqno "
                + std::to_string(reply.relation.common)
                + ": a partition, for autoheal to settle";
      return d;
    }
    if (reply.relation.kind == lineage_relation::ahead) {
      if (leading_)
        become_leader(out, 0); // catches up from the most advanced core
      d.error = node + " is ahead of " + self_ + " on shard " + shard_
                + "; catching up, retry";
      return d;
    }
  }
  // A replicant gets a transaction at commit, before the cores acknowledge
  // it: when the sequencer dies in between, the replicant holds what no
  // surviving core has (its writer was not answered, and retries).
  if (!is_core && (reply.relation.kind == lineage_relation::ahead
                   || reply.relation.kind == lineage_relation::branched))
    log(out, node + " holds transactions after seqno "
               + std::to_string(reply.relation.common)
               + " that this core does not have (from a sequencer that died before "
                 "a surviving core acknowledged them, or from the other side of a "
                 "partition); it bootstraps",
        true);
  drop_stream(node, out);
  // Replaying more transactions than the stream may queue costs more than
  // a bootstrap; so does replaying into an empty replica (every record was
  // written at least once, so there are never fewer entries than records).
  if (reply.resume
      && (reply.entries.size() > settings_.agent_queue_limit
          || (seqno == 0 && !reply.entries.empty()))) {
    reply.resume = false; // a bootstrap instead
    reply.entries.clear();
  }
  subscribers_[node] = is_core;
  log(out, node + " subscribed ("
             + (reply.resume ? "resume from " + std::to_string(seqno)
                             : std::string("bootstrap"))
             + ", seqno " + std::to_string(reply.core_seqno) + ")");
  d.resume = reply.resume;
  d.history = reply.history;
  d.core_seqno = reply.core_seqno;
  d.entries = std::move(reply.entries);
  return d;
}

// -- autoheal -------------------------------------------------------------------------

reset_outcome shard_core::reset(const std::string& reason, uint64_t common,
                                int64_t now, shard_effects& out) {
  reset_outcome r;
  r.history = fsm_->history().current();
  r.seqno = store_->seqno();
  if (log_ && log_->size() > 0) {
    r.log_first = log_->first_seqno();
    if (auto since = log_->since(std::max(common, r.log_first - 1)))
      r.discarded = std::move(*since);
  }
  log(out, "discarding " + std::to_string(r.seqno > common ? r.seqno - common : 0)
             + " transactions after seqno " + std::to_string(common) + " ("
             + reason + "); taking the data of the other side",
      true);
  // Subscribers resubscribe (a replicant resumes or bootstraps elsewhere);
  // callers waiting for acknowledgements of the discarded branch hear so.
  drop_all_streams(out);
  for (auto& [seqno, caller] : callers_) {
    auto e = make(shard_effect::answer);
    e.caller = caller;
    e.error = "transaction " + std::to_string(seqno) + " of shard " + shard_
              + " was discarded (" + reason + ")";
    out.push_back(std::move(e));
  }
  callers_.clear();
  stop_following(out);
  fsm_->reset();
  if (log_)
    log_->clear();
  if (seq_)
    seq_ = std::make_unique<sequencer>(*store_, *log_, schema_);
  leading_ = false;
  syncing_ = false;
  leader_.clear(); // the next peers message decides again
  healing_ = true;
  healing_until_ms_ = now + settings_.healing_timeout_ms;
  // The file follows at once: a crash now must not bring the branch back.
  if (disc_)
    out.push_back(make(shard_effect::replace_disk));
  out.push_back(make(shard_effect::watch_reset));
  return r;
}

} // namespace starling::runtime::db
