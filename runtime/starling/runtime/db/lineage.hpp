#pragma once

// A shard's history as a list of segments. Every time a core starts
// sequencing a shard (at start, after a failover, after a partition) it opens
// a new segment, named by a fresh random id, at the seqno it has reached:
//
//   A4f2@0, 9c1e@120, 77b0@250   transactions 1..120 were numbered by the
//                                sequencer of segment A4f2, 121..250 by 9c1e,
//                                251.. by 77b0
//
// One segment has one sequencer, so (segment, seqno) names one transaction
// in the whole cluster. Two replicas of a shard then compare exactly:
//
//   - one is a prefix of the other (same segments over its seqnos): it can
//     continue from the other without losing anything (equal / behind /
//     ahead);
//   - or they differ at some seqno: both sides numbered transactions without
//     each other (a partition, or a sequencer that died with transactions no
//     other core had): `branched`, with the last seqno they share.
//
// Example: X@0,Y@100 at seqno 130 and X@0 at seqno 100 are compatible (the
// second is behind); X@0,Y@100 at 130 and X@0,Z@100 at 101 branched after
// 100; X@0,Y@100 at 100 and X@0 at 140 are compatible (segment Y holds no
// transaction yet, so the first is simply behind).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace starling::runtime::db {

class lineage {
public:
  struct segment {
    std::string id;
    uint64_t start = 0; ///< transactions start+1, start+2, ... are in it
    friend bool operator==(const segment&, const segment&) = default;
  };

  /// Segments kept; older ones are dropped (compare() then treats what it
  /// cannot see as different, which only ever costs a bootstrap or a heal).
  static constexpr size_t max_segments = 32;

  lineage() = default;
  /// A history with one segment starting at seqno 0.
  static lineage root(std::string id);
  /// Reads "id@start,id@start,..." (or a bare "id", the format before
  /// segments: one segment at 0); nullopt when malformed.
  static std::optional<lineage> parse(const std::string& text);

  std::string str() const;
  bool empty() const { return segments_.empty(); }
  /// The id of the newest segment ("" when empty).
  std::string current() const;
  const std::vector<segment>& segments() const { return segments_; }

  /// Opens segment `id` at seqno `at` (the sequencer's seqno when it starts).
  /// A newest segment holding no transaction yet (start >= at) is replaced.
  void fork(std::string id, uint64_t at);

  /// The segment transaction `seqno` belongs to; nullopt when it is older
  /// than what is kept (or the lineage is empty).
  std::optional<std::string> segment_of(uint64_t seqno) const;

  friend bool operator==(const lineage&, const lineage&) = default;

private:
  std::vector<segment> segments_;
};

/// How replica A (lineage, seqno) relates to replica B.
struct lineage_relation {
  enum kind_t { equal, behind, ahead, branched } kind = equal;
  /// The last seqno both hold the same transaction at (for branched: the
  /// fork point; otherwise min of the two seqnos).
  uint64_t common = 0;

  /// One can continue from the other without losing a transaction.
  bool compatible() const { return kind != branched; }
};

lineage_relation compare(const lineage& a, uint64_t a_seqno, const lineage& b,
                         uint64_t b_seqno);

std::string to_string(lineage_relation::kind_t k);

} // namespace starling::runtime::db
