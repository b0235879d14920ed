#include "cluster_host.hpp"

#include <algorithm>

#include "starling/runtime/cluster/heal_report.hpp"

namespace starling::sim {

namespace {

using namespace runtime::cluster;
using namespace runtime::db;

using namespace timing;

} // namespace

const schema& cluster::tables() {
  static const schema s({{"t", "s", storage::disc, table_type::regular}});
  return s;
}

cluster::cluster(world& w, int cores, int replicants) : w_(w) {
  w_.on_up = [this](size_t i, size_t peer, uint64_t e) { on_up(i, peer, e); };
  w_.on_down = [this](size_t i, size_t peer, uint64_t e) { on_down(i, peer, e); };
  for (int k = 0; k < cores + replicants; ++k) {
    sim_node n;
    n.idx = w_.add_node();
    n.core = k < cores;
    n.name = (n.core ? "core" : "repl") + std::to_string(n.core ? k + 1 : k - cores + 1);
    nodes_.push_back(std::move(n));
  }
}

size_t cluster::index(const std::string& name) const {
  for (auto& n : nodes_)
    if (n.name == name)
      return n.idx;
  return SIZE_MAX;
}

void cluster::later(size_t i, int64_t us, std::function<void()> f) {
  auto inc = w_.incarnation(i);
  w_.after_us(us, [=, this] {
    if (w_.alive(i) && w_.incarnation(i) == inc)
      w_.run_on(i, f);
  });
}

void cluster::every(size_t i, int64_t period_us, std::function<void()> f) {
  later(i, period_us, [=, this] {
    f();
    every(i, period_us, f);
  });
}

void cluster::start(size_t i) {
  auto& n = at(i);
  w_.start(i);
  n.started_at_ms = now(i);
  n.cl = std::make_unique<cluster_core>(n.name, n.started_at_ms, n.core,
                                        autoheal_settings{},
                                        reconnect_schedule::settings{});
  n.up.clear();
  n.running.clear();
  n.resolved.clear();
  n.agreement.clear();
  n.probing = n.probe_again = false;
  n.group.clear();
  n.leader.clear();
  if (n.core) { // alone until the node agent says otherwise
    n.group = {n.name};
    n.leader = n.name;
  }
  n.agents.clear();
  n.agents_by_node.clear();
  n.callers.clear();
  n.shard_peers.clear();
  n.upstream.reset();
  n.upstream_agent = 0;
  // The shard as recovered from the file (a replicant keeps none).
  auto store = std::make_unique<shard_store>("s");
  lineage history;
  if (n.core) {
    *store = n.disc;
    if (auto l = lineage::parse(n.disc_history))
      history = *l;
    else
      store->set_seqno(0);
  }
  n.shard = std::make_unique<shard_core>(
    "s", n.name, n.core, n.core, std::move(store), std::move(history), tables(),
    shard_core_settings{}, [this, i] {
      auto& n = at(i);
      return n.name + "." + std::to_string(++n.segment_ids);
    });
  w_.log(n.name + " starts (incarnation " + std::to_string(w_.incarnation(i))
         + ", seqno " + std::to_string(n.shard->store().seqno()) + ", clock "
         + std::to_string(n.clock_skew_ms) + " ms off)");
  for (auto& peer : nodes_)
    if (peer.idx != i)
      n.cl->on_loaded(peer.name, now(i), w_.unit());
  w_.run_on(i, [this, i] {
    publish_view(i);
    publish_peers(i);
    tick(i);
  });
  every(i, tick_us, [this, i] { tick(i); });
  if (n.core)
    every(i, probe_us, [this, i] { probe(i); });
}

// -- the node agent ------------------------------------------------------------------

void cluster::on_up(size_t i, size_t peer, uint64_t epoch) {
  auto& n = at(i);
  if (auto u = n.up.find(peer); u != n.up.end()) {
    if (u->second.first == epoch)
      return;
    on_down(i, peer, u->second.first); // the old connection is gone
  }
  n.up[peer] = {epoch, at(peer).started_at_ms};
  n.cl->on_up(at(peer).name);
  publish_view(i);
}

void cluster::on_down(size_t i, size_t peer, uint64_t epoch) {
  auto& n = at(i);
  auto u = n.up.find(peer);
  if (u == n.up.end() || u->second.first != epoch)
    return;
  n.up.erase(u);
  w_.log(n.name + " sees " + at(peer).name + " down");
  // The monitors of this node's actors fire: agents streaming to the
  // peer quit, and the shard hears that its upstream agent is gone.
  for (auto& [id, a] : n.agents)
    if (a.subscriber == peer)
      local(i, [this, i, id = id] { agent_gone(i, id); });
  if (n.upstream == peer && n.upstream_agent)
    local(i, [this, i, a = n.upstream_agent] { upstream_lost(i, a); });
  carry(i, n.cl->on_down(at(peer).name, now(i), w_.unit()));
  publish_view(i);
}

void cluster::publish_view(size_t i) {
  auto& n = at(i);
  std::map<size_t, int64_t> running;
  std::vector<running_member> members;
  for (auto& [peer, u] : n.up) {
    running[peer] = u.second;
    members.push_back({at(peer).name, at(peer).core, u.second});
  }
  local(i, [this, i, running] { manager_members(i, running); });
  carry(i, n.cl->on_members(std::move(members), now(i)));
}

void cluster::tick(size_t i) {
  auto r = at(i).cl->on_tick(now(i));
  for (auto& name : r.dial)
    dial(i, index(name));
  carry(i, std::move(r.effects));
}

void cluster::dial(size_t i, size_t peer) {
  auto& n = at(i);
  auto name = at(peer).name;
  if (n.up.count(peer)) {
    n.cl->on_up(name);
    return;
  }
  w_.dial(i, peer, [this, i, name](bool ok, std::string why) {
    carry(i, at(i).cl->on_dialed(name, ok, why, now(i), w_.unit()));
  });
}

void cluster::carry(size_t i, cluster_effects effects) {
  auto& n = at(i);
  for (auto& e : effects) {
    switch (e.kind) {
      case cluster_effect::gossip: {
        auto views = n.cl->views();
        for (auto& [peer, u] : n.up)
          if (at(peer).name != e.node)
            w_.send(i, peer, [this, peer, views, from = n.name] {
              carry(peer, at(peer).cl->on_gossip(views, from));
            });
        break;
      }
      case cluster_effect::new_group:
        local(i, [this, i, g = e.group] {
          auto& n = at(i);
          std::set<std::string> members(g.members.begin(), g.members.end());
          if (members == n.group && g.leader == n.leader)
            return;
          n.group = std::move(members);
          n.leader = g.leader;
          publish_peers(i);
        });
        break;
      case cluster_effect::report: {
        auto leader = index(e.node);
        if (n.up.count(leader))
          w_.send(i, leader, [this, leader, from = n.name] {
            carry(leader, at(leader).cl->on_report(from, now(leader)));
          });
        break;
      }
      case cluster_effect::request_views:
        for (auto& name : e.nodes) {
          auto peer = index(name);
          if (!n.up.count(peer))
            continue; // the deadline ends the collection without it
          w_.request<core_view>(
            i, peer, step_us,
            [this, peer](world::respond_fn<core_view> respond) {
              if (at(peer).core)
                respond(peer, at(peer).cl->own());
            },
            [this, i, name, round = e.round](core_view v) {
              if (v.node == name)
                carry(i, at(i).cl->on_view(round, v, now(i)));
            },
            [] {});
        }
        break;
      case cluster_effect::order_heal:
        for (auto& name : e.nodes)
          order_heal(i, e.round, index(name), e.winner);
        break;
      case cluster_effect::heal_finished:
        for (auto& [peer, u] : n.up)
          w_.send(i, peer, [this, peer, r = e.record] {
            carry(peer, at(peer).cl->on_heal_done(r));
          });
        break;
      case cluster_effect::log:
        w_.log(n.name + ": " + e.text);
        break;
    }
  }
}

void cluster::order_heal(size_t i, const std::string& round, size_t loser,
                         const std::vector<std::string>& winner) {
  auto healed = [this, i, round, name = at(loser).name](std::optional<uint64_t> r) {
    if (r)
      carry(i, at(i).cl->on_healed(round, name, *r, now(i)));
    else
      w_.log(at(i).name + ": autoheal round " + round + ": " + name + " did not heal");
  };
  if (loser == i) {
    if (auto why = at(i).cl->check_heal_order(winner); !why.empty())
      return w_.log(at(i).name + ": not healing: " + why);
    return local_heal(i, round, winner, healed);
  }
  if (!at(i).up.count(loser))
    return;
  w_.request<std::optional<uint64_t>>(
    i, loser, 90'000 * ms,
    [this, loser, round, winner](world::respond_fn<std::optional<uint64_t>> respond) {
      if (auto why = at(loser).cl->check_heal_order(winner); !why.empty()) {
        w_.log(at(loser).name + ": refused to heal: " + why);
        return respond(loser, std::nullopt);
      }
      local_heal(loser, round, winner,
                 [respond, loser](std::optional<uint64_t> r) { respond(loser, r); });
    },
    healed, [healed] { healed(std::nullopt); });
}

void cluster::local_heal(size_t i, const std::string& round,
                         const std::vector<std::string>& winner,
                         std::function<void(std::optional<uint64_t>)> done) {
  w_.log(at(i).name + ": autoheal round " + round + ": this node lost");
  w_.request<std::optional<uint64_t>>(
    i, i, 60'000 * ms,
    [this, i, round, winner](world::respond_fn<std::optional<uint64_t>> respond) {
      manager_heal(i, round, winner, respond);
    },
    done, [done] { done(std::nullopt); });
}

// -- the db manager ------------------------------------------------------------------

void cluster::manager_members(size_t i, std::map<size_t, int64_t> running) {
  auto& n = at(i);
  bool changed = false;
  for (auto r = n.resolved.begin(); r != n.resolved.end();) {
    auto j = running.find(r->first);
    if (j == running.end() || j->second != r->second) {
      n.agreement.erase(r->first); // compared again when it is back
      r = n.resolved.erase(r);
      changed = true;
    } else {
      ++r;
    }
  }
  for (auto& [peer, started] : running)
    if (auto k = n.running.find(peer); k == n.running.end() || k->second != started)
      resolve(i, peer, started);
  n.running = std::move(running);
  if (changed)
    publish_peers(i);
}

void cluster::resolve(size_t i, size_t peer, int64_t started_at, uint32_t attempt) {
  w_.request<int64_t>(
    i, peer, step_us,
    [this, peer](world::respond_fn<int64_t> respond) {
      respond(peer, at(peer).started_at_ms);
    },
    [this, i, peer, started_at](int64_t) {
      auto& n = at(i);
      auto r = n.running.find(peer);
      if (r == n.running.end() || r->second != started_at)
        return; // went down meanwhile
      n.resolved[peer] = started_at;
      publish_peers(i);
      if (at(peer).core)
        probe(i); // a core that came up: compare at once
    },
    [this, i, peer, started_at, attempt] {
      // Asked again while it runs as the same incarnation, 1 s later, then
      // twice as long each time up to 30 s (the manager's resolve_later).
      w_.log(at(i).name + ": cannot reach the database of " + at(peer).name);
      auto delay_s = std::min<int64_t>(30, int64_t{1} << std::min<uint32_t>(attempt, 5));
      later(i, delay_s * 1'000'000, [this, i, peer, started_at, attempt] {
        auto& n = at(i);
        if (auto r = n.running.find(peer); r != n.running.end()
            && r->second == started_at && !n.resolved.count(peer))
          resolve(i, peer, started_at, attempt + 1);
      });
    });
}

void cluster::publish_peers(size_t i) {
  auto& n = at(i);
  std::vector<shard_peer_info> list;
  std::map<std::string, size_t> where;
  for (auto& [peer, started] : n.resolved) {
    bool peer_core = at(peer).core;
    // A regular shard works with the cores of the database group and,
    // on a core, the replicants (which subscribe to it).
    if (peer_core ? !n.group.count(at(peer).name) : !n.core)
      continue;
    list.push_back({at(peer).name, peer_core, started});
    where[at(peer).name] = peer;
  }
  local(i, [this, i, list, where, leader = n.leader] {
    auto& n = at(i);
    if (w_.trace() > 1) {
      std::string text;
      for (auto& p : list)
        text += " " + p.name;
      w_.log(n.name + ": shard peers" + text + "; sequencer " + leader);
    }
    n.shard_peers = where;
    carry(i, n.shard->on_peers(list, leader, now(i)));
  });
}

void cluster::compare_with(size_t i, const std::vector<size_t>& cores,
                           std::function<void(comparison)> done) {
  using state = std::pair<lineage, uint64_t>;
  struct gathered {
    std::optional<state> mine;
    std::map<size_t, state> theirs;
    size_t pending = 1;
  };
  auto g = std::make_shared<gathered>();
  auto finish = [g, done] {
    if (--g->pending > 0)
      return;
    comparison c;
    if (g->mine)
      for (auto& [peer, s] : g->theirs)
        c[peer] = compare(g->mine->first, g->mine->second, s.first, s.second);
    done(std::move(c));
  };
  // Ours and theirs, asked at the same moment.
  auto ask = [this, i, g, finish](size_t target, std::function<void(state)> got) {
    ++g->pending;
    using answer = std::pair<std::string, uint64_t>;
    w_.request<answer>(
      i, target, manager_ask_us,
      [this, target](world::respond_fn<answer> respond) {
        auto& s = *at(target).shard;
        respond(target, {s.fsm().history().str(), s.fsm().reported_seqno()});
      },
      [got, finish](answer a) {
        if (auto l = lineage::parse(a.first))
          got({*l, a.second});
        finish();
      },
      finish);
  };
  ask(i, [g](state s) { g->mine = std::move(s); });
  for (auto peer : cores)
    ask(peer, [g, peer](state s) { g->theirs[peer] = std::move(s); });
  finish();
}

void cluster::probe(size_t i) {
  auto& n = at(i);
  if (!n.core)
    return;
  if (n.probing) {
    n.probe_again = true;
    return;
  }
  std::vector<size_t> cores;
  for (auto& [peer, started] : n.resolved)
    if (at(peer).core)
      cores.push_back(peer);
  n.probing = true;
  compare_with(i, cores, [this, i](comparison c) {
    auto& n = at(i);
    n.probing = false;
    for (auto& [peer, rel] : c) {
      if (!n.resolved.count(peer))
        continue; // went down meanwhile
      bool agrees = rel.compatible();
      if (auto k = n.agreement.find(peer); k == n.agreement.end() || k->second != agrees) {
        n.agreement[peer] = agrees;
        local(i, [this, i, name = at(peer).name, agrees, common = rel.common] {
          carry(i, at(i).cl->on_compared(name, agrees,
                                         "branched after " + std::to_string(common),
                                         now(i)));
        });
      }
    }
    if (n.probe_again) {
      n.probe_again = false;
      probe(i);
    }
  });
}

void cluster::manager_heal(size_t i, const std::string& round,
                           const std::vector<std::string>& winner,
                           world::respond_fn<std::optional<uint64_t>> respond) {
  auto& n = at(i);
  std::vector<size_t> cores;
  for (auto& name : winner)
    if (auto p = index(name); p != i && n.resolved.count(p))
      cores.push_back(p);
  if (cores.empty())
    return respond(i, std::nullopt); // cannot reach any winner's database
  compare_with(i, cores, [this, i, round, respond](comparison c) {
    // Discarded from the last seqno it shares with all the winners.
    std::optional<uint64_t> common;
    for (auto& [peer, rel] : c)
      if (!rel.compatible())
        common = std::min(common.value_or(rel.common), rel.common);
    if (!common)
      return respond(i, uint64_t{0});
    using reset = std::pair<reset_outcome, lineage>;
    w_.request<reset>(
      i, i, 10'000 * ms,
      [this, i, round, common](world::respond_fn<reset> done) {
        shard_effects effects;
        auto branch = at(i).shard->fsm().history();
        auto r = at(i).shard->reset("autoheal round " + round, *common, now(i), effects);
        carry(i, std::move(effects));
        done(i, {std::move(r), std::move(branch)});
      },
      [this, i, round, respond, common](reset r) {
        auto& [outcome, branch] = r;
        ++resets_;
        auto discarded = outcome.seqno > *common ? outcome.seqno - *common : 0;
        // What the heal report says, as the db manager writes it.
        runtime::cluster::discarded_shard d{"s",           outcome.history,
                                            *common,       outcome.seqno,
                                            outcome.log_first,
                                            std::move(outcome.discarded)};
        for (auto& line : runtime::cluster::report_lines(d, at(i).name, round, now(i)))
          if (line.contains("gap"))
            gaps_.push_back({branch, line["gap"]["from"].get<uint64_t>(),
                             line["gap"]["to"].get<uint64_t>()});
          else
            discarded_.insert(line["txn"].get<std::string>());
        respond(i, discarded);
      },
      [respond, i] { respond(i, uint64_t{0}); });
  });
}

} // namespace starling::sim
