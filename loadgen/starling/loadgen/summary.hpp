#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "starling/loadgen/histogram.hpp"
#include "starling/loadgen/options.hpp"
#include "starling/loadgen/stats.hpp"

namespace starling::loadgen {

/// The outcome of a run, for the final text and `--json`.
struct summary {
  bench_mode mode = bench_mode::pub;
  int version = 4;
  int qos = 0;
  std::uint64_t clients = 0;
  std::uint32_t payload_size = 0;
  engine_stats totals;
  percentiles latency_ns;
  double elapsed_s = 0;
  /// Why the run ended: "limit", "duration", "idle", "signal", "error".
  std::string stopped_by;
  std::string error; ///< the first fatal error, "" if none
  /// The generator's own CPU seconds (every thread), and the largest share
  /// of a 100 ms interval one engine thread spent on a CPU.
  double cpu_s = 0;
  double busiest_thread = 0;
  /// A thread at or above this share was the limit, not the broker.
  static constexpr double saturated_share = 0.9;
  bool saturated() const noexcept { return busiest_thread >= saturated_share; }

  /// From the first connection attempt until every client was ready; 0 if
  /// not every client got there.
  double connect_s() const noexcept;
  /// Messages per second between the first and the last one sent.
  double send_rate() const noexcept;
  /// Messages per second from the earliest publication stamped in one
  /// received (else the first receipt) to the last receipt.
  double receive_rate() const noexcept;
};

summary make_summary(const options& o, const engine_stats& totals,
                     const histogram& latency, double elapsed_s,
                     std::string stopped_by, std::string error);

/// The final report, several lines.
std::string format_summary(const summary& s);

nlohmann::json to_json(const summary& s);

/// One progress line: elapsed seconds, connected, rates over the last
/// `dt_s` seconds and the p99 of the latencies recorded in it.
std::string progress_line(const options& o, double t_s, const engine_stats& now,
                          const engine_stats& before, double dt_s,
                          const histogram& interval);

/// Microseconds as "850us", "12.3ms", "1.20s".
std::string format_duration_ns(std::uint64_t ns);

} // namespace starling::loadgen
