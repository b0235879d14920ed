#pragma once

// The shard's sequencer, run by the leader core (the oldest running core).
// Every transaction of the shard, from any node, is committed here: checked
// against the schema, given the next seqno, applied, logged, then sent to
// every follower core; the caller hears `ok` once every follower that is
// still up has acknowledged. Because one actor assigns the numbers and the
// followers apply strictly in seqno order, all cores hold the same history,
// and a seqno names the same transaction on every core: a replicant can
// resume on any core whose log still holds its next seqno.

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "starling/runtime/db/rlog.hpp"
#include "starling/runtime/db/shard_store.hpp"
#include "starling/runtime/db/types.hpp"

namespace starling::runtime::db {

class sequencer {
public:
  sequencer(shard_store& store, rlog& log, const schema& s)
    : store_(store), log_(log), schema_(s) {}

  struct outcome {
    std::optional<committed> fresh; ///< set when newly committed
    uint64_t seqno = 0;             ///< of the new or the earlier commit
    std::string error;              ///< set when refused
  };

  /// Commits `txn` unless it is invalid or was committed before (same id
  /// still in the log: the earlier seqno is returned, nothing is applied).
  outcome commit(const transaction& txn);

  /// The caller of `seqno` waits for `followers` to acknowledge.
  void expect(uint64_t seqno, const std::vector<std::string>& followers);
  /// A follower acknowledged every transaction up to `seqno` (cumulative);
  /// returns the seqnos whose callers can now be answered, ascending.
  std::vector<uint64_t> ack(uint64_t seqno, const std::string& follower);
  /// A follower went down: nobody waits for it any longer.
  std::vector<uint64_t> follower_lost(const std::string& follower);
  /// Seqnos still waiting for acknowledgements.
  size_t pending() const { return waiting_.size(); }

private:
  /// Nobody waits for `follower` on seqnos up to `up_to` any longer.
  std::vector<uint64_t> release(const std::string& follower, uint64_t up_to);

  shard_store& store_;
  rlog& log_;
  const schema& schema_;
  std::map<uint64_t, std::set<std::string>> waiting_;
};

} // namespace starling::runtime::db
