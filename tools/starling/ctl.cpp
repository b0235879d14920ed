// starling ctl: one command against a running node, as a hidden node.

#include <chrono>
#include <iostream>

#include <boost/program_options.hpp>
#include <nlohmann/json.hpp>

#include "starling/actors/hidden_client.hpp"
#include "starling/client_options.hpp"
#include "starling/ctl_balance.hpp"
#include "starling/ctl_security.hpp"
#include "starling/runtime/cluster/heal_report.hpp"
#include "starling/runtime/cluster/status_text.hpp"
#include "starling/runtime/db/status.hpp"
#include "starling/runtime/shell_text.hpp"

namespace po = boost::program_options;

namespace starling::tools {

namespace {

const char* usage =
  "usage: starling ctl [-node NAME@HOST[:PORT]] [-cookie C] [-timeout SECONDS]\n"
  "                    [-wait SECONDS] [-ssl_certfile F -ssl_keyfile F\n"
  "                    -ssl_cacertfile F] COMMAND\n"
  "commands:\n"
  "  status                         node status (up, role, uptime, version)\n"
  "  cluster join NODE              join the cluster NODE belongs to\n"
  "  cluster leave                  leave the cluster\n"
  "  cluster force-leave NODE       remove NODE from the cluster\n"
  "  cluster status [--json]        running and stopped nodes, partitions,\n"
  "                                 autoheal and the last heal\n"
  "  cluster heal-report [--json]   what autoheal discarded, on every core\n"
  "  cluster discovery [--json]     autocluster: strategy, discovered nodes,\n"
  "                                 last error, next round\n"
  "  rlog status [--json]           replicated database: per shard state,\n"
  "                                 upstream, seqno, lag, subscribers\n"
  "  db put TABLE KEY VALUE         write a record (prints the seqno)\n"
  "  db delete TABLE KEY            delete a record\n"
  "  db get TABLE KEY               read a record on this node\n"
  "  db load TABLE COUNT [--prefix P] [--concurrency N] [--value-size B]\n"
  "                                 COUNT write transactions run inside the\n"
  "                                 node; prints latency p50/p99 as JSON\n"
  "  conf get KEY                   a configuration key's value in force\n"
  "  conf set KEY VALUE             change a key on every node of the cluster\n"
  "                                 (online keys only; see docs/config.md)\n"
  "  users add|passwd USER PASSWORD MQTT users of the built-in database\n"
  "                                 (PASSWORD - reads a line from stdin)\n"
  "  users delete USER | users list\n"
  "  banned add clientid|username|peerhost VALUE [--until TIME]\n"
  "                                 TIME: 30m, 2h, 7d or 2030-01-31T12:00:00Z\n"
  "  banned delete KIND VALUE | banned list\n"
  "  authz reload | authz status    re-read authz.file on this node | the ACL\n"
  "  certs init DIR                 a development CA in DIR (ca.pem, ca.key)\n"
  "  certs node NAME DIR [--host H]... [--days N]\n"
  "                                 NAME.pem/NAME.key signed by DIR's CA\n"
  "  rebalance start [--nodes N1,N2,...] [--conn-evict-rate 500]\n"
  "    [--sess-evict-rate 500] [--wait-health-check 60s] [--wait-takeover 60s]\n"
  "    [--abs-conn-threshold 1000] [--rel-conn-threshold 1.1]\n"
  "    [--abs-sess-threshold 1000] [--rel-sess-threshold 1.1]\n"
  "                                 move clients from busy nodes to the others\n"
  "                                 (this node coordinates)\n"
  "  rebalance stop | rebalance status [--json] | rebalance global-status\n"
  "  evacuation start [--redirect-to HOST:PORT] [--migrate-to N1,...]\n"
  "    [--conn-evict-rate N] [--sess-evict-rate N] [--wait-health-check S]\n"
  "    [--wait-takeover S]          move every client and session off this node\n"
  "  evacuation stop | evacuation status [--json]\n"
  "TLS distribution (node.dist_tls): -ssl_certfile F -ssl_keyfile F\n"
  "-ssl_cacertfile F, else STARLING_NODE__SSL__{CERTFILE,KEYFILE,CACERTFILE}\n"
  "when STARLING_NODE__DIST_TLS=true\n"
  "defaults: -node starling@127.0.0.1; -cookie from STARLING_NODE__COOKIE,\n"
  "else the file STARLING_NODE__COOKIE_FILE names or /etc/starling/cookie;\n"
  "-timeout 10; -wait: keep trying that long while the node is not up yet\n";

int usage_error(const std::string& why) {
  std::cerr << "starling ctl: " << why << "\n" << usage;
  return 2;
}

int print(const actors::hidden_client::answer& a) {
  if (!a.ok) {
    std::cerr << "error: " << a.text << "\n";
    return 1;
  }
  std::cout << a.text << (a.text.empty() || a.text.back() == '\n' ? "" : "\n");
  return 0;
}

std::string erlang_list(const nlohmann::json& names) {
  std::string out = "[";
  for (size_t i = 0; i < names.size(); ++i)
    out += (i ? ",'" : "'") + names[i].get<std::string>() + "'";
  return out + "]";
}

int print_cluster_status(const actors::hidden_client::answer& a, bool json) {
  if (!a.ok || json)
    return print(a);
  auto j = nlohmann::json::parse(a.text);
  std::cout << "Cluster status: #{running_nodes => "
            << erlang_list(j["running_nodes"])
            << ", stopped_nodes => " << erlang_list(j["stopped_nodes"])
            << "}\n";
  std::vector<std::vector<std::string>> rows;
  for (auto& m : j["members"])
    rows.push_back({m["node"], m["role"], m["status"],
                    runtime::format_duration_ms(m["uptime_s"].get<int64_t>()
                                                * 1000),
                    m["address"], m["oldest_core"] ? "yes" : ""});
  std::cout << runtime::format_table(
    {"NODE", "ROLE", "STATUS", "AGE", "ADDRESS", "OLDEST CORE"}, rows);
  std::cout << runtime::cluster::format_cluster_health(j);
  return 0;
}

int print_heal_report(const actors::hidden_client::answer& a, bool json) {
  if (!a.ok || json)
    return print(a);
  auto j = nlohmann::json::parse(a.text);
  auto lines = j["lines"].get<std::vector<nlohmann::json>>();
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
               .count();
  std::cout << runtime::cluster::format_report(lines, now);
  for (auto& why : j["unanswered"])
    std::cout << "(a core did not answer: " << why.get<std::string>() << ")\n";
  return 0;
}

int print_rlog_status(const actors::hidden_client::answer& a, bool json) {
  if (!a.ok || json)
    return print(a);
  std::cout << runtime::db::format_rlog_status(nlohmann::json::parse(a.text));
  return 0;
}

int print_status(const actors::hidden_client::answer& a) {
  if (!a.ok)
    return print(a);
  auto j = nlohmann::json::parse(a.text);
  std::cout << "Node '" << j["node"].get<std::string>() << "' "
            << j["version"].get<std::string>() << " is started\n"
            << "role: " << j["role"].get<std::string>() << "\n"
            << "uptime: "
            << runtime::format_duration_ms(j["uptime_s"].get<int64_t>() * 1000)
            << "\n";
  return 0;
}

} // namespace

int ctl_main(const std::vector<std::string>& args) {
  po::options_description desc;
  desc.add_options()("node", po::value<std::string>())(
    "cookie", po::value<std::string>())("timeout", po::value<std::string>())(
    "wait", po::value<std::string>())(
    "json", "")("help", "")("prefix", po::value<std::string>())(
    "concurrency", po::value<uint32_t>())("value-size", po::value<uint32_t>())(
    "until", po::value<std::string>())("host", po::value<std::vector<std::string>>())(
    "days", po::value<int>())("ssl_certfile", po::value<std::string>())(
    "ssl_keyfile", po::value<std::string>())(
    "ssl_cacertfile", po::value<std::string>())(
    "command", po::value<std::vector<std::string>>());
  for (auto& name : balance_option_names())
    desc.add_options()(name.c_str(), po::value<std::string>());
  po::positional_options_description pos;
  pos.add("command", -1);
  po::variables_map vm;
  try {
    auto style = po::command_line_style::unix_style
                 | po::command_line_style::allow_long_disguise;
    po::store(po::command_line_parser(args)
                .options(desc)
                .positional(pos)
                .style(style)
                .run(),
              vm);
  } catch (const po::error& e) {
    return usage_error(e.what());
  }
  if (vm.count("help")) {
    std::cout << usage;
    return 0;
  }
  std::vector<std::string> cmd;
  if (vm.count("command"))
    cmd = vm["command"].as<std::vector<std::string>>();
  auto is = [&](const std::vector<std::string>& words) {
    if (cmd.size() != words.size())
      return false;
    for (size_t i = 0; i < words.size(); ++i)
      if (words[i] != "*" && words[i] != cmd[i])
        return false;
    return true;
  };
  bool known = is({"status"}) || is({"cluster", "join", "*"})
               || is({"cluster", "leave"}) || is({"cluster", "force-leave", "*"})
               || is({"cluster", "status"}) || is({"cluster", "heal-report"})
               || is({"cluster", "discovery"})
               || is({"rlog", "status"})
               || is({"db", "put", "*", "*", "*"})
               || is({"db", "delete", "*", "*"}) || is({"db", "get", "*", "*"})
               || is({"db", "load", "*", "*"}) || is({"conf", "get", "*"})
               || is({"conf", "set", "*", "*"});
  if (cmd.empty())
    return usage_error("no command given");
  security_options sec;
  if (vm.count("until"))
    sec.until = vm["until"].as<std::string>();
  if (vm.count("host"))
    sec.hosts = vm["host"].as<std::vector<std::string>>();
  if (vm.count("days"))
    sec.days = vm["days"].as<int>();
  const bool security = is_security_command(cmd);
  if (security) {
    if (auto err = check_security_command(cmd, sec); !err.empty()) {
      std::string text;
      for (auto& w : cmd)
        text += (text.empty() ? "" : " ") + w;
      return usage_error(err == "unknown command"
                           ? "unknown command '" + text + "'"
                           : err);
    }
    if (!needs_node(cmd))
      return certs_command(cmd, sec);
  }
  const bool balance = is_balance_command(cmd);
  std::string balance_cmd;
  nlohmann::json balance_request;
  if (balance) {
    balance_options given;
    for (auto& name : balance_option_names())
      if (vm.count(name))
        given[name] = vm[name].as<std::string>();
    if (auto err = check_balance_command(cmd, given, balance_cmd, balance_request);
        !err.empty())
      return usage_error(err);
  }
  if (!known && !security && !balance) {
    std::string text;
    for (auto& w : cmd)
      text += (text.empty() ? "" : " ") + w;
    return usage_error("unknown command '" + text + "'");
  }
  auto opt = [&](const char* key) -> std::optional<std::string> {
    if (vm.count(key))
      return vm[key].as<std::string>();
    return std::nullopt;
  };
  client_options opts;
  auto node_text = opt("node").value_or("starling@127.0.0.1");
  if (auto err = resolve_client_options(node_text, opt("cookie"),
                                        opt("timeout"), opt("wait"), opts);
      !err.empty())
    return usage_error(err);
  uint64_t load_count = 0;
  if (is({"db", "load", "*", "*"})) {
    try {
      load_count = std::stoull(cmd[3]);
    } catch (const std::exception&) {
      return usage_error("db load: COUNT must be a number, not '" + cmd[3] + "'");
    }
  }
  if (auto err = resolve_tls_options(
        {opt("ssl_certfile"), opt("ssl_keyfile"), opt("ssl_cacertfile")}, opts);
      !err.empty())
    return usage_error(err);
  auto client = actors::hidden_client::connect(opts.node, opts.cookie, "ctl",
                                               opts.timeout, opts.wait, opts.tls);
  if (!client->ok()) {
    std::cerr << "error: cannot talk to " << opts.node.str() << ": "
              << client->error() << waited_text(opts) << "\n";
    exit_now(1);
  }
  if (security)
    exit_now(security_command(*client, cmd, sec));
  if (balance)
    exit_now(balance_command(*client, balance_cmd, balance_request,
                             vm.count("json") > 0));
  if (is({"status"}))
    exit_now(print_status(client->status()));
  if (is({"cluster", "join", "*"}))
    exit_now(print(client->cluster_join(cmd[2])));
  if (is({"cluster", "leave"}))
    exit_now(print(client->cluster_leave()));
  if (is({"cluster", "force-leave", "*"}))
    exit_now(print(client->cluster_force_leave(cmd[2])));
  bool json = vm.count("json") > 0;
  if (is({"rlog", "status"}))
    exit_now(print_rlog_status(client->rlog_status(), json));
  if (is({"cluster", "heal-report"}))
    exit_now(print_heal_report(client->cluster_heal_report(), json));
  if (is({"cluster", "discovery"})) {
    auto a = client->cluster_discovery();
    if (!a.ok || json)
      exit_now(print(a));
    std::cout << runtime::cluster::format_discovery(nlohmann::json::parse(a.text));
    exit_now(0);
  }
  if (is({"db", "put", "*", "*", "*"}))
    exit_now(print(client->db_put(cmd[2], cmd[3], cmd[4])));
  if (is({"db", "delete", "*", "*"}))
    exit_now(print(client->db_delete(cmd[2], cmd[3])));
  if (is({"db", "get", "*", "*"}))
    exit_now(print(client->db_get(cmd[2], cmd[3])));
  if (is({"conf", "get", "*"}))
    exit_now(print(client->conf_get(cmd[2])));
  if (is({"conf", "set", "*", "*"}))
    exit_now(print(client->conf_set(cmd[2], cmd[3])));
  if (is({"db", "load", "*", "*"})) {
    auto num = [&](const char* key, uint32_t dflt) {
      return vm.count(key) ? vm[key].as<uint32_t>() : dflt;
    };
    exit_now(print(client->db_load(cmd[2], opt("prefix").value_or("k"),
                                   load_count, num("concurrency", 1),
                                   num("value-size", 32))));
  }
  exit_now(print_cluster_status(client->cluster_status(), json));
}

} // namespace starling::tools
