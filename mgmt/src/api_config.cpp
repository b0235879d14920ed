// GET /api/v5/configs[/{section}] and PUT /api/v5/configs/{section}: the
// node's configuration in force, and online changes committed to the
// cluster's `cluster_config` table (applied by every node).

#include "starling/mgmt/api.hpp"

#include <algorithm>

#include "starling/mgmt/json_body.hpp"

namespace starling::mgmt {

namespace {

using params_t = std::map<std::string, std::string>;

bool secret(const std::string& key) {
  return key == "node.cookie" || key == "dashboard.default_password";
}

nlohmann::json typed(const runtime::config_key& k, const std::string& v) {
  if (secret(k.name))
    return "******";
  if (k.kind == runtime::config_kind::unsigned_int && !v.empty())
    return std::stoull(v);
  if (k.kind == runtime::config_kind::boolean && runtime::parse_bool(v))
    return *runtime::parse_bool(v);
  return v;
}

std::optional<api_error> check_section(const std::string& s) {
  auto all = runtime::config_sections();
  if (std::find(all.begin(), all.end(), s) != all.end())
    return std::nullopt;
  std::string list;
  for (auto& x : all)
    list += (list.empty() ? "" : ", ") + x;
  return not_found("unknown config section '" + s + "' (sections: " + list + ")");
}

nlohmann::json section_values(const runtime::node_config& cfg, const std::string& s) {
  nlohmann::json out = nlohmann::json::object();
  for (auto& k : runtime::config_schema())
    if (k.name.rfind(s + ".", 0) == 0)
      out[k.name.substr(s.size() + 1)] = typed(k, cfg.text(k.name));
  return out;
}

http_response all_configs(api_context& ctx, const http_request& req, const params_t&,
                          const identity&) {
  if (auto e = only_params(req.query, {}))
    return error_response(*e);
  auto cfg = ctx.node->config();
  auto out = nlohmann::json::array();
  for (auto& k : runtime::config_schema()) {
    auto i = cfg.settings.find(k.name);
    out.push_back({{"key", k.name},
                   {"value", typed(k, cfg.text(k.name))},
                   {"default", secret(k.name) ? nlohmann::json("******")
                                              : nlohmann::json(k.default_value)},
                   {"source", i == cfg.settings.end() ? "default" : i->second.second},
                   {"online", k.online},
                   {"help", k.help}});
  }
  return json_response(200, out);
}

http_response get_section(api_context& ctx, const http_request& req, const params_t& p,
                          const identity&) {
  if (auto e = only_params(req.query, {}))
    return error_response(*e);
  if (auto e = check_section(p.at("section")))
    return error_response(*e);
  return json_response(200, section_values(ctx.node->config(), p.at("section")));
}

/// {"max_inflight": 64, "write_buffer": {"hard_limit": ...}} -> keys.
std::optional<api_error> flatten(const std::string& prefix, const nlohmann::json& obj,
                                 runtime::config_changes& out) {
  for (auto& [field, v] : obj.items()) {
    auto key = prefix + "." + field;
    if (v.is_object()) {
      if (auto e = flatten(key, v, out))
        return e;
      continue;
    }
    auto k = runtime::find_config_key(key);
    if (!k)
      return bad_request("unknown field '" + key.substr(key.find('.') + 1)
                         + "' in section " + key.substr(0, key.find('.')));
    if (!k->online)
      return api_error{400, "RESTART_REQUIRED", runtime::restart_required(key)};
    if (v.is_null())
      out[key] = std::nullopt;
    else if (v.is_string())
      out[key] = v.get<std::string>();
    else if (v.is_boolean())
      out[key] = v.get<bool>() ? "true" : "false";
    else if (v.is_number_unsigned())
      out[key] = std::to_string(v.get<uint64_t>());
    else
      return bad_request("field '" + field + "' must be a string, a whole number "
                         "or true/false (null: back to the node's own value), not "
                         + (v.is_number() ? v.dump() : json_type_name(v)));
  }
  return std::nullopt;
}

http_response put_section(api_context& ctx, const http_request& req, const params_t& p,
                          const identity&) {
  auto& s = p.at("section");
  if (auto e = check_section(s))
    return error_response(*e);
  auto body = json_body::parse(req.body);
  if (!body)
    return error_response(body.error());
  auto obj = nlohmann::json::parse(req.body);
  runtime::config_changes changes;
  if (auto e = flatten(s, obj, changes))
    return error_response(*e);
  auto r = ctx.node->configure(changes);
  if (!r)
    return error_response(r.error());
  nlohmann::json changed = nlohmann::json::object();
  for (auto& [key, v] : changes)
    changed[key.substr(s.size() + 1)] = v ? typed(*runtime::find_config_key(key), *v)
                                          : nlohmann::json();
  return json_response(200, {{"changed", changed}, {"seqno", *r}});
}

} // namespace

std::vector<endpoint> config_endpoints() {
  return {
    {"GET", "/api/v5/configs", all_configs},
    {"GET", "/api/v5/configs/{section}", get_section},
    {"PUT", "/api/v5/configs/{section}", put_section},
  };
}

} // namespace starling::mgmt
