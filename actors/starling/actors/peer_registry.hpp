#pragma once

#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <caf/actor_addr.hpp>
#include <caf/actor_control_block.hpp>
#include <caf/node_id.hpp>

namespace starling::actors {

/// Whether the current message of `self` comes from an actor of its own
/// actor system. False for an anonymous message (BASP delivers those too).
template <class Self>
bool from_own_system(Self* self) {
  auto s = self->current_sender();
  return s && s->node() == self->node();
}

/// The remote processes that passed the cookie handshake, by CAF node id.
///
/// CAF's BASP delivers a message to any local actor whose id a peer knows,
/// handshake or not, so every actor reachable from the network checks the
/// sender against this registry before acting (see `allowed`). Entries leave
/// when the peer's anchor actor goes down (its process died or the
/// connection dropped). Thread-safe.
class peer_registry {
public:
  struct peer {
    std::string name;
    bool hidden = false;
    caf::actor_addr anchor;
    int64_t since_ms = 0;
  };

  explicit peer_registry(caf::node_id self) : self_(std::move(self)) {}

  void add(const caf::node_id& nid, peer p);
  /// Removes the peer whose anchor is `anchor`; returns it.
  std::optional<peer> remove_by_anchor(const caf::actor_addr& anchor);
  std::optional<peer> find(const caf::node_id& nid) const;

  /// True for local senders and senders on authenticated nodes; false for
  /// anonymous messages and for everything else on the network.
  bool allowed(const caf::strong_actor_ptr& sender) const;

  /// Names of the authenticated hidden nodes (ctl, remsh), sorted.
  std::vector<std::string> hidden_names() const;

private:
  caf::node_id self_;
  mutable std::mutex mtx_;
  std::unordered_map<caf::node_id, peer> peers_;
};

} // namespace starling::actors
