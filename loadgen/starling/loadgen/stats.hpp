#pragma once

#include <algorithm>
#include <cstdint>

namespace starling::loadgen {

/// Counters of one engine (one thread), summed over engines for progress
/// lines and the summary. Times are CLOCK_MONOTONIC ns; 0 = not yet.
struct engine_stats {
  std::uint64_t connecting = 0;    ///< sockets opened, CONNACK not yet in
  std::uint64_t connected = 0;     ///< CONNACK success received
  std::uint64_t ready = 0;         ///< connected and, for sub, every SUBACK in
  std::uint64_t subscriptions = 0; ///< filters granted
  std::uint64_t sent = 0;          ///< PUBLISH written to the socket
  std::uint64_t acked = 0;         ///< PUBACK (QoS 1) / PUBCOMP (QoS 2) in
  std::uint64_t received = 0;      ///< PUBLISH in
  std::uint64_t unstamped = 0;     ///< PUBLISH in with a payload < 24 bytes
  std::int64_t lost = 0;           ///< gaps in the sequence numbers
  std::uint64_t duplicates = 0;
  std::uint64_t out_of_order = 0;
  std::uint64_t bytes_in = 0;
  std::uint64_t bytes_out = 0;
  std::uint64_t reconnects = 0; ///< --reconnect: connections opened again
  std::uint64_t redirects = 0;  ///< ... of them to a Server Reference
  std::uint64_t moved = 0;      ///< disconnects and refusals with 0x9C/0x9D
  std::uint64_t first_connect_ns = 0;
  std::uint64_t all_ready_ns = 0; ///< when `ready` reached the engine's count
  std::uint64_t first_send_ns = 0;
  std::uint64_t last_send_ns = 0;
  std::uint64_t first_receive_ns = 0;
  std::uint64_t last_receive_ns = 0;
  /// The earliest publication time stamped in a message received.
  std::uint64_t first_stamp_ns = 0;

  /// Adds `o` in: counters sum, first times take the earliest, last times
  /// the latest.
  void merge(const engine_stats& o) noexcept {
    connecting += o.connecting;
    connected += o.connected;
    ready += o.ready;
    subscriptions += o.subscriptions;
    sent += o.sent;
    acked += o.acked;
    received += o.received;
    unstamped += o.unstamped;
    lost += o.lost;
    duplicates += o.duplicates;
    out_of_order += o.out_of_order;
    bytes_in += o.bytes_in;
    bytes_out += o.bytes_out;
    reconnects += o.reconnects;
    redirects += o.redirects;
    moved += o.moved;
    first_connect_ns = earliest(first_connect_ns, o.first_connect_ns);
    all_ready_ns = std::max(all_ready_ns, o.all_ready_ns);
    first_send_ns = earliest(first_send_ns, o.first_send_ns);
    last_send_ns = std::max(last_send_ns, o.last_send_ns);
    first_receive_ns = earliest(first_receive_ns, o.first_receive_ns);
    last_receive_ns = std::max(last_receive_ns, o.last_receive_ns);
    first_stamp_ns = earliest(first_stamp_ns, o.first_stamp_ns);
  }

  static std::uint64_t earliest(std::uint64_t a, std::uint64_t b) noexcept {
    return a == 0 ? b : b == 0 ? a : std::min(a, b);
  }
};

} // namespace starling::loadgen
