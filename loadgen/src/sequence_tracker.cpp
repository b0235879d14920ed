#include "starling/loadgen/sequence_tracker.hpp"

namespace starling::loadgen {

bool sequence_tracker::source_state::test(std::uint64_t seq) const noexcept {
  auto bit = seq % window;
  return (seen[bit / 64] >> (bit % 64)) & 1u;
}

void sequence_tracker::source_state::set(std::uint64_t seq) noexcept {
  auto bit = seq % window;
  seen[bit / 64] |= std::uint64_t{1} << (bit % 64);
}

void sequence_tracker::source_state::clear(std::uint64_t seq) noexcept {
  auto bit = seq % window;
  seen[bit / 64] &= ~(std::uint64_t{1} << (bit % 64));
}

delivery_delta sequence_tracker::apply(source_state& s, std::uint64_t seq) {
  delivery_delta d;
  if (seq >= s.next) {
    auto gap = seq - s.next;
    // The bitmap slots of the skipped sequences (and of seq itself) still
    // hold bits of sequences one window older.
    if (gap + 1 >= window)
      s.seen.fill(0);
    else
      for (auto q = s.next; q <= seq; ++q)
        s.clear(q);
    s.set(seq);
    s.next = seq + 1;
    s.missing += gap;
    d.lost = static_cast<std::int64_t>(gap);
    return d;
  }
  bool in_window = s.next - seq <= window;
  bool repeat = in_window ? s.test(seq) : s.missing == 0;
  if (repeat) {
    d.duplicates = 1;
    return d;
  }
  if (in_window)
    s.set(seq);
  d.out_of_order = 1;
  if (s.missing > 0) {
    --s.missing;
    d.lost = -1;
  }
  return d;
}

delivery_delta sequence_tracker::record(std::uint64_t source,
                                        std::uint64_t seq) {
  auto d = apply(sources_[source], seq);
  lost_ = static_cast<std::uint64_t>(static_cast<std::int64_t>(lost_) + d.lost);
  duplicates_ += d.duplicates;
  out_of_order_ += d.out_of_order;
  return d;
}

} // namespace starling::loadgen
