#include "starling/runtime/cluster/cluster_core.hpp"

#include <algorithm>

namespace starling::runtime::cluster {

namespace {

cluster_effect make(cluster_effect::kind_t k) {
  cluster_effect e;
  e.kind = k;
  return e;
}

cluster_effect note(std::string text, bool warning = false) {
  auto e = make(cluster_effect::log);
  e.text = std::move(text);
  e.warning = warning;
  return e;
}

std::string names(const std::vector<std::string>& v) {
  std::string out;
  for (auto& n : v)
    out += (out.empty() ? "" : ", ") + n;
  return out.empty() ? "none" : out;
}

} // namespace

cluster_core::cluster_core(std::string self, int64_t started_at_ms, bool core,
                           autoheal_settings heal,
                           reconnect_schedule::settings dial)
  : self_(self),
    started_at_ms_(started_at_ms),
    core_(core),
    topo_(self, started_at_ms),
    heal_(self, heal),
    alarm_(self),
    dial_(dial) {}

std::vector<std::string> cluster_core::running_cores() const {
  std::vector<std::string> out;
  if (core_)
    out.push_back(self_);
  for (auto& m : running_)
    if (m.core)
      out.push_back(m.name);
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<core_view> cluster_core::views() const {
  auto v = topo_.all();
  if (!core_)
    std::erase_if(v, [&](auto& x) { return x.node == self_; });
  return v;
}

cluster_effects cluster_core::on_members(std::vector<running_member> running,
                                         int64_t now) {
  running_ = std::move(running);
  for (auto& m : running_)
    dial_.on_up(m.name);
  return refresh(now);
}

void cluster_core::on_up(const std::string& node) {
  dial_.on_up(node);
  dial_errors_.erase(node);
}

void cluster_core::on_loaded(const std::string& node, int64_t now, double jitter) {
  dial_.on_down(node, now, jitter);
}

cluster_effects cluster_core::on_down(const std::string& node, int64_t now,
                                      double jitter) {
  cluster_effects out;
  dial_.on_down(node, now, jitter);
  agreeing_.erase(node);
  if (core_)
    run_alarm(alarm_.on_gone(node), out, now);
  return out;
}

cluster_effects cluster_core::on_removed(const std::string& node) {
  cluster_effects out;
  dial_.forget(node);
  dial_errors_.erase(node);
  topo_.forget(node);
  agreeing_.erase(node);
  if (core_)
    run_alarm(alarm_.on_gone(node), out, 0);
  return out;
}

/// Our own view, the leader and the database group after anything changed.
cluster_effects cluster_core::refresh(int64_t now) {
  cluster_effects out;
  if (core_) {
    std::vector<std::string> connected, agreeing;
    for (auto& m : running_)
      if (m.core) {
        connected.push_back(m.name);
        if (agreeing_.count(m.name))
          agreeing.push_back(m.name);
      }
    if (topo_.set_own(connected, agreeing)) {
      out.push_back(make(cluster_effect::gossip));
      last_gossip_ms_ = now;
    }
    std::vector<core_age> ages{{self_, started_at_ms_}};
    for (auto& m : running_)
      if (m.core)
        ages.push_back({m.name, m.started_at_ms});
    auto leader = oldest(ages)->name;
    if (leader != leader_) {
      leader_ = leader;
      heal_.set_leader(leader == self_, now);
      run_alarm(alarm_.on_leader(leader), out, now);
    }
  }
  update_group(out);
  return out;
}

void cluster_core::update_group(cluster_effects& out) {
  db_group g;
  if (core_) {
    std::set<std::string> alive;
    for (auto& m : running_)
      if (m.core)
        alive.insert(m.name);
    g = topo_.group(&alive);
  } else {
    std::vector<std::string> cores;
    std::vector<core_age> ages;
    for (auto& m : running_)
      if (m.core) {
        cores.push_back(m.name);
        ages.push_back({m.name, m.started_at_ms});
      }
    g = primary_group(topo_.views(), cores);
    if (g.members.empty() && !cores.empty()) {
      // No view of them yet (they gossip when they see us): all of them.
      std::sort(cores.begin(), cores.end());
      g = {cores, oldest(ages)->name};
    }
  }
  if (g == group_)
    return;
  bool was_alone = group_.members.size() <= 1;
  group_ = g;
  if (!(was_alone && g.members.size() <= 1 && core_))
    out.push_back(note("database group: " + names(g.members) + "; sequencer "
                       + (g.leader.empty() ? "none" : g.leader)));
  auto e = make(cluster_effect::new_group);
  e.group = g;
  out.push_back(std::move(e));
}

void cluster_core::run_alarm(std::vector<partition_alarm::effect> effects,
                             cluster_effects& out, int64_t now) {
  for (auto& e : effects) {
    switch (e.kind) {
      case partition_alarm::effect::raised:
        out.push_back(note("partition alarm raised: this node's database "
                           "branched from another core's (cluster status shows "
                           "which)",
                           true));
        break;
      case partition_alarm::effect::cleared:
        out.push_back(note("partition alarm cleared: every running core agrees "
                           "with this node's database"));
        break;
      case partition_alarm::effect::report:
        if (e.leader == self_) {
          run_heal(heal_.on_report(self_, now), out, now);
        } else {
          auto r = make(cluster_effect::report);
          r.node = e.leader;
          out.push_back(std::move(r));
          out.push_back(note("reported the partition to the leader " + e.leader));
        }
        break;
    }
  }
}

void cluster_core::run_heal(std::vector<heal_effect> effects,
                            cluster_effects& out, int64_t now) {
  for (auto& e : effects) {
    switch (e.kind) {
      case heal_effect::request_views: {
        heal_.set_known(topo_.views());
        out.push_back(note("autoheal round " + e.round + ": collecting the views of "
                           + names(e.nodes)));
        auto r = make(cluster_effect::request_views);
        r.round = e.round;
        for (auto& n : e.nodes)
          if (n == self_)
            run_heal(heal_.on_view(e.round, topo_.own(), now), out, now);
          else
            r.nodes.push_back(n);
        if (!r.nodes.empty())
          out.push_back(std::move(r));
        break;
      }
      case heal_effect::order_heal: {
        auto& cur = heal_.current();
        out.push_back(note("autoheal round " + e.round + ": winner " + names(e.winner)
                             + "; losers " + names(e.nodes) + " re-sync from it"
                             + (cur.left.empty()
                                  ? ""
                                  : "; left alone (not connected to every winner): "
                                      + names(cur.left)),
                           true));
        auto r = make(cluster_effect::order_heal);
        r.round = e.round;
        r.nodes = e.nodes;
        r.winner = e.winner;
        out.push_back(std::move(r));
        break;
      }
      case heal_effect::finished: {
        auto& r = e.record;
        out.push_back(note(
          "autoheal round " + r.round + " ended: " + r.outcome + " in "
          + std::to_string(r.finished_ms - r.started_ms) + " ms; winner "
          + names(r.winner) + ", losers " + names(r.losers) + ", "
          + std::to_string(r.discarded) + " transactions discarded"
          + (r.unanswered.empty() ? "" : "; unanswered: " + names(r.unanswered))));
        // A round that found nothing to heal is no heal: the last one stays
        // what `cluster status` shows.
        if (!r.losers.empty())
          last_heal_ = r;
        auto f = make(cluster_effect::heal_finished);
        f.record = r;
        out.push_back(std::move(f));
        run_alarm(alarm_.on_heal_finished(r), out, now);
        break;
      }
    }
  }
}

cluster_effects cluster_core::on_compared(const std::string& peer, bool agrees,
                                          const std::string& detail, int64_t now) {
  cluster_effects out;
  if (!core_)
    return out;
  if (agrees)
    agreeing_.insert(peer);
  else
    agreeing_.erase(peer);
  bool known = alarm_.peers().count(peer) > 0;
  if (!agrees && !known)
    out.push_back(note("partition: the database of " + peer
                         + " branched from this node's: " + detail,
                       true));
  else if (agrees && known)
    out.push_back(note(peer + "'s database agrees with this node's again"));
  run_alarm(alarm_.on_compared(peer, agrees, detail, now), out, now);
  for (auto& e : refresh(now))
    out.push_back(std::move(e));
  return out;
}

cluster_effects cluster_core::on_gossip(const std::vector<core_view>& views,
                                        const std::string& from) {
  cluster_effects out;
  if (!topo_.merge(views))
    return out;
  update_group(out);
  auto g = make(cluster_effect::gossip);
  g.node = from; // not back to where it came from
  out.push_back(std::move(g));
  return out;
}

cluster_effects cluster_core::on_report(const std::string& from, int64_t now) {
  cluster_effects out;
  if (!core_)
    return out;
  out.push_back(note("partition reported by " + from));
  run_heal(heal_.on_report(from, now), out, now);
  return out;
}

cluster_effects cluster_core::on_view(const std::string& round,
                                      const core_view& view, int64_t now) {
  cluster_effects out;
  heal_.set_known(topo_.views());
  run_heal(heal_.on_view(round, view, now), out, now);
  return out;
}

cluster_effects cluster_core::on_healed(const std::string& round,
                                        const std::string& from,
                                        uint64_t discarded, int64_t now) {
  cluster_effects out;
  run_heal(heal_.on_healed(round, from, discarded, now), out, now);
  return out;
}

std::string cluster_core::check_heal_order(const std::vector<std::string>& winner) const {
  if (!core_)
    return "a replicant holds no data of its own to heal";
  view_table views;
  for (auto& [n, v] : topo_.views())
    if (n == self_ || std::any_of(running_.begin(), running_.end(),
                                  [&](auto& m) { return m.name == n; }))
      views.emplace(n, v);
  auto d = heal_plan(views);
  if (std::find(d.losers.begin(), d.losers.end(), self_) != d.losers.end())
    return "";
  return "by this node's views the winner is " + names(d.winner)
         + " and this node is not a loser (the order named " + names(winner)
         + ")";
}

cluster_effects cluster_core::on_heal_done(const heal_record& record) {
  cluster_effects out;
  if (!record.losers.empty())
    last_heal_ = record;
  if (core_)
    run_alarm(alarm_.on_heal_finished(record), out, 0);
  return out;
}

cluster_core::tick_result cluster_core::on_tick(int64_t now) {
  tick_result r;
  r.dial = dial_.due(now);
  if (core_) {
    heal_.set_known(topo_.views());
    run_heal(heal_.on_tick(now, running_cores()), r.effects, now);
    run_alarm(alarm_.on_tick(now), r.effects, now);
  }
  if (now - last_gossip_ms_ >= gossip_every_ms) {
    r.effects.push_back(make(cluster_effect::gossip));
    last_gossip_ms_ = now;
  }
  return r;
}

cluster_effects cluster_core::on_dialed(const std::string& node, bool ok,
                                        const std::string& why, int64_t now,
                                        double jitter) {
  cluster_effects out;
  if (ok) {
    dial_errors_.erase(node);
    out.push_back(note("reconnected to " + node));
    return out;
  }
  dial_.on_failed(node, now, jitter);
  if (dial_errors_[node] != why) {
    dial_errors_[node] = why;
    out.push_back(note("cannot reconnect to " + node + ": " + why + " (retrying)",
                       true));
  }
  return out;
}

} // namespace starling::runtime::cluster
