#include <doctest/doctest.h>

#include "starling/loadgen/sequence_tracker.hpp"

using starling::loadgen::sequence_tracker;

TEST_CASE("loadgen sequence tracker: in order from two publishers") {
  sequence_tracker t;
  for (std::uint64_t s = 0; s < 100; ++s) {
    t.record(1, s);
    t.record(2, s);
  }
  CHECK(t.lost() == 0);
  CHECK(t.duplicates() == 0);
  CHECK(t.out_of_order() == 0);
  CHECK(t.sources() == 2);
}

TEST_CASE("loadgen sequence tracker: a gap is lost until it turns up late") {
  sequence_tracker t;
  t.record(1, 0);
  auto d = t.record(1, 4); // 1, 2, 3 missing
  CHECK(d.lost == 3);
  CHECK(t.lost() == 3);
  d = t.record(1, 2);
  CHECK(d.lost == -1);
  CHECK(d.out_of_order == 1);
  CHECK(t.lost() == 2);
  CHECK(t.out_of_order() == 1);
  // The same late message again is a duplicate, not another recovery.
  d = t.record(1, 2);
  CHECK(d.duplicates == 1);
  CHECK(t.lost() == 2);
}

TEST_CASE("loadgen sequence tracker: duplicates of in-order messages") {
  sequence_tracker t;
  t.record(7, 0);
  t.record(7, 1);
  t.record(7, 1);
  t.record(7, 0);
  CHECK(t.duplicates() == 2);
  CHECK(t.lost() == 0);
  CHECK(t.out_of_order() == 0);
}

TEST_CASE("loadgen sequence tracker: messages lost at the start count") {
  sequence_tracker t;
  CHECK(t.record(3, 5).lost == 5);
  CHECK(t.lost() == 5);
}

TEST_CASE("loadgen sequence tracker: the window slides without stale bits") {
  sequence_tracker t;
  const auto w = sequence_tracker::window;
  for (std::uint64_t s = 0; s < 3 * w; ++s)
    t.record(1, s);
  // Slot of 3w is the slot of 2w, which was seen; 3w is still new.
  CHECK(t.record(1, 3 * w).duplicates == 0);
  // A jump over more than a window clears the bitmap, then a late message
  // inside the new window is recognised as late.
  t.record(1, 5 * w);
  CHECK(t.lost() == 2 * w - 1);
  auto d = t.record(1, 5 * w - 10);
  CHECK(d.out_of_order == 1);
  CHECK(t.lost() == 2 * w - 2);
  // Too old to tell: counted late while gaps remain.
  d = t.record(1, 3 * w + 5);
  CHECK(d.out_of_order == 1);
  CHECK(t.duplicates() == 0);
}
