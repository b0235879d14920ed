#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "starling/runtime/node_name.hpp"

namespace starling::tools {

/// What ctl and remsh share: the target node, the cookie, the timeout.
struct client_options {
  runtime::node_name node;
  std::string cookie;
  std::chrono::milliseconds timeout{10000};
};

/// Fills `opts` from the target text, the -cookie value (or
/// STARLING_NODE__COOKIE, else the built-in default) and -timeout seconds.
/// Returns an error sentence, or "" on success.
std::string resolve_client_options(const std::string& node_text,
                                   const std::optional<std::string>& cookie,
                                   const std::optional<std::string>& timeout_s,
                                   client_options& opts);

/// Ends a client process with `rc` once its output is out, without waiting
/// for the actor system to shut down: a connect still pending inside CAF's
/// middleman (a peer that accepted TCP but never answered) would otherwise
/// keep the process alive until the kernel gives up (Erlang's nodetool halts
/// the same way).
[[noreturn]] void exit_now(int rc);

int ctl_main(const std::vector<std::string>& args);
int remsh_main(const std::vector<std::string>& args);

} // namespace starling::tools
