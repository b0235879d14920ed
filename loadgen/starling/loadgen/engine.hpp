#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "starling/loadgen/connection.hpp"
#include "starling/loadgen/engine_context.hpp"
#include "starling/loadgen/pacer.hpp"

namespace starling::loadgen {

/// What the engines of a run share; everything here is atomic.
struct run_shared {
  /// Set by the runner (signal, --duration, -L reached in sub mode, an
  /// error): every engine closes its connections and returns.
  std::atomic<bool> stop{false};
  /// pub -L: messages left to send, taken in batches by the engines.
  std::atomic<std::int64_t> send_budget{0};
  /// sub: messages received by all engines, for -L.
  std::atomic<std::uint64_t> received{0};
};

/// One thread's share of a run: its connections (client positions k with
/// k % threads == id), one epoll set, and the loop that drives them.
///
/// Each turn of the loop: open the connections that are due (connect rate,
/// at most `max_handshakes` in progress), wait for socket events (not at all
/// while a flood has work, else up to 1 ms while something is paced, else
/// 10 ms), handle them, hand due messages to ready publishers round robin
/// in batches of one sendmsg each, and every 100 ms publish the counters
/// for the runner's progress line. Keepalive pings are checked once a
/// second. The loop ends when `run_shared::stop` is set, on the first
/// error, or (pub with -L) when the budget is spent and every message is
/// acknowledged; it then closes every connection gracefully, for at most
/// two seconds.
class engine {
public:
  engine(const options& o, unsigned id, std::vector<target> targets,
         std::vector<target> reconnect_targets, std::vector<in_addr> sources,
         std::uint32_t run_id, run_shared& shared);
  ~engine();

  /// The thread body.
  void run();

  /// The counters as of the last report (any thread).
  engine_stats snapshot();
  /// The latencies recorded since the last call (any thread).
  histogram take_interval();
  /// The first error, "" if none (any thread).
  std::string error();
  /// Whether run() returned (any thread).
  bool finished() const noexcept { return finished_.load(); }

  /// After run() returned: everything recorded.
  const engine_stats& totals() const noexcept { return ctx_.stats; }
  const histogram& latency() const noexcept { return ctx_.latency; }
  /// The highest share of a 100 ms interval this engine's thread spent
  /// on a CPU: near 1 means the generator, not the broker, set the pace.
  double busy_share() const noexcept { return peak_share_; }

  /// Connections handshaking at once, so a connect burst does not overflow
  /// the broker's accept queue (Mosquitto listens with a backlog of 100; a
  /// handshake dropped there costs a 1 s SYN retry).
  static constexpr std::uint64_t max_handshakes = 64;

private:
  void open_due(std::uint64_t now);
  bool publish_due(std::uint64_t now);
  std::uint64_t publish_round(std::uint64_t due);
  std::uint64_t take_budget(std::uint64_t want);
  void give_budget(std::uint64_t n);
  void update_rate(std::uint64_t now);
  void periodic(std::uint64_t now);
  void report();
  bool work_done() const;
  int wait_ms(bool busy, std::uint64_t now) const;
  void handle_events(int timeout_ms);
  void close_all();

  engine_context ctx_;
  run_shared& shared_;
  std::vector<std::uint64_t> positions_;
  std::vector<std::unique_ptr<connection>> conns_;
  std::size_t next_open_ = 0;
  pacer connect_pacer_;
  pacer publish_pacer_;
  std::vector<std::uint32_t> publishers_; ///< slots of ready publishers
  std::size_t cursor_ = 0;
  std::uint64_t next_report_ns_ = 0;
  std::uint64_t next_keepalive_ns_ = 0;
  std::uint64_t received_reported_ = 0;

  std::mutex mutex_;
  engine_stats reported_;
  histogram interval_;
  std::string error_;
  std::atomic<bool> finished_{false};
  /// The thread's CPU time and the clock at the last periodic() call.
  std::uint64_t last_cpu_ns_ = 0, last_wall_ns_ = 0;
  double peak_share_ = 0;
  void sample_cpu(std::uint64_t now);
};

} // namespace starling::loadgen
