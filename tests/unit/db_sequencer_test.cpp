#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <numeric>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "starling/runtime/db/rlog.hpp"
#include "starling/runtime/db/sequencer.hpp"
#include "starling/runtime/db/shard_store.hpp"
#include "starling/runtime/db/types.hpp"

using namespace starling::runtime::db;

namespace {

const schema& seq_schema() {
  static const schema s({{"t1", "s"},
                         {"t2", "s"},
                         {"m", "s", storage::ram, table_type::merge},
                         {"o1", "other"}});
  return s;
}

op w(std::string table, std::string key, std::string value) {
  return {op::write, std::move(table), std::move(key), std::move(value)};
}

transaction txn(std::string id, std::vector<op> ops, std::string shard = "s") {
  return {std::move(id), std::move(shard), std::move(ops)};
}

// A node's copy of the shard with its log (and a sequencer when leading).
struct node {
  explicit node(size_t log_capacity = 100) : log(log_capacity) {}
  node(const node&) = delete;
  shard_store store{"s"};
  rlog log;
  sequencer seq{store, log, seq_schema()};
};

std::vector<record> dump(const shard_store& s) {
  return s.batch_after(std::nullopt, SIZE_MAX);
}

// Origin `origin`'s n-th transaction: 1-2 random ops on t1/t2.
transaction origin_txn(std::mt19937& rng, const std::string& origin, int n) {
  transaction t{origin + "#1#" + std::to_string(n), "s", {}};
  for (int i = 1 + static_cast<int>(rng() % 2); i > 0; --i) {
    std::string table = rng() % 2 ? "t1" : "t2";
    std::string key = "k" + std::to_string(rng() % 6);
    auto k = rng() % 10;
    if (k < 6)
      t.ops.push_back(w(table, key, origin + std::to_string(n)));
    else if (k < 9)
      t.ops.push_back({op::erase, table, key, ""});
    else
      t.ops.push_back({op::clear, table, "", ""});
  }
  return t;
}

} // namespace

TEST_CASE("sequencer: commits get consecutive seqnos and are applied") {
  node n;
  for (uint64_t i = 1; i <= 5; ++i) {
    auto t = txn("a#1#" + std::to_string(i), {w("t1", "k", std::to_string(i))});
    auto out = n.seq.commit(t);
    CHECK(out.error.empty());
    CHECK(out.seqno == i);
    REQUIRE(out.fresh);
    CHECK(out.fresh->seqno == i);
    CHECK(out.fresh->txn == t);
    CHECK(n.store.seqno() == i);
    CHECK(n.log.last_seqno() == i);
    CHECK(n.store.read("t1", "k") == std::to_string(i));
  }
  CHECK(n.log.size() == 5);
  CHECK(n.seq.pending() == 0);
}

TEST_CASE("sequencer: a retried transaction id answers its earlier seqno") {
  node n(3);
  CHECK(n.seq.commit(txn("a#1#1", {w("t1", "k", "first")})).seqno == 1);
  CHECK(n.seq.commit(txn("a#1#2", {w("t2", "x", "y")})).seqno == 2);
  auto sum = n.store.checksum();
  auto again = n.seq.commit(txn("a#1#1", {w("t1", "k", "second")}));
  CHECK(again.seqno == 1);
  CHECK_FALSE(again.fresh);
  CHECK(again.error.empty());
  CHECK(n.store.read("t1", "k") == "first");
  CHECK(n.store.seqno() == 2);
  CHECK(n.store.checksum() == sum);
  CHECK(n.log.size() == 2);
  // Once the id has left the log window it is committed anew.
  for (int i = 3; i <= 5; ++i)
    n.seq.commit(txn("a#1#" + std::to_string(i), {w("t2", "x", "z")}));
  CHECK_FALSE(n.log.find("a#1#1"));
  auto late = n.seq.commit(txn("a#1#1", {w("t1", "k", "third")}));
  REQUIRE(late.fresh);
  CHECK(late.seqno == 6);
  CHECK(n.store.read("t1", "k") == "third");
}

TEST_CASE("sequencer: invalid transactions are refused with the reason") {
  node n;
  n.seq.commit(txn("ok#1", {w("t1", "k", "v")}));
  auto sum = n.store.checksum();
  auto refused = [&](transaction t, const std::string& why) {
    CAPTURE(why);
    auto out = n.seq.commit(t);
    CHECK(out.error.find(why) != std::string::npos);
    CHECK_FALSE(out.fresh);
    CHECK(out.seqno == 0);
    CHECK(n.store.seqno() == 1);
    CHECK(n.store.checksum() == sum);
    CHECK(n.log.size() == 1);
    CHECK_FALSE(n.log.find(t.id));
    return out.error;
  };
  CHECK(refused(txn("x#1", {w("nope", "k", "v")}), "unknown table") ==
        "unknown table 'nope'");
  refused(txn("x#2", {w("t1", "k", "v"), w("o1", "k", "v")}), "two shards");
  refused(txn("x#3", {w("m", "k", "v")}), "merge table");
  refused(txn("x#4", {}), "empty transaction");
  refused(txn("x#5", {w("t1", "", "v")}), "needs a key");
  refused(txn("x#6", {w("t1", "k", "v")}, "other"), "addressed to shard");
  refused(txn("x#7", {w("o1", "k", "v")}, "other"), "sent to shard");
  // A refused id can still be committed once it is valid.
  CHECK(n.seq.commit(txn("x#1", {w("t1", "k", "w")})).seqno == 2);
}

TEST_CASE("sequencer: callers are answered once every live follower acked "
          "(acks are cumulative)") {
  using seqnos = std::vector<uint64_t>;
  node n;
  n.seq.expect(1, {"b", "c"});
  n.seq.expect(2, {"b"});
  n.seq.expect(3, {});
  CHECK(n.seq.pending() == 2); // nobody to wait for: answer at once
  CHECK(n.seq.ack(1, "b").empty());
  CHECK(n.seq.ack(1, "b").empty());      // twice
  CHECK(n.seq.ack(1, "x").empty());      // not a follower of 1
  CHECK(n.seq.ack(0, "c").empty());      // covers nothing
  CHECK(n.seq.ack(2, "c") == seqnos{1}); // 2 still waits for b
  CHECK(n.seq.ack(2, "c").empty());
  CHECK(n.seq.pending() == 1);
  CHECK(n.seq.ack(5, "b") == seqnos{2});
  CHECK(n.seq.ack(9, "b").empty()); // nothing waits
  CHECK(n.seq.pending() == 0);

  n.seq.expect(4, {"b", "c"});
  n.seq.expect(5, {"b"});
  n.seq.expect(6, {"c"});
  n.seq.expect(7, {"b", "c"});
  CHECK(n.seq.ack(7, "c") == seqnos{6});
  CHECK(n.seq.follower_lost("x").empty());
  CHECK(n.seq.pending() == 3);
  CHECK(n.seq.follower_lost("b") == seqnos{4, 5, 7});
  CHECK(n.seq.pending() == 0);

  n.seq.expect(8, {"b", "c"});
  n.seq.expect(9, {"b", "c"});
  n.seq.expect(10, {"b"});
  CHECK(n.seq.ack(9, "b").empty());
  CHECK(n.seq.ack(8, "c") == seqnos{8});
  CHECK(n.seq.follower_lost("c") == seqnos{9});
  CHECK(n.seq.follower_lost("c").empty());
  CHECK(n.seq.ack(10, "b") == seqnos{10});
  CHECK(n.seq.pending() == 0);
}

TEST_CASE("sequencer: two origins interleaved give one order that followers "
          "reproduce (property)") {
  for (unsigned seed = 1; seed <= 100; ++seed) {
    CAPTURE(seed);
    std::mt19937 rng(seed);
    node leader(8), f1, f2;
    std::map<std::string, int> sent;         // origin -> transactions sent
    std::map<std::string, int> last_applied; // origin -> last counter seen
    std::vector<committed> stream;
    for (int i = 0; i < 60; ++i) {
      std::string origin = rng() % 2 ? "n1" : "n2";
      // Now and then the origin retries its latest transaction (its answer
      // was lost) while the id is still in the leader's log.
      auto latest = origin + "#1#" + std::to_string(sent[origin]);
      bool retry = rng() % 5 == 0 && leader.log.find(latest).has_value();
      auto t = origin_txn(rng, origin, retry ? sent[origin] : ++sent[origin]);
      auto out = leader.seq.commit(t);
      CHECK(out.error.empty());
      if (retry) {
        CHECK_FALSE(out.fresh);
        CHECK(out.seqno == leader.log.find(t.id));
        continue;
      }
      REQUIRE(out.fresh);
      CHECK(out.seqno == stream.size() + 1);
      stream.push_back(*out.fresh);
      leader.seq.expect(out.seqno, {"f1", "f2"});
    }
    // Each origin's transactions keep their relative order.
    for (const auto& c : stream) {
      auto hash = c.txn.id.find('#');
      auto origin = c.txn.id.substr(0, hash);
      int counter = std::stoi(c.txn.id.substr(c.txn.id.rfind('#') + 1));
      CHECK(counter == last_applied[origin] + 1);
      last_applied[origin] = counter;
    }
    // f1 gets the stream in order; f2 out of order, applying in seqno order.
    std::vector<committed> shuffled = stream;
    std::shuffle(shuffled.begin(), shuffled.end(), rng);
    std::map<uint64_t, committed> held;
    std::vector<uint64_t> answered;
    for (size_t i = 0; i < stream.size(); ++i) {
      f1.store.apply(stream[i]);
      f1.log.append(stream[i]);
      for (auto s : leader.seq.ack(stream[i].seqno, "f1"))
        answered.push_back(s);
      held[shuffled[i].seqno] = shuffled[i];
      while (!held.empty() && held.begin()->first == f2.store.seqno() + 1) {
        f2.store.apply(held.begin()->second);
        f2.log.append(held.begin()->second);
        for (auto s : leader.seq.ack(held.begin()->first, "f2"))
          answered.push_back(s);
        held.erase(held.begin());
      }
    }
    CHECK(held.empty());
    std::vector<uint64_t> all(stream.size());
    std::iota(all.begin(), all.end(), uint64_t{1});
    CHECK(answered == all); // every caller once, in seqno order
    CHECK(leader.seq.pending() == 0);
    for (const node* f : {&f1, &f2}) {
      CHECK(f->store.seqno() == leader.store.seqno());
      CHECK(f->store.checksum() == leader.store.checksum());
      CHECK((dump(f->store) == dump(leader.store)));
    }
  }
}

TEST_CASE("sequencer: a follower taking over continues the numbering") {
  node leader, follower;
  for (int i = 1; i <= 3; ++i) {
    auto out = leader.seq.commit(txn("a#1#" + std::to_string(i),
                                     {w("t1", "k" + std::to_string(i), "v")}));
    follower.store.apply(*out.fresh);
    follower.log.append(*out.fresh);
  }
  // A retry of a transaction the old leader committed is recognised.
  auto retry = follower.seq.commit(txn("a#1#3", {w("t1", "k3", "other")}));
  CHECK_FALSE(retry.fresh);
  CHECK(retry.seqno == 3);
  auto next = follower.seq.commit(txn("b#1#1", {w("t2", "x", "y")}));
  REQUIRE(next.fresh);
  CHECK(next.seqno == 4);
  CHECK(follower.log.since(0)->size() == 4);
  CHECK(follower.store.read("t1", "k3") == "v");
}
