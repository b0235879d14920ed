// The node agent and autocluster: it carries out what
// runtime::cluster::autocluster decides. The strategies' I/O (DNS, HTTP to
// etcd or Kubernetes) blocks, so each call runs on a short-lived detached
// worker; probing and joining use the agent's own connect and join.

#include "node_agent_state.hpp"

#include "starling/actors/actor_directory.hpp"
#include "starling/actors/discovery/strategies.hpp"
#include "starling/actors/node_context.hpp"

namespace starling::actors::agent_detail {

namespace {

using namespace runtime::cluster;
using answer = discovery::answer;

/// Bound on one strategy call (DNS lookups and HTTP calls bound themselves
/// more tightly; this only keeps a stuck worker from stalling rounds).
constexpr auto io_timeout = std::chrono::seconds(30);
using go_atom = caf::atom_constant<caf::atom("go")>;

double jitter(agent_actor* self) {
  unsigned char b[2];
  self->state.ctx->rnd(b, sizeof b);
  return static_cast<double>(b[0] << 8 | b[1]) / 65536.0;
}

void run(agent_actor* self, std::vector<autocluster_effect> effects);

/// Runs `fn` on a detached worker; `done` gets its answer on the agent.
void blocking(agent_actor* self, std::function<answer()> fn,
              std::function<void(answer)> done) {
  auto w = self->spawn<caf::detached>([fn](caf::event_based_actor* w) -> caf::behavior {
    return {[=](go_atom) {
      auto a = fn();
      w->quit();
      return caf::make_message(a.ok, a.nodes, a.error);
    }};
  });
  self->state.ctx->directory->add(w, "discovery_worker", "discovery_worker");
  self->request(w, io_timeout, go_atom::value)
    .then([done](bool ok, std::vector<std::string>& nodes,
                 std::string& error) { done(answer{ok, std::move(nodes), std::move(error)}); },
          [done](caf::error& err) {
            done(answer{false, {}, "the discovery call did not end: " + describe(err)});
          });
}

/// Asks each of `nodes` for its running members (connecting first).
void probe(agent_actor* self, const std::vector<std::string>& nodes) {
  auto answers = std::make_shared<std::map<std::string, probe_answer>>();
  auto pending = std::make_shared<size_t>(nodes.size() + 1);
  auto finish = [self, answers, pending] {
    if (--*pending > 0)
      return;
    auto& st = self->state;
    run(self, st.discovery->on_probed(*answers, st.ctx->now_ms(), jitter(self)));
  };
  for (auto& text : nodes) {
    std::string err;
    auto n = runtime::parse_node_name(text, err);
    if (!n) {
      (*answers)[text].error = err;
      finish();
      continue;
    }
    auto name = n->str();
    connect_peer(self, n->host, n->dist_port(), name,
                 [=](caf::expected<caf::actor> remote) {
                   if (!remote) {
                     (*answers)[text].error = describe(remote.error());
                     finish();
                     return;
                   }
                   self->request(*remote, step_timeout, members_atom::value)
                     .then(
                       [=](const std::vector<member_wire>& members) {
                         auto& a = (*answers)[text];
                         a.reached = true;
                         for (auto& m : members) {
                           if (m.name == name)
                             a.core = m.role == "core";
                           if (m.status == "up")
                             a.running.push_back(
                               {m.name, m.role == "core", m.started_at_ms});
                         }
                         finish();
                       },
                       [=](caf::error& e) {
                         (*answers)[text].error = describe(e);
                         finish();
                       });
                 });
  }
  finish();
}

void join(agent_actor* self, const std::string& text) {
  std::string err;
  auto n = runtime::parse_node_name(text, err);
  auto& st = self->state;
  if (!n) {
    run(self, st.discovery->on_joined(false, err, st.ctx->now_ms(), jitter(self)));
    return;
  }
  auto name = n->str();
  connect_and_join(self, n->host, n->dist_port(), name, false,
                   [self, name](members_result r) {
                     on_joined(self, name, std::move(r), false,
                               [self, name](caf::expected<std::string> t) {
                                 auto& st = self->state;
                                 if (t)
                                   st.ctx->log->info("autocluster: " + *t);
                                 run(self, st.discovery->on_joined(
                                             bool(t), t ? "" : describe(t.error()),
                                             st.ctx->now_ms(), jitter(self)));
                               });
                   });
}

void run(agent_actor* self, std::vector<autocluster_effect> effects) {
  auto& st = self->state;
  auto kind = to_string(configured_strategy(st.ctx->cfg));
  for (auto& e : effects) {
    switch (e.kind) {
      case autocluster_effect::lock:
        blocking(
          self,
          [etcd = st.etcd] {
            std::string err;
            bool ok = etcd->lock(err);
            return answer{ok, {}, err};
          },
          [self](answer a) {
            auto& st = self->state;
            run(self, st.discovery->on_locked(a.ok, a.error, st.ctx->now_ms(),
                                              jitter(self)));
          });
        break;
      case autocluster_effect::discover: {
        auto& cfg = st.ctx->cfg;
        std::function<answer()> fn;
        switch (configured_strategy(cfg)) {
          case strategy::static_seeds:
            fn = [&cfg] { return discovery::discover_static(cfg); };
            break;
          case strategy::dns:
            fn = [&cfg] { return discovery::discover_dns(cfg); };
            break;
          case strategy::k8s:
            fn = [&cfg] { return discovery::discover_k8s(cfg); };
            break;
          case strategy::etcd:
            fn = [etcd = st.etcd] { return etcd->discover(); };
            break;
          case strategy::manual:
            return;
        }
        blocking(self, fn, [self](answer a) {
          auto& st = self->state;
          run(self, st.discovery->on_discovered(a.ok, a.nodes, a.error,
                                                st.ctx->now_ms(), jitter(self)));
        });
        break;
      }
      case autocluster_effect::probe:
        probe(self, e.nodes);
        break;
      case autocluster_effect::join:
        st.ctx->log->info("autocluster (" + kind + "): joining the cluster of "
                          + e.node);
        join(self, e.node);
        break;
      case autocluster_effect::register_self:
        blocking(
          self,
          [etcd = st.etcd] {
            std::string err;
            bool ok = etcd->register_self(err);
            return answer{ok, {}, err};
          },
          [self](answer a) {
            auto& st = self->state;
            if (a.ok)
              st.ctx->log->info("autocluster (etcd): registered");
            run(self, st.discovery->on_registered(a.ok, a.error, st.ctx->now_ms(),
                                                  jitter(self)));
          });
        break;
      case autocluster_effect::unlock:
        blocking(
          self,
          [etcd = st.etcd] {
            etcd->unlock();
            return answer{true, {}, ""};
          },
          [](answer) {});
        break;
      case autocluster_effect::log:
        st.ctx->log->info("autocluster (" + kind + "): " + e.text);
        break;
    }
  }
}

} // namespace

void init_discovery(agent_actor* self) {
  auto& st = self->state;
  auto& cfg = st.ctx->cfg;
  autocluster_settings s;
  s.kind = configured_strategy(cfg);
  s.core = cfg.role == runtime::node_role::core;
  s.locks = s.registers = s.kind == strategy::etcd;
  if (s.kind == strategy::etcd)
    st.etcd = std::make_shared<discovery::etcd>(cfg);
  st.discovery = std::make_unique<autocluster>(st.view->self().name,
                                               st.view->self().started_at_ms, s);
  if (s.kind != strategy::manual)
    st.ctx->log->info("autocluster: strategy " + to_string(s.kind));
}

void discovery_tick(agent_actor* self) {
  auto& st = self->state;
  auto now = st.ctx->now_ms();
  std::vector<probe_answer::member_age> running;
  for (auto& m : st.view->members())
    if (m.status == runtime::member_status::up)
      running.push_back({m.name, m.role == runtime::node_role::core, m.started_at_ms});
  st.discovery->set_running(std::move(running));
  run(self, st.discovery->on_tick(now, jitter(self)));
  // The node's etcd lease is renewed at a third of its TTL.
  if (st.etcd && st.discovery->registered()
      && now - st.etcd_renewed_ms >= st.etcd->ttl_ms() / 3 && !st.etcd_renewing) {
    st.etcd_renewing = true;
    blocking(
      self,
      [etcd = st.etcd] {
        std::string err;
        bool ok = etcd->keepalive(err);
        return answer{ok, {}, err};
      },
      [self](answer a) {
        auto& st = self->state;
        st.etcd_renewing = false;
        st.etcd_renewed_ms = st.ctx->now_ms();
        if (!a.ok) {
          st.ctx->log->warning("autocluster (etcd): " + a.error
                               + "; registering again");
          st.discovery->on_registration_lost();
        }
      });
  }
}

nlohmann::json discovery_json(agent_actor* self) {
  auto& st = self->state;
  return st.discovery->to_json(st.ctx->now_ms());
}

} // namespace starling::actors::agent_detail
