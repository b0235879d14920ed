#include "starling/actors/node.hpp"

#include <csignal>
#include <iostream>

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include "starling/actors/actor_directory.hpp"
#include "starling/actors/db/context.hpp"
#include "starling/actors/db/manager.hpp"
#include "starling/actors/gatekeeper.hpp"
#include "starling/actors/mqtt/broker.hpp"
#include "starling/actors/mqtt/context.hpp"
#include "starling/actors/mqtt/data_plane.hpp"
#include "starling/actors/node_agent.hpp"
#include "starling/actors/node_context.hpp"
#include "starling/actors/peer_registry.hpp"
#include "starling/actors/wire.hpp"

namespace starling::actors {

namespace {

int64_t wall_clock_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

/// BASP heartbeats: a tick every tick_ms/4 and a peer silent for tick_ms is
/// disconnected (Erlang's net_ticktime works the same way). Every node of a
/// cluster must use the same node.tick_ms.
void configure_distribution(caf::actor_system_config& sys_cfg,
                            const runtime::node_config& cfg) {
  sys_cfg.load<caf::io::middleman>();
  register_wire_types(sys_cfg);
  sys_cfg.set("middleman.heartbeat-interval",
              caf::timespan{std::chrono::milliseconds(cfg.tick_ms / 4)});
  sys_cfg.set("middleman.connection-timeout",
              caf::timespan{std::chrono::milliseconds(cfg.tick_ms)});
  // Refuse, at the BASP level, CAF applications that are not starling.
  sys_cfg.set("middleman.app-identifiers",
              std::vector<std::string>{"starling"});
  sys_cfg.set("logger.console", caf::atom("none"));
  if (cfg.text("node.scheduler") == "sharing")
    sys_cfg.set("scheduler.policy", caf::atom("sharing"));
}

} // namespace

int run_node(const runtime::node_config& cfg) {
  // Block the stop signals before CAF starts its threads so that only
  // sigwait below sees them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  auto log = runtime::logger::to_stderr(cfg.name.str(), runtime::log_level::info);
  if (cfg.cookie_is_default)
    log.warning("using the built-in default cookie: any process that knows it "
                "can control this node; set node.cookie (-cookie or "
                "STARLING_NODE__COOKIE)");
  actor_directory directory;
  // Declared before the actor system so they outlive every actor using them.
  std::optional<peer_registry> peers;
  node_context ctx;
  mqtt::mqtt_context mqtt_ctx;
  mqtt_ctx.node = &ctx;
  mqtt_ctx.settings = broker::broker_settings_from(cfg);
  ctx.mqtt = &mqtt_ctx;
  ctx.cfg = cfg;
  ctx.log = &log;
  ctx.directory = &directory;
  ctx.now_ms = wall_clock_ms;
  ctx.rnd = runtime::system_random();
  ctx.started_at_ms = wall_clock_ms();

  if (cfg.role == runtime::node_role::replicant
      && cfg.text("cluster.static.seeds").empty())
    log.warning("this replicant has no cluster.static.seeds: it finds no core "
                "to replicate from (cluster join is refused on replicants); "
                "set STARLING_CLUSTER__STATIC__SEEDS");
  // Opened before CAF starts: a bad data directory stops the node at once.
  db::db_context db_ctx;
  if (auto err = db::open_db(db_ctx, ctx); !err.empty()) {
    log.error(err + " (set node.data_dir, env STARLING_NODE__DATA_DIR)");
    return 1;
  }

  caf::actor_system_config sys_cfg;
  configure_distribution(sys_cfg, cfg);
  caf::actor_system sys{sys_cfg};
  peers.emplace(sys.node());
  ctx.sys = &sys;
  ctx.peers = &*peers;

  ctx.db = &db_ctx;
  db_ctx.manager = db::spawn_db_manager(db_ctx);
  std::string data_error;
  // The message delivery channel: one link (actor system, port) per pool
  // member.
  std::vector<std::unique_ptr<mqtt::data_plane>> data;
  for (uint16_t i = 0; i < cfg.data_pool_size && data_error.empty(); ++i) {
    data.push_back(std::make_unique<mqtt::data_plane>(ctx, i, data_error));
    mqtt_ctx.outboxes.push_back(data.back()->outbox());
  }
  mqtt::spawn_broker_actors(mqtt_ctx);
  auto agent = spawn_node_agent(ctx);
  auto gk = spawn_gatekeeper(ctx, agent);
  // Bind all interfaces, as Erlang distribution does; reuse_addr lets a
  // restarted node take its port back while old sockets sit in TIME_WAIT.
  auto port = sys.middleman().publish(gk, cfg.dist_port, nullptr, true);
  int rc = 0;
  caf::expected<uint16_t> mqtt_port = caf::error{};
  if (port && data_error.empty()) {
    mqtt_port = mqtt::start_broker(mqtt_ctx);
    if (mqtt_port)
      for (auto& d : data)
        d->attach(mqtt_ctx.router);
  }
  if (!data_error.empty()) {
    log.error(data_error);
    rc = 1;
  } else if (!port) {
    log.error("cannot listen on distribution port "
              + std::to_string(cfg.dist_port) + ": " + sys.render(port.error())
              + " (is another node with this port running? set "
                "node.dist_port)");
    rc = 1;
  } else if (!mqtt_port) {
    log.error(describe(mqtt_port.error())
              + " (set mqtt.listener.tcp, env STARLING_MQTT__LISTENER__TCP)");
    rc = 1;
  } else {
    log.info("node started: role " + runtime::to_string(cfg.role)
             + ", distribution port " + std::to_string(*port)
             + ", message port " + std::to_string(data.front()->port())
             + (data.size() > 1 ? "-" + std::to_string(data.back()->port()) : "")
             + ", MQTT "
             + mqtt_ctx.settings.tcp.host + ":" + std::to_string(*mqtt_port)
             + ", tick " + std::to_string(cfg.tick_ms) + " ms, version "
             STARLING_VERSION);
    int sig = 0;
    sigwait(&stop_signals, &sig);
    log.info(std::string("stopping on ") + (sig == SIGINT ? "SIGINT" : "SIGTERM"));
  }
  // Stop every actor of ours (connections, sessions, ...); the actor system
  // waits for all of them before it goes away.
  for (auto& e : directory.list())
    caf::anon_send_exit(e.handle, caf::exit_reason::user_shutdown);
  directory.clear();
  mqtt_ctx.outboxes.clear();
  data.clear(); // the data actor systems end before the main one
  db_ctx.manager = nullptr;
  db_ctx.merge_server = nullptr;
  db_ctx.shards.clear();
  return rc;
}

} // namespace starling::actors
