// The balancer: this node's evacuation (broker::evacuation carried out),
// its state kept in <node.data_dir>/<node>.evacuation.

#include "balancer_state.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "starling/actors/node_context.hpp"
#include "starling/actors/wire/node.hpp"
#include "starling/broker/balance_request.hpp"

namespace starling::actors::mqtt::balancer_detail {

namespace {

void persist(balancer_actor* self, const std::string& text) {
  auto& ev = self->state.ev;
  std::error_code ec;
  if (text.empty()) {
    std::filesystem::remove(ev.path, ec);
  } else {
    auto tmp = ev.path + ".tmp";
    {
      std::ofstream out(tmp, std::ios::trunc);
      out << text;
    }
    std::filesystem::rename(tmp, ev.path, ec);
  }
  if (ec)
    self->state.ctx->node->log->error("evacuation: cannot write " + ev.path + ": "
                                      + ec.message()
                                      + " (a restart would not resume it)");
}

} // namespace

void carry(balancer_actor* self, const sb::evacuation_effects& fx) {
  auto& st = self->state;
  auto& ev = st.ev;
  for (auto& e : fx)
    switch (e.what) {
      case sb::evacuation_effect::fail_health_check:
      case sb::evacuation_effect::refuse_connections:
      case sb::evacuation_effect::restore:
        break; // apply() below reads the machine's phase
      case sb::evacuation_effect::evict_connections:
        ev.evicted += e.count;
        self->send(st.ctx->manager, evict_conns_atom::value, e.count,
                   ev.machine.options().redirect_to);
        break;
      case sb::evacuation_effect::evict_sessions:
        ev.moved += e.count;
        self->send(st.ctx->manager, evict_sessions_atom::value, e.count, e.to);
        break;
      case sb::evacuation_effect::persist:
        persist(self, e.text);
        break;
      case sb::evacuation_effect::timer:
        self->delayed_send(self, std::chrono::milliseconds(e.delay_ms),
                           ev_tick_atom::value, ++ev.gen);
        break;
      case sb::evacuation_effect::log:
        say(self, ev.last, e.text);
        break;
    }
  apply(self);
}

json evacuation_json(balancer_actor* self) {
  auto& ev = self->state.ev;
  if (ev.machine.current() == sb::evacuation::phase::disabled)
    return nullptr;
  auto& o = ev.machine.options();
  return {{"process", "evacuation"},
          {"state", sb::to_string(ev.machine.current())},
          {"connection_eviction_rate", o.conn_evict_rate},
          {"session_eviction_rate", o.sess_evict_rate},
          {"connection_goal", 0},
          {"session_goal", 0},
          {"redirect_to", o.redirect_to},
          {"session_recipients", ev.machine.session_targets()},
          {"wait_health_check", o.wait_health_check_ms / 1000.0},
          {"wait_takeover", o.wait_takeover_ms / 1000.0},
          {"started_at", ev.started_at_ms},
          {"stats",
           {{"initial_connected", ev.initial_conns},
            {"current_connected", ev.conns},
            {"initial_sessions", ev.initial_sessions},
            {"current_sessions", ev.sessions},
            {"evicted_connections", ev.evicted},
            {"moved_sessions", ev.moved}}},
          {"last", ev.last}};
}

void evacuation_tick(balancer_actor* self, uint64_t gen) {
  auto& st = self->state;
  if (gen != st.ev.gen)
    return;
  self->request(st.ctx->manager, peer_timeout, load_atom::value)
    .then(
      [self, gen](uint64_t conns, uint64_t sessions) {
        auto& ev = self->state.ev;
        if (gen != ev.gen)
          return;
        if (!ev.counted) {
          ev.counted = true;
          ev.initial_conns = conns;
          ev.initial_sessions = sessions;
        }
        ev.conns = conns;
        ev.sessions = sessions;
        carry(self, ev.machine.on_timer(conns, sessions, now(self)));
      },
      [self](caf::error& err) {
        // The client manager did not answer: count again in a second.
        self->state.ctx->node->log->warning("evacuation: " + describe(err));
        self->delayed_send(self, std::chrono::seconds(1), ev_tick_atom::value,
                           self->state.ev.gen);
      });
}

caf::result<std::string> start_evacuation(balancer_actor* self, const json& args) {
  auto& st = self->state;
  sb::evacuation_options options;
  if (auto err = sb::read_evacuation_request(args, options))
    return fail(*err);
  if (st.ev.machine.current() != sb::evacuation::phase::disabled)
    return fail("an evacuation of " + st.me + " is already running");
  auto rp = self->make_response_promise<std::string>();
  running_peers(
    self,
    [=](const std::vector<std::string>& names, const std::vector<caf::actor>&) mutable {
      // What the node holds at the start, so the first status says it.
      self->request(self->state.ctx->manager, peer_timeout, load_atom::value)
        .then(
          [=](uint64_t conns, uint64_t sessions) mutable {
            auto& ev = self->state.ev;
            sb::evacuation_effects fx;
            if (auto err = ev.machine.start(options, names, now(self), fx)) {
              rp.deliver(fail(*err));
              return;
            }
            ev.counted = true;
            ev.initial_conns = ev.conns = conns;
            ev.initial_sessions = ev.sessions = sessions;
            ev.evicted = ev.moved = 0;
            ev.started_at_ms = now(self);
            carry(self, fx);
            rp.deliver(status_json(self).dump());
          },
          [=](caf::error& err) mutable { rp.deliver(err); });
    },
    rp);
  return rp;
}

std::string evacuation_path(const mqtt_context& ctx) {
  return (std::filesystem::path(ctx.node->cfg.text("node.data_dir"))
          / (ctx.node->cfg.name.str() + ".evacuation"))
    .string();
}

resumed_evacuation resume_evacuation(mqtt_context& ctx, const std::string& path) {
  resumed_evacuation out;
  std::ifstream in(path);
  if (!in)
    return out;
  std::stringstream text;
  text << in.rdbuf();
  if (auto err = out.machine.resume(text.str(), out.fx)) {
    ctx.node->log->error("evacuation: " + path + ": " + *err
                         + "; not resumed (stop it with "
                           "`starling ctl evacuation stop`, or remove the file)");
    return {};
  }
  return out;
}

} // namespace starling::actors::mqtt::balancer_detail
