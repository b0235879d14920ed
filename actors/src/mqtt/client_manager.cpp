#include "starling/actors/mqtt/client_manager.hpp"

#include <map>
#include <memory>

#include <caf/all.hpp>

#include "starling/actors/actor_directory.hpp"
#include "starling/actors/mqtt/context.hpp"
#include "starling/actors/mqtt/protocol.hpp"
#include "starling/actors/mqtt/session_actor.hpp"
#include "starling/actors/inspect.hpp"
#include "starling/actors/node_context.hpp"
#include "starling/actors/peer_registry.hpp"
#include "starling/actors/wire.hpp"
#include "starling/runtime/shell_text.hpp"

namespace starling::actors::mqtt {

namespace {

struct manager_state {
  mqtt_context* ctx = nullptr;
  std::map<std::string, caf::actor> clients; ///< client id -> session actor
  static inline const char* name = "mqtt_client_manager";
};

using manager_actor = caf::stateful_actor<manager_state>;

bool allowed(manager_actor* self) {
  return self->state.ctx->node->peers->allowed(self->current_sender());
}

/// clients(): every session's one-line state, each asked with a 1 s bound.
caf::result<std::string> list_clients(manager_actor* self) {
  auto entries = std::vector<std::pair<std::string, caf::actor>>(
    self->state.clients.begin(), self->state.clients.end());
  auto rp = self->make_response_promise<std::string>();
  auto lines = std::make_shared<std::vector<std::string>>(entries.size());
  auto pending = std::make_shared<size_t>(entries.size() + 1);
  auto finish = [=]() mutable {
    if (--*pending > 0)
      return;
    std::vector<std::vector<std::string>> rows;
    for (size_t i = 0; i < entries.size(); ++i)
      rows.push_back({entries[i].first, (*lines)[i]});
    rp.deliver(runtime::format_table({"CLIENT", "STATE"}, rows)
               + std::to_string(entries.size()) + " clients");
  };
  for (size_t i = 0; i < entries.size(); ++i) {
    (*lines)[i] = "(no answer within 1 s)";
    self->request(entries[i].second, std::chrono::seconds(1), client_atom::value)
      .then(
        [=](const std::string& text) mutable {
          (*lines)[i] = text;
          finish();
        },
        [=](caf::error&) mutable { finish(); });
  }
  finish();
  return rp;
}

caf::behavior manager_fn(manager_actor* self, mqtt_context* ctx) {
  self->state.ctx = ctx;
  // A session that fails is logged and forgotten; it must not take the
  // manager (and every other session) down with it.
  self->set_exit_handler([self](caf::exit_msg& msg) {
    auto& clients = self->state.clients;
    for (auto i = clients.begin(); i != clients.end(); ++i) {
      if (i->second.address() == msg.source) {
        if (msg.reason != caf::exit_reason::user_shutdown)
          self->state.ctx->node->log->error("session " + i->first + " failed: "
                                            + describe(msg.reason));
        clients.erase(i);
        return;
      }
    }
    if (msg.reason == caf::exit_reason::user_shutdown
        || msg.reason == caf::exit_reason::kill)
      self->quit(msg.reason);
  });
  return {
    [self](connect_atom, broker::connect& c, const caf::actor& conn) {
      auto& st = self->state;
      if (!c.client_id.empty()) {
        if (auto i = st.clients.find(c.client_id); i != st.clients.end()) {
          self->send(i->second, connect_atom::value, std::move(c), conn);
          return;
        }
      }
      auto id = c.client_id;
      auto s = spawn_session(self, *st.ctx, std::move(c), conn);
      if (!id.empty())
        st.clients.emplace(id, s);
    },
    [self](register_atom, const std::string& id) {
      auto sender = caf::actor_cast<caf::actor>(self->current_sender());
      if (sender && sender.node() == self->node())
        self->state.clients.emplace(id, sender);
    },
    [self](unregister_atom, const std::string& id) -> caf::ok_atom {
      auto& clients = self->state.clients;
      if (auto i = clients.find(id);
          i != clients.end()
          && i->second.address() == self->current_sender()->address())
        clients.erase(i);
      return caf::ok_atom::value;
    },
    [self](clients_atom) -> caf::result<std::string> {
      if (!allowed(self))
        return fail("not authenticated");
      return list_clients(self);
    },
    [self](client_atom, const std::string& id) -> caf::result<std::string> {
      if (!allowed(self))
        return fail("not authenticated");
      auto i = self->state.clients.find(id);
      if (i == self->state.clients.end())
        return fail("no client '" + id + "' on this node");
      self->delegate(i->second, client_atom::value);
      return caf::delegated<std::string>{};
    },
    [self](inspect_atom) {
      return inspect_reply(self, *self->state.ctx->node->peers, [&] {
        return std::to_string(self->state.clients.size()) + " client ids";
      });
    },
  };
}

} // namespace

caf::actor spawn_client_manager(mqtt_context& ctx) {
  auto a = ctx.node->sys->spawn(manager_fn, &ctx);
  ctx.node->directory->add(a, "mqtt_client_manager", "mqtt_client_manager");
  return a;
}

} // namespace starling::actors::mqtt
