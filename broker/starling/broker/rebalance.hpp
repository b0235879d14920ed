#pragma once

// Cluster load rebalance (issue 17, the decisions; the balancer actor in
// actors/src/mqtt/balancer*.cpp carries them out): which nodes give clients
// away (donors: at least the average number of connections) and which take
// them (recipients), whether there is anything to balance, and the phases
// EMQX's rebalance goes through: wait_health_check (donors fail their
// health check but still accept clients, so load balancers stop sending
// them new ones), then evicting_conns (donors refuse new clients and
// disconnect conn_evict_rate clients a second until their average is
// within the thresholds of the recipients', each no further down than the
// mean of all participants), wait_takeover (reconnected clients take their
// sessions over), evicting_sessions (disconnected persistent sessions are
// moved to recipients at sess_evict_rate a second), then done. A
// participating node that goes down aborts the rebalance.
//
// The coordinator calls start() with the nodes' counts, on_timer() when the
// timer it was asked for fires (with fresh counts), stop() and node_down();
// each returns effects for the actors to carry out. Time is passed in.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace starling::broker {

struct rebalance_options {
  std::uint64_t conn_evict_rate = 500; ///< connections a second, per donor
  std::uint64_t sess_evict_rate = 500; ///< sessions a second, per donor
  std::int64_t wait_health_check_ms = 60'000;
  std::int64_t wait_takeover_ms = 60'000;
  std::uint64_t abs_conn_threshold = 1000;
  double rel_conn_threshold = 1.1;
  std::uint64_t abs_sess_threshold = 1000;
  double rel_sess_threshold = 1.1;
  std::int64_t evict_interval_ms = 1000; ///< one eviction round this often
};

/// One participating node's load, as its eviction agent counts it.
struct node_load {
  std::string node;
  std::uint64_t connections = 0;
  std::uint64_t disconnected_sessions = 0;
};

/// Whether `value` is close enough to `goal`: within `abs` of it, or
/// within `rel` times it.
bool within_thresholds(double value, double goal, std::uint64_t abs, double rel);

struct rebalance_effect {
  enum kind {
    fail_health_check,   ///< donors: /status and availability_check 503
    refuse_connections,  ///< donors: CONNACK 0x9C to new clients
    evict_connections,   ///< `node` disconnects `count` clients (0x9C)
    evict_sessions,      ///< `node` moves `count` disconnected sessions to `to`
    restore,             ///< donors: healthy again, accept clients
    timer,               ///< call on_timer() after `delay_ms`
    log,                 ///< `text` for the operator
  };
  kind what = log;
  std::string node;
  std::uint64_t count = 0;
  std::vector<std::string> to;
  std::int64_t delay_ms = 0;
  std::string text;
};
using rebalance_effects = std::vector<rebalance_effect>;

class rebalance {
public:
  enum class phase {
    disabled,
    wait_health_check,
    evicting_conns,
    wait_takeover,
    evicting_sessions,
  };

  /// Starts over `loads` (every participating node). An error text when
  /// it cannot: already running, fewer than two nodes, nothing to balance.
  std::optional<std::string> start(const rebalance_options& options,
                                   const std::vector<node_load>& loads,
                                   std::int64_t now_ms, rebalance_effects& out);
  /// The timer asked for fired; `loads` are the participants' counts now.
  rebalance_effects on_timer(const std::vector<node_load>& loads,
                             std::int64_t now_ms);
  /// An operator's stop; an error text when none is running.
  std::optional<std::string> stop(rebalance_effects& out);
  /// A participant went down: the rebalance ends, the donors still up are
  /// restored.
  rebalance_effects node_down(const std::string& node);

  phase current() const { return phase_; }
  const rebalance_options& options() const { return options_; }
  const std::vector<std::string>& donors() const { return donors_; }
  const std::vector<std::string>& recipients() const { return recipients_; }
  /// The averages of the last round (connections, or disconnected
  /// sessions while evicting those).
  double donor_avg() const { return donor_avg_; }
  double recipient_avg() const { return recipient_avg_; }
  std::int64_t started_at_ms() const { return started_at_ms_; }

private:
  void finish(rebalance_effects& out, const std::string& why);
  /// One eviction round of connections (sessions: false) or sessions;
  /// false once the donors are within the thresholds.
  bool evict(const std::vector<node_load>& loads, bool sessions,
             rebalance_effects& out);

  phase phase_ = phase::disabled;
  rebalance_options options_;
  std::vector<std::string> donors_, recipients_;
  double donor_avg_ = 0, recipient_avg_ = 0;
  std::int64_t started_at_ms_ = 0;
};

const char* to_string(rebalance::phase p);

} // namespace starling::broker
