#include <doctest/doctest.h>

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "starling/runtime/db/replica_fsm.hpp"
#include "starling/runtime/db/rlog.hpp"
#include "starling/runtime/db/sequencer.hpp"
#include "starling/runtime/db/shard_store.hpp"
#include "starling/runtime/db/types.hpp"

using namespace starling::runtime::db;
using rs = replica_state;

namespace {

// One shard "s" with two tables.
const schema& test_schema() {
  static const schema s({{"t1", "s"}, {"t2", "s"}});
  return s;
}

std::vector<record> dump(const shard_store& s) {
  return s.batch_after(std::nullopt, SIZE_MAX);
}

transaction txn(std::vector<op> ops) {
  return {"", "s", std::move(ops)};
}

// 1-3 ops over keys k0..k7 of t1/t2: 60% write, 30% erase, 10% clear.
transaction random_txn(std::mt19937& rng) {
  transaction t{"", "s", {}};
  for (int n = 1 + static_cast<int>(rng() % 3); n > 0; --n) {
    std::string table = rng() % 2 ? "t1" : "t2";
    std::string key = "k" + std::to_string(rng() % 8);
    auto k = rng() % 10;
    auto kind = k < 6 ? op::write : k < 9 ? op::erase : op::clear;
    t.ops.push_back(
        {kind, table, kind == op::clear ? "" : key,
         kind == op::write ? "v" + std::to_string(rng() % 100) : ""});
  }
  return t;
}

lineage lin(const std::string& text) {
  auto l = lineage::parse(text);
  REQUIRE(l);
  return *l;
}

// A core: its copy of the shard, its log, and (when leading) the sequencer.
struct core {
  core(std::string n, std::string h, size_t log_capacity)
      : name(std::move(n)), history(lin(h)), log(log_capacity) {}
  core(const core&) = delete;

  std::string name;
  lineage history;
  shard_store store{"s"};
  rlog log;
  sequencer seq{store, log, test_schema()};
  uint64_t counter = 0;

  committed commit(transaction t) {
    t.id = name + "#1#" + std::to_string(++counter);
    auto out = seq.commit(t);
    REQUIRE(out.fresh);
    return *out.fresh;
  }
  committed commit(std::mt19937& rng) { return commit(random_txn(rng)); }
  void commits(int n, std::mt19937& rng) {
    while (n-- > 0)
      commit(rng);
  }
  void follow(const committed& c) { // a follower core
    store.apply(c);
    log.append(c);
  }
};

struct wire_msg {
  enum kind_t { reply, batch, live } kind = live;
  uint64_t epoch = 0;
  subscription_reply r;
  std::vector<record> records;
  committed c;
};

// The replicant plus the network: requests to the cores, and one FIFO wire
// from the cores (replies, batches, live transactions, in sending order).
struct harness {
  explicit harness(std::string history = "", size_t max_buffer = 1000)
      : fsm(store, lin(history), max_buffer) {}

  shard_store store{"s"};
  replica_fsm fsm;
  std::map<std::string, core*> cores;
  core* sub = nullptr; // the core streaming to us
  uint64_t sub_epoch = 0;
  std::deque<replica_effect> requests;
  std::deque<wire_msg> wire;
  size_t batch_size = 3;
  uint64_t next_applied = 1;
  int64_t now = 0;

  void add(core& c) { cores[c.name] = &c; }
  void start(core& c) { // subscribes at c
    add(c);
    connect(c.name);
  }

  // Carries out effects; checks that no transaction is skipped.
  void handle(const std::vector<replica_effect>& effects) {
    for (const auto& e : effects) {
      if (e.kind == replica_effect::subscribe ||
          e.kind == replica_effect::bootstrapped)
        next_applied = e.from + 1;
      if (e.kind == replica_effect::subscribe ||
          e.kind == replica_effect::request_batch)
        requests.push_back(e);
      if (e.kind == replica_effect::applied)
        CHECK(e.c.seqno == next_applied++);
    }
  }

  void connect(const std::string& name) { handle(fsm.connect(name)); }
  // The upstream goes down: pending requests are lost, what it already sent
  // stays on the wire (and must be ignored as stale).
  void lose() {
    fsm.on_upstream_lost(fsm.upstream());
    requests.clear();
    sub = nullptr;
  }

  bool serve() {
    if (requests.empty())
      return false;
    auto e = requests.front();
    requests.pop_front();
    wire_msg m{wire_msg::reply, e.epoch, {}, {}, {}};
    if (e.kind == replica_effect::subscribe) {
      core& c = *cores.at(e.core);
      m.r = decide_subscription(c.store, c.history, c.log, e.history, e.from);
      sub = &c;
      sub_epoch = e.epoch;
    } else if (sub != nullptr) {
      m.kind = wire_msg::batch;
      m.records = sub->store.batch_after(e.after, batch_size);
    } else {
      return true;
    }
    wire.push_back(std::move(m));
    return true;
  }

  committed commit(core& c, transaction t) {
    auto x = c.commit(std::move(t));
    if (sub == &c)
      wire.push_back({wire_msg::live, sub_epoch, {}, {}, x});
    return x;
  }
  committed commit(core& c, std::mt19937& rng) {
    return commit(c, random_txn(rng));
  }

  bool deliver(int n = 1) {
    for (; n > 0; --n) {
      if (wire.empty())
        return false;
      auto m = std::move(wire.front());
      wire.pop_front();
      ++now;
      if (m.kind == wire_msg::reply)
        handle(fsm.on_subscribed(m.epoch, std::move(m.r), now));
      else if (m.kind == wire_msg::batch)
        handle(fsm.on_batch(m.epoch, m.records, now));
      else
        handle(fsm.on_live(m.epoch, m.c));
    }
    return true;
  }
  void serve_deliver() {
    serve();
    deliver();
  }

  void step(std::mt19937& rng, core& c) {
    auto r = rng() % 3;
    if (r == 0)
      commit(c, rng);
    else if (r == 1)
      serve();
    else
      deliver();
  }

  void settle() {
    int guard = 0;
    while ((serve() | deliver()) && ++guard < 100000) {
    }
    REQUIRE(guard < 100000);
  }
};

void check_same(const shard_store& replica, const shard_store& core) {
  CHECK(replica.seqno() == core.seqno());
  CHECK(replica.checksum() == core.checksum());
  CHECK(replica.size() == core.size());
  CHECK((dump(replica) == dump(core)));
}

void check_counts(const replica_fsm& f, uint64_t bootstraps, uint64_t resumes) {
  CHECK(f.stats().bootstraps == bootstraps);
  CHECK(f.stats().resumes == resumes);
}

const std::vector<rs> bootstrapped_trace{rs::disconnected, rs::bootstrap,
                                         rs::local_replay, rs::normal};

// Every normal comes right after a local_replay, every bootstrap right
// after disconnected, no local_replay right after normal.
bool trace_ok(const std::vector<rs>& t) {
  if (t.empty() || t.front() != rs::disconnected)
    return false;
  for (size_t i = 1; i < t.size(); ++i)
    if ((t[i] == rs::normal && t[i - 1] != rs::local_replay) ||
        (t[i] == rs::bootstrap && t[i - 1] != rs::disconnected) ||
        (t[i] == rs::local_replay && t[i - 1] == rs::normal))
      return false;
  return true;
}

} // namespace

TEST_CASE("replica_fsm: bootstrap with an interleaved live stream converges "
          "(property, 200 seeds)") {
  for (unsigned seed = 1; seed <= 200; ++seed) {
    CAPTURE(seed);
    std::mt19937 rng(seed);
    core a("A", "h1", 1 + rng() % 8);
    for (int n = 10 + static_cast<int>(rng() % 20); n > 0; --n)
      a.commit(rng); // the log no longer holds seqno 1: bootstrap
    harness h;
    h.batch_size = 1 + rng() % 4;
    h.start(a);
    for (int n = 0; n < 80; ++n)
      h.step(rng, a);
    h.settle();
    CHECK(h.fsm.state() == rs::normal);
    CHECK(h.fsm.history().current() == "h1");
    check_same(h.store, a.store);
    CHECK(h.fsm.trace() == bootstrapped_trace);
    check_counts(h.fsm, 1, 0);
    CHECK(h.fsm.stats().gaps + h.fsm.stats().stale == 0);
    CHECK(h.fsm.stats().last_bootstrap_ms > 0);
  }
}

TEST_CASE("replica_fsm: random reconnects, lost and duplicated live "
          "transactions, a small bootstrap buffer: converges (200 seeds)") {
  for (unsigned seed = 1000; seed < 1200; ++seed) {
    CAPTURE(seed);
    std::mt19937 rng(seed);
    core a("A", "h1", 2 + rng() % 10);
    for (int n = static_cast<int>(rng() % 20); n > 0; --n)
      a.commit(rng);
    harness h("", 1 + rng() % 4);
    h.batch_size = 1 + rng() % 4;
    h.start(a);
    for (int n = 0; n < 120; ++n) {
      auto r = rng() % 20;
      bool live = !h.wire.empty() && h.wire.front().kind == wire_msg::live;
      if (r == 0) { // the connection drops, we reconnect to the same core
        h.lose();
        h.connect("A");
      } else if (r == 1 && live) {
        h.wire.pop_front(); // lost: a gap
      } else if (r == 2 && live) {
        h.wire.push_front(h.wire.front()); // a duplicate
      } else {
        h.step(rng, a);
      }
    }
    h.settle();
    h.commit(a, rng); // exposes a gap at the very end of the stream
    h.settle();
    CHECK(h.fsm.state() == rs::normal);
    check_same(h.store, a.store);
    CHECK(trace_ok(h.fsm.trace()));
  }
}

TEST_CASE("replica_fsm: a write, an erase and a clear landing between "
          "bootstrap batches are replayed idempotently") {
  core a("A", "h1", 2);
  std::vector<op> init;
  for (std::string k : {"a", "b", "c", "d", "e"})
    init.push_back({op::write, "t1", k, "1" + k});
  for (std::string k : {"a", "b", "c"})
    init.push_back({op::write, "t2", k, "2" + k});
  a.commit(txn(init));
  a.commit(txn({{op::write, "t1", "f", "x"}}));
  a.commit(txn({{op::erase, "t1", "f", ""}})); // S = 3, log holds 2..3
  harness h;
  h.start(a);
  h.serve_deliver();
  REQUIRE(h.fsm.state() == rs::bootstrap);
  h.serve_deliver(); // batch 1 read and copied: t1 a b c
  REQUIRE(h.fsm.copy_in_progress());
  CHECK(h.fsm.copy_in_progress()->size() == 3);
  CHECK(h.store.size() == 0); // the store changes once the copy is whole
  h.commit(a, txn({{op::write, "t1", "a", "A2"}})); // copied already
  h.commit(a, txn({{op::erase, "t1", "b", ""}}));   // copied already
  h.commit(a, txn({{op::erase, "t1", "d", ""}}));   // not copied yet
  h.deliver();                                      // buffered
  CHECK(h.fsm.buffered() == 1);
  h.serve(); // batch 2 read now: t1 e, t2 a b
  h.deliver(3);
  CHECK(h.fsm.buffered() == 3);
  CHECK(h.fsm.copy_in_progress()->read("t1", "b") == "1b"); // stale: replayed
  h.commit(a, txn({{op::clear, "t2", "", ""}})); // t2 half copied
  h.commit(a, txn({{op::write, "t2", "x", "X"}}));
  h.serve();                                        // batch 3 read now: t2 x
  h.commit(a, txn({{op::write, "t1", "e", "E2"}})); // after e was copied
  h.deliver(3);
  CHECK(h.fsm.copy_in_progress()->read("t2", "a") == "2a"); // stale: replayed
  CHECK(h.fsm.copy_in_progress()->read("t2", "x") == "X");  // copied after
  h.settle();
  CHECK(h.fsm.state() == rs::normal);
  check_same(h.store, a.store);
  CHECK(h.store.read("t1", "a") == "A2");
  CHECK_FALSE(h.store.read("t1", "b"));
  CHECK(h.store.read("t1", "e") == "E2");
  CHECK(h.store.size("t2") == 1);
  CHECK(h.fsm.stats().last_bootstrap_records == 7);
  CHECK(h.fsm.trace() == bootstrapped_trace);
}

TEST_CASE("replica_fsm: resume inside the log window, bootstrap outside it, "
          "on another history or from a core behind") {
  std::mt19937 rng(7);
  core a("A", "h1", 10);
  a.commits(5, rng);
  harness h;
  h.start(a);
  h.serve(); // an empty replica, a log still holding 1: resume from 0
  REQUIRE(h.wire.size() == 1);
  CHECK(h.wire.front().r.resume);
  CHECK(h.wire.front().r.entries.size() == 5);
  h.settle();
  check_same(h.store, a.store);
  check_counts(h.fsm, 0, 1);
  CHECK(h.fsm.history().current() == "h1");
  CHECK(h.fsm.trace() ==
        std::vector<rs>{rs::disconnected, rs::local_replay, rs::normal});
  h.lose();
  CHECK(h.fsm.state() == rs::disconnected);
  core b1("B", "h1", 10), b2("B", "h2", 10);
  core* expected = &a;
  uint64_t bootstraps = 0;
  SUBCASE("inside the window") {
    a.commits(4, rng);
  }
  SUBCASE("up to date") {}
  SUBCASE("outside the window") {
    a.commits(12, rng);
    bootstraps = 1;
  }
  SUBCASE("another history") {
    b2.commits(7, rng);
    expected = &b2;
    bootstraps = 1;
  }
  SUBCASE("a core behind") {
    auto entries = a.log.since(0);
    for (size_t i = 0; i < 3; ++i)
      b1.follow((*entries)[i]);
    expected = &b1;
    bootstraps = 1;
  }
  SUBCASE("a restarted replica with its persisted seqno and history") {
    a.commits(3, rng);
    harness h2("h1");
    h2.store = h.store;
    h2.start(a);
    CHECK(h2.requests.front().from == 5);
    CHECK(h2.requests.front().history.current() == "h1");
    h2.settle();
    check_counts(h2.fsm, 0, 1);
    check_same(h2.store, a.store);
    return;
  }
  h.add(*expected);
  h.connect(expected->name);
  h.settle();
  check_counts(h.fsm, bootstraps, 2 - bootstraps);
  CHECK(h.fsm.history() == expected->history);
  check_same(h.store, expected->store);
}

TEST_CASE("decide_subscription edge cases") {
  std::mt19937 rng(3);
  core a("A", "h1", 4);
  a.commits(6, rng); // the log holds 3..6
  auto d = [&](std::string hist, uint64_t s) {
    return decide_subscription(a.store, a.history, a.log, lin(hist), s);
  };
  CHECK(d("h1", 2).resume);
  CHECK(d("h1", 2).entries.size() == 4);
  CHECK_FALSE(d("h1", 1).resume); // seqno 2 left the log
  CHECK_FALSE(d("h1", 7).resume); // ahead of the core
  CHECK_FALSE(d("h2", 6).resume); // another history
  CHECK_FALSE(d("", 0).resume);   // empty, and 1 left the log
  CHECK_FALSE(d("", 6).resume);   // no history but records
  CHECK(d("h1", 6).resume);
  CHECK(d("h1", 6).entries.empty());
  CHECK(d("h1", 6).history.current() == "h1");
  CHECK(d("h1", 6).core_seqno == 6);
  core b("B", "h1", 4); // bootstrapped itself: records, an empty log
  b.store = a.store;
  CHECK_FALSE(decide_subscription(b.store, lin("h1"), b.log, lin("h1"), 5).resume);
  CHECK(decide_subscription(b.store, lin("h1"), b.log, lin("h1"), 6).resume);
}

TEST_CASE("replica_fsm: gaps resubscribe without skipping, duplicates are "
          "ignored") {
  std::mt19937 rng(11);
  core a("A", "h1", 100);
  a.commits(5, rng);
  harness h;
  h.start(a);
  h.settle();
  REQUIRE(h.fsm.state() == rs::normal);
  auto epoch = h.fsm.epoch();

  SUBCASE("a gap in normal: resume from the last seqno") {
    a.commit(rng);           // 6 never arrives
    auto c7 = a.commit(rng); // 7 does
    auto eff = h.fsm.on_live(epoch, c7);
    REQUIRE(eff.size() == 1);
    CHECK(eff[0].kind == replica_effect::subscribe);
    CHECK(eff[0].core == "A");
    CHECK(eff[0].from == 5);
    CHECK(eff[0].history.current() == "h1");
    CHECK(eff[0].epoch == epoch + 1);
    CHECK(h.fsm.seqno() == 5);
    CHECK(h.fsm.stats().gaps == 1);
    CHECK(h.fsm.state() == rs::disconnected);
    CHECK(h.fsm.on_live(epoch, c7).empty()); // the rest of the old stream
    CHECK(h.fsm.stats().stale == 1);
    h.handle(eff);
    h.settle();
    check_counts(h.fsm, 0, 2);
    check_same(h.store, a.store);
  }
  SUBCASE("a gap while bootstrapping: the copy goes, the store it would "
          "have replaced asks again from where it was") {
    a.commits(120, rng); // past the log window
    h.lose();
    h.connect("A");
    h.serve_deliver();
    REQUIRE(h.fsm.state() == rs::bootstrap);
    h.commit(a, rng);
    h.wire.pop_front(); // S+1 is lost
    h.commit(a, rng);
    h.deliver();
    CHECK(h.fsm.stats().gaps == 1);
    CHECK(h.requests.back().kind == replica_effect::subscribe);
    CHECK(h.requests.back().from == 5);
    CHECK(h.requests.back().history.current() == "h1");
    CHECK(h.fsm.copy_in_progress() == nullptr);
    CHECK(h.store.seqno() == 5);
    h.settle(); // A's log no longer reaches back to 5: copied again
    check_counts(h.fsm, 2, 1);
    check_same(h.store, a.store);
  }
  SUBCASE("duplicates") {
    auto c6 = h.commit(a, rng);
    auto c7 = h.commit(a, rng);
    h.settle();
    auto sum = h.store.checksum();
    CHECK(h.fsm.on_live(epoch, c7).empty());
    CHECK(h.fsm.on_live(epoch, c6).empty());
    CHECK(h.fsm.stats().duplicates == 2);
    CHECK(h.fsm.stats().gaps == 0);
    CHECK(h.fsm.seqno() == 7);
    CHECK(h.store.checksum() == sum);
    CHECK(h.fsm.state() == rs::normal);
  }
}

TEST_CASE("replica_fsm: messages of an old subscription are stale") {
  std::mt19937 rng(13);
  core a("A", "h1", 100), b("B", "h1", 100);
  for (int i = 0; i < 4; ++i)
    b.follow(a.commit(rng));
  harness h;
  h.add(a);
  h.add(b);
  h.connect("A");
  h.settle();
  auto old = h.fsm.epoch();
  auto old_reply = decide_subscription(a.store, lin("h1"), a.log, lin(""), 0);
  h.connect("B");
  CHECK(h.fsm.epoch() == old + 1);
  auto x = a.commit(rng);
  b.follow(x);
  CHECK(h.fsm.on_live(old, x).empty());
  CHECK(h.fsm.on_batch(old, {{"t1", "zz", "v"}}, 0).empty());
  CHECK(h.fsm.on_subscribed(old, old_reply, 0).empty());
  CHECK(h.fsm.stats().stale == 3);
  CHECK(h.fsm.state() == rs::disconnected);
  CHECK(h.fsm.seqno() == 4);
  CHECK_FALSE(h.store.read("t1", "zz"));
  h.settle();
  CHECK(h.fsm.upstream() == "B");
  CHECK(h.fsm.state() == rs::normal);
  CHECK(h.fsm.on_live(old, x).empty());
  CHECK(h.fsm.on_batch(h.fsm.epoch(), {}, 0).empty()); // not bootstrapping
  CHECK(h.fsm.stats().stale == 5);
  check_same(h.store, b.store);

  h.fsm.on_upstream_lost("A"); // not our upstream
  CHECK(h.fsm.state() == rs::normal);
  auto e = h.fsm.epoch();
  h.fsm.on_upstream_lost("B");
  CHECK(h.fsm.state() == rs::disconnected);
  CHECK(h.fsm.on_live(e, b.commit(rng)).empty());
  CHECK(h.fsm.stats().stale == 6);

  auto eff = h.fsm.connect("B"); // a failed subscription: its reply is stale
  h.fsm.on_subscribe_failed(eff[0].epoch);
  CHECK(h.fsm.state() == rs::disconnected);
  auto r = decide_subscription(b.store, lin("h1"), b.log, lin("h1"), h.fsm.seqno());
  CHECK(h.fsm.on_subscribed(eff[0].epoch, r, 0).empty());
  CHECK(h.fsm.stats().stale == 7);

  h.fsm.reset(); // forgets the store and the history
  CHECK(h.fsm.history().empty());
  CHECK(h.store.seqno() + h.store.size() == 0);
}

TEST_CASE("replica_fsm: failover to another core at each state, the other "
          "core being the same, behind, ahead or of another history") {
  enum stage { subscribing, bootstrap, after_replay, normal };
  enum other { same, behind, ahead, foreign };
  for (int st = subscribing; st <= normal; ++st)
    for (int ot = same; ot <= foreign; ++ot)
      for (unsigned seed = 1; seed <= 5; ++seed) {
        CAPTURE(st);
        CAPTURE(ot);
        CAPTURE(seed);
        std::mt19937 rng(seed * 97 + static_cast<unsigned>(st * 7 + ot));
        bool big = seed > 3; // B's log still holds seqno 1
        core a("A", "h1", 4),
            b("B", ot == foreign ? "h2" : "h1", big ? 100 : 4);
        harness h;
        h.add(a);
        h.add(b);
        std::deque<committed> to_b; // B follows A three commits behind
        auto commit_a = [&](std::optional<transaction> t = std::nullopt) {
          to_b.push_back(t ? h.commit(a, *t) : h.commit(a, rng));
          if (ot == foreign)
            b.commit(rng);
          for (; to_b.size() > 3 && ot != foreign; to_b.pop_front())
            b.follow(to_b.front());
        };
        std::vector<op> init; // enough records for several batches
        for (int k = 0; k < 8; ++k)
          for (std::string t : {"t1", "t2"})
            init.push_back({op::write, t, "k" + std::to_string(k), "0"});
        commit_a(txn(init));
        for (int i = 0; i < 11; ++i)
          commit_a();
        h.connect("A");
        if (st == subscribing && seed % 2) {
          h.serve(); // the reply is on the wire already
        } else if (st == bootstrap) {
          h.serve_deliver();
          h.serve_deliver();
          commit_a();
          commit_a();
          h.deliver();
          REQUIRE(h.fsm.state() == rs::bootstrap);
        } else if (st >= after_replay) {
          for (int i = st == normal ? 4 : 0; i >= 0; --i) {
            h.settle();
            if (i > 0)
              commit_a();
          }
          REQUIRE(h.fsm.state() == rs::normal);
        }
        commit_a(); // maybe in flight when A goes down
        h.lose();
        for (; ot != behind && ot != foreign && !to_b.empty(); to_b.pop_front())
          b.follow(to_b.front());
        if (ot == ahead)
          for (int i = 0; i < 3; ++i) // committed, never streamed to us
            b.follow(a.commit(rng));
        auto before = h.fsm.stats();
        h.connect("B");
        h.serve(); // B leads from now on
        for (int i = 0; i < 40; ++i)
          h.step(rng, b);
        h.settle();
        CHECK(h.fsm.state() == rs::normal);
        CHECK(h.fsm.history() == b.history);
        check_same(h.store, b.store);
        CHECK(trace_ok(h.fsm.trace()));
        uint64_t resumed = st >= after_replay ? ot == same || ot == ahead : big;
        check_counts(h.fsm, before.bootstraps + 1 - resumed,
                     before.resumes + resumed);
      }
}

TEST_CASE("replica_fsm: bootstrap buffer overflow restarts the bootstrap") {
  std::mt19937 rng(21);
  core a("A", "h1", 2);
  for (int i = 0; i < 10; ++i)
    a.commit(txn({{op::write, "t1", "k" + std::to_string(i), "v"}}));
  harness h("", 2);
  h.start(a);
  h.serve_deliver();
  h.serve_deliver(); // one batch copied
  REQUIRE(h.fsm.state() == rs::bootstrap);
  for (int i = 0; i < 3; ++i)
    h.commit(a, rng);
  h.deliver(2);
  CHECK(h.fsm.buffered() == 2);
  h.deliver(); // the third does not fit
  CHECK(h.fsm.buffered() == 0);
  CHECK(h.fsm.state() == rs::disconnected);
  CHECK(h.fsm.stats().gaps == 1);
  CHECK(h.requests.back().kind == replica_effect::subscribe);
  CHECK(h.requests.back().from == 0);
  CHECK(h.requests.back().history.empty());
  h.settle();
  CHECK(h.fsm.state() == rs::normal);
  check_counts(h.fsm, 2, 0);
  check_same(h.store, a.store);
  CHECK(h.fsm.trace() == std::vector<rs>{rs::disconnected, rs::bootstrap,
                                         rs::disconnected, rs::bootstrap,
                                         rs::local_replay, rs::normal});
}

TEST_CASE("replica_fsm: an interrupted bootstrap is rebuilt, never continued") {
  core a("A", "h1", 1), b("B", "h2", 100);
  for (int i = 0; i < 6; ++i)
    a.commit(txn({{op::write, "t1", "k" + std::to_string(i), "a"}}));
  b.commit(txn({{op::write, "t2", "x", "b"}})); // B's log holds seqno 1
  harness h;
  h.add(a);
  h.add(b);
  h.connect("A");
  h.serve_deliver();
  h.serve_deliver(); // three records of A copied
  REQUIRE(h.fsm.copy_in_progress()->size() == 3);
  h.lose();
  CHECK(h.fsm.copy_in_progress() == nullptr); // the partial copy is dropped
  CHECK(h.store.size() == 0);
  CHECK(h.fsm.history().empty());
  h.connect("B");
  CHECK(h.requests.front().from == 0);
  h.settle(); // an empty replica resumes from 0 at B
  check_counts(h.fsm, 1, 1);
  check_same(h.store, b.store);
}

// cluster_sim seed 26945: a core reset by autoheal bootstrapped from a
// winner that went away halfway; the half copy stayed in its store (not in
// its file), and the core, made sequencer, numbered new transactions on
// top of it, which its peers then copied. The store now changes only when
// the copy is whole; one cut off leaves it, and its history, as they were.
TEST_CASE("replica_fsm: a bootstrap cut off leaves the store and its history "
          "as they were") {
  core a("A", "h1", 1), b("B", "h2", 1);
  for (int i = 0; i < 4; ++i)
    a.commit(txn({{op::write, "t1", "a" + std::to_string(i), "a"}}));
  for (int i = 0; i < 6; ++i)
    b.commit(txn({{op::write, "t2", "b" + std::to_string(i), "b"}}));
  harness h;
  h.add(b);
  h.start(a);
  h.settle(); // a replica of A: seqno 4, history h1
  REQUIRE(h.store.seqno() == 4);
  auto before = h.store.checksum();
  h.connect("B"); // another branch: B sends a copy
  h.serve_deliver();
  h.serve_deliver(); // part of B's records copied
  REQUIRE(h.fsm.state() == rs::bootstrap);
  CHECK(h.fsm.copy_in_progress()->size() > 0);
  CHECK(h.store.checksum() == before);
  // Told others as a store being rebuilt: no one catches up from it.
  CHECK(h.fsm.reported_seqno() == 0);
  CHECK(h.fsm.history().empty());
  h.lose(); // B goes away
  CHECK(h.fsm.reported_seqno() == 4);
  CHECK(h.store.seqno() == 4);
  CHECK(h.store.checksum() == before);
  CHECK(h.fsm.history().current() == "h1");
  // Back to A: it resumes, nothing is copied again.
  h.connect("A");
  h.settle();
  CHECK(h.fsm.stats().resumes >= 1);
  check_same(h.store, a.store);
}

TEST_CASE("decide_subscription: a replica on a branch the core lacks bootstraps") {
  // The dying sequencer streamed seqno 2 (id "lost") to a replicant before
  // any other core had it; the new sequencer committed its own seqno 2.
  shard_store core("s");
  rlog log(100);
  for (auto [seqno, id] : {std::pair{1, "a"}, std::pair{2, "b"}}) {
    committed c{static_cast<uint64_t>(seqno),
                {id, "s", {{op::write, "t1", id, "v"}}}};
    core.apply(c);
    log.append(c);
  }
  CHECK(decide_subscription(core, lin("h"), log, lin("h"), 2, "b").resume);
  CHECK(decide_subscription(core, lin("h"), log, lin("h"), 1, "a").resume);
  CHECK_FALSE(decide_subscription(core, lin("h"), log, lin("h"), 2, "lost").resume);
  CHECK_FALSE(decide_subscription(core, lin("h"), log, lin("h"), 1, "x").resume);
  // Unknown id (right after a bootstrap): only history and seqno decide.
  CHECK(decide_subscription(core, lin("h"), log, lin("h"), 1, "").resume);
}

TEST_CASE("replica_fsm: a resubscription names the last transaction applied") {
  shard_store store("s");
  replica_fsm fsm(store, lineage{}, 100);
  auto e = fsm.connect("c1");
  REQUIRE(e.size() == 1);
  CHECK(e[0].last_id.empty());
  subscription_reply r{true, lin("h"), 0, {}, {}};
  fsm.on_subscribed(e[0].epoch, r, 0);
  fsm.on_live(fsm.epoch(), committed{1, {"id1", "s", {{op::write, "t1", "k", "v"}}}});
  fsm.on_upstream_lost("c1");
  auto again = fsm.connect("c2");
  REQUIRE(again.size() == 1);
  CHECK(again[0].from == 1);
  CHECK(again[0].history.current() == "h");
  CHECK(again[0].last_id == "id1");
}

TEST_CASE("decide_subscription: a prefix resumes, a branch or a replica ahead bootstraps") {
  std::mt19937 rng(5);
  core a("A", "h1@0,h2@3", 100);
  a.commits(6, rng);
  // Behind on the same segments, or on a segment that holds nothing yet.
  auto r = decide_subscription(a.store, a.history, a.log, lin("h1@0"), 3);
  CHECK(r.resume);
  CHECK(r.relation.kind == lineage_relation::behind);
  r = decide_subscription(a.store, a.history, a.log, lin("h1@0,x@3"), 3);
  CHECK(r.resume);
  // Numbered 4 in another segment: branched after 3, with what it shares.
  r = decide_subscription(a.store, a.history, a.log, lin("h1@0,x@3"), 4);
  CHECK_FALSE(r.resume);
  CHECK(r.relation.kind == lineage_relation::branched);
  CHECK(r.relation.common == 3);
  // Ahead of the core on its own history: the core has to catch up.
  r = decide_subscription(a.store, a.history, a.log, lin("h1@0,h2@3"), 9);
  CHECK_FALSE(r.resume);
  CHECK(r.relation.kind == lineage_relation::ahead);
}
