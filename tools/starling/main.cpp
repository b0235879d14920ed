// starling: the node, and its operator tools (ctl, remsh) as subcommands.

#include <unistd.h>

#include <iostream>
#include <string>
#include <vector>

#include "starling/actors/node.hpp"
#include "starling/client_options.hpp"
#include "starling/runtime/node_config.hpp"
#include "starling/runtime/version.hpp"

extern char** environ;

namespace starling::tools {
/// `starling bench`: the MQTT load generator (bench.cpp).
int bench_main(std::vector<std::string> args);
} // namespace starling::tools

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.size() == 1
      && (args[0] == "version" || args[0] == "-version"
          || args[0] == "--version")) {
    std::cout << starling::runtime::version_line() << "\n";
    return 0;
  }
  if (!args.empty() && args[0] == "ctl")
    return starling::tools::ctl_main({args.begin() + 1, args.end()});
  if (!args.empty() && args[0] == "remsh")
    return starling::tools::remsh_main({args.begin() + 1, args.end()});
  if (!args.empty() && args[0] == "bench")
    return starling::tools::bench_main({args.begin() + 1, args.end()});
  starling::runtime::config_inputs in;
  in.args = args;
  for (char** e = environ; *e != nullptr; ++e)
    in.environment.emplace_back(*e);
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  in.hostname = host;
  auto res = starling::runtime::load_node_config(in);
  if (res.help) {
    std::cout << res.help_text;
    return 0;
  }
  if (!res.config) {
    std::cerr << "starling: " << res.error << "\n";
    return 2;
  }
  return starling::actors::run_node(*res.config);
}
