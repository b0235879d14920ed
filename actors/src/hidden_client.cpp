#include "starling/actors/hidden_client.hpp"

#include <unistd.h>

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include "starling/actors/wire/db.hpp"
#include "starling/actors/dist_connect.hpp"
#include "starling/actors/wire/mgmt.hpp"
#include "starling/actors/mqtt/protocol.hpp"

#include <nlohmann/json.hpp>
#include "starling/actors/wire/node.hpp"

namespace starling::actors {

struct hidden_client::impl {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  std::unique_ptr<caf::scoped_actor> self;
  caf::actor agent;
  std::chrono::milliseconds timeout{0};

  caf::actor db; ///< the node's db manager, asked for on first use
  caf::actor mgmt_actor; ///< the node's management actor, likewise
  caf::actor balancer;   ///< the node's balancer, likewise

  template <class... Ts>
  answer ask_mgmt(Ts&&... xs) {
    if (auto why = resolve(mgmt_actor, mgmt::mgmt_atom::value); !mgmt_actor)
      return {false, why};
    return ask_at(mgmt_actor, std::forward<Ts>(xs)...);
  }

  /// Asks `dest`; the answer is a string, or a seqno (`Seqno`) printed as
  /// one.
  template <bool Seqno = false, class... Ts>
  answer ask_at(const caf::actor& dest, Ts&&... xs) {
    answer result;
    auto on_error = [&](caf::error& err) { result.text = describe(err); };
    auto handle = (*self)->request(dest, timeout, std::forward<Ts>(xs)...);
    if constexpr (Seqno)
      handle.receive(
        [&](uint64_t seqno) {
          result.ok = true;
          result.text = "ok (seqno " + std::to_string(seqno) + ")";
        },
        on_error);
    else
      handle.receive(
        [&](std::string& text) {
          result.ok = true;
          result.text = std::move(text);
        },
        on_error);
    return result;
  }

  template <class... Ts>
  answer ask(Ts&&... xs) {
    return ask_at(agent, std::forward<Ts>(xs)...);
  }

  /// Asks the node agent, once, for the actor `Atom` names (its db
  /// manager, its management actor) and keeps it in `cache`; "" or why not.
  template <class Atom>
  std::string resolve(caf::actor& cache, Atom what) {
    std::string why;
    if (!cache)
      (*self)
        ->request(agent, timeout, what)
        .receive([&](caf::actor& a) { cache = std::move(a); },
                 [&](caf::error& err) { why = describe(err); });
    return why;
  }

  template <bool Seqno = false, class... Ts>
  answer ask_db(Ts&&... xs) {
    if (auto why = resolve(db, db::db_atom::value); !db)
      return {false, why};
    return ask_at<Seqno>(db, std::forward<Ts>(xs)...);
  }
};

hidden_client::hidden_client(std::unique_ptr<impl> p) : impl_(std::move(p)) {
}

hidden_client::~hidden_client() = default;

std::unique_ptr<hidden_client>
hidden_client::connect(const runtime::node_name& target,
                       const std::string& cookie, const std::string& kind,
                       std::chrono::milliseconds timeout,
                       std::chrono::milliseconds wait,
                       const runtime::dist_tls_settings& tls) {
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
  configure_dist_tls(p->cfg, tls);
  p->sys = std::make_unique<caf::actor_system>(p->cfg);
  p->self = std::make_unique<caf::scoped_actor>(*p->sys, true);
  auto name = kind + "-" + std::to_string(::getpid()) + "@" + target.host;
  runtime::handshake_client hs(cookie, name, true, runtime::system_random());
  auto anchor = caf::actor_cast<caf::actor>(*p->self);
  auto peer = dist_connect(**p->self, target.host, target.dist_port(), hs,
                           anchor, timeout, wait);
  std::unique_ptr<hidden_client> result(new hidden_client(std::move(p)));
  if (!peer) {
    result->error_ = describe(peer.error());
    // A TLS port answers TCP, then drops a plain BASP handshake.
    if (!tls.enabled && result->error_.find("refused") == std::string::npos
        && result->error_.find("no answer") == std::string::npos)
      result->error_ += " (a node with node.dist_tls = true needs "
                        "-ssl_certfile, -ssl_keyfile and -ssl_cacertfile)";
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

hidden_client::answer hidden_client::cluster_heal_report() {
  return impl_->ask(cluster_atom::value, db::heal_report_atom::value);
}

hidden_client::answer hidden_client::cluster_discovery() {
  return impl_->ask(cluster_atom::value, discovery_atom::value);
}

hidden_client::answer hidden_client::shell(const std::string& line) {
  return impl_->ask(shell_atom::value, line);
}

hidden_client::answer hidden_client::conf_get(const std::string& key) {
  return impl_->ask_mgmt(mgmt::conf_get_atom::value, key);
}

hidden_client::answer hidden_client::conf_set(const std::string& key,
                                              const std::string& value) {
  auto a = impl_->ask_mgmt(mgmt::conf_set_atom::value,
                           nlohmann::json{{key, value}}.dump());
  if (!a.ok)
    return a;
  // {"ok": seqno} or {"error": {"message": ...}}
  auto j = nlohmann::json::parse(a.text, nullptr, false);
  if (j.is_object() && j.contains("ok"))
    return {true, "ok (seqno " + j["ok"].dump() + ")"};
  if (j.is_object() && j.contains("error"))
    return {false, j["error"].value("message", a.text)};
  return {false, "malformed answer: " + a.text};
}

hidden_client::answer hidden_client::balancer(const std::string& command,
                                              const std::string& args) {
  if (auto why = impl_->resolve(impl_->balancer, mqtt::balancer_atom::value);
      !impl_->balancer)
    return {false, why};
  return impl_->ask_at(impl_->balancer, mqtt::rebalance_atom::value, command, args);
}

hidden_client::answer hidden_client::rlog_status() {
  return impl_->ask_db(db::rlog_atom::value, status_atom::value);
}

hidden_client::answer hidden_client::db_put(const std::string& table,
                                            const std::string& key,
                                            const std::string& value) {
  return impl_->ask_db<true>(db::put_atom::value, table, key, value);
}

hidden_client::answer hidden_client::db_delete(const std::string& table,
                                               const std::string& key) {
  return impl_->ask_db<true>(db::erase_atom::value, table, key);
}

hidden_client::answer hidden_client::db_get(const std::string& table,
                                            const std::string& key) {
  return impl_->ask_db(db::read_atom::value, table, key);
}

hidden_client::answer hidden_client::db_load(const std::string& table,
                                             const std::string& prefix,
                                             uint64_t count,
                                             uint32_t concurrency,
                                             uint32_t value_size) {
  return impl_->ask_db(db::load_atom::value, table, prefix, count, concurrency,
                       value_size);
}

} // namespace starling::actors
