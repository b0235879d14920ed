#include "starling/runtime/node_config.hpp"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>

#include <boost/program_options.hpp>

#include "starling/runtime/cluster/discovery.hpp"

#include "starling/runtime/cookie_file.hpp"

namespace po = boost::program_options;

namespace starling::runtime {

std::string to_string(node_role role) {
  return role == node_role::core ? "core" : "replicant";
}

const std::vector<config_key>& config_schema() {
  using k = config_kind;
  static const std::vector<config_key> schema{
    {"node.name", "starling@127.0.0.1",
     "node name, name@host; the distribution port derives from the name"},
    {"node.cookie", "",
     "shared secret of the cluster; the built-in default is insecure"},
    {"node.cookie_file", "",
     "file holding the cookie, read when node.cookie is not set (the "
     "Debian package: /etc/starling/cookie)"},
    {"node.role", "core", "core or replicant", k::choice, 0, 0,
     {"core", "replicant"}},
    {"node.dist_port", "",
     "distribution port; default 4370 + the trailing number of the name",
     k::unsigned_int, 1, 65535},
    {"node.tick_ms", "2000",
     "heartbeat period: a silent peer is declared down after this long",
     k::unsigned_int, 400, 600000},
    {"node.data_port", "",
     "message delivery port between nodes; default the distribution port "
     "+ 1000 (5370 for 4370)",
     k::unsigned_int, 1, 65535},
    {"node.data_pool_size", "1",
     "links per pair of nodes on the message delivery channel, on ports "
     "data_port .. data_port + size - 1 (a topic always takes the same "
     "link); the same on every node",
     k::unsigned_int, 1, 16},
    {"node.scheduler", "sharing",
     "CAF scheduler: stealing (work stealing, idle workers poll) or sharing "
     "(one shared queue, idle workers sleep until woken)",
     k::choice, 0, 0, {"stealing", "sharing"}},
    {"node.max_throughput", "500",
     "messages an actor handles before the thread it runs on turns to "
     "other work (CAF's scheduler.max-throughput; Erlang's reductions per "
     "slice): the I/O thread then writes what the connections were given "
     "before it handles more",
     k::unsigned_int, 1, 1000000},
    {"node.cpu_policy", "batch",
     "Linux scheduling policy of the node's threads: batch (SCHED_BATCH: a "
     "thread the node wakes does not preempt the one that woke it, so one "
     "CPU serves a message hop without two context switches) or normal "
     "(SCHED_OTHER)",
     k::choice, 0, 0, {"batch", "normal"}},
    {"node.shutdown_timeout", "10s",
     "on SIGTERM/SIGINT, the longest the node waits for its actors and "
     "servers to stop; then it logs what it was waiting for and exits "
     "(0 = wait for ever)",
     k::duration},
    {"node.data_dir", "data",
     "directory of the node's SQLite file (<data_dir>/<node name>.sqlite)"},
    {"node.dist_tls", "false",
     "distribution and the message channel over mutual TLS (node.ssl.*)",
     k::boolean},
    {"node.ssl.certfile", "", "PEM certificate of this node (node.dist_tls)"},
    {"node.ssl.keyfile", "", "PEM private key of node.ssl.certfile"},
    {"node.ssl.cacertfile", "",
     "PEM CA certificates a peer's certificate must chain to"},
    {"cluster.name", "starling",
     "the cluster's name (etcd keys, docs); nodes of one cluster share it"},
    {"cluster.discovery_strategy", "manual",
     "how nodes find each other: manual (cluster join), static "
     "(cluster.static.seeds), dns, etcd or k8s",
     k::choice, 0, 0, {"manual", "static", "dns", "etcd", "k8s"}},
    {"cluster.static.seeds", "",
     "comma-separated node names to join at start (replicants: the cores "
     "they attach to)"},
    {"cluster.dns.name", "", "dns strategy: the name to look up"},
    {"cluster.dns.record_type", "a",
     "dns strategy: a, aaaa (each address is <name>@<address>) or srv "
     "(each target is <name>@<target>)",
     k::choice, 0, 0, {"a", "aaaa", "srv"}},
    {"cluster.etcd.server", "",
     "etcd strategy: comma-separated URLs of etcd's v3 JSON gateway "
     "(http://127.0.0.1:2379)"},
    {"cluster.etcd.prefix", "starling", "etcd strategy: the key prefix"},
    {"cluster.etcd.node_ttl", "1m",
     "etcd strategy: the lease of a node's key; a dead node's key goes after "
     "this long",
     k::duration},
    {"cluster.etcd.ssl.certfile", "", "etcd strategy: client certificate (https)"},
    {"cluster.etcd.ssl.keyfile", "", "etcd strategy: client key (https)"},
    {"cluster.etcd.ssl.cacertfile", "", "etcd strategy: CA to verify etcd (https)"},
    {"cluster.k8s.apiserver", "https://kubernetes.default.svc:443",
     "k8s strategy: the API server"},
    {"cluster.k8s.service_name", "starling-headless",
     "k8s strategy: the service whose endpoints are the nodes"},
    {"cluster.k8s.namespace", "default", "k8s strategy: the service's namespace"},
    {"cluster.k8s.address_type", "ip",
     "k8s strategy: node names from ip, dns (dashed ip) or hostname",
     k::choice, 0, 0, {"ip", "dns", "hostname"}},
    {"cluster.k8s.suffix", "pod.cluster.local",
     "k8s strategy: the domain suffix of dns and hostname names"},
    {"cluster.k8s.token_file", "/var/run/secrets/kubernetes.io/serviceaccount/token",
     "k8s strategy: the service account token"},
    {"cluster.k8s.cacertfile", "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt",
     "k8s strategy: the CA of the API server"},
    {"cluster.autoheal", "true",
     "after a partition, the largest group of cores that see each other "
     "keeps its data and the others re-sync from it", k::boolean},
    {"cluster.autoheal_delay_ms", "5000",
     "quiet period after the last partition report before the leader "
     "decides",
     k::unsigned_int, 0, 3600000},
    {"cluster.autoclean", "24h",
     "a member down for longer than this is removed from the cluster "
     "(0 = never)",
     k::duration, 0, 0, {}, true},
    {"rlog.log_size", "100000",
     "committed transactions kept in memory per shard: a replica behind by "
     "fewer resumes without a bootstrap",
     k::unsigned_int, 16, 100000000},
    {"rlog.bootstrap_batch_size", "500", "records per bootstrap batch",
     k::unsigned_int, 1, 1000000},
    {"rlog.agent_queue_limit", "100000",
     "transactions queued for one subscriber before it is cut off "
     "(it resumes or re-bootstraps)",
     k::unsigned_int, 16, 100000000},
    {"rlog.replicant_batch_ms", "20",
     "how long a core holds what it commits for a replicant before it "
     "sends it, so that what commits meanwhile goes in the same batch "
     "(0 = at once); cores that follow are fed at once",
     k::unsigned_int, 0, 1000},
    {"rlog.write_retries", "5",
     "times a transaction is resent when its sequencer or core dies",
     k::unsigned_int, 0, 100},
    {"mqtt.listener.tcp", "0.0.0.0:1883",
     "MQTT TCP listener, port or host:port", k::listen_addr},
    {"mqtt.listener.ssl", "", "MQTT over TLS listener (off until set)",
     k::listen_addr},
    {"mqtt.listener.ws", "",
     "MQTT over WebSocket listener, path /mqtt (off until set)",
     k::listen_addr},
    {"mqtt.listener.wss", "",
     "MQTT over WebSocket over TLS listener, path /mqtt (off until set)",
     k::listen_addr},
    {"mqtt.listener.tcp.max_connections", "0",
     "connections the tcp listener holds at most (0 = unlimited)",
     k::unsigned_int, 0, 100000000},
    {"mqtt.listener.tcp.max_conn_rate", "0",
     "new connections per second the tcp listener accepts (0 = unlimited)",
     k::unsigned_int, 0, 1000000},
    {"mqtt.listener.ssl.max_connections", "0",
     "connections the ssl listener holds at most (0 = unlimited)",
     k::unsigned_int, 0, 100000000},
    {"mqtt.listener.ssl.max_conn_rate", "0",
     "new connections per second the ssl listener accepts (0 = unlimited)",
     k::unsigned_int, 0, 1000000},
    {"mqtt.listener.ws.max_connections", "0",
     "connections the ws listener holds at most (0 = unlimited)",
     k::unsigned_int, 0, 100000000},
    {"mqtt.listener.ws.max_conn_rate", "0",
     "new connections per second the ws listener accepts (0 = unlimited)",
     k::unsigned_int, 0, 1000000},
    {"mqtt.listener.wss.max_connections", "0",
     "connections the wss listener holds at most (0 = unlimited)",
     k::unsigned_int, 0, 100000000},
    {"mqtt.listener.wss.max_conn_rate", "0",
     "new connections per second the wss listener accepts (0 = unlimited)",
     k::unsigned_int, 0, 1000000},
    {"mqtt.ssl.certfile", "", "PEM certificate chain of the TLS listeners"},
    {"mqtt.ssl.keyfile", "", "PEM private key of mqtt.ssl.certfile"},
    {"mqtt.ssl.cacertfile", "",
     "PEM CA certificates that client certificates must chain to"},
    {"mqtt.ssl.verify", "verify_none",
     "verify_peer: ask clients for a certificate and check it", k::choice, 0,
     0, {"verify_none", "verify_peer"}},
    {"mqtt.ssl.fail_if_no_peer_cert", "false",
     "with verify_peer: refuse a client without a certificate", k::boolean},
    {"mqtt.ssl.peer_cert_as_username", "disabled",
     "cn: the client certificate's common name is the username",
     k::choice, 0, 0, {"disabled", "cn"}},
    {"mqtt.max_packet_size", "1048576",
     "largest MQTT packet accepted, bytes (larger: reason 0x95)",
     k::unsigned_int, 64, 268435460},
    {"mqtt.connect_timeout_ms", "15000",
     "a socket without a complete CONNECT by then is closed",
     k::unsigned_int, 100, 3600000},
    {"mqtt.max_inflight", "32",
     "unacknowledged QoS 1/2 messages in flight to each client",
     k::unsigned_int, 1, 65535, {}, true},
    {"mqtt.max_mqueue_len", "1000",
     "messages queued per session while offline or the window is full",
     k::unsigned_int, 0, 10000000, {}, true},
    {"mqtt.mqueue_store_qos0", "true",
     "queue QoS 0 messages for offline sessions too", k::boolean, 0, 0, {}, true},
    {"mqtt.max_awaiting_rel", "100",
     "inbound QoS 2 messages awaiting PUBREL per client", k::unsigned_int, 1,
     65535, {}, true},
    {"mqtt.max_topic_alias", "65535", "Topic Alias Maximum granted to clients",
     k::unsigned_int, 0, 65535, {}, true},
    {"mqtt.max_qos_allowed", "2", "highest QoS granted", k::unsigned_int, 0,
     2, {}, true},
    {"mqtt.max_clientid_len", "65535", "longest client id accepted",
     k::unsigned_int, 23, 65535, {}, true},
    {"mqtt.session_expiry_max_s", "7200",
     "upper bound on a session's expiry interval (v3 persistent sessions "
     "get this)",
     k::unsigned_int, 0, 4294967295, {}, true},
    {"mqtt.server_keepalive_s", "0",
     "override the client's keepalive (MQTT 5 Server Keep Alive); 0 = off",
     k::unsigned_int, 0, 65535, {}, true},
    {"mqtt.retain_available", "true", "retained messages enabled", k::boolean, 0, 0, {}, true},
    {"mqtt.shared_subscription_strategy", "round_robin",
     "how a shared group picks a member", k::choice, 0, 0,
     {"round_robin", "random", "sticky", "hash_clientid", "hash_topic"}},
    {"mqtt.write_buffer.high_watermark", "8388608",
     "unsent bytes to a client above which its QoS 0 messages are dropped",
     k::unsigned_int, 1024, 1073741824},
    {"mqtt.write_buffer.hard_limit", "33554432",
     "unsent bytes to a client above which it is disconnected",
     k::unsigned_int, 4096, 4294967295},
    {"mqtt.sys_interval_ms", "60000",
     "period of the $SYS broker topics; 0 disables them", k::unsigned_int, 0,
     86400000, {}, true},
    {"authn.allow_anonymous", "true",
     "let in clients that no source knows (no username, or an unknown one)",
     k::boolean},
    {"authn.password_file", "",
     "a Mosquitto password file (mosquitto_passwd) checked after the "
     "built-in user database"},
    {"authn.max_failures", "10",
     "failed logins from one address within authn.failure_window after "
     "which it is refused until the window passes (0 = no limit)",
     k::unsigned_int, 0, 1000000},
    {"authn.failure_window", "1m", "the window of authn.max_failures",
     k::duration},
    {"authz.file", "", "an ACL file in EMQX's acl.conf format"},
    {"authz.no_match", "allow",
     "what a PUBLISH or SUBSCRIBE that no ACL rule matches gets", k::choice,
     0, 0, {"allow", "deny"}},
    {"authz.deny_action", "ignore",
     "a refused PUBLISH or SUBSCRIBE: ignore (reason code 0x87) or "
     "disconnect the client",
     k::choice, 0, 0, {"ignore", "disconnect"}},
    {"log.level", "info", "lowest level logged: debug, info, warning, error",
     k::choice, 0, 0, {"debug", "info", "warning", "error"}, true},
    {"dashboard.listener.http", "18083",
     "HTTP listener of the management API and dashboard, port or host:port; "
     "0 turns it off", k::listen_addr},
    {"dashboard.default_username", "admin",
     "the dashboard user that exists while the cluster has none"},
    {"dashboard.default_password", "public",
     "that user's first password; it must be changed at the first login"},
    {"dashboard.token_expired_time", "60m",
     "how long a login token stays valid", k::duration, 0, 0, {}, true},
    {"dashboard.unsuccessful_login_max_attempts", "5",
     "failed logins from one address within the interval below that lock it",
     k::unsigned_int, 1, 1000, {}, true},
    {"dashboard.unsuccessful_login_interval", "5m",
     "the window in which failed logins are counted", k::duration, 0, 0, {},
     true},
    {"dashboard.unsuccessful_login_lock_duration", "10m",
     "how long an address stays locked out of login", k::duration, 0, 0, {},
     true},
  };
  return schema;
}

const config_key* find_config_key(const std::string& key) {
  for (auto& k : config_schema())
    if (k.name == key)
      return &k;
  return nullptr;
}

std::optional<listen_address> parse_listen_address(const std::string& text) {
  listen_address result{"0.0.0.0", 0};
  auto port_text = text;
  if (auto colon = text.rfind(':'); colon != std::string::npos) {
    result.host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
    if (result.host.empty())
      return std::nullopt;
  }
  if (port_text.empty() || port_text.size() > 5
      || !std::all_of(port_text.begin(), port_text.end(),
                      [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }))
    return std::nullopt;
  auto port = std::stoul(port_text);
  if (port > 65535)
    return std::nullopt;
  result.port = static_cast<uint16_t>(port);
  return result;
}

std::optional<uint64_t> parse_duration_ms(const std::string& text) {
  size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits])))
    ++digits;
  if (digits == 0 || digits > 12)
    return std::nullopt;
  uint64_t n = std::stoull(text.substr(0, digits));
  auto unit = text.substr(digits);
  static const std::vector<std::pair<std::string, uint64_t>> units{
    {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}};
  if (unit.empty())
    return n == 0 ? std::optional<uint64_t>(0) : std::nullopt;
  for (auto& [u, factor] : units)
    if (unit == u)
      return n * factor;
  return std::nullopt;
}

std::optional<bool> parse_bool(const std::string& text) {
  if (text == "true" || text == "on" || text == "1" || text == "yes")
    return true;
  if (text == "false" || text == "off" || text == "0" || text == "no")
    return false;
  return std::nullopt;
}

const std::string& node_config::text(const std::string& key) const {
  // Keys whose default is empty and that nobody set have no entry.
  static const std::string empty;
  auto i = settings.find(key);
  return i == settings.end() ? empty : i->second.first;
}

uint64_t node_config::number(const std::string& key) const {
  return std::stoull(settings.at(key).first);
}

bool node_config::flag(const std::string& key) const {
  return *parse_bool(settings.at(key).first);
}

listen_address node_config::address(const std::string& key) const {
  return *parse_listen_address(settings.at(key).first);
}

uint64_t node_config::duration_ms(const std::string& key) const {
  return *parse_duration_ms(settings.at(key).first);
}

dist_tls_settings dist_tls_of(const node_config& cfg) {
  return {cfg.flag("node.dist_tls"), cfg.text("node.ssl.certfile"),
          cfg.text("node.ssl.keyfile"), cfg.text("node.ssl.cacertfile")};
}

std::string node_config::invalid(const std::string& key,
                                 const std::string& why) const {
  auto i = settings.find(key);
  if (i == settings.end())
    return "invalid value for " + key + ": " + why;
  return "invalid value for " + key + ": '" + i->second.first + "' (from "
         + i->second.second + "): " + why;
}

std::string embedded_default_config() {
  std::string text = "# Starling built-in defaults\n";
  std::string section;
  for (auto& key : config_schema()) {
    if (key.default_value.empty())
      continue;
    auto dot = key.name.find('.');
    if (auto s = key.name.substr(0, dot); s != section) {
      section = s;
      text += "[" + section + "]\n";
    }
    text += key.name.substr(dot + 1) + " = " + key.default_value + "\n";
  }
  return text;
}

std::string env_var_for(const std::string& key) {
  std::string result = "STARLING_";
  for (char c : key)
    result += c == '.' ? std::string("__")
                       : std::string(1, static_cast<char>(std::toupper(
                           static_cast<unsigned char>(c))));
  return result;
}

namespace {

using layered = std::map<std::string, std::pair<std::string, std::string>>;

bool known_key(const std::string& key) {
  return find_config_key(key) != nullptr;
}

/// Reads an ini text; `source` names it in errors.
std::string read_ini(std::istream& in, const std::string& source,
                     layered& out) {
  po::options_description desc;
  for (auto& key : config_schema())
    desc.add_options()(key.name.c_str(), po::value<std::string>());
  try {
    auto parsed = po::parse_config_file(in, desc, true);
    for (auto& opt : parsed.options) {
      if (opt.unregistered)
        return "unknown config key '" + opt.string_key + "' in " + source;
      if (!opt.value.empty())
        out[opt.string_key] = {opt.value.front(), source};
    }
  } catch (const po::error& e) {
    return "cannot parse " + source + ": " + e.what();
  }
  return {};
}

std::string read_environment(const std::vector<std::string>& env,
                             layered& out) {
  for (auto& entry : env) {
    auto eq = entry.find('=');
    if (eq == std::string::npos || entry.rfind("STARLING_", 0) != 0)
      continue;
    auto var = entry.substr(0, eq);
    auto rest = var.substr(9);
    if (rest.find("__") == std::string::npos)
      continue; // not a config override (e.g. STARLING_HOME)
    std::string key;
    for (size_t i = 0; i < rest.size(); ++i) {
      if (rest.compare(i, 2, "__") == 0) {
        key += '.';
        ++i;
      } else {
        key += static_cast<char>(
          std::tolower(static_cast<unsigned char>(rest[i])));
      }
    }
    if (!known_key(key))
      return "unknown config key '" + key + "' (from environment variable "
             + var + ")";
    out[key] = {entry.substr(eq + 1), "environment variable " + var};
  }
  return {};
}

std::string describe(const std::string& key, const layered& values) {
  auto& [value, source] = values.at(key);
  return "invalid value for " + key + ": '" + value + "' (from " + source
         + ")";
}

/// Checks a value against its key's kind; returns what is wrong, or "".
std::string check_kind(const config_key& key, const std::string& value) {
  switch (key.kind) {
    case config_kind::text:
      return {};
    case config_kind::unsigned_int: {
      auto n = value.size() <= 10 && !value.empty()
                   && std::all_of(value.begin(), value.end(), [](char c) {
                        return std::isdigit(static_cast<unsigned char>(c));
                      })
                 ? std::optional<uint64_t>(std::stoull(value))
                 : std::nullopt;
      if (!n || *n < key.min || *n > key.max)
        return "expected a whole number between " + std::to_string(key.min)
               + " and " + std::to_string(key.max);
      return {};
    }
    case config_kind::boolean:
      return parse_bool(value) ? "" : "expected true or false";
    case config_kind::choice: {
      if (std::find(key.choices.begin(), key.choices.end(), value)
          != key.choices.end())
        return {};
      std::string list;
      for (auto& c : key.choices)
        list += (list.empty() ? "" : ", ") + c;
      return "expected one of " + list;
    }
    case config_kind::listen_addr:
      return parse_listen_address(value) ? "" : "expected port or host:port";
    case config_kind::duration:
      return parse_duration_ms(value)
               ? ""
               : "expected a duration such as 500ms, 30s, 5m, 24h, 7d, or 0";
  }
  return {};
}

/// Turns the layered strings into a node_config or an error naming the key.
config_result validate(layered values) {
  config_result res;
  node_config cfg;
  std::string err;
  for (auto& key : config_schema()) {
    auto i = values.find(key.name);
    if (i == values.end())
      continue;
    if (auto why = check_kind(key, i->second.first); !why.empty()) {
      res.error = describe(key.name, values) + ": " + why;
      return res;
    }
  }
  auto name = parse_node_name(values.at("node.name").first, err);
  if (!name) {
    res.error = describe("node.name", values) + ": " + err;
    return res;
  }
  if (name->port) {
    res.error = describe("node.name", values)
                + ": give the port with node.dist_port, not in the name";
    return res;
  }
  cfg.name = *name;
  auto& high = values.at("mqtt.write_buffer.high_watermark");
  auto& hard = values.at("mqtt.write_buffer.hard_limit");
  if (std::stoull(hard.first) <= std::stoull(high.first)) {
    res.error = describe("mqtt.write_buffer.hard_limit", values)
                + ": must be larger than mqtt.write_buffer.high_watermark ("
                + high.first + ")";
    return res;
  }
  auto has = [&](const std::string& key) {
    auto i = values.find(key);
    return i != values.end() && !i->second.first.empty();
  };
  for (auto* l : {"mqtt.listener.ssl", "mqtt.listener.wss"})
    for (auto* need : {"mqtt.ssl.certfile", "mqtt.ssl.keyfile"})
      if (has(l) && !has(need)) {
        res.error = describe(l, values) + ": a TLS listener needs " + need;
        return res;
      }
  if (has("mqtt.ssl.verify") && values.at("mqtt.ssl.verify").first == "verify_peer"
      && (has("mqtt.listener.ssl") || has("mqtt.listener.wss"))
      && !has("mqtt.ssl.cacertfile")) {
    res.error = describe("mqtt.ssl.verify", values)
                + ": verify_peer needs mqtt.ssl.cacertfile";
    return res;
  }
  if (*parse_bool(values.at("node.dist_tls").first))
    for (auto* need : {"node.ssl.certfile", "node.ssl.keyfile", "node.ssl.cacertfile"})
      if (!has(need)) {
        res.error = describe("node.dist_tls", values)
                    + ": distribution over TLS needs " + need;
        return res;
      }
  auto file = values.find("node.cookie_file");
  if (auto i = values.find("node.cookie");
      i == values.end() && file != values.end() && !file->second.first.empty()) {
    auto read = read_cookie_file(file->second.first);
    if (read.cookie.empty()) {
      res.error = describe("node.cookie_file", values) + ": " + read.error;
      return res;
    }
    cfg.cookie = read.cookie;
    values["node.cookie"] = {read.cookie, "node.cookie_file " + file->second.first};
  } else if (i == values.end()) {
    cfg.cookie = default_cookie;
    cfg.cookie_is_default = true;
    values["node.cookie"] = {default_cookie, "default"};
  } else if (i->second.first.empty()) {
    res.error = describe("node.cookie", values) + ": the cookie is empty";
    return res;
  } else {
    cfg.cookie = i->second.first;
  }
  // Kinds and ranges were checked above; these only convert.
  cfg.role = values.at("node.role").first == "core" ? node_role::core
                                                    : node_role::replicant;
  if (auto i = values.find("node.dist_port"); i != values.end())
    cfg.dist_port = static_cast<uint16_t>(std::stoul(i->second.first));
  else
    cfg.dist_port = cfg.name.dist_port();
  if (auto i = values.find("node.data_port"); i != values.end())
    cfg.data_port = static_cast<uint16_t>(std::stoul(i->second.first));
  else if (cfg.dist_port <= 65535 - 1000)
    cfg.data_port = static_cast<uint16_t>(cfg.dist_port + 1000);
  else {
    res.error = "node.data_port: the distribution port " + std::to_string(cfg.dist_port)
                + " + 1000 is not a TCP port; set node.data_port";
    return res;
  }
  cfg.data_pool_size = static_cast<uint16_t>(
    std::stoul(values.at("node.data_pool_size").first));
  if (cfg.data_port + cfg.data_pool_size - 1 > 65535) {
    res.error = "node.data_pool_size: ports " + std::to_string(cfg.data_port)
                + " + " + std::to_string(cfg.data_pool_size - 1)
                + " exceed 65535; lower node.data_port or the pool size";
    return res;
  }
  cfg.tick_ms = static_cast<uint32_t>(std::stoul(values.at("node.tick_ms").first));
  cfg.settings = std::move(values);
  if (auto why = cluster::check_discovery(cfg); !why.empty()) {
    res.error = why;
    return res;
  }
  res.config = std::move(cfg);
  return res;
}

po::options_description cli_options() {
  po::options_description desc("node options (also written --name etc.)");
  desc.add_options()
    ("name", po::value<std::string>(), "node name name@host (node.name)")
    ("sname", po::value<std::string>(), "short name; host = this host's name")
    ("cookie", po::value<std::string>(), "cluster cookie (node.cookie)")
    ("role", po::value<std::string>(), "core | replicant (node.role)")
    ("config", po::value<std::string>(), "ini config file")
    ("dist_port", po::value<std::string>(), "distribution port (node.dist_port)")
    ("tick_ms", po::value<std::string>(), "heartbeat period (node.tick_ms)")
    ("help", "print this help");
  return desc;
}

} // namespace

std::string validate_key(const std::string& key, const std::string& value) {
  auto k = find_config_key(key);
  if (!k)
    return "unknown config key '" + key + "'";
  return check_kind(*k, value);
}

config_result apply_overrides(const node_config& base,
                              const std::map<std::string, std::string>& overrides,
                              const std::string& source) {
  layered values = base.settings;
  for (auto& [key, value] : overrides) {
    if (!known_key(key)) {
      config_result res;
      res.error = "unknown config key '" + key + "' (from " + source + ")";
      return res;
    }
    values[key] = {value, source};
  }
  return validate(std::move(values));
}

config_result load_node_config(const config_inputs& in) {
  config_result res;
  auto desc = cli_options();
  po::variables_map cli;
  try {
    auto style = po::command_line_style::unix_style
                 | po::command_line_style::allow_long_disguise;
    std::vector<std::string> args = in.args;
    po::store(po::command_line_parser(args).options(desc).style(style).run(),
              cli);
  } catch (const po::error& e) {
    res.error = std::string(e.what()) + " (see starling -help)";
    return res;
  }
  if (cli.count("help")) {
    std::ostringstream os;
    os << "usage: starling [-name NAME@HOST | -sname NAME] [-cookie C] "
          "[-role core|replicant]\n"
          "                [-config FILE] [-dist_port N] [-tick_ms MS]\n"
          "       starling ctl ...   (starling ctl -help)\n"
          "       starling remsh NODE -cookie C [-eval CMD]\n"
          "       starling version   (also -version, --version)\n\n"
       << desc;
    res.help = true;
    res.help_text = os.str();
    return res;
  }
  layered values;
  std::istringstream defaults(embedded_default_config());
  read_ini(defaults, "built-in defaults", values);
  for (auto& [key, entry] : values)
    entry.second = "default";
  if (cli.count("config")) {
    auto path = cli["config"].as<std::string>();
    std::ifstream file(path);
    if (!file) {
      res.error = "cannot read config file '" + path + "'";
      return res;
    }
    if (auto err = read_ini(file, "config file " + path, values); !err.empty()) {
      res.error = err;
      return res;
    }
  }
  if (auto err = read_environment(in.environment, values); !err.empty()) {
    res.error = err;
    return res;
  }
  if (cli.count("name") && cli.count("sname")) {
    res.error = "give either -name or -sname, not both";
    return res;
  }
  auto from_cli = [&](const char* opt, const char* key) {
    if (cli.count(opt))
      values[key] = {cli[opt].as<std::string>(), "command line -" + std::string(opt)};
  };
  from_cli("name", "node.name");
  from_cli("cookie", "node.cookie");
  from_cli("role", "node.role");
  from_cli("dist_port", "node.dist_port");
  from_cli("tick_ms", "node.tick_ms");
  if (cli.count("sname")) {
    auto sname = cli["sname"].as<std::string>();
    if (sname.find('@') != std::string::npos) {
      res.error = "invalid value for -sname: '" + sname
                  + "': a short name has no '@' (use -name for name@host)";
      return res;
    }
    auto host = in.hostname.substr(0, in.hostname.find('.'));
    values["node.name"] = {sname + "@" + host, "command line -sname"};
  }
  return validate(std::move(values));
}

} // namespace starling::runtime
