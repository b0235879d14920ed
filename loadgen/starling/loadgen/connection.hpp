#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <unordered_set>
#include <vector>

#include "starling/broker/codec.hpp"
#include "starling/loadgen/engine_context.hpp"
#include "starling/loadgen/sequence_tracker.hpp"
#include "starling/loadgen/wire.hpp"

namespace starling::loadgen {

/// One MQTT client of a run: a non-blocking socket registered in the
/// engine's epoll set, and the client side of the protocol.
///
/// The life of a connection:
///
///     idle -> connecting -> awaiting_connack -> [subscribing] -> ready
///                                                                 |
///                                  closed <- closing <------------+
///
/// `connecting`: connect() in progress (EPOLLOUT reports the outcome).
/// `awaiting_connack`: CONNECT sent. `subscribing` (sub mode): SUBSCRIBEs
/// sent, SUBACKs outstanding. `ready`: a publisher may publish, a
/// subscriber receives. `closing`: DISCONNECT sent and the socket half
/// closed, waiting for the broker's EOF so nothing sent is lost to a reset.
/// Any surprise (refused, reset, a refused CONNACK or SUBACK, a malformed
/// packet, the broker closing first) is fatal for the run: a benchmark with
/// a silently missing client would report wrong figures. With --reconnect
/// (conn mode) a client the broker disconnects or refuses connects again
/// instead, 100 ms later: to the Server Reference of an MQTT 5 DISCONNECT
/// or CONNACK, or else to the next host of the list.
class connection {
public:
  enum class state : std::uint8_t {
    idle,
    connecting,
    awaiting_connack,
    subscribing,
    ready,
    closing,
    closed,
  };

  /// `position` is the client's place in the run (0 .. count-1); `slot`
  /// its index in the engine, carried in the epoll event.
  connection(engine_context& ctx, std::uint64_t position, std::uint32_t slot);
  ~connection();
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  /// Starts a non-blocking connect to its target from its source address.
  void open();

  /// Handles the events epoll reported for this socket.
  void on_event(std::uint32_t events);

  /// Sends up to `n` PUBLISH packets in one sendmsg, as far as the inflight
  /// window allows; returns how many were sent.
  std::uint64_t publish(std::uint64_t n);

  /// Ready, nothing unsent and room in the inflight window.
  bool can_publish() const noexcept;

  /// Nothing unsent and nothing awaiting acknowledgement.
  bool drained() const noexcept;

  /// Sends PINGREQ when nothing was sent for half the keepalive.
  void keepalive(std::uint64_t now_ns);

  /// Sends DISCONNECT (after CONNACK) and half-closes; see `closing`.
  void close_gracefully();

  /// Closes the socket now.
  void abort() noexcept;

  state current() const noexcept { return state_; }
  const std::string& client_id() const noexcept { return client_id_; }

private:
  void on_connected();
  void on_readable();
  void consume(std::span<const std::uint8_t> bytes);
  std::size_t decode_all(std::span<const std::uint8_t> input);
  void handle(broker::packet& p);
  void on_connack(const broker::connack& c);
  void on_suback(const broker::suback& s);
  void on_publish(const broker::publish& p);
  void on_publisher_ack(std::uint16_t packet_id, bool final_ack);
  void send_subscribes();
  void become_ready();
  std::uint16_t next_packet_id();
  void queue(std::span<const std::uint8_t> bytes);
  void queue_ack(const std::vector<std::uint8_t>& tmpl, std::uint16_t id);
  void flush();
  void watch_writable(bool on);
  void fail(const std::string& why);
  /// The broker closed or refused this client: with --reconnect it
  /// connects again (to `server_reference` when given), else the run fails.
  void lost(const std::string& why, const std::optional<std::string>& server_reference = {});
  std::string describe() const;

  engine_context& ctx_;
  std::uint64_t position_;
  std::uint64_t index_;
  std::uint32_t slot_;
  /// Index into the engine's targets; a Server Reference or a
  /// --reconnect-to host (redirect_) replaces it until the next loss.
  std::size_t target_ = 0;
  std::optional<target> redirect_;
  int fd_ = -1;
  state state_ = state::idle;
  bool watching_writable_ = false;
  bool shut_down_ = false;
  std::string client_id_;
  broker::decoder decoder_;
  /// Bytes of an incomplete packet left from the last read.
  std::vector<std::uint8_t> partial_;
  /// Size of the packet `partial_` begins (0: its fixed header is not in).
  std::size_t partial_need_ = 0;
  /// Bytes the socket did not take yet, from `unsent_start_`.
  std::vector<std::uint8_t> unsent_;
  std::size_t unsent_start_ = 0;
  std::uint64_t last_send_ns_ = 0;
  std::uint16_t last_packet_id_ = 0;
  std::uint32_t max_inflight_ = 0;
  std::uint32_t pending_subacks_ = 0;
  std::uint64_t seq_ = 0;
  /// Publisher: QoS 1/2 packet ids not yet acknowledged.
  std::unordered_set<std::uint16_t> inflight_;
  std::optional<publish_template> publish_;
  sequence_tracker tracker_;
};

} // namespace starling::loadgen
