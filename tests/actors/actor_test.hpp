#pragma once
// What the actor tests share (issue 18): one actor system on CAF 0.17.6's
// deterministic scheduler (test_coordinator), a node's contexts without
// sockets or files, and a recording stand-in for the actors a test does
// not run itself.

#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <vector>

#include <caf/all.hpp>
#include <caf/scheduler/test_coordinator.hpp>

#include "starling/actors/actor_directory.hpp"
#include "starling/actors/node_context.hpp"
#include "starling/actors/peer_registry.hpp"
#include "starling/actors/wire/node.hpp"

namespace starling::actor_test {

inline caf::actor_system_config& testing_config(caf::actor_system_config& cfg) {
  cfg.set("scheduler.policy", caf::atom("testing"));
  cfg.set("logger.console", caf::atom("none"));
  actors::register_wire_types(cfg);
  return cfg;
}

struct test_system {
  caf::actor_system_config cfg;
  caf::actor_system sys{testing_config(cfg)};
  caf::scheduler::test_coordinator& sched{
    dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler())};
  caf::scoped_actor self{sys, true};
  // The actors stay up at the end of a test; the scheduler runs nothing by
  // itself, so the system must not wait for them to finish.
  test_system() { sys.await_actors_before_shutdown(false); }
};

/// Runs every message, then fires every pending timer (a retry 300 ms
/// later, say), `rounds` times or until no timer is left; the clock only
/// moves here. Returns whether nothing is left.
inline bool run_rounds(test_system& t, int rounds) {
  for (int round = 0; round < rounds; ++round) {
    t.sched.run();
    if (t.sched.trigger_timeouts() == 0)
      return true;
  }
  t.sched.run();
  return false;
}

/// For actors without a timer of their own: until nothing is left.
inline void settle(test_system& t) {
  REQUIRE(run_rounds(t, 100));
}

/// One node's runtime side: its name, log (kept in `lines`), directory and
/// peers; the clock is `now`, moved by the test.
struct node_base {
  std::vector<std::string> lines;
  runtime::logger log{"", runtime::log_level::debug,
                      [this](const std::string& l) { lines.push_back(l); }};
  actors::actor_directory directory;
  actors::peer_registry peers;
  actors::node_context ctx;
  std::shared_ptr<int64_t> now = std::make_shared<int64_t>(1000);

  node_base(test_system& t, const std::string& name, int64_t started)
    : peers(t.sys.node()) {
    runtime::config_inputs in;
    in.args = {"-name", name + "@127.0.0.1", "-cookie", "test"};
    auto loaded = runtime::load_node_config(in);
    REQUIRE(loaded.config);
    ctx.cfg = *loaded.config;
    ctx.sys = &t.sys;
    ctx.log = &log;
    ctx.directory = &directory;
    ctx.peers = &peers;
    ctx.now_ms = [now = now] { return *now; };
    ctx.rnd = runtime::system_random();
    ctx.started_at_ms = started;
  }

  std::string name() const { return ctx.cfg.name.str(); }

  bool logged(const std::string& text) const {
    for (auto& l : lines)
      if (l.find(text) != std::string::npos)
        return true;
    return false;
  }
};

/// Stops the actors (while the contexts they use still live).
inline void stop_all(test_system& t, const std::vector<caf::actor>& actors) {
  for (auto& a : actors)
    if (a)
      caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  t.sched.run();
}

/// (t_relay, actor to, message m): a recorder sends `m` to `to` as itself,
/// for handlers that believe only a certain sender.
using relay_atom = caf::atom_constant<caf::atom("t_relay")>;

/// A stand-in actor that keeps every message it gets, in order, and
/// answers each with `reply` (none when empty): a connection, the
/// database, another node's agent. It does not keep what it relays.
struct recorder {
  std::shared_ptr<std::vector<caf::message>> got =
    std::make_shared<std::vector<caf::message>>();
  caf::actor actor;

  recorder(test_system& t, caf::message reply = {}) {
    actor = t.sys.spawn([got = got, reply](caf::event_based_actor* self)
                          -> caf::behavior {
      self->set_default_handler(
        [got, reply](caf::scheduled_actor* self,
                     caf::message_view& x) -> caf::result<caf::message> {
          got->push_back(x.copy_content_to_message());
          if (reply.empty() || !self->current_mailbox_element()->mid.is_request())
            return caf::message{};
          return reply;
        });
      return {[self](relay_atom, const caf::actor& to, caf::message& m) {
        self->send(to, std::move(m));
      }};
    });
  }

  /// The messages that match `Ts...` (in order).
  template <class... Ts>
  std::vector<caf::message> all() const {
    std::vector<caf::message> out;
    for (auto& m : *got)
      if (m.match_elements<Ts...>())
        out.push_back(m);
    return out;
  }
};

} // namespace starling::actor_test
