#include "starling/mgmt/api.hpp"

#include <algorithm>

namespace starling::mgmt {

namespace {

std::vector<std::string> split(const std::string& path) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i <= path.size()) {
    auto j = path.find('/', i);
    if (j == std::string::npos)
      j = path.size();
    if (j > i)
      out.push_back(path.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

const std::vector<endpoint>& endpoints() {
  static const std::vector<endpoint> all = [] {
    std::vector<endpoint> v;
    for (auto f : {cluster_endpoints, client_endpoints, auth_endpoints,
                   config_endpoints, rebalance_endpoints})
      for (auto& e : f())
        v.push_back(std::move(e));
    return v;
  }();
  return all;
}

} // namespace

http_response json_response(int status, const nlohmann::json& body) {
  http_response r;
  r.status = status;
  r.body = body.dump();
  return r;
}

http_response error_response(const api_error& e) {
  auto r = json_response(e.status, e.to_json());
  if (e.status == 401)
    r.headers["WWW-Authenticate"] = "Bearer realm=\"starling\"";
  return r;
}

std::optional<std::map<std::string, std::string>>
match_path(const std::string& pattern, const std::string& path) {
  auto want = split(pattern);
  auto got = split(path);
  std::map<std::string, std::string> params;
  for (size_t i = 0; i < want.size(); ++i) {
    auto& w = want[i];
    bool param = w.size() > 2 && w.front() == '{' && w.back() == '}';
    if (param && w.ends_with("...}")) { // the rest of the path, slashes kept
      if (i >= got.size())
        return std::nullopt;
      std::string rest = got[i];
      for (size_t k = i + 1; k < got.size(); ++k)
        rest += "/" + got[k];
      params[w.substr(1, w.size() - 5)] = rest;
      return params;
    }
    if (i >= got.size())
      return std::nullopt;
    if (param)
      params[w.substr(1, w.size() - 2)] = got[i];
    else if (w != got[i])
      return std::nullopt;
  }
  if (got.size() != want.size())
    return std::nullopt;
  return params;
}

outcome<identity> authenticate(api_context& ctx, const std::string& header) {
  if (header.empty())
    return api_error{401, "UNAUTHORIZED",
                     "this path needs credentials: a token from POST "
                     "/api/v5/login (Authorization: Bearer TOKEN) or an API "
                     "key (HTTP Basic with key and secret)"};
  if (header.rfind("Bearer ", 0) == 0) {
    auto claims = ctx.signer->verify(header.substr(7));
    if (!claims)
      return api_error{401, "BAD_TOKEN", "the token is not one this cluster issued"};
    if (claims->expires_ms <= ctx.now_ms())
      return api_error{401, "TOKEN_TIME_OUT", "the token has expired: log in again"};
    auto u = ctx.auth->user(claims->username);
    if (!u || password_version(*u) != claims->pwv)
      return api_error{401, "BAD_TOKEN",
                       "the token's user no longer exists or changed its "
                       "password: log in again"};
    return identity{u->username, false, u->must_change};
  }
  if (header.rfind("Basic ", 0) == 0) {
    auto plain = base64_decode(header.substr(6));
    auto colon = plain ? plain->find(':') : std::string::npos;
    if (colon == std::string::npos)
      return api_error{401, "BAD_API_KEY_OR_SECRET",
                       "HTTP Basic credentials must be base64 of key:secret"};
    auto key = ctx.auth->key(plain->substr(0, colon));
    if (!key || !ctx.auth->check_secret(*key, plain->substr(colon + 1)))
      return api_error{401, "BAD_API_KEY_OR_SECRET", "unknown API key or wrong secret"};
    if (!key->enable)
      return api_error{401, "BAD_API_KEY_OR_SECRET", "API key '" + key->name + "' is disabled"};
    if (key->expired_at_ms > 0 && key->expired_at_ms <= ctx.now_ms())
      return api_error{401, "BAD_API_KEY_OR_SECRET", "API key '" + key->name + "' has expired"};
    return identity{key->name, true, false};
  }
  return api_error{401, "UNAUTHORIZED",
                   "unsupported Authorization scheme (use Bearer or Basic)"};
}

http_response handle(api_context& ctx, const http_request& req) {
  bool path_known = false;
  std::string allowed;
  for (auto& e : endpoints()) {
    auto params = match_path(e.pattern, req.path);
    if (!params)
      continue;
    path_known = true;
    if (e.method != req.method) {
      allowed += (allowed.empty() ? "" : ", ") + e.method;
      continue;
    }
    identity who;
    if (e.auth != endpoint::open) {
      auto id = authenticate(ctx, req.authorization);
      if (!id)
        return error_response(id.error());
      if (id->must_change && e.auth != endpoint::any_user)
        return error_response(
          {403, "PASSWORD_CHANGE_REQUIRED",
           "user '" + id->name + "' still has the default password: change it "
           "first (POST /api/v5/users/" + id->name + "/change_pwd)"});
      who = *id;
    }
    return e.run(ctx, req, *params, who);
  }
  if (path_known) {
    auto r = error_response({405, "METHOD_NOT_ALLOWED",
                             req.method + " is not allowed on " + req.path
                               + " (allowed: " + allowed + ")"});
    r.headers["Allow"] = allowed;
    return r;
  }
  return error_response(not_found("no such path: " + req.path));
}

std::vector<std::string> running_nodes(const nlohmann::json& cluster,
                                       const std::string& self) {
  std::vector<std::string> out{self};
  for (auto& n : cluster.value("running_nodes", nlohmann::json::array()))
    if (n.is_string() && n != self)
      out.push_back(n);
  return out;
}

std::vector<std::string> member_names(const nlohmann::json& cluster) {
  std::vector<std::string> out;
  for (auto& m : cluster.value("members", nlohmann::json::array()))
    out.push_back(m.value("node", ""));
  return out;
}

api_error unknown_node(const std::string& node, const nlohmann::json& cluster) {
  std::string list;
  for (auto& n : member_names(cluster))
    list += (list.empty() ? "" : ", ") + n;
  return not_found("node '" + node + "' is not a member of this cluster (members: "
                     + list + ")",
                   "NOT_FOUND");
}

} // namespace starling::mgmt
