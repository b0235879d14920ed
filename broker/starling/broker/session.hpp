#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "starling/broker/lazy_deque.hpp"
#include "starling/broker/message.hpp"
#include "starling/broker/packet.hpp"

// The persistent half of an MQTT client's state (MQTT 5 §4.1): what survives
// a disconnect when the session has a non-zero expiry interval, and what a
// takeover moves to the client's new connection, possibly on another node.
//
// A session is plain data with no reference to a connection or a channel:
// the channel (channel.hpp) owns it while the client is attached and hands it
// over (`channel::release_session`) for a takeover. The session applies the
// rules that depend only on its own tables:
//   - subscriptions, keyed by the Topic Filter exactly as the client sent it
//     (`$share/g/f` included), each with its granted options and
//     Subscription Identifier;
//   - turning a routed message into what this client receives (`prepare`):
//     No Local, QoS downgrade, Retain As Published, Subscription Identifiers,
//     overlapping subscriptions merged into one copy;
//   - the outgoing QoS 1/2 flows (inflight, keyed by packet identifier, in
//     send order for resending) and packet identifier allocation;
//   - the bounded queue of messages waiting for the inflight window or for
//     the client to come back;
//   - inbound QoS 2 packet identifiers awaiting PUBREL.
// Flow control (the window size), sending and timers are the channel's.

namespace starling::broker {

/// What a full message queue does with one more message.
enum class queue_overflow : std::uint8_t {
  drop_oldest, ///< the oldest queued message makes room (EMQX's behaviour)
  drop_newest, ///< the arriving message is dropped
};

/// Limits of a session (EMQX's `mqtt.*` defaults).
struct session_config {
  /// Outgoing QoS 1/2 messages awaiting acknowledgement; the client's
  /// Receive Maximum lowers it further per connection. 0 means 65535.
  std::uint16_t max_inflight = 32;
  /// Queued messages (offline, or behind a full inflight window); 0 means
  /// unbounded.
  std::size_t max_mqueue_len = 1000;
  /// Whether QoS 0 messages are queued while the client is offline. (While
  /// it is online they are sent at once and never wait for the window.)
  bool mqueue_store_qos0 = true;
  queue_overflow mqueue_overflow = queue_overflow::drop_oldest;
  /// Inbound QoS 2 messages awaiting PUBREL; also the Receive Maximum the
  /// broker announces to MQTT 5 clients. 0 means 65535.
  std::uint16_t max_awaiting_rel = 100;
  /// How long an inbound QoS 2 packet identifier waits for its PUBREL
  /// before it is forgotten (EMQX's `await_rel_timeout`); 0 means forever.
  std::int64_t await_rel_timeout_ms = 300'000;
  /// Deliver with the subscription's QoS even when the message was
  /// published with a lower one (EMQX's `upgrade_qos`).
  bool upgrade_qos = false;

  friend bool operator==(const session_config&,
                         const session_config&) = default;
};

/// One subscription of a session.
struct session_subscription {
  /// The filter the router matches topic names against: the text after
  /// `$share/{group}/` for a shared subscription, else the key itself.
  std::string topic_filter;
  /// The ShareName of a shared subscription.
  std::optional<std::string> share_group;
  /// As granted: `qos` is the requested QoS capped by the broker's maximum.
  subscription_options options;
  std::optional<std::uint32_t> identifier;

  friend bool operator==(const session_subscription&,
                         const session_subscription&) = default;
};

/// A message as this client is to receive it.
struct delivery {
  message msg;
  broker::qos qos = broker::qos::at_most_once; ///< of the PUBLISH sent
  bool retain = false;                         ///< RETAIN flag of the PUBLISH
  /// The Subscription Identifiers of the matching subscriptions (MQTT 5
  /// §3.3.4), without duplicates.
  std::vector<std::uint32_t> subscription_ids;

  friend bool operator==(const delivery&, const delivery&) = default;
};

/// Where an outgoing QoS 1/2 flow stands (MQTT 5 §4.3.2, §4.3.3).
enum class inflight_state : std::uint8_t {
  awaiting_puback,  ///< QoS 1 PUBLISH sent
  awaiting_pubrec,  ///< QoS 2 PUBLISH sent
  awaiting_pubcomp, ///< QoS 2 PUBREC received, PUBREL sent
};

struct inflight_message {
  std::uint16_t packet_id = 0;
  inflight_state state = inflight_state::awaiting_puback;
  /// Increases with every message started, so that a reconnect resends in
  /// the original order although packet identifiers wrap around.
  std::uint64_t sequence = 0;
  /// The message. Released (payload and properties dropped) once PUBREC
  /// arrives: from then on only the packet identifier is needed.
  delivery out;

  friend bool operator==(const inflight_message&,
                         const inflight_message&) = default;
};

/// What a PUBREC does to the outgoing flow it names.
enum class pubrec_outcome : std::uint8_t {
  send_pubrel, ///< the flow moved on (or the PUBREC was a duplicate)
  completed,   ///< the PUBREC carried a failure code: the flow ends here
  unknown,     ///< no QoS 2 flow awaits PUBREC or PUBCOMP with that id
};

/// Whether an inbound QoS 2 PUBLISH starts a new flow.
enum class qos2_admission : std::uint8_t {
  accepted,  ///< new packet identifier: publish it, answer PUBREC
  duplicate, ///< already awaiting PUBREL: answer PUBREC, do not publish
  full,      ///< `max_awaiting_rel` reached: Receive Maximum exceeded
};

/// What happened to the messages of a session, for metrics and listings.
struct session_counters {
  std::uint64_t sent = 0;   ///< PUBLISH packets sent for the first time
  std::uint64_t resent = 0; ///< PUBLISH and PUBREL resent on reconnect
  std::uint64_t acked = 0;  ///< outgoing QoS 1/2 flows completed
  std::uint64_t dropped_queue_full = 0;
  std::uint64_t dropped_qos0_offline = 0;
  std::uint64_t dropped_expired = 0;
  /// Over the client's Maximum Packet Size: discarded as if sent (§3.1.2.25).
  std::uint64_t dropped_too_large = 0;
  /// Inbound QoS 2 packet identifiers forgotten after `await_rel_timeout_ms`.
  std::uint64_t awaiting_rel_expired = 0;

  std::uint64_t dropped() const noexcept {
    return dropped_queue_full + dropped_qos0_offline + dropped_expired
           + dropped_too_large;
  }

  friend bool operator==(const session_counters&,
                         const session_counters&) = default;
};

class session {
public:
  /// Ordered so that listings are stable; looked up by `string_view`.
  using subscription_map =
    std::map<std::string, session_subscription, std::less<>>;

  session(std::string client_id, session_config config,
          std::uint32_t expiry_interval_s);

  const std::string& client_id() const noexcept {
    return client_id_;
  }

  const session_config& config() const noexcept {
    return config_;
  }

  /// Applies the limits of the node now hosting the session (a takeover
  /// may move it to a node configured differently). A queue longer than the
  /// new limit keeps its messages; it only stops growing.
  void set_config(session_config config) {
    config_ = config;
  }

  /// Session Expiry Interval in seconds; 0xFFFFFFFF never expires.
  std::uint32_t expiry_interval() const noexcept {
    return expiry_interval_s_;
  }

  void set_expiry_interval(std::uint32_t seconds) noexcept {
    expiry_interval_s_ = seconds;
  }

  // -- subscriptions ---------------------------------------------------------

  /// Adds or replaces the subscription `key` (the filter as sent). Returns
  /// whether it existed before, which decides Retain Handling 1.
  bool subscribe(std::string key, session_subscription sub);

  /// Removes subscription `key`, returning it, or nullopt if there was none.
  std::optional<session_subscription> unsubscribe(std::string_view key);

  const session_subscription* find_subscription(std::string_view key) const;

  const subscription_map& subscriptions() const noexcept {
    return subscriptions_;
  }

  // -- turning routed messages into deliveries -------------------------------

  /// What this client receives of `msg`, routed to it because it matched
  /// the subscriptions `keys`; nullopt if nothing is to be sent.
  ///
  /// Keys no longer subscribed (an UNSUBSCRIBE crossed the message) and
  /// subscriptions with No Local whose client published the message are
  /// skipped. Overlapping subscriptions give one copy (§3.3.4 allows it) at
  /// the highest granted QoS, with every Subscription Identifier, RETAIN
  /// kept if any of them has Retain As Published. The QoS is
  /// min(published, granted), or the granted QoS with `upgrade_qos`. An
  /// expired message is dropped and counted.
  std::optional<delivery> prepare(const message& msg,
                                  std::span<const std::string> keys,
                                  std::int64_t now_ms);

  /// The same for a retained message sent because subscription `key` was
  /// made: RETAIN is always set (§3.3.1.3).
  std::optional<delivery> prepare_retained(const message& msg,
                                           std::string_view key,
                                           std::int64_t now_ms);

  // -- message queue ---------------------------------------------------------

  /// Queues `d` until the window opens or the client is back, applying the
  /// length limit, the overflow policy and the QoS 0 policy (a QoS 0
  /// message is queued only while offline, so `mqueue_store_qos0` decides).
  /// Drops are counted.
  void enqueue(delivery d);

  /// The oldest queued message that has not expired (expired ones on the
  /// way are dropped and counted), or nullopt.
  std::optional<delivery> dequeue(std::int64_t now_ms);

  const std::deque<delivery>& queue() const noexcept {
    return queue_.items();
  }

  // -- outgoing QoS 1/2 ------------------------------------------------------

  /// Whether another QoS 1/2 message may start with `window` messages
  /// allowed in flight (at most 65535: there are no more packet ids).
  bool can_send(std::size_t window) const noexcept;

  /// Starts the flow of a QoS 1/2 `d` and returns its packet identifier,
  /// one not in flight (identifiers are used in turn, wrapping at 65535).
  /// Precondition: `can_send(...)` and `d.qos != at_most_once`.
  std::uint16_t track(delivery d);

  /// PUBACK: ends the QoS 1 flow `id`; false if there is none.
  bool puback(std::uint16_t id);

  /// PUBREC, with `failed` if its reason code is 0x80 or above.
  pubrec_outcome pubrec(std::uint16_t id, bool failed);

  /// PUBCOMP: ends the QoS 2 flow `id`; false if none awaits PUBCOMP.
  bool pubcomp(std::uint16_t id);

  /// Ends flow `id` without acknowledgement (its message expired or cannot
  /// be sent); returns whether there was one.
  bool forget(std::uint16_t id);

  const inflight_message* find_inflight(std::uint16_t id) const;

  /// Packet identifiers in flight, in the order their flows started.
  std::vector<std::uint16_t> inflight_order() const;

  std::size_t inflight_size() const noexcept {
    return inflight_.size();
  }

  // -- inbound QoS 2 ---------------------------------------------------------

  /// Records inbound QoS 2 packet identifier `id` until its PUBREL.
  qos2_admission await_pubrel(std::uint16_t id, std::int64_t now_ms);

  /// PUBREL: forgets `id`; returns whether it was awaited.
  bool release(std::uint16_t id);

  std::size_t awaiting_rel_size() const noexcept {
    return awaiting_rel_.size();
  }

  /// When the oldest awaited PUBREL times out, or nullopt if none is
  /// awaited or the timeout is off.
  std::optional<std::int64_t> next_await_rel_deadline() const;

  /// Forgets the packet identifiers whose PUBREL timed out by `now_ms`;
  /// returns how many.
  std::size_t expire_awaiting_rel(std::int64_t now_ms);

  // -- counters --------------------------------------------------------------

  const session_counters& counters() const noexcept {
    return counters_;
  }

  session_counters& counters() noexcept {
    return counters_;
  }

  /// Calls `f` with every data member, so that serialisation (a CAF
  /// `inspect` in actors/ moving a session to another node) needs no access
  /// to the internals beyond this list.
  template <class F>
  friend decltype(auto) for_fields(session& x, F&& f) {
    return f(x.client_id_, x.config_, x.expiry_interval_s_, x.subscriptions_,
             x.inflight_, x.next_packet_id_, x.next_sequence_, x.queue_,
             x.awaiting_rel_, x.counters_);
  }

private:
  const session_subscription* deliverable(std::string_view key,
                                          const message& msg) const;

  broker::qos delivery_qos(broker::qos published,
                           broker::qos granted) const noexcept;

  std::string client_id_;
  session_config config_;
  std::uint32_t expiry_interval_s_;
  subscription_map subscriptions_;
  std::map<std::uint16_t, inflight_message> inflight_;
  std::uint16_t next_packet_id_ = 1;
  std::uint64_t next_sequence_ = 0;
  lazy_deque<delivery> queue_;
  /// Inbound QoS 2 packet identifier -> when its PUBLISH arrived.
  std::map<std::uint16_t, std::int64_t> awaiting_rel_;
  session_counters counters_;
};

} // namespace starling::broker
