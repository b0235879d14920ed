#include "starling/client_options.hpp"

#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "starling/runtime/cookie_file.hpp"
#include "starling/runtime/node_config.hpp"
#include "starling/transport/tls.hpp"

namespace starling::tools {

void exit_now(int rc) {
  std::cout.flush();
  std::cerr.flush();
  std::fflush(nullptr);
  std::_Exit(rc);
}

namespace {

/// The cookie of a node on this host: the file STARLING_NODE__COOKIE_FILE
/// names (as it does for the node), else the packaged node's
/// /etc/starling/cookie. Without one, the built-in default, as before; a
/// file that exists but cannot be read (not root, not the starling user) is
/// said, so a refused handshake is not a mystery.
std::string cookie_from_file() {
  auto env = std::getenv("STARLING_NODE__COOKIE_FILE");
  bool named = env != nullptr && *env != '\0';
  auto read = runtime::read_cookie_file(named ? env : runtime::default_cookie_file);
  if (!read.cookie.empty())
    return read.cookie;
  if (named || !read.missing)
    std::cerr << "warning: " << read.error
              << "; using the built-in default cookie (give -cookie)\n";
  return runtime::default_cookie;
}

} // namespace

std::string resolve_client_options(const std::string& node_text,
                                   const std::optional<std::string>& cookie,
                                   const std::optional<std::string>& timeout_s,
                                   const std::optional<std::string>& wait_s,
                                   client_options& opts) {
  std::string err;
  auto name = runtime::parse_node_name(node_text, err);
  if (!name)
    return err;
  opts.node = *name;
  if (cookie)
    opts.cookie = *cookie;
  else if (auto env = std::getenv("STARLING_NODE__COOKIE"))
    opts.cookie = env;
  else
    opts.cookie = cookie_from_file();
  if (opts.cookie.empty())
    return "the cookie is empty";
  auto seconds = [](const char* opt, const std::optional<std::string>& text,
                    std::chrono::milliseconds& out) -> std::string {
    if (!text)
      return {};
    char* end = nullptr;
    auto secs = std::strtod(text->c_str(), &end);
    if (end == text->c_str() || *end != '\0' || secs <= 0 || secs > 3600)
      return std::string("invalid ") + opt + " '" + *text
             + "': expected seconds between 0 and 3600";
    out = std::chrono::milliseconds(static_cast<int64_t>(secs * 1000));
    return {};
  };
  if (auto err = seconds("-timeout", timeout_s, opts.timeout); !err.empty())
    return err;
  return seconds("-wait", wait_s, opts.wait);
}

std::string resolve_tls_options(const tls_args& args, client_options& opts) {
  auto env = [](const char* name) -> std::string {
    auto v = std::getenv(name);
    return v ? v : "";
  };
  auto& t = opts.tls;
  t.certfile = args.certfile.value_or(env("STARLING_NODE__SSL__CERTFILE"));
  t.keyfile = args.keyfile.value_or(env("STARLING_NODE__SSL__KEYFILE"));
  t.cacertfile = args.cacertfile.value_or(env("STARLING_NODE__SSL__CACERTFILE"));
  bool given = args.certfile || args.keyfile || args.cacertfile;
  t.enabled = given || runtime::parse_bool(env("STARLING_NODE__DIST_TLS")).value_or(false);
  if (!t.enabled)
    return {};
  if (t.certfile.empty() || t.keyfile.empty() || t.cacertfile.empty())
    return "TLS distribution needs -ssl_certfile, -ssl_keyfile and "
           "-ssl_cacertfile (or STARLING_NODE__SSL__CERTFILE, ...KEYFILE, "
           "...CACERTFILE)";
  std::string err;
  if (!transport::tls_context::client({t.certfile, t.keyfile, t.cacertfile,
                                       true, false},
                                      err))
    return err;
  return {};
}

std::string waited_text(const client_options& opts) {
  if (opts.wait.count() == 0)
    return {};
  auto ms = opts.wait.count();
  return " (waited " + (ms % 1000 == 0 ? std::to_string(ms / 1000) + " s"
                                       : std::to_string(ms) + " ms")
         + ")";
}

} // namespace starling::tools
