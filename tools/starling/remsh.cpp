// starling remsh: the interactive actor-inspection shell, attached to a
// running node as a hidden node (Erlang's `erl -remsh`). Lines are evaluated
// on the node; this side only edits lines (libedit) and prints answers.

#include <cstdlib>
#include <iostream>

#include <editline/readline.h>

#include <boost/program_options.hpp>

#include "starling/actors/hidden_client.hpp"
#include "starling/client_options.hpp"

namespace po = boost::program_options;

namespace starling::tools {

namespace {

const char* usage = "usage: starling remsh NAME@HOST[:PORT] [-cookie C] "
                    "[-timeout SECONDS] [-wait SECONDS] [-eval 'COMMAND']\n"
                    "       [-ssl_certfile F -ssl_keyfile F -ssl_cacertfile F]"
                    "   (a node with node.dist_tls)\n";

std::string history_file() {
  auto home = std::getenv("HOME");
  return std::string(home ? home : ".") + "/.starling_remsh_history";
}

bool is_quit(const std::string& line) {
  auto l = line;
  while (!l.empty() && (l.back() == ' ' || l.back() == '.'))
    l.pop_back();
  return l == "quit" || l == "exit" || l == "q()" || l == "quit()";
}

int eval_one(actors::hidden_client& client, const std::string& line) {
  auto a = client.shell(line);
  if (!a.ok) {
    std::cerr << "error: " << a.text << "\n";
    return 1;
  }
  std::cout << a.text << (a.text.empty() || a.text.back() == '\n' ? "" : "\n");
  return 0;
}

int interactive(actors::hidden_client& client) {
  std::cout << "Starling remote shell on " << client.node()
            << " (type help, quit to leave)\n";
  auto hist = history_file();
  using_history();
  read_history(hist.c_str());
  int n = 1;
  for (;;) {
    auto prompt = "(" + client.node() + ")" + std::to_string(n) + "> ";
    char* raw = readline(prompt.c_str());
    if (raw == nullptr)
      break;
    std::string line(raw);
    std::free(raw);
    if (line.find_first_not_of(" \t") == std::string::npos)
      continue;
    add_history(line.c_str());
    if (is_quit(line))
      break;
    eval_one(client, line);
    ++n;
  }
  write_history(hist.c_str());
  return 0;
}

} // namespace

int remsh_main(const std::vector<std::string>& args) {
  po::options_description desc;
  desc.add_options()("cookie", po::value<std::string>())(
    "timeout", po::value<std::string>())("wait", po::value<std::string>())(
    "eval", po::value<std::string>())(
    "help", "")("node", po::value<std::string>())(
    "ssl_certfile", po::value<std::string>())(
    "ssl_keyfile", po::value<std::string>())(
    "ssl_cacertfile", po::value<std::string>());
  po::positional_options_description pos;
  pos.add("node", 1);
  po::variables_map vm;
  try {
    auto style = po::command_line_style::unix_style
                 | po::command_line_style::allow_long_disguise;
    po::store(po::command_line_parser(args)
                .options(desc)
                .positional(pos)
                .style(style)
                .run(),
              vm);
  } catch (const po::error& e) {
    std::cerr << "starling remsh: " << e.what() << "\n" << usage;
    return 2;
  }
  if (vm.count("help")) {
    std::cout << usage;
    return 0;
  }
  auto opt = [&](const char* key) -> std::optional<std::string> {
    if (vm.count(key))
      return vm[key].as<std::string>();
    return std::nullopt;
  };
  client_options opts;
  if (auto err = resolve_client_options(opt("node").value_or("starling@127.0.0.1"),
                                        opt("cookie"), opt("timeout"),
                                        opt("wait"), opts);
      !err.empty()) {
    std::cerr << "starling remsh: " << err << "\n" << usage;
    return 2;
  }
  if (auto err = resolve_tls_options(
        {opt("ssl_certfile"), opt("ssl_keyfile"), opt("ssl_cacertfile")}, opts);
      !err.empty()) {
    std::cerr << "starling remsh: " << err << "\n";
    return 2;
  }
  auto client = actors::hidden_client::connect(opts.node, opts.cookie, "remsh",
                                               opts.timeout, opts.wait, opts.tls);
  if (!client->ok()) {
    std::cerr << "error: cannot attach to " << opts.node.str() << ": "
              << client->error() << waited_text(opts) << "\n";
    exit_now(1);
  }
  if (auto line = opt("eval"))
    exit_now(eval_one(*client, *line));
  exit_now(interactive(*client));
}

} // namespace starling::tools
