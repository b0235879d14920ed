// The node agent and the cluster over time: the membership file, dialling
// members that are down, autoclean, and carrying out what
// runtime::cluster::cluster_core decides (views and their gossip, the
// database group, the partition alarm, autoheal).

#include "node_agent_state.hpp"

#include <filesystem>

#include "starling/actors/db/context.hpp"
#include "starling/actors/wire/db.hpp"
#include "starling/actors/node_context.hpp"
#include "starling/runtime/cluster/heal_report.hpp"
#include "starling/runtime/cluster/membership_file.hpp"
#include "starling/runtime/shell_text.hpp"

namespace starling::actors::agent_detail {

namespace {

using namespace runtime::cluster;

double jitter(agent_actor* self) {
  unsigned char b[2];
  self->state.ctx->rnd(b, sizeof b);
  return static_cast<double>(b[0] << 8 | b[1]) / 65536.0;
}

int64_t now(agent_actor* self) {
  return self->state.ctx->now_ms();
}

std::string join_names(const std::vector<std::string>& names) {
  std::string out;
  for (auto& n : names)
    out += (out.empty() ? "" : ", ") + n;
  return out.empty() ? "none" : out;
}

caf::actor agent_of(agent_actor* self, const std::string& node) {
  auto i = self->state.links.find(node);
  return i == self->state.links.end() ? caf::actor{} : i->second.agent;
}

std::vector<std::pair<std::string, caf::actor>> up_peers(agent_actor* self) {
  std::vector<std::pair<std::string, caf::actor>> out;
  auto& st = self->state;
  for (auto& [name, link] : st.links)
    if (auto m = st.view->find(name); m && m->status == runtime::member_status::up)
      out.emplace_back(name, link.agent);
  return out;
}

void persist(agent_actor* self) {
  auto& st = self->state;
  if (st.members_path.empty())
    return;
  auto text = to_text(*st.view);
  if (text == st.saved_text)
    return;
  std::string err;
  if (save_membership(st.members_path, *st.view, err))
    st.saved_text = std::move(text);
  else
    st.ctx->log->error("cannot keep the membership: " + err);
}

void carry(agent_actor* self, cluster_effects effects);

void local_heal(agent_actor* self, const std::string& round,
                const std::vector<std::string>& winner,
                std::function<void(caf::expected<uint64_t>)> done) {
  auto& st = self->state;
  if (!st.ctx->db || !st.ctx->db->manager) {
    done(fail("the database is not running"));
    return;
  }
  st.healing_round = round;
  st.ctx->log->warning("autoheal round " + round + ": this node lost to "
                       + join_names(winner) + "; it re-syncs the shards that "
                       "branched from theirs without restarting (its MQTT "
                       "clients stay connected)");
  self
    ->request(st.ctx->db->manager, std::chrono::seconds(60), db::heal_atom::value,
              round, winner)
    .then(
      [=](uint64_t discarded) {
        auto& st = self->state;
        st.healing_round.clear();
        st.ctx->log->info("autoheal round " + round + ": discarded "
                          + std::to_string(discarded)
                          + " transactions of this node's branch (listed by "
                            "'cluster heal-report')");
        done(discarded);
      },
      [=](caf::error& err) {
        self->state.healing_round.clear();
        done(err);
      });
}

void ask_view(agent_actor* self, const std::string& round,
              const std::string& node) {
  auto a = agent_of(self, node);
  if (!a)
    return; // the deadline ends the collection without it
  self->request(a, step_timeout, heal_view_atom::value, round)
    .then(
      [=](const view_wire& v) {
        if (v.node == node)
          carry(self, self->state.cl->on_view(round, v, now(self)));
      },
      [=](caf::error& err) {
        self->state.ctx->log->warning("autoheal round " + round + ": no view from "
                                      + node + ": " + describe(err));
      });
}

void order_heal(agent_actor* self, const std::string& round,
                const std::string& loser, const std::vector<std::string>& winner) {
  auto healed = [=](caf::expected<uint64_t> r) {
    if (!r) {
      self->state.ctx->log->warning("autoheal round " + round + ": " + loser
                                    + " did not heal: " + describe(r.error()));
      return;
    }
    carry(self, self->state.cl->on_healed(round, loser, *r, now(self)));
  };
  if (loser == self->state.view->self().name) {
    if (auto why = self->state.cl->check_heal_order(winner); !why.empty()) {
      self->state.ctx->log->warning("autoheal round " + round + ": not healing: "
                                    + why);
      return;
    }
    local_heal(self, round, winner, healed);
    return;
  }
  auto a = agent_of(self, loser);
  if (!a)
    return;
  self->request(a, std::chrono::seconds(90), heal_order_atom::value, round, winner)
    .then([=](uint64_t n) { healed(n); },
          [=](caf::error& err) { healed(std::move(err)); });
}

void carry(agent_actor* self, cluster_effects effects) {
  auto& st = self->state;
  for (auto& e : effects) {
    switch (e.kind) {
      case cluster_effect::gossip: {
        auto views = st.cl->views();
        for (auto& [name, agent] : up_peers(self))
          if (name != e.node)
            self->send(agent, views_atom::value, views);
        break;
      }
      case cluster_effect::new_group:
        if (st.ctx->db && st.ctx->db->manager)
          self->send(st.ctx->db->manager, db::group_atom::value, e.group.members,
                     e.group.leader);
        break;
      case cluster_effect::report:
        if (auto a = agent_of(self, e.node))
          self->send(a, partition_atom::value, st.view->self().name);
        break;
      case cluster_effect::request_views:
        for (auto& n : e.nodes)
          ask_view(self, e.round, n);
        break;
      case cluster_effect::order_heal:
        for (auto& n : e.nodes)
          order_heal(self, e.round, n, e.winner);
        break;
      case cluster_effect::heal_finished:
        for (auto& [name, agent] : up_peers(self))
          self->send(agent, heal_done_atom::value, e.record);
        break;
      case cluster_effect::log:
        if (e.warning)
          st.ctx->log->warning(e.text);
        else
          st.ctx->log->info(e.text);
        break;
    }
  }
}

nlohmann::json record_json(const heal_record& r, int64_t now) {
  return {{"round", r.round},
          {"leader", r.leader},
          {"outcome", r.outcome},
          {"ago_s", (now - r.finished_ms) / 1000},
          {"finished_ms", r.finished_ms},
          {"took_ms", r.finished_ms - r.started_ms},
          {"winner", r.winner},
          {"losers", r.losers},
          {"left", r.left},
          {"unanswered", r.unanswered},
          {"discarded", r.discarded}};
}

void dial(agent_actor* self, const std::string& name) {
  auto& st = self->state;
  auto m = st.view->find(name);
  if (!m || m->status == runtime::member_status::up) {
    st.cl->on_up(name);
    return;
  }
  connect_and_join(self, m->host, m->dist_port, name, true,
                   [self, name](members_result r) {
                     auto& st = self->state;
                     // Removed while we dialled: the schedule has forgotten
                     // it and must not learn of it again.
                     if (!st.view->find(name))
                       return;
                     if (!r && is_removed(r.error())) {
                       st.ctx->log->warning(describe(r.error()));
                       remove_member(self, name, "", false);
                       return;
                     }
                     carry(self, st.cl->on_dialed(name, bool(r),
                                                  r ? "" : describe(r.error()),
                                                  now(self), jitter(self)));
                     if (r)
                       on_joined(self, name, std::move(r), true,
                                 [](caf::expected<std::string>) {});
                   });
}

} // namespace

void init_cluster(agent_actor* self) {
  auto& st = self->state;
  auto& ctx = *st.ctx;
  auto& me = st.view->self();
  st.core = ctx.cfg.role == runtime::node_role::core;
  autoheal_settings hs;
  hs.enabled = ctx.cfg.flag("cluster.autoheal");
  hs.delay_ms = static_cast<int64_t>(ctx.cfg.number("cluster.autoheal_delay_ms"));
  st.cl = std::make_unique<cluster_core>(me.name, me.started_at_ms, st.core, hs,
                                         reconnect_schedule::settings{});
  st.autoclean_ms = static_cast<int64_t>(ctx.cfg.duration_ms("cluster.autoclean"));
  st.members_path = (std::filesystem::path(ctx.cfg.text("node.data_dir"))
                     / (me.name + ".cluster.json"))
                      .string();
  std::string err;
  auto saved = load_membership(st.members_path, err);
  if (!saved) {
    ctx.log->warning("ignoring the membership file: " + err);
  } else {
    for (auto& m : saved->members)
      if (m.name != me.name) {
        st.view->upsert(m, now(self));
        st.cl->on_loaded(m.name, now(self), jitter(self));
      }
    for (auto& r : saved->removals)
      st.view->add_removal(r);
    if (!saved->members.empty())
      ctx.log->info("rejoining the cluster: " + std::to_string(saved->members.size())
                    + " members in " + st.members_path);
    st.saved_text = to_text(*st.view);
  }
  after_view_change(self);
  self->send(self, tick_atom::value);
}

void after_view_change(agent_actor* self) {
  auto& st = self->state;
  persist(self);
  std::vector<running_member> running;
  for (auto& n : st.view->nodes())
    if (auto m = st.view->find(n))
      running.push_back({n, m->role == runtime::node_role::core, m->started_at_ms});
  carry(self, st.cl->on_members(std::move(running), now(self)));
}

void on_tick(agent_actor* self) {
  auto& st = self->state;
  auto t = now(self);
  auto r = st.cl->on_tick(t);
  for (auto& name : r.dial)
    dial(self, name);
  if (st.autoclean_ms > 0)
    for (auto& name : st.view->down_longer_than(st.autoclean_ms, t))
      remove_member(self, name,
                    "autoclean: down for more than "
                      + runtime::format_duration_ms(st.autoclean_ms),
                    true);
  carry(self, std::move(r.effects));
  discovery_tick(self);
  self->delayed_send(self, tick_interval, tick_atom::value);
}

void on_member_down(agent_actor* self, const std::string& name) {
  carry(self, self->state.cl->on_down(name, now(self), jitter(self)));
}

void remove_member(agent_actor* self, const std::string& name,
                   const std::string& reason, bool tell) {
  auto& st = self->state;
  std::vector<caf::actor> told;
  if (tell)
    for (auto& peer : st.view->nodes())
      told.push_back(st.links[peer].agent);
  untrack(self, name);
  st.view->remove(name);
  if (!reason.empty())
    st.view->add_removal({name, reason, now(self)});
  carry(self, st.cl->on_removed(name));
  publish_view(self);
  for (auto& a : told)
    tell_leave(self, a, name, reason);
  st.ctx->log->info(reason.empty() ? name + " left the cluster"
                                   : name + " removed from the cluster: " + reason);
}

void reset_cluster(agent_actor* self) {
  auto& st = self->state;
  for (auto& m : st.view->members())
    if (m.name != st.view->self().name)
      carry(self, st.cl->on_removed(m.name));
}

void on_compared(agent_actor* self, const std::string& peer, bool agrees,
                 const std::string& detail) {
  carry(self, self->state.cl->on_compared(peer, agrees, detail, now(self)));
}

void on_gossip(agent_actor* self, const std::vector<view_wire>& views) {
  auto& st = self->state;
  auto from = self->current_sender();
  std::string from_name;
  for (auto& [name, link] : st.links)
    if (from && link.agent.address() == from->address())
      from_name = name;
  carry(self, st.cl->on_gossip(views, from_name));
}

void on_report(agent_actor* self, const std::string& from) {
  carry(self, self->state.cl->on_report(from, now(self)));
}

caf::result<uint64_t> on_heal_order(agent_actor* self, const std::string& round,
                                    const std::vector<std::string>& winner) {
  if (auto why = self->state.cl->check_heal_order(winner); !why.empty()) {
    self->state.ctx->log->warning("autoheal round " + round + ": refused: " + why);
    return fail("refused: " + why);
  }
  auto rp = self->make_response_promise<uint64_t>();
  local_heal(self, round, winner, [rp](caf::expected<uint64_t> r) mutable {
    if (r)
      rp.deliver(*r);
    else
      rp.deliver(r.error());
  });
  return rp;
}

void on_heal_done(agent_actor* self, const heal_record_wire& record) {
  carry(self, self->state.cl->on_heal_done(record));
}

nlohmann::json cluster_status_json(agent_actor* self) {
  auto& st = self->state;
  auto& cl = *st.cl;
  auto t = now(self);
  auto j = st.view->to_json(t);
  auto peers = nlohmann::json::array();
  for (auto& [peer, p] : cl.alarm().peers())
    peers.push_back({{"node", peer},
                     {"since_s", (t - p.since_ms) / 1000},
                     {"detail", p.detail}});
  j["partition"] = {{"alarm", cl.alarm().active()},
                    {"since_s", cl.alarm().active()
                                  ? (t - cl.alarm().since_ms()) / 1000
                                  : 0},
                    {"peers", peers}};
  auto& h = cl.heal();
  j["autoheal"] = {{"enabled", st.ctx->cfg.flag("cluster.autoheal")},
                   {"delay_ms", st.ctx->cfg.number("cluster.autoheal_delay_ms")},
                   {"leader", cl.leader()},
                   {"phase", to_string(h.phase())},
                   {"round", h.phase() == heal_phase::idle ? "" : h.round()},
                   {"healing_round", st.healing_round}};
  j["last_heal"] = cl.last_heal() ? record_json(*cl.last_heal(), t) : nlohmann::json();
  j["db_group"] = {{"members", cl.group().members}, {"sequencer", cl.group().leader}};
  j["autoclean_ms"] = st.autoclean_ms;
  auto removed = nlohmann::json::array();
  for (auto& r : st.view->removals())
    removed.push_back({{"node", r.name}, {"reason", r.reason},
                       {"ago_s", (t - r.at_ms) / 1000}});
  j["removed"] = removed;
  auto dialling = nlohmann::json::array();
  for (auto& [name, e] : cl.dialling().entries()) {
    auto err = cl.dial_errors().find(name);
    dialling.push_back({{"node", name}, {"failures", e.failures},
                        {"next_in_ms", std::max<int64_t>(0, e.next_ms - t)},
                        {"last_error", err == cl.dial_errors().end() ? "" : err->second}});
  }
  j["reconnecting"] = dialling;
  return j;
}

caf::result<std::string> gather_heal_report(agent_actor* self) {
  auto& st = self->state;
  auto rp = self->make_response_promise<std::string>();
  std::vector<caf::actor> sources;
  if (st.ctx->db && st.ctx->db->manager)
    sources.push_back(st.ctx->db->manager);
  for (auto& [name, agent] : up_peers(self))
    if (auto m = st.view->find(name); m && m->role == runtime::node_role::core)
      sources.push_back(agent);
  auto reports = std::make_shared<std::vector<std::vector<nlohmann::json>>>();
  auto missing = std::make_shared<std::vector<std::string>>();
  auto pending = std::make_shared<size_t>(sources.size() + 1);
  auto finish = [=]() mutable {
    if (--*pending > 0)
      return;
    nlohmann::json out{{"lines", merge_reports(*reports)},
                       {"unanswered", *missing}};
    rp.deliver(out.dump());
  };
  for (auto& a : sources)
    self->request(a, step_timeout, db::heal_report_atom::value)
      .then(
        [=](const std::string& text) mutable {
          auto j = nlohmann::json::parse(text, nullptr, false);
          if (j.is_array())
            reports->push_back(j.get<std::vector<nlohmann::json>>());
          finish();
        },
        [=](caf::error& err) mutable {
          missing->push_back(describe(err));
          finish();
        });
  finish();
  return rp;
}

} // namespace starling::actors::agent_detail
