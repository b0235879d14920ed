// Rebalance and evacuation (EMQX's /api/v5/load_rebalance): start and stop
// on a node, the status of this node and of the cluster, and the
// availability check a load balancer polls without credentials.

#include <algorithm>

#include "starling/mgmt/api.hpp"

namespace starling::mgmt {

namespace {

using params_t = std::map<std::string, std::string>;
using json = nlohmann::json;

/// The {node} of the path, when it is a running member; else the error.
std::optional<api_error> running_member(api_context& ctx, const std::string& node) {
  auto c = ctx.node->cluster_status();
  if (!c)
    return c.error();
  auto running = running_nodes(*c, ctx.node->node_name());
  if (std::find(running.begin(), running.end(), node) != running.end())
    return std::nullopt;
  auto all = member_names(*c);
  if (std::find(all.begin(), all.end(), node) == all.end())
    return unknown_node(node, *c);
  return unavailable(node + " is not running");
}

/// POST .../{node}/start and the like: the body (the start options, or
/// nothing) goes to that node's balancer, which checks it field by field.
handler on_node(std::string command) {
  return [command](api_context& ctx, const http_request& req, const params_t& p,
                   const identity&) {
    auto& node = p.at("node");
    if (auto e = running_member(ctx, node))
      return error_response(*e);
    auto body = req.body.empty() ? json::object() : json::parse(req.body, nullptr, false);
    if (body.is_discarded() || !body.is_object())
      return error_response(bad_request("the body must be a JSON object"));
    if (command.ends_with("_stop") && !body.empty())
      return error_response(bad_request("stop takes no body"));
    auto r = ctx.node->balance(node, command, body);
    return r ? json_response(200, *r) : error_response(r.error());
  };
}

http_response status(api_context& ctx, const http_request&, const params_t&,
                     const identity&) {
  auto r = ctx.node->balance(ctx.node->node_name(), "status", json::object());
  return r ? json_response(200, *r) : error_response(r.error());
}

http_response global_status(api_context& ctx, const http_request&, const params_t&,
                            const identity&) {
  auto r = ctx.node->balance(ctx.node->node_name(), "global_status", json::object());
  return r ? json_response(200, *r) : error_response(r.error());
}

/// 200 while this node takes clients; 503 while it is a rebalance donor or
/// being evacuated (and while it starts or stops), as /status.
http_response availability_check(api_context& ctx, const http_request&,
                                 const params_t&, const identity&) {
  if (ctx.health->http_status() == 200)
    return json_response(200, json::object());
  auto why = ctx.health->body(ctx.node->node_name());
  if (!why.empty() && why.back() == '\n')
    why.pop_back();
  return error_response(api_error{503, "SERVICE_UNAVAILABLE", why});
}

} // namespace

std::vector<endpoint> rebalance_endpoints() {
  return {
    {"POST", "/api/v5/load_rebalance/{node}/start", on_node("rebalance_start")},
    {"POST", "/api/v5/load_rebalance/{node}/stop", on_node("rebalance_stop")},
    {"POST", "/api/v5/load_rebalance/{node}/evacuation/start",
     on_node("evacuation_start")},
    {"POST", "/api/v5/load_rebalance/{node}/evacuation/stop",
     on_node("evacuation_stop")},
    {"GET", "/api/v5/load_rebalance/status", status},
    {"GET", "/api/v5/load_rebalance/global_status", global_status},
    {"GET", "/api/v5/load_rebalance/availability_check", availability_check,
     endpoint::open},
  };
}

} // namespace starling::mgmt
