#include <doctest/doctest.h>

#include <random>

#include "starling/runtime/db/lineage.hpp"

using namespace starling::runtime::db;

namespace {
lineage L(const std::string& text) {
  auto l = lineage::parse(text);
  REQUIRE(l);
  return *l;
}
} // namespace

TEST_CASE("lineage text round-trips; a bare id is one segment at 0") {
  CHECK(L("a@0,b@120,c@250").str() == "a@0,b@120,c@250");
  CHECK(L("abc").str() == "abc@0");
  CHECK(L("").empty());
  CHECK(L("a@0,b@5").current() == "b");
  CHECK_FALSE(lineage::parse("a@0,b"));
  CHECK_FALSE(lineage::parse("a@5,b@3"));
  CHECK_FALSE(lineage::parse("@5"));
  CHECK_FALSE(lineage::parse("a@x"));
}

TEST_CASE("fork opens a segment; an empty newest segment is replaced") {
  auto l = lineage::root("a");
  l.fork("b", 0); // nothing was numbered in a
  CHECK(l.str() == "b@0");
  l.fork("c", 10);
  CHECK(l.str() == "b@0,c@10");
  l.fork("d", 10); // c held nothing
  CHECK(l.str() == "b@0,d@10");
  for (int i = 0; i < 40; ++i)
    l.fork("s" + std::to_string(i), 20 + i);
  CHECK(l.segments().size() == lineage::max_segments);
  CHECK(l.current() == "s39");
  CHECK_FALSE(l.segment_of(5)); // older than what is kept
}

TEST_CASE("compare: prefixes are compatible, divergence is branched") {
  // The examples of lineage.hpp.
  auto r = compare(L("X@0,Y@100"), 130, L("X@0"), 100);
  CHECK(r.kind == lineage_relation::ahead);
  CHECK(r.common == 100);
  r = compare(L("X@0,Y@100"), 130, L("X@0,Z@100"), 101);
  CHECK(r.kind == lineage_relation::branched);
  CHECK(r.common == 100);
  r = compare(L("X@0,Y@100"), 100, L("X@0"), 140);
  CHECK(r.kind == lineage_relation::behind);
  CHECK(r.compatible());
  // Unrelated roots branch at 0; an empty replica is behind everything.
  r = compare(L("P@0"), 3, L("Q@0"), 3);
  CHECK(r.kind == lineage_relation::branched);
  CHECK(r.common == 0);
  CHECK(compare(lineage{}, 0, L("Q@0"), 3).kind == lineage_relation::behind);
  CHECK(compare(L("P@0"), 0, L("Q@0"), 3).kind == lineage_relation::behind);
  CHECK(compare(L("P@0"), 7, L("P@0"), 7).kind == lineage_relation::equal);
}

namespace {
/// A replica as the list of transaction names it applied, next to the
/// lineage the protocol would give it.
struct model {
  std::vector<std::string> txns; ///< txns[k-1] = segment of seqno k
  lineage lin;
  std::string owned; ///< the segment this replica sequences, if any
  uint64_t seqno() const { return txns.size(); }
};

lineage_relation truth(const model& a, const model& b) {
  lineage_relation r;
  size_t m = std::min(a.txns.size(), b.txns.size());
  for (size_t k = 0; k < m; ++k)
    if (a.txns[k] != b.txns[k]) {
      r.kind = lineage_relation::branched;
      r.common = k;
      return r;
    }
  r.common = m;
  r.kind = a.txns.size() == b.txns.size() ? lineage_relation::equal
           : a.txns.size() < b.txns.size() ? lineage_relation::behind
                                            : lineage_relation::ahead;
  return r;
}
} // namespace

TEST_CASE("compare agrees with transaction-by-transaction truth (property)") {
  // Replicas that lead (fork, then commit), follow another (copy it), or
  // stop: whatever the protocol can produce, compare() must tell exactly
  // whether one is a prefix of the other and where they part.
  for (uint32_t seed = 1; seed <= 300; ++seed) {
    std::mt19937 rng(seed);
    std::vector<model> replicas(4);
    int next_id = 0;
    for (auto& r : replicas) {
      r.lin = lineage::root("r" + std::to_string(next_id++));
    }
    for (int step = 0; step < 60; ++step) {
      auto& r = replicas[rng() % replicas.size()];
      switch (rng() % 3) {
        case 0: { // becomes a sequencer and numbers a few transactions
          auto id = "s" + std::to_string(next_id++);
          r.lin.fork(id, r.seqno());
          r.owned = id;
          for (auto n = rng() % 4; n > 0; --n)
            r.txns.push_back(id);
          break;
        }
        case 1: { // follows another replica: copies it (bootstrap or resume)
          auto& other = replicas[rng() % replicas.size()];
          if (&other != &r) {
            r = other;
            r.owned.clear();
          }
          break;
        }
        case 2: // the sequencer commits more in its newest segment
          if (!r.owned.empty() && r.lin.current() == r.owned)
            r.txns.push_back(r.owned);
          break;
      }
      for (auto& a : replicas)
        for (auto& b : replicas) {
          auto want = truth(a, b);
          auto got = compare(a.lin, a.seqno(), b.lin, b.seqno());
          REQUIRE_MESSAGE(got.kind == want.kind, "seed " << seed << ": "
                                                         << a.lin.str() << " vs "
                                                         << b.lin.str());
          REQUIRE(got.common == want.common);
        }
    }
  }
}
