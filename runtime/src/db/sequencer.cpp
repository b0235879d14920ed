#include "starling/runtime/db/sequencer.hpp"

namespace starling::runtime::db {

sequencer::outcome sequencer::commit(const transaction& txn) {
  outcome out;
  if (auto why = schema_.check(txn)) {
    out.error = *why;
    return out;
  }
  if (store_.shard() != txn.shard) {
    out.error = "transaction for shard " + txn.shard + " sent to shard "
                + store_.shard();
    return out;
  }
  if (auto earlier = log_.find(txn.id)) {
    out.seqno = *earlier;
    return out;
  }
  committed c{store_.seqno() + 1, txn};
  store_.apply(c);
  log_.append(c);
  out.seqno = c.seqno;
  out.fresh = std::move(c);
  return out;
}

void sequencer::expect(uint64_t seqno,
                       const std::vector<std::string>& followers) {
  if (followers.empty())
    return;
  waiting_[seqno].insert(followers.begin(), followers.end());
}

std::vector<uint64_t> sequencer::ack(uint64_t seqno,
                                     const std::string& follower) {
  return release(follower, seqno);
}

std::vector<uint64_t> sequencer::follower_lost(const std::string& follower) {
  return release(follower, UINT64_MAX);
}

std::vector<uint64_t> sequencer::release(const std::string& follower,
                                         uint64_t up_to) {
  std::vector<uint64_t> done;
  for (auto i = waiting_.begin(); i != waiting_.end() && i->first <= up_to;) {
    i->second.erase(follower);
    if (i->second.empty()) {
      done.push_back(i->first);
      i = waiting_.erase(i);
    } else {
      ++i;
    }
  }
  return done;
}

} // namespace starling::runtime::db
