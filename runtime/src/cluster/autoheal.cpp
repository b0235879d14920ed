#include "starling/runtime/cluster/autoheal.hpp"

#include <algorithm>

namespace starling::runtime::cluster {

std::string to_string(heal_phase p) {
  switch (p) {
    case heal_phase::idle:
      return "idle";
    case heal_phase::waiting:
      return "waiting";
    case heal_phase::collecting:
      return "collecting";
    case heal_phase::healing:
      return "healing";
  }
  return "?";
}

autoheal::autoheal(std::string self, autoheal_settings settings)
  : self_(std::move(self)), settings_(settings) {}

void autoheal::set_leader(bool leading, int64_t) {
  if (leading == leading_)
    return;
  leading_ = leading;
  if (!leading_) { // the new leader starts from the reports it gets
    phase_ = heal_phase::idle;
    again_ = false;
    asked_.clear();
    views_.clear();
    awaiting_.clear();
  }
}

std::vector<heal_effect> autoheal::on_report(const std::string&, int64_t now) {
  if (!leading_ || !settings_.enabled)
    return {};
  switch (phase_) {
    case heal_phase::idle:
    case heal_phase::waiting:
      phase_ = heal_phase::waiting;
      deadline_ = now + settings_.delay_ms;
      break;
    case heal_phase::collecting:
    case heal_phase::healing:
      again_ = true;
      break;
  }
  return {};
}

std::vector<heal_effect> autoheal::on_tick(int64_t now,
                                           const std::vector<std::string>& cores) {
  if (!leading_ || phase_ == heal_phase::idle || now < deadline_)
    return {};
  switch (phase_) {
    case heal_phase::waiting: {
      round_ = self_ + "#" + std::to_string(++counter_);
      record_ = heal_record{};
      record_.round = round_;
      record_.leader = self_;
      record_.started_ms = now;
      asked_ = {cores.begin(), cores.end()};
      views_.clear();
      phase_ = heal_phase::collecting;
      deadline_ = now + settings_.collect_timeout_ms;
      heal_effect e;
  e.kind = heal_effect::request_views;
      e.round = round_;
      e.nodes = {asked_.begin(), asked_.end()};
      return {e};
    }
    case heal_phase::collecting:
      return decide(now); // with the views that came
    case heal_phase::healing:
      record_.unanswered = {awaiting_.begin(), awaiting_.end()};
      return finish("incomplete", now);
    case heal_phase::idle:
      break;
  }
  return {};
}

std::vector<heal_effect> autoheal::on_view(const std::string& round,
                                           const core_view& view, int64_t now) {
  if (!leading_ || phase_ != heal_phase::collecting || round != round_
      || !asked_.count(view.node))
    return {};
  views_[view.node] = view;
  if (views_.size() < asked_.size())
    return {};
  return decide(now);
}

void autoheal::set_known(view_table known) {
  known_ = std::move(known);
}

std::vector<heal_effect> autoheal::decide(int64_t now) {
  // The views collected in this round, and for the cores the leader could
  // not ask (an asymmetric split: not connected to it) the newest gossiped
  // ones: a leader that decided from what it reaches alone could pick a
  // clique that a core it cannot see would beat.
  // Only a core some collected view sees as connected: the kept view of a
  // core that died would otherwise stand for a live clique (and, holding
  // the oldest core, win every tie).
  auto views = views_;
  for (auto& [node, v] : known_) {
    bool seen = std::any_of(views_.begin(), views_.end(), [&](auto& c) {
      auto& list = c.second.connected;
      return std::find(list.begin(), list.end(), node) != list.end();
    });
    if (seen)
      views.emplace(node, v);
  }
  auto d = heal_plan(views);
  record_.winner = d.winner;
  record_.losers = d.losers;
  record_.left = d.left;
  if (d.losers.empty())
    return finish("nothing to heal", now);
  phase_ = heal_phase::healing;
  deadline_ = now + settings_.heal_timeout_ms;
  awaiting_ = {d.losers.begin(), d.losers.end()};
  heal_effect e;
  e.kind = heal_effect::order_heal;
  e.round = round_;
  e.nodes = d.losers;
  e.winner = d.winner;
  return {e};
}

std::vector<heal_effect> autoheal::on_healed(const std::string& round,
                                             const std::string& from,
                                             uint64_t discarded, int64_t now) {
  if (!leading_ || phase_ != heal_phase::healing || round != round_
      || !awaiting_.erase(from))
    return {};
  record_.discarded += discarded;
  if (!awaiting_.empty())
    return {};
  return finish("healed", now);
}

std::vector<heal_effect> autoheal::finish(std::string outcome, int64_t now) {
  record_.outcome = std::move(outcome);
  record_.finished_ms = now;
  heal_effect e;
  e.kind = heal_effect::finished;
  e.round = round_;
  e.record = record_;
  asked_.clear();
  views_.clear();
  awaiting_.clear();
  if (again_) {
    again_ = false;
    phase_ = heal_phase::waiting;
    deadline_ = now + settings_.delay_ms;
  } else {
    phase_ = heal_phase::idle;
  }
  return {e};
}

// -- partition_alarm ----------------------------------------------------------

std::vector<partition_alarm::effect>
partition_alarm::on_compared(const std::string& peer, bool agrees,
                             const std::string& detail, int64_t now) {
  std::vector<effect> out;
  if (agrees) {
    if (peers_.erase(peer) && peers_.empty()) {
      out.push_back({effect::cleared, ""});
      reported_to_.clear();
    }
    return out;
  }
  bool was_active = active();
  now_ = now;
  auto [i, fresh] = peers_.try_emplace(peer, peer_state{now, detail});
  i->second.detail = detail;
  if (!was_active) {
    since_ms_ = now;
    out.push_back({effect::raised, ""});
  }
  if (fresh) {
    reported_to_.clear(); // a new peer: the leader hears of it
    for (auto& e : report())
      out.push_back(e);
  }
  return out;
}

std::vector<partition_alarm::effect>
partition_alarm::on_gone(const std::string& peer) {
  if (peers_.erase(peer) && peers_.empty()) {
    reported_to_.clear();
    return {{effect::cleared, ""}};
  }
  return {};
}

std::vector<partition_alarm::effect>
partition_alarm::on_leader(const std::string& leader) {
  leader_ = leader;
  return report();
}

std::vector<partition_alarm::effect>
partition_alarm::on_heal_finished(const heal_record& r) {
  auto in = [](const std::vector<std::string>& v, const std::string& n) {
    return std::find(v.begin(), v.end(), n) != v.end();
  };
  auto healed = [&](const std::string& n) {
    return in(r.losers, n) && !in(r.unanswered, n);
  };
  if (in(r.left, self_) || healed(self_))
    return {};
  // A peer the round did not see at all (the leader cannot reach it) is
  // not for this leader to settle either.
  auto seen = [&](const std::string& n) {
    return in(r.winner, n) || in(r.losers, n) || in(r.left, n);
  };
  bool open = std::any_of(peers_.begin(), peers_.end(), [&](auto& p) {
    return seen(p.first) && !in(r.left, p.first) && !healed(p.first);
  });
  if (!open)
    return {};
  reported_to_.clear();
  return report();
}

std::vector<partition_alarm::effect> partition_alarm::on_tick(int64_t now) {
  now_ = now;
  if (!active() || reported_to_.empty()
      || now - reported_at_ < report_again_after_ms)
    return {};
  reported_to_.clear();
  return report();
}

std::vector<partition_alarm::effect> partition_alarm::report() {
  if (!active() || leader_.empty() || reported_to_ == leader_)
    return {};
  reported_to_ = leader_;
  reported_at_ = now_;
  return {{effect::report, leader_}};
}

} // namespace starling::runtime::cluster
