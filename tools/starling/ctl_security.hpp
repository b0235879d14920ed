#pragma once

// starling ctl's security commands: users, banned, authz, certs.

#include <optional>
#include <string>
#include <vector>

#include "starling/actors/hidden_client.hpp"

namespace starling::tools {

struct security_options {
  std::optional<std::string> until; ///< banned add --until
  std::vector<std::string> hosts;   ///< certs node --host (repeatable)
  int days = 825;                   ///< certs --days
};

bool is_security_command(const std::vector<std::string>& cmd);
/// Why the command is malformed, or "" (checked before connecting).
std::string check_security_command(const std::vector<std::string>& cmd,
                                   const security_options& opts);
/// Everything but certs talks to a node.
bool needs_node(const std::vector<std::string>& cmd);
int certs_command(const std::vector<std::string>& cmd,
                  const security_options& opts);
int security_command(actors::hidden_client& c, const std::vector<std::string>& cmd,
                     const security_options& opts);

} // namespace starling::tools
