// Clients, subscriptions, routes, topics and publish: cluster-wide lists
// gathered from every running node, then filtered and paged here.

#include "starling/mgmt/api.hpp"

#include <algorithm>
#include <map>
#include <set>

#include "starling/broker/topic.hpp"
#include "starling/mgmt/json_body.hpp"

namespace starling::mgmt {

namespace {

using params_t = std::map<std::string, std::string>;

/// Every item of `kind` from the running nodes (or the one `node=` names),
/// each with its node; a node that did not answer is a 503, since a list
/// missing a node's part would look complete.
outcome<nlohmann::json> gather_list(api_context& ctx, const std::string& kind,
                                    const query_params& q) {
  auto c = ctx.node->cluster_status();
  if (!c)
    return c.error();
  auto nodes = running_nodes(*c, ctx.node->node_name());
  if (auto i = q.find("node"); i != q.end()) {
    if (std::find(nodes.begin(), nodes.end(), i->second) == nodes.end()) {
      auto members = member_names(*c);
      if (std::find(members.begin(), members.end(), i->second) == members.end())
        return unknown_node(i->second, *c);
      return nlohmann::json::array(); // a stopped node has no clients
    }
    nodes = {i->second};
  }
  auto answers = ctx.node->gather(kind, "", nodes);
  auto all = nlohmann::json::array();
  for (auto& n : nodes) {
    auto& a = answers.at(n);
    if (!a)
      return unavailable("node " + n + " did not list its " + kind + ": "
                         + a.error().message);
    for (auto& item : *a) {
      item["node"] = n;
      all.push_back(item);
    }
  }
  return all;
}

http_response paged(api_context& ctx, const http_request& req, const std::string& kind,
                    const std::vector<list_filter>& filters) {
  // Parameters are checked before any node is asked.
  auto check = page_list(nlohmann::json::array(), req.query, filters);
  if (!check)
    return error_response(check.error());
  auto all = gather_list(ctx, kind, req.query);
  if (!all)
    return error_response(all.error());
  auto page = page_list(*all, req.query, filters);
  return page ? json_response(200, *page) : error_response(page.error());
}

http_response clients(api_context& ctx, const http_request& req, const params_t&,
                      const identity&) {
  return paged(ctx, req, "clients",
               {{list_filter::exact, "node", "node"},
                {list_filter::exact, "clientid", "clientid"},
                {list_filter::exact, "username", "username"},
                {list_filter::substring, "like_clientid", "clientid"},
                {list_filter::choice, "conn_state", "conn_state",
                 {"connected", "disconnected"}}});
}

/// Asks every running node about one client id; the first that has it.
http_response on_client(api_context& ctx, const std::string& kind,
                        const std::string& id, bool kick) {
  auto c = ctx.node->cluster_status();
  if (!c)
    return error_response(c.error());
  auto nodes = running_nodes(*c, ctx.node->node_name());
  auto answers = ctx.node->gather(kind, id, nodes);
  std::string missing;
  for (auto& n : nodes) {
    auto& a = answers.at(n);
    if (!a) {
      if (a.error().status != 404)
        missing += (missing.empty() ? "" : ", ") + n;
      continue;
    }
    if (!kick) {
      auto j = *a;
      j["node"] = n;
      return json_response(200, j);
    }
    if (a->value("kicked", false)) {
      http_response r;
      r.status = 204;
      return r;
    }
  }
  if (!missing.empty())
    return error_response(unavailable("client '" + id + "' was not found on the nodes "
                                      "that answered; no answer from " + missing));
  return error_response(not_found("no client '" + id + "' in the cluster",
                                  "CLIENTID_NOT_FOUND"));
}

http_response client(api_context& ctx, const http_request& req, const params_t& p,
                     const identity&) {
  if (auto e = only_params(req.query, {}))
    return error_response(*e);
  return on_client(ctx, "client", p.at("clientid"), false);
}

http_response kick(api_context& ctx, const http_request& req, const params_t& p,
                   const identity&) {
  if (auto e = only_params(req.query, {}))
    return error_response(*e);
  return on_client(ctx, "kick", p.at("clientid"), true);
}

http_response subscriptions(api_context& ctx, const http_request& req, const params_t&,
                            const identity&) {
  return paged(ctx, req, "subscriptions",
               {{list_filter::exact, "node", "node"},
                {list_filter::exact, "clientid", "clientid"},
                {list_filter::exact, "topic", "topic"},
                {list_filter::substring, "match_topic", "topic"},
                {list_filter::choice, "qos", "qos", {"0", "1", "2"}}});
}

/// The route table is replicated: this node's copy is the cluster's.
outcome<nlohmann::json> local_routes(api_context& ctx) {
  auto self = ctx.node->node_name();
  return ctx.node->gather("routes", "", {self}).at(self);
}

/// A page of the route table, seen through `view` (as it is, or by topic).
http_response paged_routes(api_context& ctx, const http_request& req,
                           const std::vector<list_filter>& f,
                           nlohmann::json (*view)(const nlohmann::json&)) {
  auto check = page_list(nlohmann::json::array(), req.query, f);
  if (!check)
    return error_response(check.error());
  auto all = local_routes(ctx);
  if (!all)
    return error_response(all.error());
  auto page = page_list(view(*all), req.query, f);
  return page ? json_response(200, *page) : error_response(page.error());
}

http_response routes(api_context& ctx, const http_request& req, const params_t&,
                     const identity&) {
  return paged_routes(ctx, req,
                      {{list_filter::exact, "topic", "topic"},
                       {list_filter::exact, "node", "node"}},
                      [](const nlohmann::json& all) { return all; });
}

/// Each topic filter once, with the nodes that route it.
nlohmann::json by_topic(const nlohmann::json& routes) {
  std::map<std::string, std::set<std::string>> nodes_of;
  for (auto& r : routes)
    nodes_of[r.value("topic", "")].insert(r.value("node", ""));
  auto list = nlohmann::json::array();
  for (auto& [t, nodes] : nodes_of)
    list.push_back({{"topic", t},
                    {"nodes", nodes},
                    {"shared", broker::is_shared_filter(t)},
                    {"wildcard", broker::has_wildcards(t)}});
  return list;
}

http_response topics(api_context& ctx, const http_request& req, const params_t&,
                     const identity&) {
  return paged_routes(ctx, req,
                      {{list_filter::exact, "topic", "topic"},
                       {list_filter::substring, "match_topic", "topic"}},
                      by_topic);
}

http_response publish(api_context& ctx, const http_request& req, const params_t&,
                      const identity&) {
  auto body = json_body::parse(req.body);
  if (!body)
    return error_response(body.error());
  publish_request p;
  p.topic = body->text("topic");
  p.payload = body->optional_text("payload").value_or("");
  p.qos = static_cast<int>(body->integer("qos", 0, 2, 0));
  p.retain = body->boolean("retain", false);
  auto enc = body->optional_text("payload_encoding").value_or("plain");
  if (auto e = body->finish())
    return error_response(*e);
  if (enc != "plain" && enc != "base64")
    return error_response(bad_request("field 'payload_encoding' must be plain or base64, not '"
                                      + enc + "'"));
  if (enc == "base64") {
    auto raw = p.payload.empty() ? std::optional<std::string>("") : base64_decode(p.payload);
    if (!raw)
      return error_response(bad_request("field 'payload' is not valid base64"));
    p.payload = *raw;
  }
  if (auto why = broker::topic_name_error(p.topic))
    return error_response(bad_request("field 'topic': " + *why));
  if (broker::is_dollar_topic(p.topic))
    return error_response(bad_request("field 'topic': topics starting with $ are the "
                                      "broker's ($SYS) and cannot be published to"));
  auto r = ctx.node->publish(p);
  return r ? json_response(200, *r) : error_response(r.error());
}

} // namespace

std::vector<endpoint> client_endpoints() {
  return {
    {"GET", "/api/v5/clients", clients},
    {"GET", "/api/v5/clients/{clientid...}", client},
    {"DELETE", "/api/v5/clients/{clientid...}", kick},
    {"GET", "/api/v5/subscriptions", subscriptions},
    {"GET", "/api/v5/routes", routes},
    {"GET", "/api/v5/topics", topics},
    {"POST", "/api/v5/publish", publish},
  };
}

} // namespace starling::mgmt
