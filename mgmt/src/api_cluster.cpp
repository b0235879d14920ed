// The cluster-wide read paths (nodes, cluster, stats, metrics, alarms,
// mria status, Prometheus), the health check, and invite / force-leave.

#include "starling/mgmt/api.hpp"

#include <algorithm>

#include "starling/mgmt/json_body.hpp"
#include "starling/mgmt/prometheus.hpp"
#include "starling/runtime/node_name.hpp"

namespace starling::mgmt {

namespace {

using params_t = std::map<std::string, std::string>;

outcome<nlohmann::json> cluster_of(api_context& ctx) {
  return ctx.node->cluster_status();
}

const nlohmann::json* member(const nlohmann::json& cluster, const std::string& name) {
  for (auto& m : cluster.value("members", nlohmann::json::array()))
    if (m.value("node", "") == name)
      return &m;
  return nullptr;
}

nlohmann::json stopped_node(const nlohmann::json& m) {
  return {{"node", m.value("node", "")},
          {"role", m.value("role", "")},
          {"node_status", "stopped"},
          {"status_since_s", m.value("status_since_s", int64_t{0})}};
}

/// A node's entry in a listing when it did not answer: one dead peer does
/// not fail the listing.
nlohmann::json failed_node(const std::string& name, const api_error& e) {
  return {{"node", name}, {"error", e.message}};
}

/// Answers of every running node to `kind`, this node first.
std::vector<std::pair<std::string, outcome<nlohmann::json>>>
ask_running(api_context& ctx, const nlohmann::json& cluster, const std::string& kind) {
  auto nodes = running_nodes(cluster, ctx.node->node_name());
  auto answers = ctx.node->gather(kind, "", nodes);
  std::vector<std::pair<std::string, outcome<nlohmann::json>>> out;
  for (auto& n : nodes)
    out.emplace_back(n, std::move(answers.at(n)));
  return out;
}

/// The running nodes a query is for: all, or the one `node` names.
outcome<std::vector<std::string>> target_nodes(api_context& ctx,
                                               const nlohmann::json& cluster,
                                               const query_params& q) {
  auto running = running_nodes(cluster, ctx.node->node_name());
  auto i = q.find("node");
  if (i == q.end())
    return running;
  if (std::find(running.begin(), running.end(), i->second) != running.end())
    return std::vector<std::string>{i->second};
  if (member(cluster, i->second))
    return unavailable("node '" + i->second + "' is stopped");
  return unknown_node(i->second, cluster);
}

nlohmann::json node_entry(const std::string& name, const outcome<nlohmann::json>& r) {
  if (r)
    return *r;
  auto j = failed_node(name, r.error());
  j["node_status"] = "running";
  return j;
}

http_response nodes(api_context& ctx, const http_request& req, const params_t&,
                    const identity&) {
  if (auto e = only_params(req.query, {}))
    return error_response(*e);
  auto c = cluster_of(ctx);
  if (!c)
    return error_response(c.error());
  auto out = nlohmann::json::array();
  for (auto& [n, r] : ask_running(ctx, *c, "node"))
    out.push_back(node_entry(n, r));
  for (auto& m : c->value("members", nlohmann::json::array()))
    if (m.value("status", "") != "up" && m.value("node", "") != ctx.node->node_name())
      out.push_back(stopped_node(m));
  return json_response(200, out);
}

http_response one_node(api_context& ctx, const http_request& req, const params_t& p,
                       const identity&) {
  if (auto e = only_params(req.query, {}))
    return error_response(*e);
  auto c = cluster_of(ctx);
  if (!c)
    return error_response(c.error());
  auto& name = p.at("node");
  auto m = member(*c, name);
  if (!m && name != ctx.node->node_name())
    return error_response(unknown_node(name, *c));
  auto running = running_nodes(*c, ctx.node->node_name());
  if (std::find(running.begin(), running.end(), name) == running.end())
    return json_response(200, stopped_node(*m));
  auto r = ctx.node->gather("node", "", {name}).at(name);
  return r ? json_response(200, *r) : error_response(r.error());
}

http_response cluster(api_context& ctx, const http_request& req, const params_t&,
                      const identity&) {
  if (auto e = only_params(req.query, {}))
    return error_response(*e);
  auto c = cluster_of(ctx);
  return c ? json_response(200, *c) : error_response(c.error());
}

/// The node named in the path: a well-formed node name.
std::optional<api_error> check_node_name(const std::string& text) {
  std::string err;
  if (!runtime::parse_node_name(text, err))
    return bad_request("'" + text + "' is not a node name: " + err);
  return std::nullopt;
}

http_response invite(api_context& ctx, const http_request& req, const params_t& p,
                     const identity&) {
  auto& name = p.at("node");
  if (auto e = check_node_name(name))
    return error_response(*e);
  auto body = json_body::parse(req.body, true);
  if (!body)
    return error_response(body.error());
  if (auto e = body->finish())
    return error_response(*e);
  if (name == ctx.node->node_name())
    return error_response(bad_request("a node cannot invite itself"));
  auto r = ctx.node->invite(name);
  if (!r)
    return error_response(r.error());
  return json_response(200, {{"node", name}, {"message", *r}});
}

http_response force_leave(api_context& ctx, const http_request&, const params_t& p,
                          const identity&) {
  auto& name = p.at("node");
  if (auto e = check_node_name(name))
    return error_response(*e);
  auto c = cluster_of(ctx);
  if (!c)
    return error_response(c.error());
  if (name == ctx.node->node_name())
    return error_response(bad_request(
      "a node cannot force itself out: ask another member, or run 'starling "
      "ctl cluster leave' on it"));
  if (!member(*c, name))
    return error_response(unknown_node(name, *c));
  auto r = ctx.node->force_leave(name);
  if (!r)
    return error_response(r.error());
  http_response resp;
  resp.status = 204;
  return resp;
}

/// /stats and /metrics: per node, or summed with aggregate=true.
http_response figures(api_context& ctx, const http_request& req, bool metrics) {
  if (auto e = only_params(req.query, {"aggregate", "node"}))
    return error_response(*e);
  bool aggregate = false;
  if (auto i = req.query.find("aggregate"); i != req.query.end()) {
    if (i->second != "true" && i->second != "false")
      return error_response(bad_request("query parameter 'aggregate' must be true or false, not '"
                                        + i->second + "'"));
    aggregate = i->second == "true";
  }
  auto c = cluster_of(ctx);
  if (!c)
    return error_response(c.error());
  auto targets = target_nodes(ctx, *c, req.query);
  if (!targets)
    return error_response(targets.error());
  auto answers = ctx.node->gather("stats", "", *targets);
  auto list = nlohmann::json::array();
  nlohmann::json sum = nlohmann::json::object();
  for (auto& n : *targets) {
    auto& a = answers.at(n);
    if (!a) {
      list.push_back(failed_node(n, a.error()));
      continue;
    }
    auto s = node_stats::from_json(*a);
    auto j = metrics ? s.metrics_json() : s.stats_json();
    for (auto& [k, v] : j.items())
      sum[k] = sum.value(k, uint64_t{0}) + v.get<uint64_t>();
    j["node"] = n;
    list.push_back(j);
  }
  return json_response(200, aggregate ? sum : list);
}

http_response stats(api_context& ctx, const http_request& req, const params_t&,
                    const identity&) {
  return figures(ctx, req, false);
}

http_response metrics(api_context& ctx, const http_request& req, const params_t&,
                      const identity&) {
  return figures(ctx, req, true);
}

/// Alarms, EMQX-shaped ({node, name, message, details, duration}): each
/// node's partition alarm and, as this node sees them, members that are
/// down; with the last heal beside them.
nlohmann::json alarms_of(const std::string& node, const nlohmann::json& cluster) {
  auto out = nlohmann::json::array();
  auto part = cluster.value("partition", nlohmann::json::object());
  if (part.value("alarm", false)) {
    auto peers = part.value("peers", nlohmann::json::array());
    std::string names;
    for (auto& p : peers)
      names += (names.empty() ? "" : ", ") + p.value("node", "");
    out.push_back({{"node", node},
                   {"name", "partition"},
                   {"message", "the database of " + names + " branched from this node's"},
                   {"details", peers},
                   {"duration_s", part.value("since_s", int64_t{0})},
                   {"activated", true}});
  }
  for (auto& m : cluster.value("members", nlohmann::json::array()))
    if (m.value("status", "") == "down")
      out.push_back({{"node", node},
                     {"name", "node_down"},
                     {"message", m.value("node", "") + " is down"},
                     {"details", {{"down_node", m.value("node", "")}}},
                     {"duration_s", m.value("status_since_s", int64_t{0})},
                     {"activated", true}});
  return out;
}

http_response alarms(api_context& ctx, const http_request& req, const params_t&,
                     const identity&) {
  if (auto e = only_params(req.query, {}))
    return error_response(*e);
  auto c = cluster_of(ctx);
  if (!c)
    return error_response(c.error());
  auto list = nlohmann::json::array();
  auto unanswered = nlohmann::json::array();
  for (auto& [n, r] : ask_running(ctx, *c, "cluster")) {
    if (!r) {
      unanswered.push_back(failed_node(n, r.error()));
      continue;
    }
    for (auto& a : alarms_of(n, *r))
      list.push_back(a);
  }
  return json_response(200, {{"data", list},
                             {"last_heal", c->value("last_heal", nlohmann::json())},
                             {"autoheal", c->value("autoheal", nlohmann::json())},
                             {"unanswered", unanswered}});
}

http_response mria_status(api_context& ctx, const http_request& req, const params_t&,
                          const identity&) {
  if (auto e = only_params(req.query, {"node"}))
    return error_response(*e);
  auto c = cluster_of(ctx);
  if (!c)
    return error_response(c.error());
  auto targets = target_nodes(ctx, *c, req.query);
  if (!targets)
    return error_response(targets.error());
  auto answers = ctx.node->gather("rlog", "", *targets);
  auto out = nlohmann::json::array();
  for (auto& n : *targets) {
    auto& a = answers.at(n);
    out.push_back(a ? *a : failed_node(n, a.error()));
  }
  return json_response(200, out);
}

http_response prometheus(api_context& ctx, const http_request& req, const params_t&,
                         const identity&) {
  if (auto e = only_params(req.query, {"mode"}))
    return error_response(*e);
  auto mode = req.query.count("mode") ? req.query.at("mode") : "node";
  if (mode != "node" && mode != "all_nodes_unaggregated")
    return error_response(bad_request(
      "query parameter 'mode' must be node or all_nodes_unaggregated, not '" + mode + "'"));
  std::vector<std::string> nodes{ctx.node->node_name()};
  if (mode != "node") {
    auto c = cluster_of(ctx);
    if (!c)
      return error_response(c.error());
    nodes = running_nodes(*c, ctx.node->node_name());
  }
  auto stats = ctx.node->gather("stats", "", nodes);
  auto rlog = ctx.node->gather("rlog", "", nodes);
  auto cl = ctx.node->gather("cluster", "", nodes);
  std::vector<node_figures> figs;
  for (auto& n : nodes) {
    auto& s = stats.at(n);
    if (!s)
      continue; // a node that did not answer has no samples
    node_figures f{n, node_stats::from_json(*s), nullptr, 0};
    if (auto& r = rlog.at(n))
      f.rlog = *r;
    if (auto& k = cl.at(n))
      f.alarms = alarms_of(n, *k).size();
    figs.push_back(std::move(f));
  }
  http_response r;
  r.content_type = "text/plain; version=0.0.4; charset=utf-8";
  r.body = render_prometheus(figs);
  return r;
}

http_response status(api_context& ctx, const http_request&, const params_t&,
                     const identity&) {
  http_response r;
  r.status = ctx.health->http_status();
  r.content_type = "text/plain; charset=utf-8";
  r.body = ctx.health->body(ctx.node->node_name());
  return r;
}

} // namespace

std::vector<endpoint> cluster_endpoints() {
  return {
    {"GET", "/status", status, endpoint::open},
    {"GET", "/api/v5/status", status, endpoint::open},
    {"GET", "/api/v5/nodes", nodes},
    {"GET", "/api/v5/nodes/{node}", one_node},
    {"GET", "/api/v5/cluster", cluster},
    {"POST", "/api/v5/cluster/{node}/invite", invite},
    {"DELETE", "/api/v5/cluster/{node}/force_leave", force_leave},
    {"GET", "/api/v5/stats", stats},
    {"GET", "/api/v5/metrics", metrics},
    {"GET", "/api/v5/alarms", alarms},
    {"GET", "/api/v5/mria/status", mria_status},
    {"GET", "/api/v5/prometheus/stats", prometheus},
  };
}

} // namespace starling::mgmt
