#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "starling/broker/channel_config.hpp"
#include "starling/broker/channel_effects.hpp"
#include "starling/broker/codec.hpp"
#include "starling/broker/message.hpp"
#include "starling/broker/packet.hpp"
#include "starling/broker/session.hpp"

// The MQTT state machine of one client connection, for MQTT 3.1, 3.1.1 and
// 5.0: decoded packets and routed messages in, replies and effects out. No
// sockets, no actors, no clock and no randomness of its own: time is an
// argument (`now_ms`, milliseconds on any monotonic clock the host picks,
// the same for every call), randomness is a hook.
//
// THE CONTRACT WITH THE HOST
//
// Who hosts what. A connection actor owns the socket, frames bytes with the
// codec (decoder/encoder) and nothing else. A session actor per client id
// owns the channel of that client's current connection, and the channel owns
// the `session` (session.hpp) while it has one. A router actor owns the
// subscription table, topic trie, retained store and shared groups. A client
// manager enforces one connection per client id.
//
// Every input method returns an `effect_list`; the host carries the effects
// out in order before it calls the channel again (the channel is not
// reentrant and never calls the host except through the hooks). The effects
// (channel_effects.hpp):
//   send_packet      encode `pkt` with `version` and write it.
//   close_connection close the socket after writing what was sent before.
//                    The channel has already moved on (to `disconnected` or
//                    `closed`): do not call `connection_lost` for it.
//   open_session     register the client id and find its session (below).
//   publish_message  give the message to the router (retained included).
//   subscribe_filter / unsubscribe_filter  update the router's table.
//                    For subscribe with `send_retained`, the router calls
//                    `deliver_retained` once per matching retained message.
//   set_timer / cancel_timer  one timer per `timer_kind`; setting replaces.
//                    When it fires call `handle_timer(kind, now)`. A timer
//                    that fires late, early or after it stopped mattering is
//                    harmless: the channel checks its own deadlines.
//   session_ended    the session is gone (its subscriptions were removed
//                    by the unsubscribe effects just before): unregister the
//                    client id and drop the channel. It names this channel's
//                    session only: a kicked old connection whose session
//                    ends (expiry 0) reports it while the new connection is
//                    registering the same client id, so registrations must
//                    be keyed by session actor, not by client id alone.
//
// Lifecycle and states (`state()`):
//
//   idle --CONNECT ok--> connecting --session_opened--> connected
//     |                      |                             |
//     | CONNECT refused      | session_refused             | DISCONNECT,
//     v                      v                             | error, kick,
//   closed <-----------------+                             | connection_lost
//     ^                                                     v
//     +--- session expired / ended / released ------- disconnected
//
// 1. The connection actor creates a channel and feeds it every decoded
//    packet with `handle_packet`. Decoding failures go to
//    `handle_decode_error` with the decoder's `version()`: the client is
//    answered in its dialect (CONNACK or DISCONNECT with the code, MQTT 5;
//    CONNACK return code or nothing, 3.x) and the connection closed.
// 2. A CONNECT is checked (protocol level, client id, Will, authentication,
//    enhanced authentication refused) and either refused (CONNACK failure +
//    close, state `closed`) or answered with `open_session`. The client id
//    may have been assigned by the broker (`client_id()`); Session Expiry is
//    already capped.
// 3. The host (client manager + session actor) then takes over: if another
//    connection holds the client id, its channel gets `kick(0x8E)` and the
//    host forwards the resulting effects to that connection; the old
//    channel's session is taken with `release_session()` (after the kick,
//    or directly if it was disconnected) and that old channel discarded,
//    which cancels its pending Will (MQTT 5 §3.1.2.5: a new connection
//    within the Will Delay). The host must then call exactly one of
//      `session_opened(existing, now)`: `existing` is the released session
//        or nullopt. With Clean Start 0 it is resumed (Session Present 1,
//        its subscriptions re-registered with `subscribe_filter{existed}`,
//        unacknowledged PUBLISH resent with DUP and PUBREL resent, then the
//        queue drained). With Clean Start 1 it is discarded: its
//        subscriptions are removed with `unsubscribe_filter` effects.
//      `session_refused(code, now)`: CONNACK failure and close.
//    Either must come even if the connection was lost meanwhile (the
//    channel then keeps the session as if the client disconnected at once).
//    Packets the client pipelined after CONNECT are buffered and handled
//    right after CONNACK (at most `max_packets_before_connack`; the host
//    may also stop reading until CONNACK is sent). Until the session is
//    released, keep delivering to the old channel: it queues.
// 4. Connected: `handle_packet` for client packets; `deliver` for messages
//    the router matched to this client's subscriptions, with every matching
//    non-shared subscription key in one call (so that overlapping
//    subscriptions give one copy) and each shared subscription pick in a
//    call of its own; `deliver_retained` for retained messages after a
//    `subscribe_filter{send_retained}`; `activity(now)` when bytes arrive
//    without completing a packet (keepalive counts any traffic);
//    `handle_timer` for fired timers.
// 5. The connection ends through the client (DISCONNECT), the broker
//    (protocol violation, keepalive timeout, `kick`), or the network
//    (`connection_lost`, when the socket closes or fails underneath). Then:
//    the Will is published unless the client sent DISCONNECT 0x00 (any
//    3.x DISCONNECT) or was kicked with 0x8E/0x9C/0x9D, immediately or
//    after min(Will Delay, Session Expiry) with a `will_delay` timer; the session expires after its
//    interval (`session_expiry` timer, ending with `session_ended`), or at
//    once when the interval is 0. While `disconnected`, keep calling
//    `deliver`: messages queue in the session (QoS 0 per policy).
// 6. Reconnect: a new channel goes through 1-3; the host passes this old
//    channel's `release_session()` to the new one.
//
// Protocol violations: an MQTT 5 client is sent DISCONNECT with the reason
// code (CONNACK with it during CONNECT), a 3.x client is simply closed; the
// Will is published. The checks are the spec's: second CONNECT (0x82),
// packets a client must not send (0x82), AUTH (0x82: enhanced
// authentication is not offered, and a CONNECT asking for it is refused
// with 0x8C), Topic Alias above our maximum (0x94) or unknown (0x82),
// QoS 2 PUBLISH beyond our Receive Maximum (0x93), QoS above Maximum QoS
// (0x9B), RETAIN without Retain Available (0x9A), Subscription Identifier
// without support (0xA1), No Local on a shared subscription (0x82), Session
// Expiry set in DISCONNECT after CONNECT had 0 (0x82). A message the
// broker only refuses (PUBLISH to `$SYS`, a `$share/` or too deep topic
// name, a payload declared UTF-8 that is not, the `authorize` hook saying
// no) is not a violation: MQTT 5 gets PUBACK/PUBREC with the failure code,
// 3.x an ordinary acknowledgement, QoS 0 nothing; it is never published.
// With `channel_config::disconnect_on_deny` (authz.deny_action =
// disconnect) a PUBLISH or SUBSCRIBE the hook refuses closes the
// connection instead (MQTT 5: DISCONNECT 0x87), as in EMQX.
//
// Flow control. Outgoing QoS 1/2 messages use a window of min(max_inflight,
// the client's Receive Maximum); when it is full they wait in the session
// queue and go out as acknowledgements arrive. QoS 0 messages go out at
// once while connected. Nothing is retransmitted while connected (MQTT 5
// §4.4 allows it only on reconnect), so there is no retry timer. Messages
// over the client's Maximum Packet Size are discarded as if sent.

namespace starling::broker {

enum class channel_state : std::uint8_t {
  idle,         ///< waiting for CONNECT
  connecting,   ///< CONNECT accepted; waiting for `session_opened`
  connected,    ///< CONNACK sent
  disconnected, ///< connection gone, session kept until resumed or expired
  closed,       ///< no connection and no session: discard the channel
};

std::string_view to_string(channel_state state) noexcept;

class channel {
public:
  /// Precondition: `hooks.random` is set. Channels of one listener share
  /// their settings (a snapshot: a change reaches new channels only).
  channel(std::shared_ptr<const channel_config> config, channel_hooks hooks);
  channel(channel_config config, channel_hooks hooks);

  // -- inputs ----------------------------------------------------------------

  /// One packet decoded from the client's connection.
  effect_list handle_packet(const packet& pkt, std::int64_t now_ms);

  /// The decoder failed; `version` is the decoder's `version()`. Closes the
  /// connection, telling the client why when its dialect allows it.
  effect_list handle_decode_error(const codec_error& error,
                                  std::optional<protocol_version> version,
                                  std::int64_t now_ms);

  /// Answer to `open_session`: the client's existing session, if any.
  effect_list session_opened(std::optional<session> existing,
                             std::int64_t now_ms);

  /// Answer to `open_session`: the broker cannot take the client now.
  /// `code` must be a CONNACK reason code (0x88 server unavailable, 0x89
  /// server busy, 0x8A banned, 0x97 quota exceeded, 0x9C/0x9D ...).
  effect_list session_refused(reason_code code, std::int64_t now_ms);

  /// A message the router matched to subscriptions `keys` of this client
  /// (the filters as subscribed; see the contract, step 4).
  effect_list deliver(const message& msg, std::span<const std::string> keys,
                      std::int64_t now_ms);

  /// A message as the session had queued it (its subscriptions already
  /// applied): one that waited while the session came back to this node.
  effect_list deliver(delivery d, std::int64_t now_ms);

  /// A retained message for the new subscription `key`.
  effect_list deliver_retained(const message& msg, std::string_view key,
                               std::int64_t now_ms);

  effect_list handle_timer(timer_kind kind, std::int64_t now_ms);

  /// The connection closed or failed underneath the channel.
  effect_list connection_lost(std::int64_t now_ms);

  /// The broker closes the connection: MQTT 5 clients are sent DISCONNECT
  /// with `code`, which must be a DISCONNECT reason code: 0x8E session
  /// taken over, 0x98 administrative action, 0x8B server shutting down,
  /// 0x9C use another server, ... The session stays, as after any
  /// disconnect. The Will is published, except for 0x8E, 0x9C and 0x9D,
  /// after which the client is expected to carry on elsewhere (EMQX does
  /// not publish it on takeover either). No-op unless connected.
  /// `server_reference` (MQTT 5, with 0x9C/0x9D): where to go instead.
  effect_list kick(reason_code code, std::int64_t now_ms,
                   const std::string& server_reference = {});

  /// Hosts a disconnected session that moved here from another node
  /// without its client (rebalance, evacuation): the channel becomes
  /// `disconnected` with it, its subscriptions are registered here
  /// (`subscribe_filter{existed}`) and its expiry interval starts again.
  /// Messages delivered meanwhile queue; the client's next CONNECT takes
  /// the session with `release_session()`. No-op unless `idle`.
  effect_list host_moved(std::string client_id, session s, std::int64_t now_ms);

  /// Ends the session now (e.g. an operator discards it): kicks the
  /// connection with `code` if connected, publishes a pending Will (the
  /// session ends), removes the subscriptions and ends with
  /// `session_ended`. While `connecting` there is no session yet: only the
  /// connection is closed.
  effect_list end_session(reason_code code, std::int64_t now_ms);

  /// Takes the session away for a takeover (see the contract, step 3); the
  /// channel is `closed` afterwards and its pending Will dropped. Nullopt
  /// if there is no session, or the connection is still open (`kick` it
  /// first).
  std::optional<session> release_session();

  /// Bytes arrived that do not complete a packet yet: the client is alive.
  void activity(std::int64_t now_ms) noexcept;

  // -- observers -------------------------------------------------------------

  channel_state state() const noexcept {
    return state_;
  }

  /// The protocol version of the CONNECT (3.1.1 before one arrives).
  protocol_version version() const noexcept {
    return version_;
  }

  /// The client identifier, as sent or assigned; empty before CONNECT.
  const std::string& client_id() const noexcept {
    return client_id_;
  }

  /// The username of the CONNECT, if it had one.
  std::optional<std::string_view> username() const noexcept {
    if (!has_username_)
      return std::nullopt;
    return std::string_view(username_);
  }

  /// The Keep Alive in force, in seconds (0: none).
  std::uint16_t keepalive() const noexcept {
    return keepalive_s_;
  }

  /// The session, while the channel has one.
  const session* current_session() const noexcept {
    return session_ ? &*session_ : nullptr;
  }

  /// Whether a Will would be (or is about to be) published.
  bool has_will() const noexcept {
    return will_ != nullptr;
  }

  const channel_config& config() const noexcept {
    return *config_;
  }

private:
  bool is_v5() const noexcept {
    return version_ == protocol_version::v5;
  }

  void dispatch(const packet& pkt, std::int64_t now, effect_list& out);
  void send(packet pkt, effect_list& out) const;

  // channel_connect.cpp
  void on_connect(const connect& c, std::int64_t now, effect_list& out);
  std::optional<reason_code> check_connect(const connect& c,
                                           std::string& why);
  std::optional<reason_code> choose_client_id(const connect& c,
                                              std::string& why);
  std::optional<reason_code> check_will(const will_message& will,
                                        std::string& why) const;
  reason_code authenticate(const connect& c) const;
  void accept_connect(const connect& c, effect_list& out);
  void refuse_connect(reason_code code, std::string why, effect_list& out);
  bool adopt_session(std::optional<session> existing, effect_list& out);
  void resubscribe(effect_list& out) const;
  connack make_connack(bool session_present) const;
  std::uint32_t capped_session_expiry(std::uint32_t requested) const noexcept;
  void replay_early_packets(std::int64_t now, effect_list& out);

  // channel_publish.cpp
  void on_publish(const publish& p, std::int64_t now, effect_list& out);
  bool resolve_topic(const publish& p, std::string& topic, std::int64_t now,
                     effect_list& out);
  std::optional<reason_code> publish_refusal(const publish& p,
                                             std::string_view topic) const;
  void on_qos2_publish(const publish& p, std::string topic,
                       std::optional<reason_code> refusal, std::int64_t now,
                       effect_list& out);
  void on_puback(const puback& a, std::int64_t now, effect_list& out);
  void on_pubrec(const pubrec& r, std::int64_t now, effect_list& out);
  void on_pubrel(const pubrel& r, std::int64_t now, effect_list& out);
  void on_pubcomp(const pubcomp& c, std::int64_t now, effect_list& out);
  void route(delivery d, std::int64_t now, effect_list& out);
  void start_flow(delivery d, std::int64_t now, effect_list& out);
  std::optional<publish> render(const delivery& d, std::int64_t now);
  bool fits(const publish& p);
  void drain_queue(std::int64_t now, effect_list& out);
  void resend_inflight(std::int64_t now, effect_list& out);
  std::size_t window() const noexcept;

  // channel_subscribe.cpp
  void on_subscribe(const subscribe& s, std::int64_t now, effect_list& out);
  void on_unsubscribe(const unsubscribe& u, effect_list& out);
  reason_code add_subscription(const subscription& sub,
                               std::optional<std::uint32_t> identifier,
                               effect_list& out);

  // channel.cpp: ending connections and sessions, timers
  void on_disconnect(const disconnect& d, std::int64_t now, effect_list& out);
  void protocol_violation(reason_code code, std::string why,
                          std::int64_t now, effect_list& out);
  void close(reason_code code, std::string why, bool with_will,
             std::int64_t now, effect_list& out);
  void enter_disconnected(bool with_will, std::int64_t now,
                          effect_list& out);
  void publish_will(std::int64_t now, effect_list& out);
  void finish_session(std::string why, std::int64_t now, effect_list& out);
  void arm_keepalive(std::int64_t now, effect_list& out);
  void on_keepalive_timer(std::int64_t now, effect_list& out);
  void arm_await_rel(effect_list& out);
  void on_await_rel_timer(std::int64_t now, effect_list& out);
  std::optional<std::string> reason_string(std::string_view why) const;

  // The fields are ordered so that no padding is left between them: a
  // channel is 640 B, jemalloc's size class, with an idle fleet holding one
  // per client (tests/unit/channel_connect_test.cpp checks the size).
  std::shared_ptr<const channel_config> config_;
  channel_hooks hooks_;

  // From the CONNECT.
  std::string client_id_;
  std::string username_; ///< when has_username_
  /// On the heap: most clients have none, and a will_message is 0.5 KB.
  std::unique_ptr<will_message> will_;

  // Per connection.
  /// Topic aliases (MQTT 5), on the heap once a client uses one: most
  /// never do, and the two maps are 112 B.
  struct topic_aliases {
    std::unordered_map<std::uint16_t, std::string> inbound;
    std::unordered_map<std::string, std::uint16_t> outbound;
  };
  std::unique_ptr<topic_aliases> aliases_;
  topic_aliases& aliases() {
    if (!aliases_)
      aliases_ = std::make_unique<topic_aliases>();
    return *aliases_;
  }
  std::vector<packet> early_packets_;
  std::int64_t last_activity_ms_ = 0;

  // Deadlines of the timers that matter now.
  std::optional<std::int64_t> keepalive_due_ms_;
  std::optional<std::int64_t> await_rel_due_ms_;
  std::optional<std::int64_t> will_due_ms_;
  std::optional<std::int64_t> expiry_due_ms_;

  // The small fields, together (from the CONNECT unless said otherwise).
  std::uint32_t session_expiry_ = 0;    ///< capped, seconds
  std::uint32_t requested_expiry_ = 0;  ///< as the client asked
  std::optional<std::uint32_t> client_max_packet_size_;
  std::uint16_t keepalive_s_ = 0;       ///< in force
  std::uint16_t client_receive_maximum_ = 65535;
  std::uint16_t client_topic_alias_max_ = 0;
  channel_state state_ = channel_state::idle;
  /// Whether the client's connection is still open (it may close while
  /// `connecting`, before the session is opened).
  bool connection_open_ = true;
  protocol_version version_ = protocol_version::v3_1_1;
  bool assigned_client_id_ = false;
  bool has_username_ = false;
  bool clean_start_ = true;
  bool bridge_ = false;
  bool connect_expiry_zero_ = true;     ///< CONNECT asked for 0 (§3.14.2.2.2)

  std::optional<session> session_;
};

} // namespace starling::broker
