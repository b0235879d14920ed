#include "starling/runtime/node_config.hpp"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>

#include <boost/program_options.hpp>

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
    {"node.data_dir", "data",
     "directory of the node's SQLite file (<data_dir>/<node name>.sqlite)"},
    {"cluster.static.seeds", "",
     "comma-separated node names to join at start (replicants: the cores "
     "they attach to)"},
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
    {"rlog.write_retries", "5",
     "times a transaction is resent when its sequencer or core dies",
     k::unsigned_int, 0, 100},
    {"mqtt.listener.tcp", "0.0.0.0:1883",
     "MQTT TCP listener, port or host:port", k::listen_addr},
    {"mqtt.max_packet_size", "1048576",
     "largest MQTT packet accepted, bytes (larger: reason 0x95)",
     k::unsigned_int, 64, 268435460},
    {"mqtt.connect_timeout_ms", "15000",
     "a socket without a complete CONNECT by then is closed",
     k::unsigned_int, 100, 3600000},
    {"mqtt.max_inflight", "32",
     "unacknowledged QoS 1/2 messages per client (our Receive Maximum)",
     k::unsigned_int, 1, 65535},
    {"mqtt.max_mqueue_len", "1000",
     "messages queued per session while offline or the window is full",
     k::unsigned_int, 0, 10000000},
    {"mqtt.mqueue_store_qos0", "true",
     "queue QoS 0 messages for offline sessions too", k::boolean},
    {"mqtt.max_awaiting_rel", "100",
     "inbound QoS 2 messages awaiting PUBREL per client", k::unsigned_int, 1,
     65535},
    {"mqtt.max_topic_alias", "65535", "Topic Alias Maximum granted to clients",
     k::unsigned_int, 0, 65535},
    {"mqtt.max_qos_allowed", "2", "highest QoS granted", k::unsigned_int, 0,
     2},
    {"mqtt.max_clientid_len", "65535", "longest client id accepted",
     k::unsigned_int, 23, 65535},
    {"mqtt.session_expiry_max_s", "7200",
     "upper bound on a session's expiry interval (v3 persistent sessions "
     "get this)",
     k::unsigned_int, 0, 4294967295},
    {"mqtt.server_keepalive_s", "0",
     "override the client's keepalive (MQTT 5 Server Keep Alive); 0 = off",
     k::unsigned_int, 0, 65535},
    {"mqtt.retain_available", "true", "retained messages enabled", k::boolean},
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
     86400000},
  };
  return schema;
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
  auto& s = config_schema();
  return std::any_of(s.begin(), s.end(),
                     [&](const config_key& k) { return k.name == key; });
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
  if (auto i = values.find("node.cookie"); i == values.end()) {
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
          "       starling remsh NODE -cookie C [-eval CMD]\n\n"
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
