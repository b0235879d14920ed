#include "starling/actors/hidden_client.hpp"

#include <unistd.h>

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include "starling/actors/dist_connect.hpp"
#include "starling/actors/wire.hpp"

namespace starling::actors {

struct hidden_client::impl {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  std::unique_ptr<caf::scoped_actor> self;
  caf::actor agent;
  std::chrono::milliseconds timeout{0};

  template <class... Ts>
  answer ask(Ts&&... xs) {
    answer result;
    (*self)
      ->request(agent, timeout, std::forward<Ts>(xs)...)
      .receive(
        [&](std::string& text) {
          result.ok = true;
          result.text = std::move(text);
        },
        [&](caf::error& err) { result.text = describe(err); });
    return result;
  }
};

hidden_client::hidden_client(std::unique_ptr<impl> p) : impl_(std::move(p)) {
}

hidden_client::~hidden_client() = default;

std::unique_ptr<hidden_client>
hidden_client::connect(const runtime::node_name& target,
                       const std::string& cookie, const std::string& kind,
                       std::chrono::milliseconds timeout) {
  auto p = std::make_unique<impl>();
  p->timeout = timeout;
  p->cfg.load<caf::io::middleman>();
  register_wire_types(p->cfg);
  // Heartbeat often enough for any node.tick_ms (>= 400 ms); a dead node
  // shows up as a failed request, so our own timeout can be generous.
  p->cfg.set("middleman.heartbeat-interval",
             caf::timespan{std::chrono::milliseconds(100)});
  p->cfg.set("middleman.connection-timeout",
             caf::timespan{std::chrono::seconds(60)});
  p->cfg.set("middleman.app-identifiers", std::vector<std::string>{"starling"});
  p->cfg.set("logger.console", caf::atom("none"));
  p->cfg.set("scheduler.max-threads", size_t{2});
  p->sys = std::make_unique<caf::actor_system>(p->cfg);
  p->self = std::make_unique<caf::scoped_actor>(*p->sys, true);
  auto name = kind + "-" + std::to_string(::getpid()) + "@" + target.host;
  runtime::handshake_client hs(cookie, name, true, runtime::system_random());
  auto anchor = caf::actor_cast<caf::actor>(*p->self);
  auto peer = dist_connect(**p->self, target.host, target.dist_port(), hs,
                           anchor, timeout);
  std::unique_ptr<hidden_client> result(new hidden_client(std::move(p)));
  if (!peer) {
    result->error_ = describe(peer.error());
  } else if (peer->name != target.str()) {
    result->error_ = "expected " + target.str() + " at " + target.host + ":"
                     + std::to_string(target.dist_port()) + " but found "
                     + peer->name;
  } else {
    result->impl_->agent = peer->agent;
    result->node_ = peer->name;
  }
  return result;
}

hidden_client::answer hidden_client::status() {
  return impl_->ask(status_atom::value);
}

hidden_client::answer hidden_client::cluster_status() {
  return impl_->ask(cluster_atom::value, status_atom::value);
}

hidden_client::answer hidden_client::cluster_join(const std::string& target) {
  return impl_->ask(cluster_atom::value, join_atom::value, target);
}

hidden_client::answer hidden_client::cluster_leave() {
  return impl_->ask(cluster_atom::value, leave_atom::value);
}

hidden_client::answer
hidden_client::cluster_force_leave(const std::string& node) {
  return impl_->ask(cluster_atom::value, force_atom::value, node);
}

hidden_client::answer hidden_client::shell(const std::string& line) {
  return impl_->ask(shell_atom::value, line);
}

} // namespace starling::actors
