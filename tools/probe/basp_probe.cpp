// starling-basp-probe HOST PORT [MAX_ACTOR_ID]
//
// Connects to a distribution port as a plain CAF/BASP peer that never does
// the cookie handshake, then tries every way in: named lookups, handshake
// messages out of order, node-agent requests sent to the gatekeeper, and
// requests addressed by actor id to ids 1..MAX_ACTOR_ID. Prints one JSON
// object: what answered, what refused, and whether anything was reached.
// Exit code 0 when nothing was reached, 3 when something was.

#include <cstdlib>
#include <future>
#include <memory>
#include <iostream>

#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <caf/io/basp_broker.hpp>
#include <nlohmann/json.hpp>

#include "starling/actors/wire/node.hpp"

using namespace starling::actors;

namespace {

constexpr auto timeout = std::chrono::seconds(2);

struct tally {
  nlohmann::json reached = nlohmann::json::array();
  size_t refused = 0;      // our explicit refusal text
  size_t failed = 0;       // any other error (no such actor, timeout, ...)
  size_t named_found = 0;
};

/// Fires requests from an event-based actor, so that an answer of an
/// unexpected type (from some CAF-internal actor) ends as an error instead of
/// being skipped by a blocking receive.
struct prober {
  caf::event_based_actor* self;
  std::shared_ptr<tally> t;
  std::shared_ptr<size_t> pending;
  std::shared_ptr<std::promise<void>> done;

  void finish() const {
    if (--*pending == 0)
      done->set_value();
  }

  /// Sends the request to `dest` and files the outcome; `Reply...` is what a
  /// successful answer would carry.
  template <class... Reply, class... Ts>
  void attempt(const caf::actor& dest, const std::string& what, Ts&&... xs) {
    ++*pending;
    auto me = *this;
    self->request(dest, timeout, std::forward<Ts>(xs)...)
      .then(
        [me, what](Reply&...) {
          me.t->reached.push_back(what + " answered");
          me.finish();
        },
        [me](caf::error& err) {
          auto text = describe(err);
          if (text.find("refused") != std::string::npos
              || text.find("not authenticated") != std::string::npos
              || text.find("no handshake in progress") != std::string::npos)
            ++me.t->refused;
          else
            ++me.t->failed;
          me.finish();
        });
  }
};

caf::strong_actor_ptr proxy_for(caf::actor_system& sys, const caf::node_id& nid,
                                caf::actor_id aid) {
  std::promise<caf::strong_actor_ptr> p;
  auto& mm = sys.middleman();
  mm.backend().post([&] {
    auto hdl = mm.named_broker<caf::io::basp_broker>(caf::atom("BASP"));
    auto bb = static_cast<caf::io::basp_broker*>(
      caf::actor_cast<caf::abstract_actor*>(hdl));
    p.set_value(bb->instance.proxies().get_or_put(nid, aid));
  });
  return p.get_future().get();
}

} // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: starling-basp-probe HOST PORT [MAX_ACTOR_ID]\n";
    return 2;
  }
  std::string host = argv[1];
  auto port = static_cast<uint16_t>(std::atoi(argv[2]));
  caf::actor_id max_id = argc > 3 ? std::atoi(argv[3]) : 200;
  caf::actor_system_config cfg;
  cfg.load<caf::io::middleman>();
  register_wire_types(cfg);
  cfg.set("middleman.app-identifiers", std::vector<std::string>{"starling"});
  cfg.set("logger.console", caf::atom("none"));
  caf::actor_system sys{cfg};
  // The gatekeeper publishes a typed interface (gatekeeper_actor); a
  // hostile peer asks for it, then sends it anything through an untyped
  // handle.
  auto gk = sys.middleman().remote_actor<gatekeeper_actor>(host, port);
  if (!gk) {
    std::cerr << "cannot connect: " << sys.render(gk.error()) << "\n";
    return 2;
  }
  auto nid = gk->node();
  auto t = std::make_shared<tally>();
  // 1. Named lookups: nothing of ours may be registered by name.
  nlohmann::json names = nlohmann::json::object();
  const std::pair<const char*, caf::atom_value> lookups[] = {
    {"node_agent", caf::atom("node_agent")}, {"agent", caf::atom("agent")},
    {"shell", caf::atom("shell")},           {"gatekeeper", caf::atom("gatekeeper")},
    {"starling", caf::atom("starling")},     {"cluster", caf::atom("cluster")},
    {"control", caf::atom("control")},       {"ctl", caf::atom("ctl")}};
  for (auto [name, atom] : lookups) {
    auto found = sys.middleman().remote_lookup(atom, nid) != nullptr;
    names[name] = found;
    if (found) {
      ++t->named_found;
      t->reached.push_back(std::string("named actor ") + name);
    }
  }
  std::vector<std::pair<caf::actor_id, caf::actor>> targets;
  for (caf::actor_id aid = 1; aid <= max_id; ++aid)
    if (auto ptr = proxy_for(sys, nid, aid))
      targets.emplace_back(aid, caf::actor_cast<caf::actor>(ptr));
  auto done = std::make_shared<std::promise<void>>();
  auto finished = done->get_future();
  auto gatekeeper = caf::actor_cast<caf::actor>(*gk);
  sys.spawn([=](caf::event_based_actor* self) {
    prober p{self, t, std::make_shared<size_t>(1), done};
    // 2. The gatekeeper, out of order and with agent requests.
    p.attempt<std::string, caf::actor>(
      gatekeeper, "gatekeeper answer without hello", answer_atom::value,
      std::string(64, 'a'), std::string(64, 'b'),
      caf::actor_cast<caf::actor>(self));
    p.attempt<std::string>(gatekeeper, "gatekeeper status", status_atom::value);
    p.attempt<std::string, uint64_t>(gatekeeper, "gatekeeper inspect",
                                     inspect_atom::value);
    // 3. Every actor id up to max_id with each operator and peer request.
    for (auto& [aid, dest] : targets) {
      auto id = "actor " + std::to_string(aid);
      p.attempt<std::string>(dest, id + " status", status_atom::value);
      p.attempt<std::string>(dest, id + " cluster status", cluster_atom::value,
                             status_atom::value);
      p.attempt<std::string>(dest, id + " shell", shell_atom::value,
                             std::string("nodes()"));
      p.attempt<std::vector<std::string>>(dest, id + " nodes",
                                          nodes_atom::value, true);
      p.attempt<std::string, uint64_t>(dest, id + " inspect",
                                       inspect_atom::value);
      p.attempt<caf::ok_atom>(dest, id + " leave", leave_atom::value,
                              std::string("nobody@nowhere"), std::string("x"));
      p.attempt<uint64_t>(dest, id + " heal order", heal_order_atom::value,
                          std::string("round"),
                          std::vector<std::string>{"nobody@nowhere"});
      p.attempt<view_wire>(dest, id + " heal view", heal_view_atom::value,
                           std::string("round"));
    }
    p.finish();
  });
  finished.wait();
  nlohmann::json out{{"named_lookups", names},
                     {"reached", t->reached},
                     {"refused", t->refused},
                     {"failed", t->failed}};
  std::cout << out.dump() << std::endl;
  std::cout.flush();
  std::_Exit(t->reached.empty() ? 0 : 3);
}
