#pragma once

#include <netinet/in.h>
#include <sys/uio.h>

#include <cstdint>
#include <optional>
#include <utility>
#include <string>
#include <vector>

#include "starling/loadgen/histogram.hpp"
#include "starling/loadgen/options.hpp"
#include "starling/loadgen/stats.hpp"
#include "starling/loadgen/topic_template.hpp"

namespace starling::loadgen {

/// A broker address with its text for messages.
struct target {
  sockaddr_in addr{};
  std::string text; ///< "host:port"
};

/// What the connections of one engine share: settings, counters and the
/// buffers of the hot paths. Owned by the engine and used from its thread
/// only, so nothing here is locked.
struct engine_context {
  explicit engine_context(const options& o);

  const options& opts;
  broker::protocol_version version;
  topic_template topic;
  std::vector<target> targets;  ///< round robin by client position
  /// --reconnect-to, round robin over the engine's reconnections.
  std::vector<target> reconnect_targets;
  std::size_t next_reconnect = 0;
  std::vector<in_addr> sources; ///< --ifaddr, round robin; empty: kernel's choice
  std::uint32_t run_id = 0;
  /// Connections this engine runs: `stats.all_ready_ns` is set when
  /// `stats.ready` reaches it.
  std::uint64_t clients = 0;
  int epoll_fd = -1;
  /// The time of the current read or loop turn (one clock read for many
  /// messages).
  std::uint64_t now_ns = 0;

  engine_stats stats;
  histogram latency;          ///< end-to-end, ns, whole run (up to the last report)
  histogram latency_interval; ///< since the last progress report

  /// One recv() lands here; only an incomplete packet is kept per
  /// connection, so idle connections hold no read buffer.
  std::vector<std::uint8_t> read_buffer;
  /// The heads of the messages of one sendmsg (see publish_template).
  std::vector<std::uint8_t> head_arena;
  std::vector<iovec> iov;
  /// The payload body after the stamp, shared by every message.
  std::vector<std::uint8_t> body;
  /// Pre-encoded small packets, patched per use.
  std::vector<std::uint8_t> puback, pubrec, pubrel, pubcomp, pingreq,
      disconnect;

  /// --reconnect: (when, slot) of connections to open again.
  std::vector<std::pair<std::uint64_t, std::uint32_t>> reconnects;

  /// Slots of publishers that became ready since the engine last looked.
  std::vector<std::uint32_t> newly_ready;

  /// The first fatal error; the engine stops when it is set.
  std::string error;
  void fail(std::string why) {
    if (error.empty())
      error = std::move(why);
  }
};

/// CLOCK_MONOTONIC in ns: the clock publishers stamp and subscribers read.
std::uint64_t monotonic_ns() noexcept;

} // namespace starling::loadgen
