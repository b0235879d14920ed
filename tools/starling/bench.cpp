// starling bench: the MQTT load generator (conn, sub, pub), in the manner of
// emqtt_bench. The engine is loadgen/ (plain C++ on epoll); this file only
// turns the command line into loadgen::options.

#include <unistd.h>

#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include <boost/program_options.hpp>

#include "starling/loadgen/options.hpp"
#include "starling/runtime/node_config.hpp"
#include "starling/loadgen/runner.hpp"

namespace po = boost::program_options;

namespace starling::tools {

namespace {

const char* usage =
  "usage: starling bench conn|sub|pub [OPTIONS]\n"
  "  conn: open connections and hold them; sub: subscribe and measure;\n"
  "  pub: publish at a rate (or as fast as possible) with a stamp that\n"
  "  subscribers turn into latency and loss figures.\n"
  "connections:\n"
  "  -h, --host H[,H..]       brokers, round robin (127.0.0.1); H or H:PORT\n"
  "  -p, --port N             MQTT port (1883)\n"
  "  -V, --version 3|4|5      MQTT 3.1, 3.1.1 or 5 (4)\n"
  "  -c, --count N            clients (1)\n"
  "  -R, --connrate N         new connections per second (0: no limit)\n"
  "      --prefix P           client id prefix; id = P + index (<mode>-<pid>-)\n"
  "  -n, --startnumber N      first client index (0)\n"
  "  -k, --keepalive S        keepalive seconds (300)\n"
  "  -C, --clean true|false   clean start / clean session (true)\n"
  "  -x, --session-expiry S   MQTT 5 session expiry seconds (0)\n"
  "  -u, --username U         -P, --password P\n"
  "      --ifaddr A[,A..]     source addresses, round robin (e.g. 127.0.0.2,\n"
  "                           127.0.0.3: ~28k connections per address)\n"
  "  -j, --threads N          event loops, one thread each (1)\n"
  "messages:\n"
  "  -t, --topic T            topic template: %i client index, %c client id,\n"
  "                           %j filter index (sub), %% a percent sign\n"
  "      --filters-per-client N  sub: subscriptions per client, with %j (1)\n"
  "  -q, --qos 0|1|2          QoS of publishes and subscriptions (0)\n"
  "  -s, --size N             payload bytes, at least 24 for pub (256)\n"
  "  -I, --interval MS        pub: each publisher every MS ms; 0 = as fast as\n"
  "                           possible (1000)\n"
  "  -r, --rate N             pub: N messages per second in total (not with -I)\n"
  "  -L, --limit N            pub: messages to send, sub: to receive (0: none)\n"
  "      --inflight N         pub: unacknowledged QoS 1/2 per client (32)\n"
  "run:\n"
  "      --duration S         stop after S seconds (0: until Ctrl-C)\n"
  "      --idle-exit S        sub: stop S seconds after the last message\n"
  "      --reconnect          conn: a client the broker disconnects or refuses\n"
  "                           connects again, to the MQTT 5 Server Reference\n"
  "                           or the next host (rebalance, evacuation)\n"
  "      --reconnect-to H[:P][,H[:P]..]  with --reconnect: reconnect round\n"
  "                           robin over these instead (a load balancer)\n"
  "      --delayed-ack        delay TCP ACKs (TCP_QUICKACK off after each\n"
  "                           read): floods from a broker with Nagle on\n"
  "      --json FILE          write the summary as JSON\n"
  "      --quiet              no progress lines\n"
  "      --help               this text\n"
  "exit codes: 0 done, 1 the run failed (refused, dropped), 2 usage error\n";

int usage_error(const std::string& why) {
  // The option list is long; the error and a pointer to it are enough.
  std::cerr << "starling bench: " << why
            << "\nusage: starling bench conn|sub|pub [OPTIONS]; see "
               "'starling bench --help'\n";
  return 2;
}

po::options_description describe() {
  po::options_description d;
  // Integers are read as long long and range-checked here: program_options
  // would read "-1" into an unsigned option as 2^64 - 1.
  d.add_options()
    ("mode", po::value<std::string>())
    ("host,h", po::value<std::string>())
    ("port,p", po::value<long long>())
    ("version,V", po::value<long long>())
    ("count,c", po::value<long long>())
    ("connrate,R", po::value<double>())
    ("prefix", po::value<std::string>())
    ("startnumber,n", po::value<long long>())
    ("keepalive,k", po::value<long long>())
    ("clean,C", po::value<std::string>())
    ("session-expiry,x", po::value<long long>())
    ("username,u", po::value<std::string>())
    ("password,P", po::value<std::string>())
    ("ifaddr", po::value<std::string>())
    ("threads,j", po::value<long long>())
    ("topic,t", po::value<std::string>())
    ("filters-per-client", po::value<long long>())
    ("qos,q", po::value<long long>())
    ("size,s", po::value<long long>())
    ("interval,I", po::value<double>())
    ("rate,r", po::value<double>())
    ("limit,L", po::value<long long>())
    ("inflight", po::value<long long>())
    ("duration", po::value<double>())
    ("idle-exit", po::value<double>())
    ("delayed-ack", "")
    ("reconnect", "")
    ("reconnect-to", po::value<std::string>())
    ("json", po::value<std::string>())
    ("quiet", "")
    ("help", "");
  return d;
}

/// Reads the integer option `name` into `out` if given; an error sentence
/// when it is outside [lo, hi].
template <class T>
std::string read_int(const po::variables_map& vm, const char* name,
                     const char* flag, long long lo, long long hi, T& out) {
  if (!vm.count(name))
    return "";
  auto v = vm[name].as<long long>();
  if (v < lo || v > hi)
    return std::string(flag) + " must be " + std::to_string(lo) + ".." +
           std::to_string(hi) + ", not " + std::to_string(v);
  out = static_cast<T>(v);
  return "";
}

std::string read_ints(const po::variables_map& vm, loadgen::options& o) {
  const long long big = 1LL << 62;
  for (auto e : {
         read_int(vm, "port", "-p/--port", 1, 65535, o.port),
         read_int(vm, "version", "-V/--version", 3, 5, o.version),
         read_int(vm, "count", "-c/--count", 1, 10'000'000, o.count),
         read_int(vm, "startnumber", "-n/--startnumber", 0, big, o.start_index),
         read_int(vm, "keepalive", "-k/--keepalive", 0, 65535, o.keepalive_s),
         read_int(vm, "session-expiry", "-x/--session-expiry", 0, 4294967295LL,
                  o.session_expiry_s),
         read_int(vm, "threads", "-j/--threads", 1, 64, o.threads),
         read_int(vm, "filters-per-client", "--filters-per-client", 1,
                  1'000'000, o.filters_per_client),
         read_int(vm, "qos", "-q/--qos", 0, 2, o.qos),
         read_int(vm, "size", "-s/--size", 0, 268'435'456, o.payload_size),
         read_int(vm, "limit", "-L/--limit", 0, big, o.limit),
         read_int(vm, "inflight", "--inflight", 1, 65535, o.inflight),
       })
    if (!e.empty())
      return e;
  return "";
}

/// Fills `o` from the parsed command line; an error sentence on bad input.
std::string to_options(const po::variables_map& vm, loadgen::options& o) {
  auto mode = loadgen::parse_mode(vm["mode"].as<std::string>());
  if (!mode)
    return "unknown mode '" + vm["mode"].as<std::string>() +
           "': use conn, sub or pub";
  o.mode = *mode;
  if (auto e = read_ints(vm, o); !e.empty())
    return e;
  auto str = [&](const char* k) -> std::optional<std::string> {
    if (vm.count(k))
      return vm[k].as<std::string>();
    return std::nullopt;
  };
  auto num = [&](const char* k) -> std::optional<double> {
    if (vm.count(k))
      return vm[k].as<double>();
    return std::nullopt;
  };
  if (auto h = str("host"))
    o.hosts = loadgen::split_list(*h);
  if (auto c = str("clean")) {
    auto b = runtime::parse_bool(*c);
    if (!b)
      return "-C/--clean must be true or false, not '" + *c + "'";
    o.clean_start = *b;
  }
  if (auto r = str("reconnect-to"))
    o.reconnect_hosts = loadgen::split_list(*r);
  if (auto a = str("ifaddr"))
    o.ifaddrs = loadgen::split_list(*a);
  o.prefix = str("prefix").value_or("");
  o.topic = str("topic").value_or("");
  o.username = str("username");
  o.password = str("password");
  o.json_file = str("json").value_or("");
  o.connect_rate = num("connrate").value_or(0);
  o.interval_ms = num("interval");
  o.rate = num("rate");
  o.duration_s = num("duration").value_or(0);
  o.idle_exit_s = num("idle-exit").value_or(0);
  o.progress = vm.count("quiet") == 0;
  o.delayed_ack = vm.count("delayed-ack") != 0;
  o.reconnect = vm.count("reconnect") != 0;
  return "";
}

} // namespace

int bench_main(std::vector<std::string> args) {
  po::positional_options_description pos;
  pos.add("mode", 1);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args)
                .options(describe())
                .positional(pos)
                .style(po::command_line_style::unix_style)
                .run(),
              vm);
  } catch (const po::error& e) {
    return usage_error(e.what());
  }
  if (vm.count("help")) {
    std::cout << usage;
    return 0;
  }
  if (!vm.count("mode"))
    return usage_error("no mode given");
  loadgen::options o;
  if (auto e = to_options(vm, o); !e.empty())
    return usage_error(e);
  if (auto e = loadgen::validate(o, static_cast<int>(getpid())))
    return usage_error(*e);
  return loadgen::run_bench(o, std::cout, std::cerr);
}

} // namespace starling::tools
