#pragma once

// Node evacuation (issue 17, the decisions; not yet wired): every client
// and session leaves this node so it can be taken out. Its health check
// fails first (wait_health_check, so load balancers stop sending it
// clients); then it refuses new clients (CONNACK 0x9C, with a Server
// Reference when redirect_to is set), disconnects conn_evict_rate clients a second
// (MQTT 5: DISCONNECT 0x9C), waits wait_takeover for reconnected clients
// to take their sessions over, moves the disconnected sessions left to
// migrate_to at sess_evict_rate a second, and then stays in prohibiting:
// it accepts no client until the evacuation is stopped. The state is
// meant to be persisted (to_text/from_text), so a restarted node goes on
// refusing clients.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace starling::broker {

struct evacuation_options {
  std::string redirect_to;             ///< HOST:PORT for MQTT 5 clients; may be empty
  std::vector<std::string> migrate_to; ///< nodes for the sessions; empty: all others
  std::uint64_t conn_evict_rate = 500;
  std::uint64_t sess_evict_rate = 500;
  std::int64_t wait_health_check_ms = 60'000;
  std::int64_t wait_takeover_ms = 60'000;
  std::int64_t evict_interval_ms = 1000;
};

struct evacuation_effect {
  enum kind {
    fail_health_check,  ///< /status and availability_check answer 503
    refuse_connections, ///< CONNACK 0x9C (+ Server Reference) to new clients
    evict_connections,  ///< disconnect `count` clients (0x9C + reference)
    evict_sessions,     ///< move `count` disconnected sessions to `to`
    restore,            ///< healthy again, accept clients
    persist,            ///< write to_text() (empty: remove the file)
    timer,              ///< call on_timer() after `delay_ms`
    log,
  };
  kind what = log;
  std::uint64_t count = 0;
  std::vector<std::string> to;
  std::int64_t delay_ms = 0;
  std::string text;
};
using evacuation_effects = std::vector<evacuation_effect>;

class evacuation {
public:
  enum class phase {
    disabled,
    waiting_health_check,
    evicting_conns,
    waiting_takeover,
    evicting_sessions,
    prohibiting,
  };

  /// `others`: the other running nodes (sessions go to migrate_to, or to
  /// them). An error text when it cannot start.
  std::optional<std::string> start(const evacuation_options& options,
                                   const std::vector<std::string>& others,
                                   std::int64_t now_ms, evacuation_effects& out);
  /// The timer fired; this node's connection and disconnected-session
  /// counts now.
  evacuation_effects on_timer(std::uint64_t connections,
                              std::uint64_t disconnected_sessions,
                              std::int64_t now_ms);
  std::optional<std::string> stop(evacuation_effects& out);
  /// After a restart: the persisted state, resumed (refusing clients
  /// again at once). An error text for a file that does not parse.
  std::optional<std::string> resume(const std::string& text,
                                    evacuation_effects& out);

  phase current() const { return phase_; }
  bool refusing() const {
    return phase_ != phase::disabled && phase_ != phase::waiting_health_check;
  }
  const evacuation_options& options() const { return options_; }
  /// The nodes sessions go to: migrate_to, or the others at the start.
  const std::vector<std::string>& session_targets() const { return targets_; }
  /// The state to persist: one line per field.
  std::string to_text() const;

private:
  void enter(phase p, evacuation_effects& out, std::int64_t delay_ms);

  phase phase_ = phase::disabled;
  evacuation_options options_;
  std::vector<std::string> targets_;
};

const char* to_string(evacuation::phase p);

} // namespace starling::broker
