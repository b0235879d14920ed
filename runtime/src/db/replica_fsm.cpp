#include "starling/runtime/db/replica_fsm.hpp"

#include <utility>

namespace starling::runtime::db {

std::string to_string(replica_state s) {
  switch (s) {
    case replica_state::disconnected:
      return "disconnected";
    case replica_state::bootstrap:
      return "bootstrap";
    case replica_state::local_replay:
      return "local_replay";
    case replica_state::normal:
      return "normal";
  }
  return "?";
}

subscription_reply decide_subscription(const shard_store& store,
                                       const lineage& history,
                                       const rlog& log,
                                       const lineage& their_history,
                                       uint64_t their_seqno,
                                       const std::string& their_last_id) {
  subscription_reply r;
  r.history = history;
  r.core_seqno = store.seqno();
  // Only a prefix of the core's history can be continued (an empty replica
  // is one); a replica ahead of the core or on another branch bootstraps.
  r.relation = compare(their_history, their_seqno, history, r.core_seqno);
  if (!r.relation.compatible() || r.relation.kind == lineage_relation::ahead)
    return r;
  if (!their_last_id.empty()) {
    auto mine = log.at(their_seqno);
    if (mine == nullptr || mine->txn.id != their_last_id)
      return r;
  }
  if (their_seqno == r.core_seqno) {
    r.resume = true;
    return r;
  }
  if (auto entries = log.since(their_seqno);
      entries && !entries->empty() && entries->front().seqno == their_seqno + 1
      && entries->back().seqno == r.core_seqno) {
    r.resume = true;
    r.entries = std::move(*entries);
  }
  return r;
}

replica_fsm::replica_fsm(shard_store& store, lineage history,
                         size_t max_buffer)
  : store_(store), history_(std::move(history)), max_buffer_(max_buffer) {
  trace_.push_back(state_);
}

void replica_fsm::enter(replica_state s) {
  if (s == state_)
    return;
  state_ = s;
  // A replica of a long-running node may reconnect without end: keep the
  // latest transitions only.
  if (trace_.size() >= max_trace)
    trace_.erase(trace_.begin(), trace_.begin() + max_trace / 2);
  trace_.push_back(s);
}

std::vector<replica_effect> replica_fsm::connect(const std::string& core) {
  upstream_ = core;
  ++epoch_;
  subscribing_ = true;
  buffer_.clear();
  abandon_bootstrap();
  enter(replica_state::disconnected);
  std::vector<replica_effect> out;
  // A store without a history but with records was given up (a gap in its
  // stream): it can only be rebuilt, never continued. The file follows.
  if (history_.empty() && (store_.size() > 0 || store_.seqno() > 0)) {
    store_.reset();
    last_id_.clear();
    out.push_back(replica_effect{replica_effect::discarded});
  }
  replica_effect e{replica_effect::subscribe};
  e.core = core;
  e.epoch = epoch_;
  e.from = store_.seqno();
  e.history = history_;
  e.last_id = last_id_;
  out.push_back(std::move(e));
  return out;
}

void replica_fsm::abandon_bootstrap() {
  if (!staging_)
    return;
  staging_.reset();
  history_ = std::move(history_before_);
  history_before_ = {};
}

std::vector<replica_effect> replica_fsm::resubscribe(bool force_bootstrap) {
  ++stats_.gaps;
  abandon_bootstrap();
  if (force_bootstrap)
    history_ = {};
  return connect(upstream_);
}

void replica_fsm::on_subscribe_failed(uint64_t epoch) {
  if (epoch != epoch_ || !subscribing_)
    return;
  subscribing_ = false;
  enter(replica_state::disconnected);
}

std::vector<replica_effect> replica_fsm::on_subscribed(uint64_t epoch,
                                                       subscription_reply reply,
                                                       int64_t now_ms) {
  if (epoch != epoch_ || !subscribing_) {
    ++stats_.stale;
    return {};
  }
  subscribing_ = false;
  std::vector<replica_effect> out;
  if (!reply.resume) {
    ++stats_.bootstraps;
    enter(replica_state::bootstrap);
    staging_ = std::make_unique<shard_store>(store_.shard());
    history_before_ = std::exchange(history_, {}); // until the copy is complete
    snapshot_seqno_ = reply.core_seqno;
    reply_history_ = reply.history;
    last_record_.reset();
    bootstrap_started_ms_ = now_ms;
    bootstrap_records_ = 0;
    replica_effect e{replica_effect::request_batch};
    e.epoch = epoch_;
    out.push_back(e);
    return out;
  }
  ++stats_.resumes;
  history_ = reply.history;
  enter(replica_state::local_replay);
  // Entries up to S come in the reply or first on the live stream.
  for (auto& c : reply.entries)
    if (!apply_next(c, out))
      return resubscribe(true);
  enter(replica_state::normal);
  return out;
}

bool replica_fsm::apply_next(const committed& c,
                             std::vector<replica_effect>& out) {
  if (c.seqno != store_.seqno() + 1)
    return false;
  store_.apply(c);
  last_id_ = c.txn.id;
  replica_effect e{replica_effect::applied};
  e.c = c;
  out.push_back(std::move(e));
  return true;
}

std::vector<replica_effect> replica_fsm::on_batch(
  uint64_t epoch, const std::vector<record>& records, int64_t now_ms) {
  if (epoch != epoch_ || state_ != replica_state::bootstrap) {
    ++stats_.stale;
    return {};
  }
  if (!records.empty()) {
    for (auto& r : records)
      staging_->put(r);
    bootstrap_records_ += records.size();
    last_record_ = records.back();
    replica_effect e{replica_effect::request_batch};
    e.epoch = epoch_;
    e.after = last_record_;
    return {e};
  }
  // The copy is complete: it reflects at least every transaction up to S.
  store_ = std::move(*staging_);
  staging_.reset();
  history_before_ = {};
  last_id_.clear();
  store_.set_seqno(snapshot_seqno_);
  history_ = reply_history_;
  stats_.last_bootstrap_ms = now_ms - bootstrap_started_ms_;
  stats_.last_bootstrap_records = bootstrap_records_;
  std::vector<replica_effect> out;
  replica_effect b{replica_effect::bootstrapped};
  b.from = snapshot_seqno_;
  b.history = history_;
  out.push_back(b);
  enter(replica_state::local_replay);
  for (auto& e : replay_buffer())
    out.push_back(std::move(e));
  if (state_ == replica_state::local_replay) // else: resubscribed on a break
    enter(replica_state::normal);
  return out;
}

std::vector<replica_effect> replica_fsm::replay_buffer() {
  std::vector<replica_effect> out;
  while (!buffer_.empty()) {
    auto c = std::move(buffer_.front());
    buffer_.pop_front();
    if (c.seqno <= store_.seqno()) {
      ++stats_.duplicates;
      continue;
    }
    if (!apply_next(c, out)) {
      buffer_.clear();
      return resubscribe(false);
    }
  }
  return out;
}

std::vector<replica_effect> replica_fsm::on_live(uint64_t epoch,
                                                 const committed& c) {
  if (epoch != epoch_ || state_ == replica_state::disconnected) {
    ++stats_.stale;
    return {};
  }
  if (state_ == replica_state::bootstrap) {
    // Only S+1, S+2, ... may arrive; anything else is a broken stream.
    uint64_t expected = buffer_.empty() ? snapshot_seqno_ + 1
                                        : buffer_.back().seqno + 1;
    if (c.seqno != expected || buffer_.size() >= max_buffer_) {
      // The copy goes; the store it would have replaced is whole and can
      // still be resumed.
      buffer_.clear();
      return resubscribe(false);
    }
    buffer_.push_back(c);
    return {};
  }
  std::vector<replica_effect> out;
  if (c.seqno <= store_.seqno()) {
    ++stats_.duplicates;
    return out;
  }
  if (!apply_next(c, out))
    return resubscribe(false);
  return out;
}

void replica_fsm::on_upstream_lost(const std::string& core) {
  if (core != upstream_)
    return;
  subscribing_ = false;
  buffer_.clear();
  ++epoch_; // whatever the old upstream still had in flight is stale
  abandon_bootstrap();
  enter(replica_state::disconnected);
}

void replica_fsm::set_history(lineage history) {
  history_ = std::move(history);
}

void replica_fsm::reset() {
  on_upstream_lost(upstream_);
  abandon_bootstrap();
  store_.reset();
  history_ = {};
  last_id_.clear();
}

} // namespace starling::runtime::db
