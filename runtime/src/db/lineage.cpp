#include "starling/runtime/db/lineage.hpp"

#include <algorithm>
#include <cctype>

namespace starling::runtime::db {

lineage lineage::root(std::string id) {
  lineage l;
  l.segments_.push_back({std::move(id), 0});
  return l;
}

std::optional<lineage> lineage::parse(const std::string& text) {
  lineage l;
  if (text.empty())
    return l;
  size_t pos = 0;
  while (pos <= text.size()) {
    auto end = text.find(',', pos);
    if (end == std::string::npos)
      end = text.size();
    auto item = text.substr(pos, end - pos);
    auto at = item.find('@');
    segment s;
    s.id = item.substr(0, at);
    if (s.id.empty())
      return std::nullopt;
    if (at != std::string::npos) {
      auto num = item.substr(at + 1);
      if (num.empty() || num.size() > 20
          || !std::all_of(num.begin(), num.end(), [](char c) {
               return std::isdigit(static_cast<unsigned char>(c));
             }))
        return std::nullopt;
      s.start = std::stoull(num);
    } else if (!l.segments_.empty()) {
      return std::nullopt; // only a lone legacy id has no start
    }
    if (!l.segments_.empty() && s.start < l.segments_.back().start)
      return std::nullopt;
    l.segments_.push_back(std::move(s));
    pos = end + 1;
  }
  return l;
}

std::string lineage::str() const {
  std::string out;
  for (auto& s : segments_)
    out += (out.empty() ? "" : ",") + s.id + "@" + std::to_string(s.start);
  return out;
}

std::string lineage::current() const {
  return segments_.empty() ? std::string() : segments_.back().id;
}

void lineage::fork(std::string id, uint64_t at) {
  // A newest segment starting at `at` (or later) holds no transaction:
  // nothing refers to it, so the new one replaces it.
  while (!segments_.empty() && segments_.back().start >= at)
    segments_.pop_back();
  segments_.push_back({std::move(id), at});
  if (segments_.size() > max_segments)
    segments_.erase(segments_.begin(),
                    segments_.begin()
                      + static_cast<ptrdiff_t>(segments_.size() - max_segments));
}

std::optional<std::string> lineage::segment_of(uint64_t seqno) const {
  if (segments_.empty() || seqno == 0)
    return std::nullopt;
  // The first kept segment covers seqnos before its start only when it is
  // the root (start 0): otherwise older segments were dropped.
  for (auto i = segments_.rbegin(); i != segments_.rend(); ++i)
    if (i->start < seqno)
      return i->id;
  return std::nullopt;
}

lineage_relation compare(const lineage& a, uint64_t a_seqno, const lineage& b,
                         uint64_t b_seqno) {
  lineage_relation r;
  uint64_t m = std::min(a_seqno, b_seqno);
  // Segment ids are constant between segment starts: checking the first
  // seqno after every start (of either side) below m checks all of 1..m.
  std::vector<uint64_t> points{1};
  for (auto* l : {&a, &b})
    for (auto& s : l->segments())
      points.push_back(s.start + 1);
  std::sort(points.begin(), points.end());
  points.erase(std::unique(points.begin(), points.end()), points.end());
  for (auto p : points) {
    if (p > m)
      break;
    auto sa = a.segment_of(p);
    auto sb = b.segment_of(p);
    if (!sa || !sb || *sa != *sb) {
      r.kind = lineage_relation::branched;
      r.common = p - 1;
      return r;
    }
  }
  r.common = m;
  r.kind = a_seqno == b_seqno  ? lineage_relation::equal
           : a_seqno < b_seqno ? lineage_relation::behind
                               : lineage_relation::ahead;
  return r;
}

std::string to_string(lineage_relation::kind_t k) {
  switch (k) {
    case lineage_relation::equal:
      return "equal";
    case lineage_relation::behind:
      return "behind";
    case lineage_relation::ahead:
      return "ahead";
    case lineage_relation::branched:
      return "branched";
  }
  return "?";
}

} // namespace starling::runtime::db
