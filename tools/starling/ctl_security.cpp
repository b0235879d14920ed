// starling ctl: users, banned, authz and certs (security.md).

#include "starling/ctl_security.hpp"

#include <chrono>
#include <iostream>
#include <vector>

#include <openssl/rand.h>

#include "starling/broker/ban_list.hpp"
#include "starling/broker/password.hpp"
#include "starling/transport/dev_ca.hpp"

namespace starling::tools {

namespace {

constexpr const char* users_table = "mqtt_user";
constexpr const char* banned_table = "banned";

int print(const actors::hidden_client::answer& a) {
  if (!a.ok) {
    std::cerr << "error: " << a.text << "\n";
    return 1;
  }
  std::cout << a.text << (a.text.empty() || a.text.back() == '\n' ? "" : "\n");
  return 0;
}

bool matches(const std::vector<std::string>& cmd,
             const std::vector<std::string>& words) {
  if (cmd.size() != words.size())
    return false;
  for (size_t i = 0; i < words.size(); ++i)
    if (words[i] != "*" && words[i] != cmd[i])
      return false;
  return true;
}

/// The password argument, or a line from stdin for "-" (keeps it out of
/// the process list and the shell history).
std::string password_arg(const std::string& arg) {
  if (arg != "-")
    return arg;
  std::string line;
  std::getline(std::cin, line);
  return line;
}

int put_password(actors::hidden_client& c, const std::string& user,
                 const std::string& password, bool must_exist) {
  if (password.empty()) {
    std::cerr << "error: the password is empty\n";
    return 1;
  }
  auto existing = c.db_get(users_table, user);
  if (must_exist && !existing.ok) {
    std::cerr << "error: no user '" << user << "'\n";
    return 1;
  }
  if (!must_exist && existing.ok) {
    std::cerr << "error: user '" << user
              << "' exists (change its password with users passwd)\n";
    return 1;
  }
  std::vector<uint8_t> salt(16);
  if (RAND_bytes(salt.data(), static_cast<int>(salt.size())) != 1) {
    std::cerr << "error: no randomness for the salt\n";
    return 1;
  }
  return print(c.db_put(users_table, user, broker::hash_password(password, salt)));
}

int64_t now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

} // namespace

bool is_security_command(const std::vector<std::string>& cmd) {
  return !cmd.empty()
         && (cmd[0] == "users" || cmd[0] == "banned" || cmd[0] == "authz"
             || cmd[0] == "certs");
}

std::string check_security_command(const std::vector<std::string>& cmd,
                                   const security_options& opts) {
  bool known =
    matches(cmd, {"users", "add", "*", "*"}) || matches(cmd, {"users", "passwd", "*", "*"})
    || matches(cmd, {"users", "delete", "*"}) || matches(cmd, {"users", "list"})
    || matches(cmd, {"banned", "add", "*", "*"}) || matches(cmd, {"banned", "delete", "*", "*"})
    || matches(cmd, {"banned", "list"}) || matches(cmd, {"authz", "reload"})
    || matches(cmd, {"authz", "status"}) || matches(cmd, {"certs", "init", "*"})
    || matches(cmd, {"certs", "node", "*", "*"});
  if (!known)
    return "unknown command";
  if (cmd[0] == "banned" && cmd.size() == 4 && !broker::parse_ban_kind(cmd[2]))
    return "banned: the kind is clientid, username or peerhost, not '" + cmd[2] + "'";
  if (opts.until && !matches(cmd, {"banned", "add", "*", "*"}))
    return "--until goes with banned add";
  if (opts.until && !broker::parse_ban_until(*opts.until, now_s()))
    return "--until '" + *opts.until
           + "': expected a duration (30m, 2h, 7d) or a UTC time "
             "(2030-01-31T12:00:00Z) in the future";
  return {};
}

bool needs_node(const std::vector<std::string>& cmd) {
  return cmd[0] != "certs";
}

int certs_command(const std::vector<std::string>& cmd,
                  const security_options& opts) {
  transport::issued_files out;
  std::string err;
  if (cmd[1] == "init") {
    err = transport::create_ca(cmd[2], "Starling development CA", opts.days, out);
    if (err.empty())
      std::cout << "CA certificate " << out.cert << "\nCA key " << out.key
                << " (keep it private)\n";
  } else {
    err = transport::issue_certificate(cmd[3], cmd[2], opts.hosts, opts.days, out);
    if (err.empty())
      std::cout << "certificate " << out.cert << "\nkey " << out.key << "\n";
  }
  if (!err.empty()) {
    std::cerr << "error: " << err << "\n";
    return 1;
  }
  return 0;
}

int security_command(actors::hidden_client& c, const std::vector<std::string>& cmd,
                     const security_options& opts) {
  if (matches(cmd, {"users", "add", "*", "*"}))
    return put_password(c, cmd[2], password_arg(cmd[3]), false);
  if (matches(cmd, {"users", "passwd", "*", "*"}))
    return put_password(c, cmd[2], password_arg(cmd[3]), true);
  if (matches(cmd, {"users", "delete", "*"})) {
    if (!c.db_get(users_table, cmd[2]).ok) {
      std::cerr << "error: no user '" << cmd[2] << "'\n";
      return 1;
    }
    return print(c.db_delete(users_table, cmd[2]));
  }
  if (matches(cmd, {"users", "list"}))
    return print(c.shell("users()"));
  if (matches(cmd, {"banned", "add", "*", "*"})) {
    broker::ban b;
    b.kind = *broker::parse_ban_kind(cmd[2]);
    b.value = cmd[3];
    b.at_s = now_s();
    b.until_s = opts.until ? *broker::parse_ban_until(*opts.until, b.at_s) : 0;
    b.by = "ctl";
    return print(c.db_put(banned_table, b.key(), b.encode()));
  }
  if (matches(cmd, {"banned", "delete", "*", "*"})) {
    auto key = cmd[2] + ":" + cmd[3];
    if (!c.db_get(banned_table, key).ok) {
      std::cerr << "error: no ban " << key << "\n";
      return 1;
    }
    return print(c.db_delete(banned_table, key));
  }
  if (matches(cmd, {"banned", "list"}))
    return print(c.shell("banned()"));
  if (matches(cmd, {"authz", "reload"}))
    return print(c.shell("authz reload"));
  return print(c.shell("authz()"));
}

} // namespace starling::tools
