#pragma once

// What GET /status tells a load balancer: 200 while the node runs and its
// MQTT listener accepts clients, 503 while it starts, stops or is being
// evacuated. Set by the node (and, later, by evacuation); read by HTTP
// threads.

#include <atomic>
#include <string>

namespace starling::mgmt {

class health_state {
public:
  enum phase { starting, running, stopping, evacuating };

  void set(phase p) { phase_.store(p, std::memory_order_relaxed); }
  phase get() const { return phase_.load(std::memory_order_relaxed); }

  int http_status() const { return get() == running ? 200 : 503; }

  /// One line: "Node core1@127.0.0.1 is started; MQTT accepts clients".
  std::string body(const std::string& node) const {
    switch (get()) {
      case running:
        return "Node " + node + " is started; MQTT accepts clients\n";
      case starting:
        return "Node " + node + " is starting\n";
      case stopping:
        return "Node " + node + " is stopping\n";
      case evacuating:
        return "Node " + node + " is being evacuated\n";
    }
    return "Node " + node + " is in an unknown state\n";
  }

private:
  std::atomic<phase> phase_{starting};
};

} // namespace starling::mgmt
