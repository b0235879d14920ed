#include "starling/broker/rebalance.hpp"

#include <algorithm>
#include <cmath>
#include <map>

namespace starling::broker {

namespace {

using counts = std::map<std::string, double>;

double average(const counts& all, const std::vector<std::string>& nodes) {
  if (nodes.empty())
    return 0;
  double sum = 0;
  for (auto& n : nodes)
    if (auto i = all.find(n); i != all.end())
      sum += i->second;
  return sum / static_cast<double>(nodes.size());
}

counts of(const std::vector<node_load>& loads, bool sessions) {
  counts out;
  for (auto& l : loads)
    out[l.node] = static_cast<double>(sessions ? l.disconnected_sessions
                                               : l.connections);
  return out;
}

rebalance_effect timer(std::int64_t delay_ms) {
  rebalance_effect e;
  e.what = rebalance_effect::timer;
  e.delay_ms = delay_ms;
  return e;
}

rebalance_effect note(std::string text) {
  rebalance_effect e;
  e.what = rebalance_effect::log;
  e.text = std::move(text);
  return e;
}

rebalance_effect to_donors(rebalance_effect::kind what) {
  rebalance_effect e;
  e.what = what;
  return e;
}

} // namespace

bool within_thresholds(double value, double goal, std::uint64_t abs, double rel) {
  return value <= goal + static_cast<double>(abs) || value <= goal * rel;
}

std::optional<std::string> rebalance::start(const rebalance_options& options,
                                            const std::vector<node_load>& loads,
                                            std::int64_t now_ms,
                                            rebalance_effects& out) {
  if (phase_ != phase::disabled)
    return std::string("a rebalance is already running");
  if (loads.size() < 2)
    return std::string("a rebalance needs at least two nodes");
  auto conns = of(loads, false), sessions = of(loads, true);
  double total = 0;
  for (auto& [node, n] : conns)
    total += n;
  double avg = total / static_cast<double>(conns.size());
  std::vector<std::string> donors, recipients;
  for (auto& [node, n] : conns)
    (n >= avg ? donors : recipients).push_back(node);
  // Balanced already: connections and disconnected sessions within the
  // thresholds (also when every node has the same number: no recipient).
  if (recipients.empty()
      || (within_thresholds(average(conns, donors), average(conns, recipients),
                            options.abs_conn_threshold, options.rel_conn_threshold)
          && within_thresholds(average(sessions, donors),
                               average(sessions, recipients),
                               options.abs_sess_threshold,
                               options.rel_sess_threshold)))
    return std::string("nothing to balance");
  options_ = options;
  donors_ = std::move(donors);
  recipients_ = std::move(recipients);
  donor_avg_ = average(conns, donors_);
  recipient_avg_ = average(conns, recipients_);
  started_at_ms_ = now_ms;
  phase_ = phase::wait_health_check;
  out.push_back(to_donors(rebalance_effect::fail_health_check));
  out.push_back(note("rebalance started: donors " + std::to_string(donors_.size())
                     + ", recipients " + std::to_string(recipients_.size())));
  out.push_back(timer(options_.wait_health_check_ms));
  return std::nullopt;
}

bool rebalance::evict(const std::vector<node_load>& loads, bool sessions,
                      rebalance_effects& out) {
  auto all = of(loads, sessions);
  donor_avg_ = average(all, donors_);
  recipient_avg_ = average(all, recipients_);
  auto abs = sessions ? options_.abs_sess_threshold : options_.abs_conn_threshold;
  auto rel = sessions ? options_.rel_sess_threshold : options_.rel_conn_threshold;
  if (within_thresholds(donor_avg_, recipient_avg_, abs, rel))
    return false;
  // Evicted clients land on recipients, so a donor gives away no more than
  // what it holds above the mean of all participants: stopping at the
  // recipients' average would move the excess over to them (400 and 200
  // would become 200 and 400).
  auto nd = static_cast<double>(donors_.size());
  auto nr = static_cast<double>(recipients_.size());
  auto goal = (donor_avg_ * nd + recipient_avg_ * nr) / (nd + nr);
  auto rate = sessions ? options_.sess_evict_rate : options_.conn_evict_rate;
  auto per_round = std::max<std::uint64_t>(
    1, rate * static_cast<std::uint64_t>(options_.evict_interval_ms) / 1000);
  for (auto& node : donors_) {
    auto i = all.find(node);
    // A donor at or below the mean while another is still above it gives
    // nothing this round.
    if (i == all.end() || i->second <= goal)
      continue;
    auto above = static_cast<std::uint64_t>(std::ceil(i->second - goal));
    rebalance_effect e;
    e.what = sessions ? rebalance_effect::evict_sessions
                      : rebalance_effect::evict_connections;
    e.node = node;
    e.count = std::min(per_round, above);
    if (sessions)
      e.to = recipients_;
    out.push_back(std::move(e));
  }
  out.push_back(timer(options_.evict_interval_ms));
  return true;
}

rebalance_effects rebalance::on_timer(const std::vector<node_load>& loads,
                                      std::int64_t) {
  rebalance_effects out;
  switch (phase_) {
    case phase::disabled:
      break;
    case phase::wait_health_check:
      phase_ = phase::evicting_conns;
      out.push_back(to_donors(rebalance_effect::refuse_connections));
      out.push_back(timer(0));
      break;
    case phase::evicting_conns:
      if (!evict(loads, false, out)) {
        phase_ = phase::wait_takeover;
        out.push_back(note("rebalance: connections balanced"));
        out.push_back(timer(options_.wait_takeover_ms));
      }
      break;
    case phase::wait_takeover:
      phase_ = phase::evicting_sessions;
      out.push_back(timer(0));
      break;
    case phase::evicting_sessions:
      if (!evict(loads, true, out))
        finish(out, "rebalance finished");
      break;
  }
  return out;
}

void rebalance::finish(rebalance_effects& out, const std::string& why) {
  out.push_back(to_donors(rebalance_effect::restore));
  out.push_back(note(why));
  phase_ = phase::disabled;
}

std::optional<std::string> rebalance::stop(rebalance_effects& out) {
  if (phase_ == phase::disabled)
    return std::string("no rebalance is running");
  finish(out, "rebalance stopped by an operator");
  return std::nullopt;
}

rebalance_effects rebalance::node_down(const std::string& node) {
  rebalance_effects out;
  if (phase_ == phase::disabled)
    return out;
  auto in = [&](const std::vector<std::string>& v) {
    return std::find(v.begin(), v.end(), node) != v.end();
  };
  if (!in(donors_) && !in(recipients_))
    return out;
  std::erase(donors_, node);
  finish(out, "rebalance aborted: " + node + " went down");
  return out;
}

const char* to_string(rebalance::phase p) {
  switch (p) {
    case rebalance::phase::disabled: return "disabled";
    case rebalance::phase::wait_health_check: return "wait_health_check";
    case rebalance::phase::evicting_conns: return "evicting_conns";
    case rebalance::phase::wait_takeover: return "wait_takeover";
    case rebalance::phase::evicting_sessions: return "evicting_sessions";
  }
  return "?";
}

} // namespace starling::broker
