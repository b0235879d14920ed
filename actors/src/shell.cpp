#include "starling/actors/shell.hpp"

#include <functional>
#include <map>
#include <memory>

#include <caf/all.hpp>

#include "starling/actors/actor_directory.hpp"
#include "starling/actors/gather.hpp"
#include "starling/actors/db/context.hpp"
#include "starling/actors/wire/db.hpp"
#include "starling/actors/mqtt/access.hpp"
#include "starling/actors/mqtt/context.hpp"
#include "starling/actors/mqtt/protocol.hpp"
#include "starling/actors/inspect.hpp"
#include "starling/actors/node_context.hpp"
#include "starling/actors/peer_registry.hpp"
#include "starling/actors/wire/node.hpp"
#include "starling/runtime/cluster/status_text.hpp"
#include "starling/runtime/db/status.hpp"
#include "starling/runtime/shell_text.hpp"

namespace starling::actors {

namespace {

constexpr auto inspect_timeout = std::chrono::seconds(1);

struct shell_state {
  node_context* ctx = nullptr;
  caf::actor agent;
  uint64_t evaluated = 0;
  static inline const char* name = "shell";
};

using shell_actor = caf::stateful_actor<shell_state>;
using reply = caf::typed_response_promise<std::string>;

struct command {
  std::string usage;
  std::string help;
  size_t min_args;
  size_t max_args;
  std::function<void(shell_actor*, const std::vector<std::string>&, reply)> run;
};

void deliver_list(reply rp, const std::vector<std::string>& names) {
  std::string out = "[";
  for (size_t i = 0; i < names.size(); ++i)
    out += (i ? ", '" : "'") + names[i] + "'";
  rp.deliver(out + "]");
}

void run_nodes(shell_actor* self, const std::vector<std::string>& args,
               reply rp) {
  if (!args.empty() && args[0] != "hidden" && args[0] != "visible") {
    rp.deliver(fail("nodes() takes no argument, 'visible' or 'hidden'"));
    return;
  }
  bool hidden = !args.empty() && args[0] == "hidden";
  self->request(self->state.agent, inspect_timeout, nodes_atom::value, hidden)
    .then([rp](const std::vector<std::string>& names) { deliver_list(rp, names); },
          [rp](caf::error& err) mutable { rp.deliver(err); });
}

void run_members(shell_actor* self, const std::vector<std::string>&,
                 reply rp) {
  auto now = self->state.ctx->now_ms();
  self->request(self->state.agent, inspect_timeout, members_atom::value)
    .then(
      [rp, now](const std::vector<member_wire>& members) mutable {
        std::vector<std::vector<std::string>> rows;
        for (auto& m : members)
          rows.push_back({m.name, m.role, m.status,
                          runtime::format_duration_ms(now - m.started_at_ms),
                          m.host + ":" + std::to_string(m.port)});
        rp.deliver(runtime::format_table(
          {"NODE", "ROLE", "STATUS", "AGE", "ADDRESS"}, rows));
      },
      [rp](caf::error& err) mutable { rp.deliver(err); });
}

/// Asks every listed actor for its one-line state; an actor that does not
/// answer in time is shown as busy rather than holding up the listing.
void run_actors(shell_actor* self, const std::vector<std::string>&, reply rp) {
  auto entries = self->state.ctx->directory->list();
  struct row {
    std::string mailbox = "?";
    std::string state = "(no answer within 1 s)";
  };
  auto rows = std::make_shared<std::vector<row>>(entries.size());
  auto running = self->system().registry().running();
  auto finish = [=]() mutable {
    std::vector<std::vector<std::string>> table;
    for (size_t i = 0; i < entries.size(); ++i)
      table.push_back({entries[i].ref, entries[i].name,
                       entries[i].kind, (*rows)[i].mailbox, (*rows)[i].state});
    rp.deliver(runtime::format_table({"ID", "NAME", "KIND", "MAILBOX", "STATE"},
                                     table)
               + std::to_string(entries.size()) + " starling actors; "
               + std::to_string(running)
               + " actors running in the system (CAF's hidden ones not "
                 "counted)");
  };
  std::vector<caf::actor> handles;
  for (auto& e : entries)
    handles.push_back(e.handle);
  gather<std::string, uint64_t>(
    self, handles, inspect_timeout,
    [=](size_t i, const std::string& state, uint64_t mailbox) {
      (*rows)[i] = {std::to_string(mailbox), state};
    },
    [](size_t, caf::error&) {}, finish, inspect_atom::value);
}

void run_actor(shell_actor* self, const std::vector<std::string>& args,
               reply rp) {
  auto e = self->state.ctx->directory->find(args[0]);
  if (!e) {
    rp.deliver(fail("no actor with id or name '" + args[0]
                    + "' (see actors())"));
    return;
  }
  auto entry = *e;
  self->request(entry.handle, inspect_timeout, inspect_atom::value)
    .then(
      [rp, entry](const std::string& state, uint64_t mailbox) mutable {
        rp.deliver("id:      " + entry.ref + "\nname:    "
                   + entry.name + "\nkind:    " + entry.kind
                   + "\nmailbox: " + std::to_string(mailbox)
                   + "\nstate:   " + state + "\n");
      },
      [rp, entry](caf::error& err) mutable {
        rp.deliver(fail(entry.name + " did not answer: " + describe(err)));
      });
}

/// Asks an MQTT actor for a listing (clients, routes, ...).
template <class... Ts>
void ask_mqtt(shell_actor* self, caf::actor (*which)(mqtt::mqtt_context&),
              reply rp, Ts... xs) {
  auto m = self->state.ctx->mqtt;
  if (m == nullptr) {
    rp.deliver(fail("the MQTT broker is not running on this node"));
    return;
  }
  self->request(which(*m), std::chrono::seconds(5), xs...)
    .then([rp](const std::string& text) mutable { rp.deliver(text); },
          [rp](caf::error& err) mutable { rp.deliver(err); });
}

caf::actor manager_of(mqtt::mqtt_context& m) {
  return m.manager;
}

caf::actor router_of(mqtt::mqtt_context& m) {
  return m.router;
}

caf::actor access_of(mqtt::mqtt_context& m) {
  return m.access_actor;
}

/// listeners(): every MQTT listener's address and limits (their inspect
/// lines: accepted, connections, max_connections, max_conn_rate, refused).
void run_listeners(shell_actor* self, const std::vector<std::string>&,
                   reply rp) {
  std::vector<actor_directory::entry> listeners;
  for (auto& e : self->state.ctx->directory->list())
    if (e.kind == "mqtt_listener")
      listeners.push_back(e);
  auto rows = std::make_shared<std::vector<std::vector<std::string>>>();
  std::vector<caf::actor> handles;
  for (auto& e : listeners) {
    rows->push_back({e.name, "(no answer within 1 s)"});
    handles.push_back(e.handle);
  }
  gather<std::string, uint64_t>(
    self, handles, inspect_timeout,
    [=](size_t i, const std::string& state, uint64_t) { (*rows)[i][1] = state; },
    [](size_t, caf::error&) {},
    [=]() mutable { rp.deliver(runtime::format_table({"LISTENER", "STATE"}, *rows)); },
    inspect_atom::value);
}

const std::map<std::string, command>& commands();

void run_rlog(shell_actor* self, const std::vector<std::string>& args,
              reply rp) {
  if (args[0] != "status") {
    rp.deliver(fail("usage: rlog status"));
    return;
  }
  auto db = self->state.ctx->db;
  if (db == nullptr || !db->manager) {
    rp.deliver(fail("the database is not running on this node"));
    return;
  }
  self->request(db->manager, std::chrono::seconds(5), db::rlog_atom::value,
                status_atom::value)
    .then(
      [rp](const std::string& text) mutable {
        rp.deliver(runtime::db::format_rlog_status(nlohmann::json::parse(text)));
      },
      [rp](caf::error& err) mutable { rp.deliver(err); });
}

void run_help(shell_actor*, const std::vector<std::string>&, reply rp) {
  std::vector<std::vector<std::string>> rows;
  for (auto& [name, cmd] : commands())
    rows.push_back({cmd.usage, cmd.help});
  rows.push_back({"quit", "leave the shell (the node keeps running)"});
  rp.deliver(runtime::format_table({"COMMAND", "WHAT IT DOES"}, rows));
}

const std::map<std::string, command>& commands() {
  static const std::map<std::string, command> table{
    {"help", {"help", "this list", 0, 0, run_help}},
    {"node",
     {"node()", "this node's name", 0, 0,
      [](shell_actor* self, const std::vector<std::string>&, reply rp) {
        rp.deliver("'" + self->state.ctx->cfg.name.str() + "'");
      }}},
    {"nodes",
     {"nodes() | nodes(hidden)",
      "connected cluster nodes; hidden: attached ctl/remsh sessions", 0, 1,
      run_nodes}},
    {"members",
     {"members()", "every member with role, status and age", 0, 0,
      run_members}},
    {"actors",
     {"actors()", "every actor of this node: id, name, kind, mailbox, state",
      0, 0, run_actors}},
    {"actor",
     {"actor <id|name>", "one actor in detail", 1, 1, run_actor}},
    {"clients",
     {"clients()", "MQTT clients with their session state", 0, 0,
      [](shell_actor* self, const std::vector<std::string>&, reply rp) {
        ask_mqtt(self, manager_of, rp, mqtt::clients_atom::value);
      }}},
    {"client",
     {"client <id>", "one MQTT client: state, subscriptions, inflight, queue",
      1, 1,
      [](shell_actor* self, const std::vector<std::string>& args, reply rp) {
        ask_mqtt(self, manager_of, rp, mqtt::client_atom::value, args[0]);
      }}},
    {"subscriptions",
     {"subscriptions()", "every subscription: client, filter, QoS, options",
      0, 0,
      [](shell_actor* self, const std::vector<std::string>&, reply rp) {
        ask_mqtt(self, router_of, rp, mqtt::subscriptions_atom::value);
      }}},
    {"rlog",
     {"rlog status", "replicated database: shards, upstream, seqno, lag, "
                     "subscribers, merge tables", 1, 1, run_rlog}},
    {"routes",
     {"routes()", "topic filters -> nodes with subscribers", 0, 0,
      [](shell_actor* self, const std::vector<std::string>&, reply rp) {
        ask_mqtt(self, router_of, rp, mqtt::routes_atom::value);
      }}},
    {"listeners",
     {"listeners()", "MQTT listeners: address, connections, max_connections, "
                     "max_conn_rate, refused", 0, 0, run_listeners}},
    {"users",
     {"users()", "MQTT users of the built-in database", 0, 0,
      [](shell_actor* self, const std::vector<std::string>&, reply rp) {
        ask_mqtt(self, access_of, rp, mqtt::users_atom::value);
      }}},
    {"banned",
     {"banned()", "banned clients with their expiry", 0, 0,
      [](shell_actor* self, const std::vector<std::string>&, reply rp) {
        ask_mqtt(self, access_of, rp, mqtt::banned_atom::value);
      }}},
    {"authz",
     {"authz() | authz reload", "the ACL in force and its counters; reload: "
                                "re-read authz.file", 0, 1,
      [](shell_actor* self, const std::vector<std::string>& args, reply rp) {
        if (args.empty())
          ask_mqtt(self, access_of, rp, mqtt::authz_atom::value);
        else if (args[0] == "reload")
          ask_mqtt(self, access_of, rp, mqtt::authz_atom::value,
                   mqtt::reload_atom::value);
        else
          rp.deliver(fail("usage: authz() | authz reload"));
      }}},
    {"partitions",
     {"partitions()", "the partition alarm, autoheal, the last heal", 0, 0,
      [](shell_actor* self, const std::vector<std::string>&, reply rp) {
        self
          ->request(self->state.agent, inspect_timeout, cluster_atom::value,
                    status_atom::value)
          .then(
            [rp](const std::string& text) mutable {
              rp.deliver(runtime::cluster::format_cluster_health(
                nlohmann::json::parse(text)));
            },
            [rp](caf::error& err) mutable { rp.deliver(err); });
      }}},
  };
  return table;
}

caf::behavior shell(shell_actor* self, node_context* ctx, caf::actor agent) {
  self->state.ctx = ctx;
  self->state.agent = std::move(agent);
  self->set_error_handler([self](caf::error& err) {
    self->state.ctx->log->warning("shell: " + describe(err));
  });
  return {
    [self](shell_atom, const std::string& line) -> caf::result<std::string> {
      auto& st = self->state;
      if (!st.ctx->peers->allowed(self->current_sender()))
        return not_authenticated();
      std::string err;
      auto cmd = runtime::parse_shell_command(line, err);
      if (!cmd)
        return err.empty() ? caf::result<std::string>(std::string{})
                           : caf::result<std::string>(fail(err));
      auto i = commands().find(cmd->name);
      if (i == commands().end())
        return fail("unknown command '" + cmd->name + "' (type help)");
      auto& c = i->second;
      if (cmd->args.size() < c.min_args || cmd->args.size() > c.max_args)
        return fail("usage: " + c.usage);
      ++st.evaluated;
      auto rp = self->make_response_promise<std::string>();
      c.run(self, cmd->args, rp);
      return rp;
    },
    [self](inspect_atom) {
      return inspect_reply(self, *self->state.ctx->peers, [&] {
        return std::to_string(self->state.evaluated) + " commands evaluated";
      });
    },
  };
}

} // namespace

caf::actor spawn_shell(node_context& ctx, const caf::actor& agent) {
  auto a = ctx.sys->spawn(shell, &ctx, agent);
  ctx.directory->add(a, "shell", "shell");
  return a;
}

} // namespace starling::actors
