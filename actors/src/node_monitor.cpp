#include "starling/actors/node_monitor.hpp"

#include <caf/all.hpp>

#include "starling/actors/actor_directory.hpp"
#include "starling/actors/inspect.hpp"
#include "starling/actors/node_context.hpp"
#include "starling/actors/peer_registry.hpp"
#include "starling/actors/wire/node.hpp"
#include "starling/runtime/shell_text.hpp"

namespace starling::actors {

namespace {

struct monitor_state {
  std::string peer;
  int64_t since_ms = 0;
  static inline const char* name = "node_monitor";
};

caf::behavior node_monitor(caf::stateful_actor<monitor_state>* self,
                           node_context* ctx, caf::actor agent,
                           caf::actor peer_agent, std::string peer_name) {
  self->state.peer = peer_name;
  self->state.since_ms = ctx->now_ms();
  self->monitor(peer_agent);
  self->set_down_handler([=](caf::down_msg& dm) {
    self->send(agent, nodedown_atom::value, peer_name, describe(dm.reason));
    self->quit();
  });
  return {
    [=](inspect_atom) {
      return inspect_reply(self, *ctx->peers, [&] {
        return "watching " + peer_name + ", up for "
               + runtime::format_duration_ms(ctx->now_ms()
                                             - self->state.since_ms);
      });
    },
  };
}

} // namespace

caf::actor spawn_node_monitor(node_context& ctx, caf::event_based_actor* agent,
                              const caf::actor& peer_agent,
                              const std::string& peer_name) {
  auto a = agent->spawn<caf::linked>(node_monitor, &ctx,
                                     caf::actor_cast<caf::actor>(agent),
                                     peer_agent, peer_name);
  ctx.directory->add(a, "monitor:" + peer_name, "node_monitor");
  return a;
}

} // namespace starling::actors
