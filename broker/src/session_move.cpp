#include "starling/broker/session_move.hpp"

#include <algorithm>
#include <map>

namespace starling::broker {

namespace {

/// The messages of each publisher and topic in id order (ids grow per
/// node), each group keeping the places it had among the others.
void in_publish_order(std::vector<session_move::held_message>& held) {
  std::map<std::pair<std::string, std::string>, std::vector<size_t>> groups;
  for (size_t i = 0; i < held.size(); ++i)
    groups[{held[i].msg.publisher, held[i].msg.topic}].push_back(i);
  for (auto& [key, places] : groups) {
    std::vector<session_move::held_message> group;
    for (auto i : places)
      group.push_back(std::move(held[i]));
    std::stable_sort(group.begin(), group.end(),
                     [](auto& a, auto& b) { return a.msg.id < b.msg.id; });
    for (size_t k = 0; k < places.size(); ++k)
      held[places[k]] = std::move(group[k]);
  }
}

} // namespace

void session_move::fetch() {
  phase_ = phase::fetching;
}

std::optional<int64_t> session_move::fetched(bool arrived) {
  if (!arrived) {
    phase_ = phase::settled;
    open_.reset();
    return std::nullopt;
  }
  phase_ = phase::draining;
  return limits_.dedup_window_ms;
}

void session_move::remember(uint64_t id) {
  if (id != 0 && (!open_ || open_->seen.size() < limits_.dedup_capacity))
    open().seen.insert(id);
}

void session_move::arrived_with(const session& s) {
  for (auto pid : s.inflight_order())
    if (auto m = s.find_inflight(pid))
      remember(m->out.msg.id);
  for (auto& d : s.queue())
    remember(d.msg.id);
}

void session_move::came_back_with(session& s, int64_t now_ms) {
  arrived_with(s);
  std::vector<delivery> without_id; // not from a router: nothing to merge
  while (auto d = s.dequeue(now_ms)) {
    if (d->msg.id == 0) {
      without_id.push_back(std::move(*d));
      continue;
    }
    auto msg = d->msg;
    open().held_ids.insert(msg.id);
    open_->held.push_back({std::move(msg), {}, std::move(*d)});
  }
  for (auto& d : without_id)
    s.enqueue(std::move(d));
}

void session_move::arrived_with(const std::vector<uint64_t>& seen) {
  for (auto id : seen)
    remember(id);
}

std::vector<uint64_t> session_move::seen_ids() const {
  if ((phase_ != phase::draining && phase_ != phase::deduping) || !open_)
    return {};
  return {open_->seen.begin(), open_->seen.end()};
}

bool session_move::second_copy(uint64_t id) {
  if (id == 0 || (phase_ != phase::draining && phase_ != phase::deduping))
    return false;
  if (open_ && open_->seen.count(id)) {
    ++second_copies_;
    return true;
  }
  remember(id);
  return false;
}

session_move::verdict session_move::direct(const message& m,
                                           const std::vector<std::string>& keys) {
  if (second_copy(m.id))
    return verdict::drop;
  if (phase_ == phase::draining && m.id != 0 && held() < limits_.max_held) {
    open().held.push_back({m, keys, std::nullopt});
    open_->held_ids.insert(m.id);
    return verdict::hold;
  }
  return verdict::deliver;
}

session_move::verdict session_move::via_old(uint64_t id) {
  // Held from the direct way too: it goes out now, in the old way's order.
  if (open_ && open_->held_ids.erase(id) > 0)
    return verdict::deliver;
  return pass_on(id);
}

std::vector<session_move::held_message>
session_move::older_held(const message& m) {
  std::vector<held_message> out;
  if (!open_)
    return out;
  for (auto& h : open_->held)
    if (h.msg.id < m.id && h.msg.topic == m.topic
        && h.msg.publisher == m.publisher && open_->held_ids.erase(h.msg.id) > 0)
      out.push_back(h);
  in_publish_order(out);
  return out;
}

std::vector<session_move::held_message> session_move::take_held() {
  std::vector<held_message> out;
  if (!open_)
    return out;
  for (auto& h : open_->held)
    if (open_->held_ids.count(h.msg.id))
      out.push_back(std::move(h));
  open_->held.clear();
  open_->held_ids.clear();
  in_publish_order(out);
  return out;
}

std::vector<session_move::held_message> session_move::old_done() {
  if (phase_ != phase::draining)
    return {};
  phase_ = phase::deduping;
  return take_held();
}

std::vector<session_move::held_message> session_move::window_closed() {
  if (phase_ != phase::draining && phase_ != phase::deduping)
    return {};
  phase_ = phase::settled;
  auto out = take_held();
  open_.reset();
  return out;
}

std::vector<session_move::held_message> session_move::release() {
  if (phase_ == phase::draining)
    phase_ = phase::deduping;
  return take_held();
}

session_move::verdict session_move::pass_on(uint64_t id) {
  return second_copy(id) ? verdict::drop : verdict::deliver;
}

effect_list deliver(channel& c, session_move::held_message h, int64_t now_ms) {
  if (h.queued)
    return c.deliver(std::move(*h.queued), now_ms);
  return c.deliver(h.msg, h.keys, now_ms);
}

const char* to_string(session_move::phase p) {
  switch (p) {
    case session_move::phase::none: return "none";
    case session_move::phase::fetching: return "fetching";
    case session_move::phase::draining: return "draining";
    case session_move::phase::deduping: return "deduping";
    case session_move::phase::settled: return "settled";
  }
  return "?";
}

} // namespace starling::broker
