#include "starling/ctl_balance.hpp"

#include <iostream>
#include <set>
#include <sstream>

#include "starling/runtime/shell_text.hpp"

namespace starling::tools {

namespace {

using json = nlohmann::json;

const std::set<std::string> rebalance_options = {
  "nodes", "conn-evict-rate", "sess-evict-rate", "wait-health-check",
  "wait-takeover", "abs-conn-threshold", "rel-conn-threshold",
  "abs-sess-threshold", "rel-sess-threshold"};
const std::set<std::string> evacuation_options = {
  "redirect-to", "migrate-to", "conn-evict-rate", "sess-evict-rate",
  "wait-health-check", "wait-takeover"};

std::string field_of(std::string option) {
  for (auto& c : option)
    if (c == '-')
      c = '_';
  return option;
}

std::string list(const json& names) {
  std::string out;
  for (auto& n : names)
    out += (out.empty() ? "" : ", ") + n.get<std::string>();
  return out.empty() ? "none" : out;
}

std::string number(const json& v) {
  std::ostringstream out;
  out.precision(1);
  out << std::fixed << v.get<double>();
  return out.str();
}

} // namespace

const std::vector<std::string>& balance_option_names() {
  static const std::vector<std::string> all = [] {
    std::set<std::string> both(rebalance_options);
    both.insert(evacuation_options.begin(), evacuation_options.end());
    return std::vector<std::string>(both.begin(), both.end());
  }();
  return all;
}

bool is_balance_command(const std::vector<std::string>& cmd) {
  return !cmd.empty() && (cmd[0] == "rebalance" || cmd[0] == "evacuation");
}

std::string check_balance_command(const std::vector<std::string>& cmd,
                                  const balance_options& opts, std::string& command,
                                  nlohmann::json& request) {
  std::string text;
  for (auto& w : cmd)
    text += (text.empty() ? "" : " ") + w;
  if (cmd.size() != 2)
    return "unknown command '" + text + "'";
  const auto& what = cmd[0];
  const auto& verb = cmd[1];
  if (verb == "status")
    command = "status";
  else if (verb == "global-status")
    command = "global_status";
  else if (verb == "start" || verb == "stop")
    command = what + "_" + verb;
  else
    return "unknown command '" + text + "'";
  request = json::object();
  const auto& allowed = what == "rebalance" ? rebalance_options : evacuation_options;
  for (auto& [key, value] : opts) {
    if (verb != "start" || !allowed.count(key))
      return "--" + key + " is not an option of '" + text + "'";
    request[field_of(key)] = value;
  }
  return "";
}

std::string format_balance_status(const nlohmann::json& s) {
  std::ostringstream out;
  out << "Node " << s.value("node", "?") << ": health check "
      << s.value("health_check", "?")
      << (s.value("refusing_clients", false) ? ", refusing new clients (0x9C)"
                                             : ", accepting clients")
      << "\n";
  if (auto& d = s["donor"]; d.is_object())
    out << "  donor of the rebalance coordinated by "
        << d.value("coordinator_node", "?") << "\n";
  if (auto& r = s["rebalance"]; r.is_object()) {
    out << "Rebalance coordinated here: " << r.value("state", "?") << "\n"
        << "  donors: " << list(r["donors"]) << "\n"
        << "  recipients: " << list(r["recipients"]) << "\n"
        << "  average of the last round: donors " << number(r["donor_avg"])
        << ", recipients " << number(r["recipient_avg"]) << "\n"
        << "  eviction rates: connections " << r["connection_eviction_rate"]
        << "/s, sessions " << r["session_eviction_rate"] << "/s per donor\n";
    std::vector<std::vector<std::string>> rows;
    for (auto& [node, l] : r["nodes"].items())
      rows.push_back({node, l["connections"].dump(), l["disconnected_sessions"].dump()});
    out << runtime::format_table({"NODE", "CONNECTIONS", "DISCONNECTED SESSIONS"}, rows);
    if (!r.value("last", "").empty())
      out << "  last: " << r.value("last", "") << "\n";
  }
  if (auto& e = s["evacuation"]; e.is_object()) {
    auto& st = e["stats"];
    out << "Evacuation: " << e.value("state", "?") << "\n"
        << "  redirect to: "
        << (e.value("redirect_to", "").empty() ? "none" : e.value("redirect_to", ""))
        << "; sessions to: " << list(e["session_recipients"]) << "\n"
        << "  connections: " << st["initial_connected"] << " at the start, "
        << st["current_connected"] << " now; disconnected sessions: "
        << st["initial_sessions"] << " at the start, " << st["current_sessions"]
        << " now\n"
        << "  eviction rates: connections " << e["connection_eviction_rate"]
        << "/s, sessions " << e["session_eviction_rate"] << "/s\n";
    if (!e.value("last", "").empty())
      out << "  last: " << e.value("last", "") << "\n";
  }
  if (s["rebalance"].is_null() && s["evacuation"].is_null() && s["donor"].is_null())
    out << "  no rebalance or evacuation\n";
  if (auto& l = s["last_rebalance"]; l.is_object() && s["rebalance"].is_null())
    out << "  last rebalance coordinated here: " << l.value("outcome", "?") << "\n";
  return out.str();
}

int balance_command(actors::hidden_client& c, const std::string& command,
                    const nlohmann::json& request, bool as_json) {
  auto a = c.balancer(command, request.dump());
  if (!a.ok) {
    std::cerr << "error: " << a.text << "\n";
    return 1;
  }
  auto j = json::parse(a.text, nullptr, false);
  if (as_json || j.is_discarded()) {
    std::cout << a.text << "\n";
    return 0;
  }
  if (command == "global_status") {
    for (auto& n : j["nodes"])
      std::cout << format_balance_status(n);
    for (auto& why : j["unanswered"])
      std::cout << "(no answer: " << why.get<std::string>() << ")\n";
    return 0;
  }
  std::cout << format_balance_status(j);
  return 0;
}

} // namespace starling::tools
