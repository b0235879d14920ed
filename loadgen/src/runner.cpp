#include "starling/loadgen/runner.hpp"

#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <random>
#include <thread>
#include <variant>
#include <vector>

#include "starling/loadgen/engine.hpp"
#include "starling/loadgen/summary.hpp"

namespace starling::loadgen {

namespace {

std::atomic<int> caught_signal{0};

extern "C" void on_signal(int sig) {
  caught_signal.store(sig);
}

/// The broker addresses of `entries` (given with `flag`), or why a host
/// does not resolve.
std::variant<std::vector<target>, std::string>
resolve(const std::vector<std::string>& entries, const char* flag,
        const options& o) {
  std::vector<target> out;
  for (const auto& entry : entries) {
    // "host" (the -p port) or "host:port".
    auto parsed = split_host_port(entry);
    if (!parsed)
      return std::string(flag) + " '" + entry + "': the port must be 1..65535";
    const auto& host = parsed->host;
    auto port = parsed->port.value_or(o.port);
    addrinfo hints{};
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    int rc = getaddrinfo(host.c_str(), nullptr, &hints, &res);
    if (rc != 0 || res == nullptr)
      return "cannot resolve host '" + host + "': " + gai_strerror(rc);
    target t;
    t.addr = *reinterpret_cast<sockaddr_in*>(res->ai_addr);
    t.addr.sin_port = htons(port);
    t.text = host + ":" + std::to_string(port);
    freeaddrinfo(res);
    out.push_back(std::move(t));
  }
  return out;
}

/// Raises the soft open-files limit to what `count` connections need; an
/// error sentence when the hard limit is too low.
std::string raise_nofile(std::uint64_t count) {
  rlimit lim{};
  getrlimit(RLIMIT_NOFILE, &lim);
  rlim_t need = count + 64; // stdio, epoll sets, the json file
  if (lim.rlim_cur >= need)
    return "";
  if (lim.rlim_max < need)
    return std::to_string(count) + " connections need " +
           std::to_string(need) + " open files, but the hard limit "
           "(ulimit -Hn) is " + std::to_string(lim.rlim_max) +
           "; raise it (as root: ulimit -n " + std::to_string(need) + ")";
  lim.rlim_cur = need;
  if (setrlimit(RLIMIT_NOFILE, &lim) != 0)
    return std::string("cannot raise the open-files limit: ") +
           std::strerror(errno);
  return "";
}

/// Blocks SIGINT/SIGTERM in the calling thread (the engine threads inherit
/// the mask), so they reach the runner's thread only.
sigset_t block_signals() {
  sigset_t set, old;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, &old);
  return old;
}

void install_handlers() {
  struct sigaction sa{};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN); // sends use MSG_NOSIGNAL; this is a backstop
}

struct monitor_state {
  engine_stats last;
  double last_t = 0;
  bool ready_reported = false;
};

/// Merges the engines' counters, prints progress and the ready line, and
/// returns why the run should stop, or "".
std::string watch(const options& o, std::vector<std::unique_ptr<engine>>& engines,
                  run_shared& shared, double t, monitor_state& m,
                  std::ostream& err) {
  engine_stats now;
  for (auto& e : engines)
    now.merge(e->snapshot());
  if (!m.ready_reported && now.ready == o.count) {
    m.ready_reported = true;
    err << "bench " << to_string(o.mode) << ": ready: " << now.ready
        << " connections";
    if (o.mode == bench_mode::sub)
      err << ", " << now.subscriptions << " subscriptions";
    char secs[32];
    std::snprintf(secs, sizeof secs, "%.2f", t);
    err << " after " << secs << " s" << std::endl;
  }
  if (o.progress && t - m.last_t >= 1.0) {
    histogram interval;
    for (auto& e : engines)
      interval.merge(e->take_interval());
    err << progress_line(o, t, now, m.last, t - m.last_t, interval) << std::endl;
    m.last = now;
    m.last_t = t;
  }
  for (auto& e : engines)
    if (!e->error().empty())
      return "error";
  if (caught_signal.load() != 0)
    return "signal";
  if (o.duration_s > 0 && t >= o.duration_s)
    return "duration";
  if (o.mode == bench_mode::sub && o.limit > 0 && shared.received.load() >= o.limit)
    return "limit";
  if (o.mode == bench_mode::sub && o.idle_exit_s > 0 && now.last_receive_ns > 0 &&
      static_cast<double>(monotonic_ns() - now.last_receive_ns) / 1e9 >= o.idle_exit_s)
    return "idle";
  bool all_done = true;
  for (auto& e : engines)
    all_done = all_done && e->finished();
  return all_done ? "limit" : "";
}

int finish(const options& o, const summary& s, std::ostream& out,
           std::ostream& err) {
  out << format_summary(s) << std::flush;
  if (!s.error.empty())
    err << "starling bench: error: " << s.error << std::endl;
  if (!o.json_file.empty()) {
    std::ofstream f(o.json_file);
    f << to_json(s).dump(2) << "\n";
    if (!f) {
      err << "starling bench: cannot write " << o.json_file << std::endl;
      return 1;
    }
  }
  return s.error.empty() ? 0 : 1;
}

} // namespace

int run_bench(const options& o, std::ostream& out, std::ostream& err) {
  auto resolved = resolve(o.hosts, "-h/--host", o);
  auto again = resolve(o.reconnect_hosts, "--reconnect-to", o);
  for (auto* r : {&resolved, &again})
    if (auto* why = std::get_if<std::string>(r)) {
      err << "starling bench: " << *why << std::endl;
      return 1;
    }
  if (auto why = raise_nofile(o.count); !why.empty()) {
    err << "starling bench: " << why << std::endl;
    return 1;
  }
  std::vector<in_addr> sources;
  for (const auto& a : o.ifaddrs)
    sources.push_back(*parse_ipv4(a));
  run_shared shared;
  shared.send_budget = static_cast<std::int64_t>(o.limit);
  auto run_id = static_cast<std::uint32_t>(std::random_device{}());
  std::vector<std::unique_ptr<engine>> engines;
  for (unsigned i = 0; i < o.threads; ++i)
    engines.push_back(std::make_unique<engine>(
        o, i, std::get<std::vector<target>>(resolved),
        std::get<std::vector<target>>(again), sources, run_id, shared));
  auto start = monotonic_ns();
  auto old_mask = block_signals();
  std::vector<std::thread> threads;
  for (auto& e : engines)
    threads.emplace_back([&e] { e->run(); });
  pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  install_handlers();
  monitor_state m;
  std::string stopped_by;
  while (stopped_by.empty()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    double t = static_cast<double>(monotonic_ns() - start) / 1e9;
    stopped_by = watch(o, engines, shared, t, m, err);
  }
  shared.stop = true;
  for (auto& th : threads)
    th.join();
  engine_stats totals;
  histogram latency;
  std::string error;
  for (auto& e : engines) {
    totals.merge(e->totals());
    latency.merge(e->latency());
    if (error.empty())
      error = e->error();
  }
  double elapsed = static_cast<double>(monotonic_ns() - start) / 1e9;
  auto s = make_summary(o, totals, latency, elapsed, stopped_by, error);
  rusage self{};
  getrusage(RUSAGE_SELF, &self);
  s.cpu_s = static_cast<double>(self.ru_utime.tv_sec + self.ru_stime.tv_sec) +
            static_cast<double>(self.ru_utime.tv_usec + self.ru_stime.tv_usec) / 1e6;
  for (auto& e : engines)
    s.busiest_thread = std::max(s.busiest_thread, e->busy_share());
  return finish(o, s, out, err);
}

} // namespace starling::loadgen
