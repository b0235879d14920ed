#pragma once

// When to dial members that are down. Every node retries every member it
// lost (cores and replicants) until it is up again or no longer a member
// (left, force-left, autocleaned): so when a network heals the mesh comes
// back with nobody typing `cluster join`.
//
// The interval starts at min_ms and doubles with each failed attempt up to
// max_ms; each wait is drawn from [interval/2, interval) so that nodes that
// lost each other at the same moment do not dial each other in lockstep
// (two simultaneous dials of one pair cost both a handshake timeout).
// One attempt per member is in flight at a time.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace starling::runtime::cluster {

class reconnect_schedule {
public:
  struct settings {
    int64_t min_ms = 1000;
    int64_t max_ms = 5000;
  };

  explicit reconnect_schedule(settings s) : settings_(s) {}
  reconnect_schedule() : reconnect_schedule(settings{}) {}

  /// `node` went down (or was loaded as a member at start). `jitter` is a
  /// random number in [0, 1).
  void on_down(const std::string& node, int64_t now, double jitter);
  /// `node` is up: no more attempts.
  void on_up(const std::string& node);
  /// `node` is no longer a member.
  void forget(const std::string& node) { on_up(node); }
  /// Members to dial now; each is marked in flight until on_failed/on_up.
  std::vector<std::string> due(int64_t now);
  /// An attempt ended without success.
  void on_failed(const std::string& node, int64_t now, double jitter);

  struct entry {
    uint32_t failures = 0;
    int64_t next_ms = 0;
    bool in_flight = false;
  };
  const std::map<std::string, entry>& entries() const { return entries_; }
  /// The wait after `failures` failed attempts, before jitter.
  int64_t interval(uint32_t failures) const;

private:
  int64_t wait(uint32_t failures, double jitter) const;

  settings settings_;
  std::map<std::string, entry> entries_;
};

} // namespace starling::runtime::cluster
