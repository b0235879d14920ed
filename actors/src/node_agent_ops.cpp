// The node agent's cluster operations: cluster join, leave and force-leave
// as operators ask for them, and every operator request (ctl, remsh).

#include "node_agent_state.hpp"

#include "starling/actors/db/context.hpp"
#include "starling/actors/wire/db.hpp"
#include "starling/actors/inspect.hpp"
#include "starling/actors/node_context.hpp"

namespace starling::actors::agent_detail {

void on_joined(agent_actor* self, const std::string& target_name,
               members_result res, bool automatic, text_callback rp) {
  if (!res) {
    rp(fail("cannot join " + target_name + ": " + describe(res.error())));
    return;
  }
  auto& st = self->state;
  if (!automatic)
    st.view->clear_removal(target_name); // joined by an operator
  auto pending = std::make_shared<size_t>(1);
  auto failures = std::make_shared<std::vector<std::string>>();
  auto finish = [=]() mutable {
    if (--*pending > 0)
      return;
    std::string list;
    for (auto& n : self->state.view->running_nodes())
      list += (list.empty() ? "" : ", ") + n;
    if (failures->empty()) {
      if (!automatic)
        self->state.ctx->log->info("joined the cluster of " + target_name);
      rp("joined the cluster of " + target_name + "; running nodes: " + list);
      return;
    }
    std::string why;
    for (auto& f : *failures)
      why += "\n  " + f;
    rp(fail("joined " + target_name + " but could not reach every member:"
            + why));
  };
  for (auto& w : *res) {
    auto m = from_wire(w);
    if (!m || m->name == st.view->self().name || m->name == target_name)
      continue;
    // An operator's join: the cluster we joined counts it as a member, so
    // a removal of ours from before (a force-leave in our old cluster) no
    // longer holds. (Not on a reconnect: there our removal may be newer
    // than the member list.)
    if (!automatic && st.view->clear_removal(m->name))
      st.ctx->log->info(m->name + " is a member again: " + target_name
                        + " lists it");
    if (auto known = st.view->find(m->name);
        known && known->status == runtime::member_status::up)
      continue;
    if (m->status != runtime::member_status::up) {
      st.view->upsert(*m, st.ctx->now_ms());
      on_member_down(self, m->name); // dialled like any member that is down
      continue;
    }
    ++*pending;
    connect_member(self, *m, 0, automatic, [=](members_result r) mutable {
      if (!r)
        failures->push_back(describe(r.error()));
      finish();
    });
  }
  finish();
}

caf::result<std::string> cluster_join(agent_actor* self,
                                      const std::string& target_text) {
  auto& st = self->state;
  std::string err;
  auto target = runtime::parse_node_name(target_text, err);
  if (!target)
    return fail(err);
  if (target->str() == st.view->self().name)
    return fail("a node cannot join itself");
  if (st.view->self().role == runtime::node_role::replicant)
    return fail("cluster join is refused on a replicant: replicants find "
                "cores through discovery (cluster.discovery_strategy)");
  if (auto m = st.view->find(target->str());
      m && m->status == runtime::member_status::up)
    return fail("already in a cluster with " + target->str());
  auto rp = self->make_response_promise<std::string>();
  auto target_name = target->str();
  // Authenticate with the target first: a failed join leaves this node in
  // the cluster it was in.
  connect_peer(
    self, target->host, target->dist_port(), target_name,
    [=](caf::expected<caf::actor> remote) mutable {
      if (!remote) {
        rp.deliver(fail("cannot join " + target_name + ": "
                        + describe(remote.error())));
        return;
      }
      auto& st = self->state;
      if (!st.view->nodes().empty())
        st.ctx->log->info("leaving the current cluster to join " + target_name);
      for (auto& name : st.view->nodes())
        tell_leave(self, st.links[name].agent, st.view->self().name, std::string());
      forget_all_peers(self);
      // An operator's join takes the joined cluster's data, as Mnesia's
      // does: a shard whose history branched from theirs is replaced (and
      // what it loses goes to the heal report).
      if (st.ctx->db && st.ctx->db->manager)
        self->send(st.ctx->db->manager, db::adopt_atom::value);
      join_peer(self, *remote, target_name, false,
                [=](members_result res) mutable {
                  on_joined(self, target_name, std::move(res), false,
                            [rp](caf::expected<std::string> r) mutable {
                              if (r)
                                rp.deliver(*r);
                              else
                                rp.deliver(r.error());
                            });
                });
    });
  return rp;
}

caf::result<std::string> cluster_leave(agent_actor* self) {
  auto& st = self->state;
  auto peers = st.view->nodes();
  if (st.view->members().size() == 1)
    return fail("this node is not in a cluster");
  auto rp = self->make_response_promise<std::string>();
  auto pending = std::make_shared<size_t>(peers.size() + 1);
  auto unanswered = std::make_shared<std::vector<std::string>>();
  auto finish = [=]() mutable {
    if (--*pending > 0)
      return;
    std::string text = "left the cluster";
    for (auto& n : *unanswered)
      text += "; " + n + " did not confirm";
    rp.deliver(text);
  };
  for (auto& name : peers) {
    self
      ->request(st.links[name].agent, step_timeout, leave_atom::value,
                st.view->self().name, std::string())
      .then([=](caf::ok_atom) mutable { finish(); },
            [=](caf::error&) mutable {
              unanswered->push_back(name);
              finish();
            });
  }
  forget_all_peers(self);
  st.ctx->log->info("left the cluster");
  finish();
  return rp;
}

caf::result<std::string> cluster_force_leave(agent_actor* self,
                                             const std::string& name) {
  auto& st = self->state;
  if (name == st.view->self().name)
    return fail("use 'cluster leave' to take this node out of the cluster");
  if (st.view->find(name) == nullptr)
    return fail(name + " is not a member of this cluster");
  remove_member(self, name, "force-left by " + st.view->self().name, true);
  return name + " removed from the cluster";
}

namespace {

nlohmann::json status_json(agent_actor* self) {
  auto& st = self->state;
  auto now = st.ctx->now_ms();
  return {{"node", st.view->self().name},
          {"status", "started"},
          {"version", STARLING_VERSION},
          {"role", runtime::to_string(st.ctx->cfg.role)},
          {"uptime_s", (now - st.ctx->started_at_ms) / 1000},
          {"dist_port", st.ctx->cfg.dist_port},
          {"tick_ms", st.ctx->cfg.tick_ms},
          {"running_nodes", st.view->running_nodes()},
          {"stopped_nodes", st.view->stopped_nodes()},
          {"partition", st.cl->alarm().active()}};
}

} // namespace

/// Requests of operators (ctl, remsh).
caf::message_handler operator_requests(agent_actor* self) {
  return {
    [self](status_atom) -> caf::result<std::string> {
      if (!from_operator(self))
        return not_authenticated();
      return status_json(self).dump();
    },
    [self](cluster_atom, status_atom) -> caf::result<std::string> {
      if (!from_operator(self))
        return not_authenticated();
      return cluster_status_json(self).dump();
    },
    [self](cluster_atom, discovery_atom) -> caf::result<std::string> {
      if (!from_operator(self))
        return not_authenticated();
      return discovery_json(self).dump();
    },
    [self](cluster_atom, db::heal_report_atom) -> caf::result<std::string> {
      if (!from_operator(self))
        return not_authenticated();
      return gather_heal_report(self);
    },
    [self](cluster_atom, join_atom,
           const std::string& target) -> caf::result<std::string> {
      if (!from_operator(self))
        return not_authenticated();
      return cluster_join(self, target);
    },
    [self](cluster_atom, leave_atom) -> caf::result<std::string> {
      if (!from_operator(self))
        return not_authenticated();
      return cluster_leave(self);
    },
    [self](cluster_atom, force_atom,
           const std::string& name) -> caf::result<std::string> {
      if (!from_operator(self))
        return not_authenticated();
      return cluster_force_leave(self, name);
    },
    [self](nodes_atom, bool hidden) -> caf::result<std::vector<std::string>> {
      if (!from_operator(self))
        return not_authenticated();
      auto& st = self->state;
      return hidden ? st.ctx->peers->hidden_names() : st.view->nodes();
    },
    [self](members_atom) -> caf::result<std::vector<member_wire>> {
      if (!from_operator(self) && !sending_peer(self))
        return not_authenticated();
      std::vector<member_wire> result;
      for (auto& m : self->state.view->members())
        result.push_back(to_wire(m));
      return result;
    },
    [self](shell_atom, std::string& line) -> caf::result<std::string> {
      if (!from_operator(self))
        return not_authenticated();
      auto& st = self->state;
      if (!st.shell)
        return fail("the shell is not running");
      self->delegate(st.shell, shell_atom::value, std::move(line));
      return caf::delegated<std::string>{};
    },
    [self](inspect_atom) {
      auto& st = self->state;
      return inspect_reply(self, *st.ctx->peers, [&] {
        return runtime::to_string(st.ctx->cfg.role) + ", "
               + std::to_string(st.view->nodes().size()) + " peers up, "
               + std::to_string(st.view->stopped_nodes().size()) + " down"
               + (st.cl->alarm().active() ? ", partition alarm" : "");
      });
    },
  };
}

} // namespace starling::actors::agent_detail
