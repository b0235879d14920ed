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
  static const std::vector<config_key> schema{
    {"node.name", "starling@127.0.0.1",
     "node name, name@host; the distribution port derives from the name"},
    {"node.cookie", "",
     "shared secret of the cluster; the built-in default is insecure"},
    {"node.role", "core", "core or replicant"},
    {"node.dist_port", "",
     "distribution port; default 4370 + the trailing number of the name"},
    {"node.tick_ms", "2000",
     "heartbeat period: a silent peer is declared down after this long"},
  };
  return schema;
}

std::string embedded_default_config() {
  std::string text = "# Starling built-in defaults\n[node]\n";
  for (auto& key : config_schema()) {
    if (key.default_value.empty())
      continue;
    text += key.name.substr(key.name.find('.') + 1) + " = " + key.default_value
            + "\n";
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

std::optional<uint64_t> parse_uint(const std::string& text) {
  if (text.empty() || text.size() > 9
      || !std::all_of(text.begin(), text.end(), [](char c) {
           return std::isdigit(static_cast<unsigned char>(c));
         }))
    return std::nullopt;
  return std::stoull(text);
}

/// Turns the layered strings into a node_config or an error naming the key.
config_result validate(layered values) {
  config_result res;
  node_config cfg;
  std::string err;
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
  auto& role = values.at("node.role").first;
  if (role == "core")
    cfg.role = node_role::core;
  else if (role == "replicant")
    cfg.role = node_role::replicant;
  else {
    res.error = describe("node.role", values) + ": expected core or replicant";
    return res;
  }
  if (auto i = values.find("node.dist_port"); i != values.end()) {
    auto port = parse_uint(i->second.first);
    if (!port || *port == 0 || *port > 65535) {
      res.error = describe("node.dist_port", values)
                  + ": expected a port number 1..65535";
      return res;
    }
    cfg.dist_port = static_cast<uint16_t>(*port);
  } else {
    cfg.dist_port = cfg.name.dist_port();
  }
  auto tick = parse_uint(values.at("node.tick_ms").first);
  if (!tick || *tick < 400 || *tick > 600000) {
    res.error = describe("node.tick_ms", values)
                + ": expected milliseconds between 400 and 600000";
    return res;
  }
  cfg.tick_ms = static_cast<uint32_t>(*tick);
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
