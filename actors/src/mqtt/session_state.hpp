#pragma once

// The session actor's state and what its two files share: session_actor.cpp
// (the behaviour, the channel's effects, what the shell and the API see)
// and session_takeover.cpp (a session moving between channels and nodes).
// The decisions are broker::channel's and broker::session_move's.

#include <array>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "starling/actors/mqtt/context.hpp"
#include "starling/actors/per_client_actor.hpp"
#include "starling/broker/channel.hpp"
#include "starling/broker/session_move.hpp"

namespace starling::actors::mqtt::session_detail {

/// A channel together with the connection it belongs to.
struct attached {
  std::unique_ptr<broker::channel> chan;
  caf::actor conn;
};

struct session_state {
  mqtt_context* ctx = nullptr;
  std::string client_id;
  attached current;  ///< the adopted channel (connected or disconnected)
  attached incoming; ///< a CONNECT being handled, until open_session
  bool connected = false;
  bool ending = false;
  /// Running the effects of the channel being replaced: its session ending
  /// (expiry 0) is not this actor's end, the new channel goes on.
  bool replacing = false;
  uint32_t uncredited = 0; ///< packets of the current connection processed
  std::array<uint64_t, 4> timer_gen{};
  // -- moving between nodes --
  /// What a session keeps while it moves between nodes: on the heap, made
  /// when its first move starts (most sessions never move; about 150 B
  /// per idle client, and the actor fits CAF's allocation a size class
  /// smaller).
  struct moving_state {
    /// The node agent of the node holding this client's session, asked
    /// once (takeover) before the first channel opens.
    caf::actor holder;
    /// `holder` is this client's session on the node it moved to a moment
    /// ago, which the client left to come back here (come_back).
    bool taking_back = false;
    /// Set once this session has moved to another node: what is still
    /// routed here goes there until the grace period ends.
    caf::actor moved_to;
    /// Arriving from another node: the phases, held messages and dedup
    /// window (broker/session_move.hpp).
    broker::session_move move;
    /// The old node's session while it passes messages on (its
    /// handover_end is the one that counts).
    caf::actor previous;
    /// The node the session came from (superseded_atom from there is
    /// stale).
    std::string taken_from;
    /// The grace period's and the dedup window's timers in force (a client
    /// that comes back, or moves twice, voids the earlier one).
    uint64_t handover_gen = 0, dedup_gen = 0;
    /// Takeovers asked for while this session's own arrival still drains:
    /// served, in order, once the node before is done (or the dedup window
    /// closes), so that what that node still passes on keeps its place.
    struct waiting_takeover {
      caf::typed_response_promise<std::string, caf::actor, std::vector<uint64_t>> rp;
      caf::actor to;
      bool clean_start = false;
    };
    std::vector<waiting_takeover> waiting_takeovers;
  };
  /// The moving state, made when a move starts.
  moving_state& moving() {
    if (!moving_)
      moving_ = std::make_unique<moving_state>();
    return *moving_;
  }
  /// The moving state to read: an empty one (no move) when none was made.
  const moving_state& moves() const {
    static const moving_state none;
    return moving_ ? *moving_ : none;
  }
  std::unique_ptr<moving_state> moving_;
  // -- what the management API lists --
  int64_t created_at_ms = 0, connected_at_ms = 0;
  /// The session's drop counters as last added to the node's metrics
  /// (count_drops): the four kinds of drop the metrics count by reason.
  struct {
    uint64_t queue_full = 0, qos0_offline = 0, expired = 0, too_large = 0;
  } counted;
  static inline const char* name = "mqtt_session";
};

/// How long to wait for the node holding the session.
constexpr auto takeover_timeout = std::chrono::seconds(5);
/// How long a session that moved keeps its subscriptions here and passes on
/// what they route: until every node has learnt the new node's routes.
constexpr auto handover_grace = std::chrono::seconds(1);
/// timer_atom kinds of this actor's own (the channel's are below 4).
constexpr uint8_t handover_done = 254, dedup_done = 255;

using session_actor = per_client_actor<session_state>;

int64_t now(session_actor* self);
void set_connected(session_actor* self, bool connected);
std::unique_ptr<broker::channel> make_channel(session_actor* self,
                                              const client_origin& origin);
/// Carries out the channel's effects; packets go to `target`.
void run(session_actor* self, broker::effect_list effects,
         const caf::actor& target);
/// Ends this actor once the client manager has forgotten it; a CONNECT
/// forwarded meanwhile goes back to the manager. A session that `moved`
/// leaves the registry entry to its new node.
void end(session_actor* self, const std::string& reason, bool moved = false);

// session_takeover.cpp
/// The cluster name of the node `a` lives on.
std::string node_of(session_actor* self, const caf::actor& a);
/// The channel accepted a CONNECT. When another node holds the client's
/// session, it is taken over from there first (or discarded there, with
/// Clean Start).
void open_session(session_actor* self, const broker::open_session& o);
/// A disconnected session moved here without its client (rebalance,
/// evacuation): taken over from `holder`, then kept by a channel without
/// a connection until the client comes back or the session expires.
void host_moved(session_actor* self, const caf::actor& holder);
/// Delivers messages that waited for the old node.
void deliver_held(session_actor* self,
                  std::vector<broker::session_move::held_message> held);
/// The session leaves this actor (to another node, or discarded): held
/// messages go into it first, the connection is kicked (0x8E).
std::optional<broker::session> let_go(session_actor* self);
/// Another node's session of this client asks for it: kick the connection
/// here (MQTT 5: DISCONNECT 0x8E), hand the session over (empty: Clean
/// Start discards it) and pass on, for the grace period, what is still
/// routed here.
/// The answer to a takeover: the session's bytes, the session actor that
/// answers, and the message ids its own move has seen (seen_ids()).
using takeover_result = caf::result<std::string, caf::actor, std::vector<uint64_t>>;
takeover_result hand_over(session_actor* self, bool clean_start);
/// The node before has passed on everything: what waited for it goes out,
/// then the takeovers that waited for it are served.
void old_done(session_actor* self,
              std::vector<broker::session_move::held_message> held);
/// A CONNECT reached a session that moved away less than the grace period
/// ago: it takes the session back from where it went.
void come_back(session_actor* self);

} // namespace starling::actors::mqtt::session_detail
