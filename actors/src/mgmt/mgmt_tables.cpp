// The management tables actor ("mgmt_tables"): mirrors the replicated
// tables of the API (admin_user, api_key: mgmt_shard) for the HTTP threads,
// applies the cluster's online configuration (cluster_config: conf_shard)
// on this node, and commits the API's writes. Both shards are watched on
// the local shard actor, so cores and replicants, restarted or joining,
// get every record and every change in seqno order.

#include "starling/actors/mgmt/context.hpp"

#include <caf/all.hpp>

#include "envelope.hpp"
#include "starling/actors/actor_directory.hpp"
#include "starling/actors/db/context.hpp"
#include "starling/actors/wire/db.hpp"
#include "starling/actors/inspect.hpp"
#include "starling/actors/wire/mgmt.hpp"
#include "starling/actors/mqtt/context.hpp"
#include "starling/actors/node_context.hpp"
#include "starling/actors/peer_registry.hpp"
#include "starling/actors/wire/node.hpp"
#include "starling/broker/broker_settings.hpp"

namespace starling::actors::mgmt {

namespace {

namespace sm = starling::mgmt;
using json = nlohmann::json;

constexpr const char* config_table = "cluster_config";

struct tables_state {
  mgmt_context* ctx = nullptr;
  caf::actor conf_shard, mgmt_shard, db;
  std::map<std::string, std::string> records; ///< cluster_config
  bool conf_syncing = true; ///< between an rreset and its rsynced
  bool core = true;
  uint64_t user_syncs = 0; ///< rsynced of admin_user seen
  uint64_t applied = 0;
  static inline const char* name = "mgmt_tables";
};

using tables_actor = caf::stateful_actor<tables_state>;

/// Recomputes the configuration in force and carries out what changed.
void apply(tables_actor* self) {
  auto& st = self->state;
  auto& ctx = *st.ctx;
  runtime::online_config::applied a;
  runtime::node_config cfg;
  {
    std::lock_guard g(ctx.mtx);
    a = ctx.conf->set_cluster(st.records);
    cfg = ctx.conf->effective();
  }
  auto& log = *ctx.node->log;
  if (!a.error.empty()) {
    log.error("the cluster configuration cannot apply on this node, kept the "
              "previous values: " + a.error);
    return;
  }
  bool mqtt = false;
  for (auto& key : a.changed) {
    ++st.applied;
    log.info("configuration: " + key + " = " + cfg.text(key) + " ("
             + cfg.settings.at(key).second + ")");
    if (key.rfind("mqtt.", 0) == 0)
      mqtt = true;
    else if (key == "cluster.autoclean")
      self->send(ctx.agent, conf_atom::value, key, cfg.text(key));
    else if (key == "log.level")
      log.set_level(*runtime::parse_log_level(cfg.text(key)));
  }
  if (mqtt && ctx.node->mqtt) {
    ctx.node->mqtt->live.set(broker::broker_settings_from(cfg));
    self->send(ctx.node->mqtt->router, conf_atom::value);
  }
}

bool from_shard(tables_actor* self, const caf::actor& shard) {
  return shard && self->current_sender() == caf::actor_cast<caf::strong_actor_ptr>(shard);
}

/// A commit through the db manager; `done` gets an envelope.
void commit(tables_actor* self, runtime::db::transaction txn, caf::response_promise rp) {
  self->request(self->state.db, std::chrono::seconds(15), db::txn_atom::value, std::move(txn))
    .then([rp](uint64_t seqno) mutable { rp.deliver(ok_envelope(seqno)); },
          [rp](caf::error& err) mutable {
            rp.deliver(error_envelope(sm::unavailable("the commit failed: " + describe(err))));
          });
}

caf::result<std::string> configure(tables_actor* self, const std::string& text) {
  auto j = json::parse(text, nullptr, false);
  if (!j.is_object())
    return error_envelope(sm::bad_request("the changes must be a JSON object"));
  runtime::config_changes changes;
  for (auto& [k, v] : j.items()) {
    if (!v.is_null() && !v.is_string())
      return error_envelope(sm::bad_request("the value of " + k + " must be a string"));
    changes[k] = v.is_null() ? std::nullopt : std::optional(v.get<std::string>());
  }
  std::string why;
  {
    auto& ctx = *self->state.ctx;
    std::lock_guard g(ctx.mtx);
    why = ctx.conf->check(changes);
  }
  if (!why.empty()) {
    auto k = changes.size() == 1 ? runtime::find_config_key(changes.begin()->first) : nullptr;
    return error_envelope({400, k && !k->online ? "RESTART_REQUIRED" : "BAD_REQUEST", why});
  }
  // One transaction: every node applies all of the changes or none.
  runtime::db::transaction txn{"", "conf_shard", {}};
  for (auto& [k, v] : changes)
    txn.ops.push_back({v ? runtime::db::op::write : runtime::db::op::erase, config_table, k, v.value_or("")});
  auto rp = self->make_response_promise();
  commit(self, std::move(txn), rp);
  return caf::delegated<std::string>{};
}

void on_change(tables_actor* self, const std::string& table, const std::string& key,
               bool present, const std::string& value) {
  auto& st = self->state;
  if (table == config_table && from_shard(self, st.conf_shard)) {
    if (present)
      st.records[key] = value;
    else
      st.records.erase(key);
    if (!st.conf_syncing)
      apply(self);
  } else if (from_shard(self, st.mgmt_shard)) {
    if (!st.ctx->auth.apply(table, key, present ? std::optional(value) : std::nullopt))
      st.ctx->node->log->warning("ignored a malformed record '" + key + "' of " + table);
  }
}

void on_synced(tables_actor* self, const std::string& table) {
  auto& st = self->state;
  if (table == config_table && from_shard(self, st.conf_shard)) {
    st.conf_syncing = false;
    apply(self);
  } else if (table == sm::user_table && from_shard(self, st.mgmt_shard)) {
    // A core's replica is the cluster's (its own data, or a copy it
    // bootstrapped). A replicant's first table comes with the watch,
    // before it has copied anything from a core: only a later one (its
    // bootstrap) counts.
    if (st.core || ++st.user_syncs > 1)
      st.ctx->auth.mark_synced();
  }
}

/// The shards come from the spawning thread: this runs later, on a
/// scheduler thread, when a node whose start failed may have cleared them.
caf::behavior tables_fn(tables_actor* self, mgmt_context* ctx, caf::actor db_manager,
                        caf::actor conf_shard, caf::actor mgmt_shard) {
  auto& st = self->state;
  st.ctx = ctx;
  st.core = ctx->node->cfg.role == runtime::node_role::core;
  st.db = std::move(db_manager);
  st.conf_shard = std::move(conf_shard);
  st.mgmt_shard = std::move(mgmt_shard);
  self->send(st.conf_shard, db::watch_atom::value, std::string(config_table));
  self->send(st.mgmt_shard, db::watch_atom::value, std::string(sm::user_table));
  self->send(st.mgmt_shard, db::watch_atom::value, std::string(sm::api_key_table));
  self->set_error_handler([self](caf::error& err) {
    self->state.ctx->node->log->warning("mgmt tables: " + describe(err));
  });
  return {
    [self](db::rchange_atom, const std::string& table, const std::string& key,
           bool present, const std::string& value) {
      on_change(self, table, key, present, value);
    },
    [self](db::rreset_atom, const std::string& table) {
      auto& st = self->state;
      if (table == config_table && from_shard(self, st.conf_shard)) {
        st.records.clear(); // applied once the table came again
        st.conf_syncing = true;
      } else if (from_shard(self, st.mgmt_shard)) {
        st.ctx->auth.clear(table);
      }
    },
    [self](db::rsynced_atom, const std::string& table) { on_synced(self, table); },
    [self](conf_set_atom, const std::string& changes) -> caf::result<std::string> {
      if (!self->state.ctx->node->peers->allowed(self->current_sender()))
        return not_authenticated();
      return configure(self, changes);
    },
    [self](write_atom, const std::string& table, const std::string& key, bool present,
           const std::string& value) -> caf::result<std::string> {
      if (!from_own_system(self) || (table != sm::user_table && table != sm::api_key_table))
        return fail("refused");
      runtime::db::transaction txn{"", "mgmt_shard", {}};
      txn.ops.push_back({present ? runtime::db::op::write : runtime::db::op::erase, table, key, value});
      auto rp = self->make_response_promise();
      commit(self, std::move(txn), rp);
      return caf::delegated<std::string>{};
    },
    [self](inspect_atom) {
      return inspect_reply(self, *self->state.ctx->node->peers, [&] {
        auto& st = self->state;
        return std::to_string(st.records.size()) + " cluster config keys, "
               + std::to_string(st.ctx->auth.users().size()) + " users, "
               + std::to_string(st.ctx->auth.keys().size()) + " API keys, "
               + std::to_string(st.applied) + " changes applied";
      });
    },
  };
}

} // namespace

caf::actor spawn_mgmt_actor(mgmt_context& ctx);

void spawn_mgmt_actors(mgmt_context& ctx) {
  ctx.actor = spawn_mgmt_actor(ctx);
  auto& db = *ctx.node->db;
  ctx.tables = ctx.node->sys->spawn(tables_fn, &ctx, db.manager,
                                    db.shards.at("conf_shard"),
                                    db.shards.at("mgmt_shard"));
  ctx.node->directory->add(ctx.tables, "mgmt_tables", "mgmt_tables");
}

} // namespace starling::actors::mgmt
