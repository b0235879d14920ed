#include "starling/runtime/cluster/discovery.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>
#include <tuple>

#include "starling/runtime/cluster/rules.hpp"

namespace starling::runtime::cluster {

std::string to_string(strategy s) {
  switch (s) {
    case strategy::manual:
      return "manual";
    case strategy::static_seeds:
      return "static";
    case strategy::dns:
      return "dns";
    case strategy::etcd:
      return "etcd";
    case strategy::k8s:
      return "k8s";
  }
  return "?";
}

std::optional<strategy> strategy_from(const std::string& text) {
  for (auto s : {strategy::manual, strategy::static_seeds, strategy::dns,
                 strategy::etcd, strategy::k8s})
    if (to_string(s) == text)
      return s;
  return std::nullopt;
}

strategy configured_strategy(const node_config& cfg) {
  auto s = strategy_from(cfg.text("cluster.discovery_strategy"))
             .value_or(strategy::manual);
  auto i = cfg.settings.find("cluster.discovery_strategy");
  bool defaulted = i == cfg.settings.end() || i->second.second == "default";
  if (s == strategy::manual && defaulted
      && !cfg.text("cluster.static.seeds").empty())
    return strategy::static_seeds;
  return s;
}

namespace {

bool is_ipv4(const std::string& h) {
  in_addr a;
  return inet_pton(AF_INET, h.c_str(), &a) == 1;
}

bool is_ipv6(const std::string& h) {
  in6_addr a;
  return inet_pton(AF_INET6, h.c_str(), &a) == 1;
}

} // namespace

std::string check_discovery(const node_config& cfg) {
  auto kind = configured_strategy(cfg);
  if (kind == strategy::etcd && cfg.text("cluster.etcd.server").empty())
    return "cluster.discovery_strategy is etcd but cluster.etcd.server is not set";
  if (kind == strategy::static_seeds && cfg.text("cluster.static.seeds").empty())
    return "cluster.discovery_strategy is static but cluster.static.seeds is empty";
  if (kind != strategy::dns)
    return "";
  auto type = cfg.text("cluster.dns.record_type");
  auto& host = cfg.name.host;
  auto name = cfg.name.str();
  if (cfg.text("cluster.dns.name").empty())
    return "cluster.discovery_strategy is dns but cluster.dns.name is not set";
  if (type == "a" && !is_ipv4(host))
    return "node name " + name + " does not fit cluster.dns.record_type = a: "
           "the host must be an IPv4 address (each A record becomes "
           + cfg.name.name + "@<address>)";
  if (type == "aaaa" && !is_ipv6(host))
    return "node name " + name + " does not fit cluster.dns.record_type = aaaa: "
           "the host must be an IPv6 address (each AAAA record becomes "
           + cfg.name.name + "@[<address>])";
  if (type == "srv" && (is_ipv4(host) || is_ipv6(host)))
    return "node name " + name + " does not fit cluster.dns.record_type = srv: "
           "the host must be a host name (each SRV target becomes "
           + cfg.name.name + "@<target>)";
  return "";
}

std::vector<std::string> names_from_addresses(const std::string& name_part,
                                              const std::vector<std::string>& addresses) {
  std::vector<std::string> out;
  for (auto& a : addresses) {
    auto n = name_part + "@" + (is_ipv6(a) ? "[" + a + "]" : a);
    if (std::find(out.begin(), out.end(), n) == out.end())
      out.push_back(n);
  }
  return out;
}

std::vector<std::string> names_from_srv(const std::string& name_part,
                                        std::vector<srv_record> records) {
  std::stable_sort(records.begin(), records.end(), [](auto& a, auto& b) {
    return std::tie(a.priority, b.weight) < std::tie(b.priority, a.weight);
  });
  std::vector<std::string> out;
  for (auto& r : records) {
    auto t = r.target;
    if (!t.empty() && t.back() == '.')
      t.pop_back();
    if (t.empty())
      continue;
    auto n = name_part + "@" + t;
    if (std::find(out.begin(), out.end(), n) == out.end())
      out.push_back(n);
  }
  return out;
}

std::optional<std::vector<std::string>>
names_from_endpoints(const nlohmann::json& ep, const std::string& name_part,
                     const std::string& address_type, const std::string& service,
                     const std::string& ns, const std::string& suffix,
                     std::string& error) {
  if (!ep.is_object() || ep.value("kind", "") != "Endpoints") {
    error = "the answer is not an Endpoints object";
    return std::nullopt;
  }
  std::vector<std::string> out;
  for (auto& subset : ep.value("subsets", nlohmann::json::array())) {
    if (!subset.is_object())
      continue;
    for (auto& a : subset.value("addresses", nlohmann::json::array())) {
      auto ip = a.value("ip", "");
      std::string host;
      if (address_type == "ip") {
        host = ip;
      } else if (address_type == "dns") {
        host = ip;
        std::replace(host.begin(), host.end(), '.', '-');
        if (!suffix.empty())
          host += "." + ns + "." + suffix;
      } else { // hostname
        host = a.value("hostname", "");
        if (!host.empty() && !suffix.empty())
          host += "." + service + "." + ns + "." + suffix;
      }
      if (host.empty()) {
        error = "an address has no " + std::string(address_type == "hostname"
                                                     ? "hostname" : "ip")
                + " (cluster.k8s.address_type = " + address_type + ")";
        return std::nullopt;
      }
      auto n = name_part + "@" + host;
      if (std::find(out.begin(), out.end(), n) == out.end())
        out.push_back(n);
    }
  }
  return out;
}

namespace {
const char* b64 =
  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
}

std::string base64_encode(const std::string& in) {
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    for (int k = 3; k >= 0; --k)
      out += b64[(v >> (6 * k)) & 63];
  }
  if (i + 1 == in.size()) {
    uint32_t v = uint8_t(in[i]) << 16;
    out += b64[(v >> 18) & 63];
    out += b64[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out += b64[(v >> 18) & 63];
    out += b64[(v >> 12) & 63];
    out += b64[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

std::optional<std::string> base64_decode(const std::string& in) {
  std::string out;
  uint32_t v = 0;
  int bits = 0;
  size_t pad = 0;
  for (char c : in) {
    if (c == '=') {
      ++pad;
      continue;
    }
    if (pad > 0)
      return std::nullopt;
    auto p = std::strchr(b64, c);
    if (p == nullptr || c == '\0')
      return std::nullopt;
    v = (v << 6) | uint32_t(p - b64);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += char((v >> bits) & 0xff);
    }
  }
  if (pad > 2 || (in.size() % 4) != 0)
    return std::nullopt;
  return out;
}

std::string etcd_node_key(const std::string& prefix, const std::string& cluster,
                          const std::string& node) {
  return prefix + "/" + cluster + "/nodes/" + node;
}

std::string etcd_lock_key(const std::string& prefix, const std::string& cluster) {
  return prefix + "/" + cluster + "/lock";
}

std::optional<std::vector<std::string>>
names_from_etcd_range(const nlohmann::json& answer, const std::string& prefix,
                      const std::string& cluster, std::string& error) {
  if (!answer.is_object()) {
    error = "etcd's answer is not a JSON object";
    return std::nullopt;
  }
  auto base = etcd_node_key(prefix, cluster, "");
  std::vector<std::string> out;
  for (auto& kv : answer.value("kvs", nlohmann::json::array())) {
    auto key = base64_decode(kv.value("key", ""));
    auto value = base64_decode(kv.value("value", ""));
    if (!key || !value) {
      error = "etcd sent a key or value that is not base64";
      return std::nullopt;
    }
    // The value is where the node listens (name@host:port).
    if (key->rfind(base, 0) == 0 && key->size() > base.size())
      out.push_back(value->empty() ? key->substr(base.size()) : *value);
  }
  std::sort(out.begin(), out.end());
  return out;
}

// -- the driver ----------------------------------------------------------------

std::string to_string(autocluster::phase p) {
  switch (p) {
    case autocluster::phase::idle:
      return "idle";
    case autocluster::phase::locking:
      return "locking";
    case autocluster::phase::discovering:
      return "discovering";
    case autocluster::phase::probing:
      return "probing";
    case autocluster::phase::joining:
      return "joining";
    case autocluster::phase::registering:
      return "registering";
  }
  return "?";
}

autocluster::autocluster(std::string self, int64_t started_at_ms,
                         autocluster_settings s)
  : self_(std::move(self)), started_at_ms_(started_at_ms), settings_(s) {}

void autocluster::set_running(std::vector<probe_answer::member_age> running) {
  running_ = std::move(running);
}

bool autocluster::runs_with_us(const std::string& text) const {
  // A discovered name may carry a port (name@host:port, or
  // name@[v6]:port): the member is name@host.
  auto node = text;
  if (auto close = node.rfind(']'); close != std::string::npos)
    node = node.substr(0, close + 1);
  else if (auto colon = node.find(':'); colon != std::string::npos)
    node = node.substr(0, colon);
  return node == self_
         || std::any_of(running_.begin(), running_.end(),
                        [&](auto& m) { return m.name == node; });
}

std::vector<autocluster_effect> autocluster::on_tick(int64_t now, double) {
  if (settings_.kind == strategy::manual || phase_ != phase::idle
      || now < next_ms_)
    return {};
  ++rounds_;
  autocluster_effect e;
  if (settings_.locks) {
    phase_ = phase::locking;
    e.kind = autocluster_effect::lock;
  } else {
    phase_ = phase::discovering;
    e.kind = autocluster_effect::discover;
  }
  return {e};
}

std::vector<autocluster_effect> autocluster::on_locked(bool ok,
                                                       const std::string& error,
                                                       int64_t now, double jitter) {
  if (phase_ != phase::locking)
    return {};
  if (!ok)
    return end_round(now, jitter, error);
  holds_lock_ = true;
  phase_ = phase::discovering;
  autocluster_effect e;
  e.kind = autocluster_effect::discover;
  return {e};
}

std::vector<autocluster_effect>
autocluster::on_discovered(bool ok, std::vector<std::string> nodes,
                           const std::string& error, int64_t now, double jitter) {
  if (phase_ != phase::discovering)
    return {};
  if (!ok)
    return end_round(now, jitter, error);
  std::sort(nodes.begin(), nodes.end());
  nodes.erase(std::unique(nodes.begin(), nodes.end()), nodes.end());
  discovered_ = nodes;
  std::vector<std::string> missing;
  for (auto& n : nodes)
    if (!runs_with_us(n))
      missing.push_back(n);
  if (missing.empty())
    return after_join(now, jitter);
  phase_ = phase::probing;
  autocluster_effect e;
  e.kind = autocluster_effect::probe;
  e.nodes = std::move(missing);
  return {e};
}

std::vector<autocluster_effect>
autocluster::on_probed(const std::map<std::string, probe_answer>& answers,
                       int64_t now, double jitter) {
  if (phase_ != phase::probing)
    return {};
  std::string target;
  if (!settings_.core) {
    bool have_core = std::any_of(running_.begin(), running_.end(),
                                 [&](auto& m) { return m.core && m.name != self_; });
    for (auto& [node, a] : answers)
      if (!have_core && a.reached && a.core) {
        target = node;
        break;
      }
  } else {
    // The oldest running core anywhere we can see; join its cluster when it
    // is not ours (it is then older than every core of ours).
    core_age best{self_, started_at_ms_};
    std::string best_via;
    auto consider = [&](const probe_answer::member_age& m, const std::string& via) {
      if (m.core && older({m.name, m.started_at_ms}, best)) {
        best = {m.name, m.started_at_ms};
        best_via = via;
      }
    };
    for (auto& m : running_)
      consider(m, "");
    for (auto& [node, a] : answers)
      if (a.reached)
        for (auto& m : a.running)
          consider(m, node);
    if (!best_via.empty() && !runs_with_us(best.name)) {
      target = answers.count(best.name) && answers.at(best.name).reached
                 ? best.name
                 : best_via;
    } else {
      // We hold the oldest core: a younger discovered node that is not with
      // us would join us in its next round; meeting it now makes one
      // cluster at once (the mesh is the same whoever dials, and the
      // oldest core's data wins either way).
      for (auto& [node, a] : answers)
        if (a.reached && !runs_with_us(node)) {
          target = node;
          break;
        }
    }
  }
  if (target.empty()) {
    std::string errors;
    for (auto& [node, a] : answers)
      if (!a.reached)
        errors += (errors.empty() ? "" : "; ") + node + ": " + a.error;
    if (!settings_.core
        && std::none_of(running_.begin(), running_.end(),
                        [&](auto& m) { return m.core && m.name != self_; }))
      return end_round(now, jitter,
                       "no discovered core answered"
                         + (errors.empty() ? std::string() : ": " + errors));
    last_error_ = errors.empty() ? "" : "not reached: " + errors;
    return after_join(now, jitter);
  }
  phase_ = phase::joining;
  autocluster_effect e;
  e.kind = autocluster_effect::join;
  e.node = target;
  return {e};
}

std::vector<autocluster_effect> autocluster::on_joined(bool ok,
                                                       const std::string& error,
                                                       int64_t now, double jitter) {
  if (phase_ != phase::joining)
    return {};
  if (!ok)
    return end_round(now, jitter, error);
  last_error_.clear();
  return after_join(now, jitter);
}

std::vector<autocluster_effect>
autocluster::on_registered(bool ok, const std::string& error, int64_t now,
                           double jitter) {
  if (phase_ != phase::registering)
    return {};
  registered_ = ok;
  if (!ok)
    return end_round(now, jitter, error);
  return after_join(now, jitter);
}

std::vector<autocluster_effect> autocluster::after_join(int64_t now,
                                                        double jitter) {
  std::vector<autocluster_effect> out;
  if (settings_.registers && !registered_) {
    phase_ = phase::registering;
    autocluster_effect e;
    e.kind = autocluster_effect::register_self;
    out.push_back(e);
    return out;
  }
  if (holds_lock_) {
    holds_lock_ = false;
    autocluster_effect e;
    e.kind = autocluster_effect::unlock;
    out.push_back(e);
  }
  phase_ = phase::idle;
  bool all = std::all_of(discovered_.begin(), discovered_.end(),
                         [&](auto& n) { return runs_with_us(n); });
  bool now_settled = all && (registered_ || !settings_.registers);
  if (now_settled) {
    last_error_.clear();
    next_ms_ = now + settings_.settled_interval_ms;
  } else {
    next_ms_ = now + settings_.interval_ms / 2
               + static_cast<int64_t>(settings_.interval_ms / 2 * jitter);
  }
  std::string text = now_settled
                       ? "settled: " + std::to_string(discovered_.size())
                           + " nodes discovered, every one runs with this node"
                       : last_error_;
  if (text != last_logged_ && !text.empty()) {
    autocluster_effect e;
    e.kind = autocluster_effect::log;
    e.text = text;
    out.push_back(e);
  }
  last_logged_ = text;
  settled_ = now_settled;
  return out;
}

std::vector<autocluster_effect> autocluster::end_round(int64_t now, double jitter,
                                                       std::string error) {
  std::vector<autocluster_effect> out;
  if (holds_lock_) {
    holds_lock_ = false;
    autocluster_effect e;
    e.kind = autocluster_effect::unlock;
    out.push_back(e);
  }
  phase_ = phase::idle;
  settled_ = false;
  next_ms_ = now + settings_.interval_ms / 2
             + static_cast<int64_t>(settings_.interval_ms / 2 * jitter);
  last_error_ = error;
  if (error != last_logged_) {
    autocluster_effect e;
    e.kind = autocluster_effect::log;
    e.text = error + " (retrying; the node serves on its own meanwhile)";
    out.push_back(e);
    last_logged_ = error;
  }
  return out;
}

void autocluster::on_registration_lost() {
  registered_ = false;
  settled_ = false;
  next_ms_ = 0;
}

nlohmann::json autocluster::to_json(int64_t now) const {
  return {{"strategy", to_string(settings_.kind)},
          {"phase", to_string(phase_)},
          {"rounds", rounds_},
          {"discovered", discovered_},
          {"settled", settled_},
          {"registered", registered_},
          {"last_error", last_error_},
          {"next_round_in_ms",
           settings_.kind == strategy::manual
             ? int64_t{-1}
             : std::max<int64_t>(0, next_ms_ - now)}};
}

} // namespace starling::runtime::cluster
