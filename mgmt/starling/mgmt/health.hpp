#pragma once

// What GET /status and GET /api/v5/load_rebalance/availability_check tell
// a load balancer: 200 while the node runs, its MQTT listener accepts
// clients and it is not sending them elsewhere; 503 while it starts or
// stops, while it is a rebalance donor and while it is being evacuated.
// Set by the node and by its balancer; read by HTTP threads.

#include <atomic>
#include <string>

namespace starling::mgmt {

class health_state {
public:
  enum phase { starting, running, stopping };
  /// Clients are being moved off a running node.
  enum draining_t { not_draining, rebalance_donor, evacuating };

  void set(phase p) { phase_.store(p, std::memory_order_relaxed); }
  phase get() const { return phase_.load(std::memory_order_relaxed); }
  void set_draining(draining_t d) { draining_.store(d, std::memory_order_relaxed); }
  draining_t draining() const { return draining_.load(std::memory_order_relaxed); }

  int http_status() const {
    return get() == running && draining() == not_draining ? 200 : 503;
  }

  /// One line: "Node core1@127.0.0.1 is started; MQTT accepts clients".
  std::string body(const std::string& node) const {
    switch (get()) {
      case running:
        switch (draining()) {
          case rebalance_donor:
            return "Node " + node
                   + " is started; it is a rebalance donor: its clients are "
                     "being moved to other nodes\n";
          case evacuating:
            return "Node " + node + " is started; it is being evacuated\n";
          case not_draining:
            break;
        }
        return "Node " + node + " is started; MQTT accepts clients\n";
      case starting:
        return "Node " + node + " is starting\n";
      case stopping:
        return "Node " + node + " is stopping\n";
    }
    return "Node " + node + " is in an unknown state\n";
  }

private:
  std::atomic<phase> phase_{starting};
  std::atomic<draining_t> draining_{not_draining};
};

} // namespace starling::mgmt
