#include "starling/client_options.hpp"

#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "starling/runtime/node_config.hpp"

namespace starling::tools {

void exit_now(int rc) {
  std::cout.flush();
  std::cerr.flush();
  std::fflush(nullptr);
  std::_Exit(rc);
}

std::string resolve_client_options(const std::string& node_text,
                                   const std::optional<std::string>& cookie,
                                   const std::optional<std::string>& timeout_s,
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
    opts.cookie = runtime::default_cookie;
  if (opts.cookie.empty())
    return "the cookie is empty";
  if (timeout_s) {
    char* end = nullptr;
    auto secs = std::strtod(timeout_s->c_str(), &end);
    if (end == timeout_s->c_str() || *end != '\0' || secs <= 0 || secs > 3600)
      return "invalid -timeout '" + *timeout_s
             + "': expected seconds between 0 and 3600";
    opts.timeout = std::chrono::milliseconds(static_cast<int64_t>(secs * 1000));
  }
  return {};
}

} // namespace starling::tools
