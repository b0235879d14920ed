#pragma once

// The message delivery channel between nodes. Forwarded PUBLISHes do not
// share a queue with distribution (heartbeats, membership, replication): a
// second CAF actor system in the process, with its own middleman, I/O
// thread and port (node.data_port, default distribution port + 1000, 5370
// for 4370), carries them. It is guarded like distribution: only a
// gatekeeper is published, a peer passes the cookie handshake before it
// gets the inbox, and the inbox accepts only authenticated senders.
//
//   router --(forward, node, message)--> outbox ==BASP==> peer's inbox
//   peer's inbox --(m_remote, message)--> peer's router (local delivery only)
//
// One outbox per node keeps the order of messages per destination (and so
// per topic); it queues while it connects and drops (counting) past a bound.

#include <cstdint>
#include <memory>
#include <string>

#include <caf/fwd.hpp>

namespace starling::actors {
struct node_context;
}

namespace starling::actors::mqtt {

class data_plane {
public:
  /// Starts the data actor system of link `index` of the pool and listens
  /// on cfg.data_port + index. On failure `error` is set.
  data_plane(node_context& node, uint16_t index, std::string& error);
  ~data_plane();
  data_plane(const data_plane&) = delete;
  data_plane& operator=(const data_plane&) = delete;

  /// Connects the MQTT router: it gets what peers forward and sends what
  /// they subscribe to through the outbox.
  void attach(const caf::actor& router);
  /// Where the node agent sends the running members (m_peers).
  const caf::actor& outbox() const;
  /// The port it listens on.
  uint16_t port() const;
  /// Stops the data actors (before the main actor system goes away).
  void stop();

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace starling::actors::mqtt
