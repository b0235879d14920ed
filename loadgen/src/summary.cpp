#include "starling/loadgen/summary.hpp"

#include <cstdio>

namespace starling::loadgen {

namespace {

/// count per second over [first, last]; 0 for a single instant. A flood
/// small enough to fit the socket buffers gives huge figures: it measures
/// the kernel, not the broker.
double rate(std::uint64_t count, std::uint64_t first, std::uint64_t last) {
  if (count == 0 || last <= first)
    return 0;
  return static_cast<double>(count) * 1e9 / static_cast<double>(last - first);
}

std::string fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

double us(std::uint64_t ns) {
  return static_cast<double>(ns) / 1000.0;
}

} // namespace

double summary::connect_s() const noexcept {
  if (totals.all_ready_ns == 0 || totals.first_connect_ns == 0)
    return 0;
  return static_cast<double>(totals.all_ready_ns - totals.first_connect_ns) / 1e9;
}

double summary::send_rate() const noexcept {
  return rate(totals.sent, totals.first_send_ns, totals.last_send_ns);
}

double summary::receive_rate() const noexcept {
  // From the first message's publication, when it is stamped: a broker that
  // holds messages back and delivers them in one burst at the end gets the
  // rate of the whole delivery, not of the burst.
  return rate(totals.received,
              engine_stats::earliest(totals.first_receive_ns,
                                     totals.first_stamp_ns),
              totals.last_receive_ns);
}

summary make_summary(const options& o, const engine_stats& totals,
                     const histogram& latency, double elapsed_s,
                     std::string stopped_by, std::string error) {
  summary s;
  s.mode = o.mode;
  s.version = o.version;
  s.qos = o.qos;
  s.clients = o.count;
  s.payload_size = o.payload_size;
  s.totals = totals;
  s.latency_ns = summarize(latency);
  s.elapsed_s = elapsed_s;
  s.stopped_by = std::move(stopped_by);
  s.error = std::move(error);
  return s;
}

std::string format_duration_ns(std::uint64_t ns) {
  if (ns < 1'000'000)
    return fixed(us(ns), 0) + "us";
  if (ns < 1'000'000'000)
    return fixed(static_cast<double>(ns) / 1e6, 1) + "ms";
  return fixed(static_cast<double>(ns) / 1e9, 2) + "s";
}

std::string format_summary(const summary& s) {
  const auto& t = s.totals;
  std::string out = "summary: " + std::string(to_string(s.mode)) + ", " +
                    std::to_string(s.clients) + " clients, MQTT " +
                    std::to_string(s.version) + ", QoS " + std::to_string(s.qos) +
                    ", ran " + fixed(s.elapsed_s, 2) + " s (stopped by " +
                    s.stopped_by + ")\n";
  out += "  connected " + std::to_string(t.connected) + "/" +
         std::to_string(s.clients) + ", ready " + std::to_string(t.ready);
  if (s.connect_s() > 0)
    out += " in " + fixed(s.connect_s(), 2) + " s";
  if (s.mode == bench_mode::sub)
    out += ", subscriptions " + std::to_string(t.subscriptions);
  out += "\n";
  if (t.reconnects > 0 || t.moved > 0)
    out += "  reconnected " + std::to_string(t.reconnects) + " times (" +
           std::to_string(t.redirects) + " to a Server Reference), told to use "
           "another server " + std::to_string(t.moved) + " times\n";
  if (s.mode == bench_mode::pub)
    out += "  sent " + std::to_string(t.sent) + " (" + fixed(s.send_rate(), 0) +
           " msg/s), acknowledged " + std::to_string(t.acked) + "\n";
  if (s.mode == bench_mode::sub) {
    out += "  received " + std::to_string(t.received) + " (" +
           fixed(s.receive_rate(), 0) + " msg/s), lost " +
           std::to_string(t.lost) + ", duplicates " +
           std::to_string(t.duplicates) + ", out of order " +
           std::to_string(t.out_of_order);
    if (t.unstamped)
      out += ", without a bench stamp " + std::to_string(t.unstamped);
    out += "\n";
    const auto& l = s.latency_ns;
    if (l.count > 0)
      out += "  latency p50 " + format_duration_ns(l.p50) + ", p90 " +
             format_duration_ns(l.p90) + ", p99 " + format_duration_ns(l.p99) +
             ", p99.9 " + format_duration_ns(l.p999) + ", max " +
             format_duration_ns(l.max) + "\n";
  }
  out += "  generator CPU " + fixed(s.cpu_s, 2) + " s, busiest thread " +
         fixed(100 * s.busiest_thread, 0) + "% busy" +
         (s.saturated() ? " (saturated: the generator may be the limit)" : "") +
         "\n";
  if (!s.error.empty())
    out += "  error: " + s.error + "\n";
  return out;
}

nlohmann::json to_json(const summary& s) {
  const auto& t = s.totals;
  const auto& l = s.latency_ns;
  nlohmann::json latency = {
    {"count", l.count},     {"min", us(l.min)}, {"mean", l.mean / 1000.0},
    {"p50", us(l.p50)},     {"p90", us(l.p90)}, {"p99", us(l.p99)},
    {"p99_9", us(l.p999)},  {"max", us(l.max)},
  };
  return {
    {"mode", to_string(s.mode)},
    {"version", s.version},
    {"qos", s.qos},
    {"clients", s.clients},
    {"payload_size", s.payload_size},
    {"connected", t.connected},
    {"ready", t.ready},
    {"subscriptions", t.subscriptions},
    {"reconnects", t.reconnects},
    {"redirects", t.redirects},
    {"moved", t.moved},
    {"connect_time_s", s.connect_s()},
    {"elapsed_s", s.elapsed_s},
    {"sent", t.sent},
    {"acked", t.acked},
    {"send_rate", s.send_rate()},
    {"received", t.received},
    {"receive_rate", s.receive_rate()},
    {"unstamped", t.unstamped},
    {"lost", t.lost},
    {"duplicates", t.duplicates},
    {"out_of_order", t.out_of_order},
    {"latency_us", latency},
    {"bytes_in", t.bytes_in},
    {"bytes_out", t.bytes_out},
    {"stopped_by", s.stopped_by},
    {"cpu_s", s.cpu_s},
    {"busiest_thread", s.busiest_thread},
    {"saturated", s.saturated()},
    {"error", s.error.empty() ? nlohmann::json() : nlohmann::json(s.error)},
  };
}

std::string progress_line(const options& o, double t_s, const engine_stats& now,
                          const engine_stats& before, double dt_s,
                          const histogram& interval) {
  auto per_s = [&](std::uint64_t a, std::uint64_t b) {
    return dt_s > 0 ? fixed(static_cast<double>(a - b) / dt_s, 0) : "0";
  };
  std::string line = "bench " + std::string(to_string(o.mode)) + " " +
                     fixed(t_s, 0) + "s: connected " +
                     std::to_string(now.connected) + "/" +
                     std::to_string(o.count);
  if (o.mode == bench_mode::sub)
    line += " subscriptions " + std::to_string(now.subscriptions);
  line += " sent/s " + per_s(now.sent, before.sent) + " received/s " +
          per_s(now.received, before.received) + " p99 " +
          (interval.count() ? format_duration_ns(interval.percentile(99)) : "-");
  if (now.lost != 0 || now.duplicates != 0)
    line += " lost " + std::to_string(now.lost) + " dup " +
            std::to_string(now.duplicates);
  return line;
}

} // namespace starling::loadgen
