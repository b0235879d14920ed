#include <doctest/doctest.h>

#include "starling/runtime/db/rlog.hpp"

using namespace starling::runtime::db;

namespace {

committed entry(uint64_t seqno) {
  return {seqno, {"n#1#" + std::to_string(seqno), "kv_shard",
                  {{op::write, "kv", "k", std::to_string(seqno)}}}};
}

std::vector<uint64_t> seqnos(const std::vector<committed>& cs) {
  std::vector<uint64_t> out;
  for (const auto& c : cs)
    out.push_back(c.seqno);
  return out;
}

} // namespace

TEST_CASE("db rlog: an empty log has nothing to give") {
  rlog log(4);
  CHECK(log.size() == 0);
  CHECK(log.first_seqno() == 0);
  CHECK(log.last_seqno() == 0);
  auto s = log.since(0);
  REQUIRE(s);
  CHECK(s->empty());
  CHECK(log.since(5)->empty());
  CHECK_FALSE(log.find("n#1#1"));
}

TEST_CASE("db rlog: keeps the last `capacity` entries") {
  rlog log(3);
  for (uint64_t i = 10; i <= 14; ++i)
    log.append(entry(i));
  CHECK(log.size() == 3);
  CHECK(log.capacity() == 3);
  CHECK(log.first_seqno() == 12);
  CHECK(log.last_seqno() == 14);
  CHECK(seqnos(*log.since(11)) == std::vector<uint64_t>{12, 13, 14});
  CHECK(seqnos(*log.since(12)) == std::vector<uint64_t>{13, 14});
  CHECK(log.since(11)->front() == entry(12));
  CHECK(log.since(14)->empty()); // up to date
  CHECK(log.since(20)->empty()); // ahead: the caller notices itself
  CHECK_FALSE(log.since(10));    // 11 fell out of the window
  CHECK_FALSE(log.since(0));
}

TEST_CASE("db rlog: transaction ids are found while in the window") {
  rlog log(2);
  log.append(entry(1));
  log.append(entry(2));
  CHECK(log.find("n#1#1") == 1u);
  CHECK(log.find("n#1#2") == 2u);
  log.append(entry(3));
  CHECK_FALSE(log.find("n#1#1"));
  CHECK(log.find("n#1#3") == 3u);
  CHECK_FALSE(log.find("other"));
}

TEST_CASE("db rlog: a gap in seqnos restarts the log") {
  rlog log(5);
  log.append(entry(1));
  log.append(entry(2));
  log.append(entry(9)); // re-bootstrapped at 8, first live commit is 9
  CHECK(log.size() == 1);
  CHECK(log.first_seqno() == 9);
  CHECK_FALSE(log.find("n#1#1"));
  CHECK_FALSE(log.since(2)); // 3..8 are not here
  CHECK(seqnos(*log.since(8)) == std::vector<uint64_t>{9});
  log.append(entry(4)); // a step back is a discontinuity too
  CHECK(log.first_seqno() == 4);
  CHECK(log.last_seqno() == 4);
}

TEST_CASE("db rlog: clear forgets entries and ids") {
  rlog log(5);
  log.append(entry(1));
  log.append(entry(2));
  log.clear();
  CHECK(log.size() == 0);
  CHECK(log.last_seqno() == 0);
  CHECK_FALSE(log.find("n#1#2"));
  log.append(entry(40));
  CHECK(log.first_seqno() == 40);
}
