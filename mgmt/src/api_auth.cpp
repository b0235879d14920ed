// Login, dashboard users and API keys. Hashes are computed here, on the
// HTTP thread that asked; the records go through the replicated database
// (backend::write) and come back to every node's auth_store.

#include "starling/mgmt/api.hpp"

#include "starling/mgmt/json_body.hpp"

namespace starling::mgmt {

namespace {

using params_t = std::map<std::string, std::string>;

login_limiter::settings limits(api_context& ctx) {
  auto cfg = ctx.node->config();
  return {static_cast<uint32_t>(cfg.number("dashboard.unsuccessful_login_max_attempts")),
          static_cast<int64_t>(cfg.duration_ms("dashboard.unsuccessful_login_interval")),
          static_cast<int64_t>(cfg.duration_ms("dashboard.unsuccessful_login_lock_duration"))};
}

http_response locked(int64_t ms) {
  auto s = (ms + 999) / 1000;
  auto r = error_response({429, "LOGIN_LOCKED",
                           "too many failed logins from this address: try again in "
                             + std::to_string(s) + " s"});
  r.headers["Retry-After"] = std::to_string(s);
  return r;
}

http_response login(api_context& ctx, const http_request& req, const params_t&,
                    const identity&) {
  auto now = ctx.now_ms();
  if (auto ms = ctx.limiter.locked_for(req.remote_addr, now); ms > 0)
    return locked(ms);
  auto body = json_body::parse(req.body);
  if (!body)
    return error_response(body.error());
  auto user = body->text("username");
  auto password = body->text("password");
  if (auto e = body->finish())
    return error_response(*e);
  auto u = ctx.auth->user(user);
  if (!u || !verify_password(password, u->password)) {
    ctx.limiter.failed(req.remote_addr, now, limits(ctx));
    if (auto ms = ctx.limiter.locked_for(req.remote_addr, now); ms > 0)
      return locked(ms);
    return error_response({401, "BAD_USERNAME_OR_PWD", "bad username or password"});
  }
  ctx.limiter.succeeded(req.remote_addr);
  auto ttl = static_cast<int64_t>(ctx.node->config().duration_ms("dashboard.token_expired_time"));
  auto expires = now + ttl;
  return json_response(200, {{"token", ctx.signer->issue(u->username, password_version(*u), expires)},
                             {"expires_at", expires},
                             {"username", u->username},
                             {"must_change_password", u->must_change},
                             {"version", STARLING_VERSION}});
}

outcome<uint64_t> store_user(api_context& ctx, const user_record& u) {
  auto r = ctx.node->write(user_table, u.username, u.to_json().dump());
  if (r)
    ctx.auth->apply(user_table, u.username, u.to_json().dump());
  return r;
}

http_response change_pwd(api_context& ctx, const http_request& req, const params_t& p,
                         const identity& who) {
  auto& name = p.at("username");
  if (!who.api_key && who.name != name)
    return error_response({403, "FORBIDDEN", "a user changes only its own password"});
  auto body = json_body::parse(req.body);
  if (!body)
    return error_response(body.error());
  auto old_pw = body->text("old_pwd");
  auto new_pw = body->text("new_pwd");
  if (auto e = body->finish())
    return error_response(*e);
  auto u = ctx.auth->user(name);
  if (!u)
    return error_response(not_found("no user '" + name + "'"));
  if (!verify_password(old_pw, u->password))
    return error_response({400, "BAD_USERNAME_OR_PWD", "the old password is wrong"});
  if (new_pw == old_pw)
    return error_response(bad_request("the new password must differ from the old one"));
  if (new_pw == ctx.node->config().text("dashboard.default_password"))
    return error_response(bad_request("the new password must not be the default password"));
  if (auto why = check_new_password(new_pw); !why.empty())
    return error_response(bad_request(why));
  u->password = hash_password(new_pw, ctx.rnd);
  u->must_change = false;
  auto r = store_user(ctx, *u);
  if (!r)
    return error_response(r.error());
  http_response resp;
  resp.status = 204;
  return resp;
}

http_response list_users(api_context& ctx, const http_request& req, const params_t&,
                         const identity&) {
  if (auto e = only_params(req.query, {}))
    return error_response(*e);
  auto out = nlohmann::json::array();
  for (auto& u : ctx.auth->users())
    out.push_back({{"username", u.username},
                   {"description", u.description},
                   {"must_change_password", u.must_change},
                   {"created_at", u.created_at_ms}});
  return json_response(200, out);
}

http_response create_user(api_context& ctx, const http_request& req, const params_t&,
                          const identity&) {
  auto body = json_body::parse(req.body);
  if (!body)
    return error_response(body.error());
  user_record u;
  u.username = body->text("username");
  auto pw = body->text("password");
  u.description = body->optional_text("description").value_or("");
  if (auto e = body->finish())
    return error_response(*e);
  if (auto why = check_name("username", u.username); !why.empty())
    return error_response(bad_request(why));
  if (auto why = check_new_password(pw); !why.empty())
    return error_response(bad_request(why));
  if (ctx.auth->user(u.username))
    return error_response({409, "ALREADY_EXISTS", "user '" + u.username + "' exists"});
  u.password = hash_password(pw, ctx.rnd);
  u.created_at_ms = ctx.now_ms();
  auto r = store_user(ctx, u);
  if (!r)
    return error_response(r.error());
  return json_response(200, {{"username", u.username}, {"description", u.description}});
}

http_response delete_user(api_context& ctx, const http_request&, const params_t& p,
                          const identity& who) {
  auto& name = p.at("username");
  if (!ctx.auth->user(name))
    return error_response(not_found("no user '" + name + "'"));
  if (!who.api_key && who.name == name)
    return error_response(bad_request("a user cannot delete itself"));
  if (ctx.auth->users().size() <= 1)
    return error_response(bad_request("the last user cannot be deleted"));
  auto r = ctx.node->write(user_table, name, std::nullopt);
  if (!r)
    return error_response(r.error());
  ctx.auth->apply(user_table, name, std::nullopt);
  http_response resp;
  resp.status = 204;
  return resp;
}

http_response list_keys(api_context& ctx, const http_request& req, const params_t&,
                        const identity&) {
  if (auto e = only_params(req.query, {}))
    return error_response(*e);
  auto out = nlohmann::json::array();
  for (auto& k : ctx.auth->keys())
    out.push_back(k.to_public_json());
  return json_response(200, out);
}

http_response create_key(api_context& ctx, const http_request& req, const params_t&,
                         const identity&) {
  auto body = json_body::parse(req.body);
  if (!body)
    return error_response(body.error());
  api_key_record k;
  k.name = body->text("name");
  k.description = body->optional_text("desc").value_or("");
  k.enable = body->boolean("enable", true);
  k.expired_at_ms = body->integer("expired_at", 0, int64_t{1} << 50, 0);
  if (auto e = body->finish())
    return error_response(*e);
  if (auto why = check_name("name", k.name); !why.empty())
    return error_response(bad_request(why));
  if (ctx.auth->key_by_name(k.name))
    return error_response({409, "ALREADY_EXISTS", "API key '" + k.name + "' exists"});
  k.key = runtime::make_nonce(ctx.rnd).substr(0, 16);
  auto secret = runtime::make_nonce(ctx.rnd);
  k.secret = hash_password(secret, ctx.rnd);
  k.created_at_ms = ctx.now_ms();
  auto r = ctx.node->write(api_key_table, k.key, k.to_json().dump());
  if (!r)
    return error_response(r.error());
  ctx.auth->apply(api_key_table, k.key, k.to_json().dump());
  auto out = k.to_public_json();
  out["api_secret"] = secret; // shown once, never stored
  return json_response(200, out);
}

http_response delete_key(api_context& ctx, const http_request&, const params_t& p,
                         const identity&) {
  auto k = ctx.auth->key_by_name(p.at("name"));
  if (!k)
    return error_response(not_found("no API key named '" + p.at("name") + "'"));
  auto r = ctx.node->write(api_key_table, k->key, std::nullopt);
  if (!r)
    return error_response(r.error());
  ctx.auth->apply(api_key_table, k->key, std::nullopt);
  http_response resp;
  resp.status = 204;
  return resp;
}

} // namespace

std::vector<endpoint> auth_endpoints() {
  return {
    {"POST", "/api/v5/login", login, endpoint::open},
    {"POST", "/api/v5/users/{username}/change_pwd", change_pwd, endpoint::any_user},
    {"GET", "/api/v5/users", list_users},
    {"POST", "/api/v5/users", create_user},
    {"DELETE", "/api/v5/users/{username}", delete_user},
    {"GET", "/api/v5/api_key", list_keys},
    {"POST", "/api/v5/api_key", create_key},
    {"DELETE", "/api/v5/api_key/{name}", delete_key},
  };
}

} // namespace starling::mgmt
