// starling ctl: one command against a running node, as a hidden node.

#include <iostream>

#include <boost/program_options.hpp>
#include <nlohmann/json.hpp>

#include "starling/actors/hidden_client.hpp"
#include "starling/client_options.hpp"
#include "starling/runtime/db/status.hpp"
#include "starling/runtime/shell_text.hpp"

namespace po = boost::program_options;

namespace starling::tools {

namespace {

const char* usage =
  "usage: starling ctl [-node NAME@HOST[:PORT]] [-cookie C] [-timeout SECONDS]"
  " COMMAND\n"
  "commands:\n"
  "  status                         node status (up, role, uptime, version)\n"
  "  cluster join NODE              join the cluster NODE belongs to\n"
  "  cluster leave                  leave the cluster\n"
  "  cluster force-leave NODE       remove NODE from the cluster\n"
  "  cluster status [--json]        running and stopped nodes\n"
  "  rlog status [--json]           replicated database: per shard state,\n"
  "                                 upstream, seqno, lag, subscribers\n"
  "  db put TABLE KEY VALUE         write a record (prints the seqno)\n"
  "  db delete TABLE KEY            delete a record\n"
  "  db get TABLE KEY               read a record on this node\n"
  "  db load TABLE COUNT [--prefix P] [--concurrency N] [--value-size B]\n"
  "                                 COUNT write transactions run inside the\n"
  "                                 node; prints latency p50/p99 as JSON\n"
  "defaults: -node starling@127.0.0.1, -cookie from STARLING_NODE__COOKIE,\n"
  "-timeout 10\n";

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
    "json", "")("help", "")("prefix", po::value<std::string>())(
    "concurrency", po::value<uint32_t>())("value-size", po::value<uint32_t>())(
    "command", po::value<std::vector<std::string>>());
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
               || is({"cluster", "status"}) || is({"rlog", "status"})
               || is({"db", "put", "*", "*", "*"})
               || is({"db", "delete", "*", "*"}) || is({"db", "get", "*", "*"})
               || is({"db", "load", "*", "*"});
  if (cmd.empty())
    return usage_error("no command given");
  if (!known) {
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
                                        opt("timeout"), opts);
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
  auto client = actors::hidden_client::connect(opts.node, opts.cookie, "ctl",
                                               opts.timeout);
  if (!client->ok()) {
    std::cerr << "error: cannot talk to " << opts.node.str() << ": "
              << client->error() << "\n";
    exit_now(1);
  }
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
  if (is({"db", "put", "*", "*", "*"}))
    exit_now(print(client->db_put(cmd[2], cmd[3], cmd[4])));
  if (is({"db", "delete", "*", "*"}))
    exit_now(print(client->db_delete(cmd[2], cmd[3])));
  if (is({"db", "get", "*", "*"}))
    exit_now(print(client->db_get(cmd[2], cmd[3])));
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
