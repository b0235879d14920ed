#include "starling/actors/mqtt/access.hpp"

#include <fstream>
#include <sstream>

#include <caf/all.hpp>

#include "starling/actors/actor_directory.hpp"
#include "starling/actors/db/context.hpp"
#include "starling/actors/wire/db.hpp"
#include "starling/actors/inspect.hpp"
#include "starling/actors/mqtt/context.hpp"
#include "starling/actors/node_context.hpp"
#include "starling/actors/peer_registry.hpp"
#include "starling/actors/wire/node.hpp"
#include "starling/runtime/shell_text.hpp"

namespace starling::actors::mqtt {

namespace {

constexpr const char* users_table = "mqtt_user";
constexpr const char* banned_table = "banned";

struct access_state {
  mqtt_context* ctx = nullptr;
  caf::actor shard; ///< this node's actor of auth_shard
  uint64_t changes = 0, reloads = 0;
  static inline const char* name = "mqtt_access";
};

using access_actor = caf::stateful_actor<access_state>;

std::optional<std::string> read_file(const std::string& path, std::string& error) {
  std::ifstream in(path);
  if (!in) {
    error = "cannot read the file";
    return std::nullopt;
  }
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

/// Parses authz.file; the error names the key.
std::optional<broker::acl> load_acl(const runtime::node_config& cfg,
                                    const std::string& path,
                                    std::string& error) {
  std::string why;
  auto text = read_file(path, why);
  std::optional<broker::acl> rules;
  if (text)
    rules = broker::acl::parse(*text, why);
  if (!rules)
    error = cfg.invalid("authz.file", why);
  return rules;
}

/// Re-reads authz.file: the answer, or an error (the rules in force stay).
caf::result<std::string> reload(access_actor* self) {
  auto& ctx = *self->state.ctx;
  auto& path = ctx.settings.acl_file;
  if (path.empty())
    return "no authz.file is configured: authz.no_match decides ("
           + std::string(ctx.settings.access.no_match_allows ? "allow" : "deny")
           + ")";
  std::string error;
  auto rules = load_acl(ctx.node->cfg, path, error);
  if (!rules) {
    ctx.node->log->warning("authz reload: " + error + "; the rules in force stay");
    return fail("authz reload: " + error + "; the rules in force stay");
  }
  ++self->state.reloads;
  auto n = rules->size();
  {
    std::lock_guard lock(ctx.access.mu);
    ctx.access.control.set_acl(std::move(rules));
    ctx.access.acl_source = std::to_string(n) + " rules from " + path;
  }
  ctx.node->log->info("authz reload: " + std::to_string(n) + " rules from " + path);
  return "reloaded " + std::to_string(n) + " rules from " + path;
}

std::string list_users(mqtt_context& ctx) {
  std::vector<std::string> names;
  {
    std::lock_guard lock(ctx.access.mu);
    names = ctx.access.control.user_names();
  }
  std::vector<std::vector<std::string>> rows;
  for (auto& n : names)
    rows.push_back({n});
  return runtime::format_table({"USERNAME"}, rows) + std::to_string(rows.size())
         + " users";
}

std::string list_bans(mqtt_context& ctx) {
  std::vector<broker::ban> bans;
  {
    std::lock_guard lock(ctx.access.mu);
    bans = ctx.access.control.bans().list();
  }
  auto now_s = ctx.node->now_ms() / 1000;
  std::vector<std::vector<std::string>> rows;
  for (auto& b : bans)
    rows.push_back({std::string(to_string(b.kind)), b.value,
                    broker::format_utc(b.until_s),
                    b.expired(now_s) ? "expired" : "active", b.by});
  return runtime::format_table({"KIND", "VALUE", "UNTIL", "STATE", "BY"}, rows)
         + std::to_string(rows.size()) + " bans";
}

std::string authz_summary(mqtt_context& ctx) {
  std::string source;
  {
    std::lock_guard lock(ctx.access.mu);
    source = ctx.access.acl_source;
  }
  auto& s = ctx.settings.access;
  auto r = [](const std::atomic<uint64_t>& x) {
    return std::to_string(x.load(std::memory_order_relaxed));
  };
  return "acl: " + (source.empty() ? std::string("none") : source)
         + "\nno_match: " + (s.no_match_allows ? "allow" : "deny")
         + "\ndeny_action: " + (s.disconnect_on_deny ? "disconnect" : "ignore")
         + "\ndenied: " + r(ctx.access.denied_publish) + " publish, "
         + r(ctx.access.denied_subscribe) + " subscribe"
         + "\nauthentication: " + r(ctx.access.authn_ok) + " accepted, "
         + r(ctx.access.authn_failed) + " refused\n";
}

caf::behavior access_fn(access_actor* self, mqtt_context* ctx) {
  auto& st = self->state;
  st.ctx = ctx;
  if (auto db = ctx->node->db)
    if (auto i = db->shards.find("auth_shard"); i != db->shards.end()) {
      st.shard = i->second;
      self->send(st.shard, db::watch_atom::value, std::string(users_table));
      self->send(st.shard, db::watch_atom::value, std::string(banned_table));
    }
  auto from_shard = [self] {
    return self->current_sender()
           == caf::actor_cast<caf::strong_actor_ptr>(self->state.shard);
  };
  return {
    [=](db::rchange_atom, const std::string& table, const std::string& key,
        bool present, const std::string& value) {
      if (!from_shard())
        return;
      auto& acc = self->state.ctx->access;
      ++self->state.changes;
      std::lock_guard lock(acc.mu);
      if (table == users_table) {
        if (present)
          acc.control.put_user(key, value);
        else
          acc.control.erase_user(key);
      } else if (table == banned_table) {
        if (present)
          acc.control.bans().put(key, value);
        else
          acc.control.bans().erase(key);
      }
    },
    [=](db::rreset_atom, const std::string& table) {
      if (!from_shard())
        return;
      auto& acc = self->state.ctx->access;
      std::lock_guard lock(acc.mu);
      if (table == users_table)
        acc.control.clear_users();
      else if (table == banned_table)
        acc.control.bans().clear();
    },
    [](db::rsynced_atom, const std::string&) {
      // The watch delivered every record; nothing to reconcile.
    },
    [=](authz_atom, reload_atom) -> caf::result<std::string> {
      if (!self->state.ctx->node->peers->allowed(self->current_sender()))
        return not_authenticated();
      return reload(self);
    },
    [=](authz_atom) -> caf::result<std::string> {
      if (!self->state.ctx->node->peers->allowed(self->current_sender()))
        return not_authenticated();
      return authz_summary(*self->state.ctx);
    },
    [=](users_atom) -> caf::result<std::string> {
      if (!self->state.ctx->node->peers->allowed(self->current_sender()))
        return not_authenticated();
      return list_users(*self->state.ctx);
    },
    [=](banned_atom) -> caf::result<std::string> {
      if (!self->state.ctx->node->peers->allowed(self->current_sender()))
        return not_authenticated();
      return list_bans(*self->state.ctx);
    },
    [=](inspect_atom) {
      return inspect_reply(self, *self->state.ctx->node->peers, [&] {
        auto& acc = self->state.ctx->access;
        std::lock_guard lock(acc.mu);
        return std::to_string(acc.control.user_count()) + " users, "
               + std::to_string(acc.control.bans().size()) + " bans, acl "
               + (acc.acl_source.empty() ? std::string("none") : acc.acl_source)
               + ", " + std::to_string(self->state.changes) + " table changes, "
               + std::to_string(self->state.reloads) + " reloads";
      });
    },
  };
}

/// Authentication: bans, failure limiting, users (access_control). A
/// refusal is logged with the client id and the peer.
broker::reason_code authenticate(mqtt_context* ctx, const client_origin& origin,
                                 const broker::auth_request& r) {
  broker::authn_request q;
  q.client_id = r.client_id;
  q.username = r.username;
  q.password = r.password;
  q.peer_host = origin.peer_host;
  q.username_from_certificate = origin.username_from_certificate;
  auto now = ctx->node->now_ms();
  broker::authn_result res;
  {
    std::lock_guard lock(ctx->access.mu);
    res = ctx->access.control.authenticate(q, now, now / 1000);
  }
  if (!broker::is_failure(res.code)) {
    bump(ctx->access.authn_ok);
    return res.code;
  }
  bump(ctx->access.authn_failed);
  ctx->node->log->warning(
    "MQTT client " + std::string(r.client_id)
    + (r.username ? " (user " + std::string(*r.username) + ")" : std::string())
    + " from " + origin.peer + " on " + origin.listener + " refused ("
    + std::string(to_string(res.code)) + "): " + res.why);
  return res.code;
}

} // namespace

std::string load_access(mqtt_context& ctx) {
  auto& s = ctx.settings;
  auto& cfg = ctx.node->cfg;
  broker::access_control control(s.access);
  if (!s.password_file.empty()) {
    std::string why;
    auto text = read_file(s.password_file, why);
    std::optional<broker::password_file> file;
    if (text)
      file = broker::parse_password_file(*text, why);
    if (!file)
      return cfg.invalid("authn.password_file", why);
    control.set_password_file(std::move(file));
  }
  std::string source;
  if (!s.acl_file.empty()) {
    std::string error;
    auto rules = load_acl(cfg, s.acl_file, error);
    if (!rules)
      return error;
    source = std::to_string(rules->size()) + " rules from " + s.acl_file;
    control.set_acl(std::move(rules));
  }
  std::lock_guard lock(ctx.access.mu);
  ctx.access.control = std::move(control);
  ctx.access.acl_source = source;
  return "";
}

broker::channel_hooks access_hooks(mqtt_context& context,
                                   const client_origin& origin) {
  auto* ctx = &context;
  broker::channel_hooks hooks;
  hooks.authenticate = [ctx, origin](const broker::auth_request& r) {
    return authenticate(ctx, origin, r);
  };
  hooks.authorize = [ctx, host = origin.peer_host](
                      std::string_view client_id,
                      std::optional<std::string_view> username,
                      broker::access_action action, std::string_view topic) {
    bool ok;
    {
      std::lock_guard lock(ctx->access.mu);
      ok = ctx->access.control.authorize({client_id, username, host}, action,
                                         topic);
    }
    if (!ok) {
      if (action == broker::access_action::publish) {
        bump(ctx->access.denied_publish);
        bump(ctx->stats.messages_dropped);
      } else {
        bump(ctx->access.denied_subscribe);
      }
    }
    return ok;
  };
  return hooks;
}

caf::actor spawn_access(mqtt_context& ctx) {
  auto a = ctx.node->sys->spawn(access_fn, &ctx);
  ctx.node->directory->add(a, "mqtt_access", "mqtt_access");
  return a;
}

} // namespace starling::actors::mqtt
