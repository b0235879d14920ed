#include "starling/actors/node.hpp"

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <csignal>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <sched.h>
#include <thread>

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include "starling/actors/actor_directory.hpp"
#include "starling/actors/db/context.hpp"
#include "starling/actors/db/manager.hpp"
#include "starling/actors/dist_connect.hpp"
#include "starling/actors/gatekeeper.hpp"
#include "starling/actors/mgmt/context.hpp"
#include "starling/actors/mqtt/broker.hpp"
#include "starling/actors/mqtt/context.hpp"
#include "starling/actors/mqtt/data_plane.hpp"
#include "starling/actors/node_agent.hpp"
#include "starling/actors/node_context.hpp"
#include "starling/actors/peer_registry.hpp"
#include "starling/actors/wire/node.hpp"
#include "starling/runtime/cluster/discovery.hpp"
#include "starling/runtime/shell_text.hpp"
#include "starling/runtime/version.hpp"
#include "starling/transport/tls.hpp"
#include "starling/mgmt/credentials.hpp"

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
  // CAF's default lets an actor empty its mailbox before anything else runs
  // on its thread: the I/O thread then took every connection's writes for
  // a burst before it wrote any (node.max_throughput in docs/config.md).
  sys_cfg.set("scheduler.max-throughput",
              static_cast<size_t>(cfg.number("node.max_throughput")));
  configure_dist_tls(sys_cfg, runtime::dist_tls_of(cfg));
}

/// CAF's openssl module loads the node's certificate files for every
/// connection and throws on the I/O thread when one is bad, so they are
/// loaded once here: a bad file stops the node at start, naming the key.
std::string check_dist_tls(const runtime::node_config& cfg) {
  auto tls = runtime::dist_tls_of(cfg);
  if (!tls.enabled)
    return "";
  std::string err;
  if (transport::tls_context::server({tls.certfile, tls.keyfile, tls.cacertfile,
                                      true, true},
                                     err))
    return "";
  auto key = err.find(tls.keyfile) != std::string::npos && !tls.keyfile.empty()
               ? "node.ssl.keyfile"
             : err.find("CA") != std::string::npos ? "node.ssl.cacertfile"
                                                   : "node.ssl.certfile";
  return cfg.invalid(key, err);
}

/// Where the node keeps its files (a core's SQLite file, the membership,
/// the heal report), absolute: a relative node.data_dir (the default
/// `data`) depends on where the node was started from.
std::string data_dir_text(const runtime::node_config& cfg) {
  std::error_code ec;
  auto dir = std::filesystem::absolute(cfg.text("node.data_dir"), ec);
  return ec ? cfg.text("node.data_dir") : dir.lexically_normal().string();
}

/// The management side's context: the configuration in force and the
/// default dashboard user (hashed here, once, before any actor runs; with
/// a salt of its name, so every node's default user is the same one and a
/// token for it works on every node).
void init_mgmt(mgmt::mgmt_context& m, node_context& ctx) {
  auto& cfg = ctx.cfg;
  m.node = &ctx;
  m.conf = std::make_unique<runtime::online_config>(cfg);
  starling::mgmt::user_record u;
  u.username = cfg.text("dashboard.default_username");
  // Few rounds: the default password is in the config (or public), so
  // its hash protects nothing, and a full PBKDF2 would delay the start.
  u.password = starling::mgmt::hash_password_salted(
    cfg.text("dashboard.default_password"),
    starling::mgmt::sha256_hex("starling default user " + u.username).substr(0, 32), 1000);
  u.must_change = true;
  u.description = "the default administrator";
  m.auth.set_default(std::move(u));
}

/// Bounds a node's stop (node.shutdown_timeout, as Erlang's -shutdown_time):
/// armed when the stop signal arrives; if the node is still stopping when
/// the time is up, it logs the step it was in and ends the process. Declared
/// before the actor system, so its destructor (the end of a stop that
/// finished) runs after the actor system has waited for its actors.
class shutdown_watchdog {
public:
  explicit shutdown_watchdog(runtime::logger& log) : log_(log) {}
  shutdown_watchdog(const shutdown_watchdog&) = delete;
  shutdown_watchdog& operator=(const shutdown_watchdog&) = delete;

  ~shutdown_watchdog() {
    {
      std::lock_guard<std::mutex> g(mtx_);
      done_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable())
      thread_.join();
  }

  /// Starts the clock; `rc` is the status the process ends with if it fires.
  void arm(uint64_t timeout_ms, int rc) {
    if (timeout_ms == 0)
      return;
    thread_ = std::thread([this, timeout_ms, rc] {
      std::unique_lock<std::mutex> g(mtx_);
      if (cv_.wait_for(g, std::chrono::milliseconds(timeout_ms), [this] { return done_; }))
        return;
      log_.warning("shutdown did not finish within "
                   + runtime::format_duration_ms(timeout_ms) + ": still "
                   + step_.load() + "; exiting now");
      std::_Exit(rc);
    });
  }

  /// What the stop is doing now (a string literal), for the warning.
  void step(const char* what) { step_ = what; }

private:
  runtime::logger& log_;
  std::mutex mtx_;
  std::condition_variable cv_;
  bool done_ = false;
  std::atomic<const char*> step_{"stopping"};
  std::thread thread_;
};

} // namespace

int run_node(const runtime::node_config& cfg) {
  // Before any thread starts, so that every thread inherits it (see
  // node.cpu_policy in docs/config.md).
  // Set either way: `normal` also undoes a policy inherited from the
  // process that started the node (chrt --batch, say).
  std::string policy_error;
  auto policy = cfg.text("node.cpu_policy");
  sched_param none{};
  if (sched_setscheduler(0, policy == "batch" ? SCHED_BATCH : SCHED_OTHER, &none) != 0)
    policy_error = "node.cpu_policy = " + policy + ": sched_setscheduler: "
                   + std::strerror(errno) + "; the node keeps the policy it was started with";
  // Block the stop signals before CAF starts its threads so that only
  // sigwait below sees them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  auto log = runtime::logger::to_stderr(
    cfg.name.str(), *runtime::parse_log_level(cfg.text("log.level")));
  if (cfg.cookie_is_default)
    log.warning("using the built-in default cookie: any process that knows it "
                "can control this node; set node.cookie (-cookie or "
                "STARLING_NODE__COOKIE) or node.cookie_file");
  if (!policy_error.empty())
    log.warning(policy_error);
  shutdown_watchdog watchdog(log);
  actor_directory directory;
  // Declared before the actor system so they outlive every actor using them.
  std::optional<peer_registry> peers;
  node_context ctx;
  mqtt::mqtt_context mqtt_ctx;
  mqtt_ctx.node = &ctx;
  mqtt_ctx.settings = broker::broker_settings_from(cfg);
  mqtt_ctx.live.set(mqtt_ctx.settings);
  ctx.mqtt = &mqtt_ctx;
  ctx.cfg = cfg;
  ctx.log = &log;
  ctx.directory = &directory;
  ctx.now_ms = wall_clock_ms;
  ctx.rnd = runtime::system_random();
  ctx.started_at_ms = wall_clock_ms();
  mgmt::mgmt_context mgmt_ctx;
  init_mgmt(mgmt_ctx, ctx);
  ctx.mgmt = &mgmt_ctx;

  if (cfg.role == runtime::node_role::replicant
      && runtime::cluster::configured_strategy(cfg)
           == runtime::cluster::strategy::manual)
    log.warning("this replicant has no discovery strategy: it finds no core "
                "to replicate from (cluster join is refused on replicants); "
                "set cluster.discovery_strategy (e.g. static with "
                "STARLING_CLUSTER__STATIC__SEEDS)");
  if (auto err = check_dist_tls(cfg); !err.empty()) {
    log.error(err);
    return 2;
  }
  if (auto err = mqtt::load_tls(mqtt_ctx); !err.empty()) {
    log.error(err);
    return 2;
  }
  if (auto err = mqtt::load_access(mqtt_ctx); !err.empty()) {
    log.error(err);
    return 2;
  }
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
  mgmt_ctx.agent = agent;
  mgmt::spawn_mgmt_actors(mgmt_ctx);
  auto gk = spawn_gatekeeper(ctx, agent);
  // Bind all interfaces, as Erlang distribution does; reuse_addr lets a
  // restarted node take its port back while old sockets sit in TIME_WAIT.
  auto port = publish_gatekeeper(sys, gk, cfg.dist_port);
  int rc = 0;
  // The HTTP API on its own threads (cpp-httplib's), up before MQTT so
  // that /status answers 503 while the node starts.
  auto backend = mgmt::make_backend(mgmt_ctx);
  starling::mgmt::api_context api;
  api.node = backend.get();
  api.auth = &mgmt_ctx.auth;
  api.health = &mgmt_ctx.health;
  api.signer = std::make_unique<starling::mgmt::token_signer>(cfg.cookie);
  api.now_ms = wall_clock_ms;
  api.rnd = ctx.rnd;
  starling::mgmt::http_server http(api);
  auto http_addr = cfg.address("dashboard.listener.http");
  std::string http_error;
  if (port && data_error.empty() && http_addr.port != 0)
    http_error = http.start(http_addr.host, http_addr.port);
  caf::expected<std::string> mqtt_port = caf::error{};
  if (port && data_error.empty() && http_error.empty()) {
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
  } else if (!http_error.empty()) {
    log.error(http_error + " (set dashboard.listener.http, env "
                           "STARLING_DASHBOARD__LISTENER__HTTP; 0 turns it off)");
    rc = 1;
  } else if (!mqtt_port) {
    log.error(describe(mqtt_port.error()));
    rc = 1;
  } else {
    log.info("node started: role " + runtime::to_string(cfg.role)
             + ", distribution port " + std::to_string(*port)
             + ", message port " + std::to_string(data.front()->port())
             + (data.size() > 1 ? "-" + std::to_string(data.back()->port()) : "")
             + (cfg.flag("node.dist_tls") ? " (mutual TLS)" : "")
             + ", MQTT " + *mqtt_port + ", HTTP "
             + (http_addr.port == 0 ? std::string("off")
                                    : http_addr.host + ":" + std::to_string(http.port()))
             + ", tick " + std::to_string(cfg.tick_ms) + " ms, data dir "
             + data_dir_text(cfg) + ", version "
             + runtime::version() + " (git " + runtime::git_commit() + ")");
    mgmt_ctx.health.set(starling::mgmt::health_state::running);
    int sig = 0;
    sigwait(&stop_signals, &sig);
    mgmt_ctx.health.set(starling::mgmt::health_state::stopping);
    log.info(std::string("stopping on ") + (sig == SIGINT ? "SIGINT" : "SIGTERM"));
  }
  watchdog.arm(cfg.duration_ms("node.shutdown_timeout"), rc);
  // Requests in progress end before the actors they ask go away.
  watchdog.step("stopping the HTTP server");
  http.stop();
  // Stop every actor of ours (connections, sessions, ...); the actor system
  // waits for all of them before it goes away.
  watchdog.step("stopping the actors");
  // An MQTT connection ends with its listener, which closes its sockets.
  for (auto& e : directory.list())
    if (e.kind != "mqtt_connection")
      caf::anon_send_exit(e.handle, caf::exit_reason::user_shutdown);
  directory.clear();
  mqtt_ctx.outboxes.clear();
  watchdog.step("closing the message delivery links");
  data.clear(); // the data actor systems end before the main one
  db_ctx.manager = nullptr;
  db_ctx.merge_server = nullptr;
  db_ctx.shards.clear();
  watchdog.step("waiting for the actors to end (the actor system)");
  return rc;
}

} // namespace starling::actors
