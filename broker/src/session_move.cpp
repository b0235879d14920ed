#include "starling/broker/session_move.hpp"

namespace starling::broker {

void session_move::fetch() {
  phase_ = phase::fetching;
}

std::optional<int64_t> session_move::fetched(bool arrived) {
  if (!arrived) {
    phase_ = phase::settled;
    return std::nullopt;
  }
  phase_ = phase::draining;
  return limits_.dedup_window_ms;
}

void session_move::remember(uint64_t id) {
  if (id != 0 && seen_.size() < limits_.dedup_capacity)
    seen_.insert(id);
}

void session_move::arrived_with(const session& s) {
  for (auto pid : s.inflight_order())
    if (auto m = s.find_inflight(pid))
      remember(m->out.msg.id);
  for (auto& d : s.queue())
    remember(d.msg.id);
}

void session_move::arrived_with(const std::vector<uint64_t>& seen) {
  for (auto id : seen)
    remember(id);
}

std::vector<uint64_t> session_move::seen_ids() const {
  if (phase_ != phase::draining && phase_ != phase::deduping)
    return {};
  return {seen_.begin(), seen_.end()};
}

bool session_move::second_copy(uint64_t id) {
  if (id == 0 || (phase_ != phase::draining && phase_ != phase::deduping))
    return false;
  if (seen_.count(id)) {
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
  if (phase_ == phase::draining && m.id != 0 && held_.size() < limits_.max_held) {
    held_.emplace_back(m, keys);
    held_ids_.insert(m.id);
    return verdict::hold;
  }
  return verdict::deliver;
}

session_move::verdict session_move::via_old(uint64_t id) {
  // Held from the direct way too: it goes out now, in the old way's order.
  if (held_ids_.erase(id) > 0)
    return verdict::deliver;
  return pass_on(id);
}

std::vector<session_move::held_message>
session_move::older_held(const message& m) {
  std::vector<held_message> out;
  for (auto& h : held_)
    if (h.first.id < m.id && h.first.topic == m.topic
        && h.first.publisher == m.publisher && held_ids_.erase(h.first.id) > 0)
      out.push_back(h);
  return out;
}

std::vector<session_move::held_message> session_move::take_held() {
  std::vector<held_message> out;
  for (auto& h : held_)
    if (held_ids_.count(h.first.id))
      out.push_back(std::move(h));
  held_.clear();
  held_ids_.clear();
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
  seen_.clear();
  return take_held();
}

std::vector<session_move::held_message> session_move::release() {
  if (phase_ == phase::draining)
    phase_ = phase::deduping;
  return take_held();
}

session_move::verdict session_move::pass_on(uint64_t id) {
  return second_copy(id) ? verdict::drop : verdict::deliver;
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
