#include "starling/actors/gatekeeper.hpp"

#include <memory>

#include <caf/all.hpp>
#include <caf/io/middleman.hpp>

#include "starling/actors/actor_directory.hpp"
#include "starling/actors/dist_connect.hpp"
#include "starling/actors/inspect.hpp"
#include "starling/actors/node_context.hpp"
#include "starling/actors/peer_registry.hpp"
#include "starling/actors/wire/node.hpp"

namespace starling::actors {

namespace {

/// Time a refused peer gets to read our refusal before we close the link.
constexpr auto refusal_grace = std::chrono::milliseconds(300);

struct gatekeeper_state {
  node_context* ctx = nullptr;
  caf::actor agent;
  std::unique_ptr<runtime::handshake_server> hs;
  uint64_t accepted = 0;
  uint64_t refused = 0;
  static inline const char* name = "gatekeeper";
};

using gatekeeper_ptr = gatekeeper_actor::stateful_pointer<gatekeeper_state>;

std::string peer_key(const caf::strong_actor_ptr& sender) {
  return caf::to_string(sender->node()) + "/" + std::to_string(sender->id());
}

/// Logs the refusal with the peer's address, then closes its connection.
/// Refuses a peer: logs where it connected from, then answers the refusal.
/// The answer waits for the address: a refused peer (a ctl) exits at once,
/// and once its connection is gone the middleman no longer knows it.
template <class... Ts>
caf::result<Ts...> refuse(gatekeeper_ptr self, const caf::node_id& nid,
                          const std::string& claimed, const std::string& reason) {
  auto& st = self->state;
  ++st.refused;
  auto log = st.ctx->log;
  auto text = (claimed.empty() ? std::string() : "(claims " + claimed + ") ")
              + reason;
  auto rp = self->template make_response_promise<Ts...>();
  self
    ->request(st.ctx->sys->middleman().actor_handle(), std::chrono::seconds(2),
              caf::get_atom::value, nid)
    .then(
      [=](const caf::node_id&, std::string host, uint16_t port) mutable {
        if (host.rfind("::ffff:", 0) == 0) // IPv4-mapped address
          host = host.substr(7);
        log->warning("refused distribution connection from "
                     + (host.empty() ? std::string("an address already gone")
                                     : host + ":" + std::to_string(port))
                     + ": " + text);
        rp.deliver(fail(reason));
      },
      [=](caf::error&) mutable {
        log->warning("refused distribution connection from an unknown "
                     "address: "
                     + text);
        rp.deliver(fail(reason));
      });
  self->delayed_send(self, refusal_grace, caf::close_atom::value, nid);
  return rp;
}

gatekeeper_actor::behavior_type gatekeeper(gatekeeper_ptr self,
                                           node_context* ctx, caf::actor agent) {
  auto& st = self->state;
  st.ctx = ctx;
  st.agent = std::move(agent);
  st.hs = std::make_unique<runtime::handshake_server>(
    ctx->cfg.cookie, ctx->cfg.name.str(), ctx->rnd);
  self->set_error_handler([self](caf::error& err) {
    self->state.ctx->log->warning("gatekeeper: " + describe(err));
  });
  self->set_down_handler([self](caf::down_msg& dm) {
    auto& st = self->state;
    if (auto p = st.ctx->peers->remove_by_anchor(dm.source))
      st.ctx->log->info((p->hidden ? "hidden node " : "peer ") + p->name
                        + " disconnected");
  });
  return {
    [self](hello_atom, uint32_t version, const std::string& client_name,
           bool hidden) -> caf::result<std::string, std::string> {
      auto& st = self->state;
      auto sender = self->current_sender();
      if (!sender)
        return fail("anonymous hello refused");
      std::string err;
      auto ch = st.hs->hello(peer_key(sender), version, client_name, hidden,
                             st.ctx->now_ms(), err);
      if (!ch)
        return refuse<std::string, std::string>(self, sender->node(),
                                                client_name, err);
      return {ch->server_name, ch->server_nonce};
    },
    [self](answer_atom, const std::string& client_nonce,
           const std::string& client_proof,
           const caf::actor& anchor) -> caf::result<std::string, caf::actor> {
      auto& st = self->state;
      auto sender = self->current_sender();
      if (!sender)
        return fail("anonymous answer refused");
      std::string err;
      auto ok = st.hs->answer(peer_key(sender), client_nonce, client_proof,
                              st.ctx->now_ms(), err);
      if (ok && (!anchor || anchor.node() != sender->node()))
        err = "the session anchor must live on the connecting node";
      if (!ok || !err.empty())
        return refuse<std::string, caf::actor>(self, sender->node(),
                                               ok ? ok->client_name : "", err);
      ++st.accepted;
      st.ctx->peers->add(sender->node(),
                         {ok->client_name, ok->hidden, anchor.address(),
                          st.ctx->now_ms()});
      self->monitor(anchor);
      st.ctx->log->info(std::string(ok->hidden ? "hidden node " : "peer ")
                        + ok->client_name + " authenticated");
      return {ok->server_proof, st.agent};
    },
    [self](caf::close_atom, const caf::node_id& nid) {
      // Only our own delayed message may close connections.
      if (self->current_sender() == self->ctrl())
        disconnect_node(self->system(), nid);
    },
    [self](inspect_atom) {
      auto& st = self->state;
      return inspect_reply(self, *st.ctx->peers, [&] {
        return "accepted " + std::to_string(st.accepted) + ", refused "
               + std::to_string(st.refused) + ", handshakes pending "
               + std::to_string(st.hs->pending());
      });
    },
  };
}

} // namespace

gatekeeper_actor spawn_gatekeeper(node_context& ctx, const caf::actor& agent) {
  // On its own thread, as Erlang runs net_kernel at high priority: a node
  // whose scheduler is saturated (a bootstrap, a load test) still answers
  // a handshake at once, so ctl and peers are not refused for being slow.
  auto gk = ctx.sys->spawn<caf::detached>(gatekeeper, &ctx, agent);
  ctx.directory->add(caf::actor_cast<caf::actor>(gk), "gatekeeper",
                     "gatekeeper");
  return gk;
}

} // namespace starling::actors
