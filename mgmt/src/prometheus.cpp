#include "starling/mgmt/prometheus.hpp"

#include <functional>

namespace starling::mgmt {

std::string prometheus_label(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"')
      out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

namespace {

struct family {
  std::string name, type, help;
  std::string samples;

  void add(const std::string& labels, uint64_t v) {
    samples += name + "{" + labels + "} " + std::to_string(v) + "\n";
  }
  std::string text() const {
    return "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n"
           + samples;
  }
};

std::string node_label(const node_figures& n) {
  return "node=\"" + prometheus_label(n.node) + "\"";
}

using stat_fn = std::function<uint64_t(const node_stats&)>;

void broker_families(const std::vector<node_figures>& nodes, std::string& out) {
  struct gauge {
    const char* name;
    const char* help;
    stat_fn get;
  };
  const gauge gauges[] = {
    {"starling_connections", "MQTT connections open on the node",
     [](auto& s) { return s.connections; }},
    {"starling_sessions", "MQTT sessions held by the node (connected or not)",
     [](auto& s) { return s.sessions; }},
    {"starling_subscriptions", "subscriptions of the node's clients",
     [](auto& s) { return s.subscriptions; }},
    {"starling_topics", "topic filters with subscribers on the node",
     [](auto& s) { return s.topics; }},
    {"starling_routes", "routes in the cluster's route table as the node holds it",
     [](auto& s) { return s.routes; }},
    {"starling_retained_messages", "retained messages the node holds",
     [](auto& s) { return s.retained; }},
  };
  for (auto& g : gauges) {
    family f{g.name, "gauge", g.help, {}};
    for (auto& n : nodes)
      f.add(node_label(n), g.get(n.stats));
    out += f.text();
  }
  family recv{"starling_messages_received_total", "counter",
              "PUBLISH packets received from clients, by QoS", {}};
  family sent{"starling_messages_sent_total", "counter",
              "PUBLISH packets sent to clients, by QoS", {}};
  for (auto& n : nodes)
    for (int q = 0; q < 3; ++q) {
      auto l = node_label(n) + ",qos=\"" + std::to_string(q) + "\"";
      recv.add(l, n.stats.received[q]);
      sent.add(l, n.stats.sent[q]);
    }
  out += recv.text() + sent.text();
  family dropped{"starling_messages_dropped_total", "counter",
                 "messages dropped, by reason", {}};
  const std::pair<const char*, stat_fn> reasons[] = {
    {"no_subscribers", [](auto& s) { return s.dropped_no_subscribers; }},
    {"queue_full", [](auto& s) { return s.dropped_queue_full; }},
    {"qos0_offline", [](auto& s) { return s.dropped_qos0_offline; }},
    {"expired", [](auto& s) { return s.dropped_expired; }},
    {"too_large", [](auto& s) { return s.dropped_too_large; }},
    {"write_buffer", [](auto& s) { return s.dropped_write_buffer; }},
  };
  for (auto& n : nodes)
    for (auto& [reason, get] : reasons)
      dropped.add(node_label(n) + ",reason=\"" + reason + "\"", get(n.stats));
  out += dropped.text();
  family bin{"starling_bytes_received_total", "counter",
             "bytes received from MQTT clients", {}};
  family bout{"starling_bytes_sent_total", "counter", "bytes sent to MQTT clients", {}};
  family take{"starling_session_takeovers_total", "counter",
              "sessions taken over: on this node, from another node, to another node",
              {}};
  family alarms{"starling_alarms_active", "gauge", "alarms the node raises", {}};
  for (auto& n : nodes) {
    bin.add(node_label(n), n.stats.bytes_received);
    bout.add(node_label(n), n.stats.bytes_sent);
    take.add(node_label(n) + ",kind=\"local\"", n.stats.takeover_local);
    take.add(node_label(n) + ",kind=\"from_remote\"", n.stats.takeover_from_remote);
    take.add(node_label(n) + ",kind=\"to_remote\"", n.stats.takeover_to_remote);
    alarms.add(node_label(n), n.alarms);
  }
  out += bin.text() + bout.text() + take.text() + alarms.text();
}

uint64_t num(const nlohmann::json& s, const char* key) {
  auto i = s.find(key);
  return i != s.end() && i->is_number_unsigned() ? i->get<uint64_t>() : 0;
}

void mria_families(const std::vector<node_figures>& nodes, std::string& out) {
  // Cores (EMQX's core figures) and replicants (EMQX's replicant figures).
  struct metric {
    const char* name;
    const char* help;
    bool core;
    std::function<uint64_t(const nlohmann::json&)> get;
  };
  const metric metrics[] = {
    {"starling_mria_last_intercepted_trans",
     "seqno of the last transaction the core's shard applied", true,
     [](auto& s) { return num(s, "seqno"); }},
    {"starling_mria_weight",
     "the core's load for a shard: its subscribers (replicants choose the least)",
     true, [](auto& s) { return s.value("agents", nlohmann::json::array()).size(); }},
    {"starling_mria_replicants", "replicants subscribed to the core's shard", true,
     [](auto& s) {
       uint64_t n = 0;
       for (auto& a : s.value("agents", nlohmann::json::array()))
         n += a.value("core", false) ? 0 : 1;
       return n;
     }},
    {"starling_mria_server_mql", "message queue length of the core's shard server",
     true, [](auto& s) { return num(s, "mailbox"); }},
    {"starling_mria_lag", "transactions the replicant's shard is behind its upstream",
     false, [](auto& s) { return num(s, "lag"); }},
    {"starling_mria_bootstrap_time",
     "duration of the replicant shard's last bootstrap, milliseconds", false,
     [](auto& s) { return s.value("bootstrap_ms", uint64_t{0}); }},
    {"starling_mria_bootstrap_num_keys",
     "records copied by the replicant shard's last bootstrap", false,
     [](auto& s) { return num(s, "bootstrap_records"); }},
    {"starling_mria_message_queue_len",
     "message queue length of the replicant's shard actor", false,
     [](auto& s) { return num(s, "mailbox"); }},
    {"starling_mria_replayq_len",
     "transactions buffered by the replicant shard during bootstrap", false,
     [](auto& s) { return num(s, "replay_queue"); }},
  };
  for (auto& m : metrics) {
    family f{m.name, "gauge", m.help, {}};
    for (auto& n : nodes) {
      if (!n.rlog.is_object())
        continue;
      bool core = n.rlog.value("role", "") == "core";
      if (core != m.core)
        continue;
      for (auto& s : n.rlog.value("shards", nlohmann::json::array()))
        f.add(node_label(n) + ",shard=\"" + prometheus_label(s.value("shard", ""))
                + "\"",
              m.get(s));
    }
    if (!f.samples.empty())
      out += f.text();
  }
}

} // namespace

std::string render_prometheus(const std::vector<node_figures>& nodes) {
  std::string out;
  broker_families(nodes, out);
  mria_families(nodes, out);
  return out;
}

} // namespace starling::mgmt
