#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "starling/runtime/node_config.hpp"
#include "starling/runtime/node_name.hpp"

namespace starling::tools {

/// What ctl and remsh share: the target node, the cookie, the timeout.
struct client_options {
  runtime::node_name node;
  std::string cookie;
  std::chrono::milliseconds timeout{10000};
  /// -wait: how long to keep trying while the node is not up yet.
  std::chrono::milliseconds wait{0};
  /// Distribution over mutual TLS: -ssl_certfile, -ssl_keyfile,
  /// -ssl_cacertfile, else the node's own STARLING_NODE__DIST_TLS and
  /// STARLING_NODE__SSL__* variables.
  runtime::dist_tls_settings tls;
};

/// The -ssl_* values given on the command line.
struct tls_args {
  std::optional<std::string> certfile, keyfile, cacertfile;
};

/// Fills `opts.tls` from `args`, else the environment; checks that the
/// files load (CAF would fail on them later, on its I/O thread). Returns an
/// error sentence, or "".
std::string resolve_tls_options(const tls_args& args, client_options& opts);

/// Fills `opts` from the target text, the -cookie value (else
/// STARLING_NODE__COOKIE, else the file STARLING_NODE__COOKIE_FILE names or
/// /etc/starling/cookie, else the built-in default), -timeout and -wait
/// seconds. Returns an error sentence, or "" on success.
std::string resolve_client_options(const std::string& node_text,
                                   const std::optional<std::string>& cookie,
                                   const std::optional<std::string>& timeout_s,
                                   const std::optional<std::string>& wait_s,
                                   client_options& opts);

/// What to add to "cannot reach ..." when -wait was given: " (waited 20 s)".
std::string waited_text(const client_options& opts);

/// Ends a client process with `rc` once its output is out, without waiting
/// for the actor system to shut down: a connect still pending inside CAF's
/// middleman (a peer that accepted TCP but never answered) would otherwise
/// keep the process alive until the kernel gives up (Erlang's nodetool halts
/// the same way).
[[noreturn]] void exit_now(int rc);

int ctl_main(const std::vector<std::string>& args);
int remsh_main(const std::vector<std::string>& args);

} // namespace starling::tools
