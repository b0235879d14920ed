#include "starling/broker/evacuation.hpp"

#include <algorithm>
#include <map>
#include <sstream>

namespace starling::broker {

namespace {

evacuation_effect make(evacuation_effect::kind what) {
  evacuation_effect e;
  e.what = what;
  return e;
}

evacuation_effect timer(std::int64_t delay_ms) {
  auto e = make(evacuation_effect::timer);
  e.delay_ms = delay_ms;
  return e;
}

evacuation_effect note(std::string text) {
  auto e = make(evacuation_effect::log);
  e.text = std::move(text);
  return e;
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (auto& x : v)
    out += (out.empty() ? "" : ",") + x;
  return out;
}

std::vector<std::string> split(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream in(text);
  for (std::string x; std::getline(in, x, ',');)
    if (!x.empty())
      out.push_back(x);
  return out;
}

} // namespace

void evacuation::enter(phase p, evacuation_effects& out, std::int64_t delay_ms) {
  phase_ = p;
  auto persisted = make(evacuation_effect::persist);
  persisted.text = to_text();
  out.push_back(std::move(persisted));
  if (delay_ms >= 0)
    out.push_back(timer(delay_ms));
}

std::optional<std::string> evacuation::start(const evacuation_options& options,
                                             const std::vector<std::string>& others,
                                             std::int64_t, evacuation_effects& out) {
  if (phase_ != phase::disabled)
    return std::string("an evacuation is already running");
  std::vector<std::string> targets = options.migrate_to;
  for (auto& n : targets)
    if (std::find(others.begin(), others.end(), n) == others.end())
      return "cannot migrate sessions to " + n + ": it is not a running node";
  if (targets.empty())
    targets = others;
  options_ = options;
  targets_ = targets;
  out.push_back(make(evacuation_effect::fail_health_check));
  out.push_back(note("evacuation started"
                     + (targets_.empty() ? std::string(" (no other node: sessions stay)")
                                         : ", sessions to " + join(targets_))));
  enter(phase::waiting_health_check, out, options_.wait_health_check_ms);
  return std::nullopt;
}

evacuation_effects evacuation::on_timer(std::uint64_t connections,
                                        std::uint64_t disconnected_sessions,
                                        std::int64_t) {
  evacuation_effects out;
  auto per_round = [&](std::uint64_t rate) {
    return std::max<std::uint64_t>(
      1, rate * static_cast<std::uint64_t>(options_.evict_interval_ms) / 1000);
  };
  switch (phase_) {
    case phase::disabled:
    case phase::prohibiting:
      break;
    case phase::waiting_health_check:
      out.push_back(make(evacuation_effect::refuse_connections));
      enter(phase::evicting_conns, out, 0);
      break;
    case phase::evicting_conns:
      if (connections == 0) {
        out.push_back(note("evacuation: every client disconnected"));
        enter(phase::waiting_takeover, out, options_.wait_takeover_ms);
      } else {
        auto e = make(evacuation_effect::evict_connections);
        e.count = std::min(connections, per_round(options_.conn_evict_rate));
        out.push_back(std::move(e));
        out.push_back(timer(options_.evict_interval_ms));
      }
      break;
    case phase::waiting_takeover:
      enter(phase::evicting_sessions, out, 0);
      break;
    case phase::evicting_sessions:
      if (disconnected_sessions == 0 || targets_.empty()) {
        out.push_back(note(targets_.empty() && disconnected_sessions > 0
                             ? "evacuation: no node to move the sessions to; "
                               "they stay"
                             : "evacuation: every session moved"));
        enter(phase::prohibiting, out, -1);
      } else {
        auto e = make(evacuation_effect::evict_sessions);
        e.count = std::min(disconnected_sessions, per_round(options_.sess_evict_rate));
        e.to = targets_;
        out.push_back(std::move(e));
        out.push_back(timer(options_.evict_interval_ms));
      }
      break;
  }
  return out;
}

std::optional<std::string> evacuation::stop(evacuation_effects& out) {
  if (phase_ == phase::disabled)
    return std::string("no evacuation is running");
  phase_ = phase::disabled;
  out.push_back(make(evacuation_effect::restore));
  out.push_back(make(evacuation_effect::persist)); // empty: the file goes
  out.push_back(note("evacuation stopped"));
  return std::nullopt;
}

std::string evacuation::to_text() const {
  std::ostringstream out;
  out << "phase=" << to_string(phase_) << "\n"
      << "redirect_to=" << options_.redirect_to << "\n"
      << "migrate_to=" << join(targets_) << "\n"
      << "conn_evict_rate=" << options_.conn_evict_rate << "\n"
      << "sess_evict_rate=" << options_.sess_evict_rate << "\n"
      << "wait_health_check_ms=" << options_.wait_health_check_ms << "\n"
      << "wait_takeover_ms=" << options_.wait_takeover_ms << "\n";
  return out.str();
}

std::optional<std::string> evacuation::resume(const std::string& text,
                                              evacuation_effects& out) {
  if (phase_ != phase::disabled)
    return std::string("an evacuation is already running");
  std::map<std::string, std::string> kv;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.empty())
      continue;
    auto eq = line.find('=');
    if (eq == std::string::npos)
      return "not an evacuation state: '" + line + "'";
    kv[line.substr(0, eq)] = line.substr(eq + 1);
  }
  std::optional<phase> p;
  for (auto x : {phase::waiting_health_check, phase::evicting_conns,
                 phase::waiting_takeover, phase::evicting_sessions,
                 phase::prohibiting})
    if (kv["phase"] == to_string(x))
      p = x;
  if (!p)
    return "not an evacuation state: phase '" + kv["phase"] + "'";
  evacuation_options o;
  try {
    o.redirect_to = kv["redirect_to"];
    o.conn_evict_rate = std::stoull(kv.at("conn_evict_rate"));
    o.sess_evict_rate = std::stoull(kv.at("sess_evict_rate"));
    o.wait_health_check_ms = std::stoll(kv.at("wait_health_check_ms"));
    o.wait_takeover_ms = std::stoll(kv.at("wait_takeover_ms"));
  } catch (const std::exception&) {
    return std::string("not an evacuation state: a rate or a wait is missing or "
                       "not a number");
  }
  options_ = o;
  targets_ = split(kv["migrate_to"]);
  // A restarted node has no clients yet: it refuses them at once and goes
  // on from where it was (a node that was waiting for the health check
  // starts evicting; one that was prohibiting stays so).
  phase_ = *p == phase::waiting_health_check ? phase::evicting_conns : *p;
  out.push_back(make(evacuation_effect::fail_health_check));
  out.push_back(make(evacuation_effect::refuse_connections));
  out.push_back(note(std::string("evacuation resumed after a restart: ")
                     + to_string(phase_)));
  if (phase_ != phase::prohibiting)
    out.push_back(timer(0));
  return std::nullopt;
}

const char* to_string(evacuation::phase p) {
  switch (p) {
    case evacuation::phase::disabled: return "disabled";
    case evacuation::phase::waiting_health_check: return "waiting_health_check";
    case evacuation::phase::evicting_conns: return "evicting_conns";
    case evacuation::phase::waiting_takeover: return "waiting_takeover";
    case evacuation::phase::evicting_sessions: return "evicting_sessions";
    case evacuation::phase::prohibiting: return "prohibiting";
  }
  return "?";
}

} // namespace starling::broker
