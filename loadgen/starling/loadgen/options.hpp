#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <netinet/in.h>

#include "starling/broker/packet.hpp"

namespace starling::loadgen {

/// What `starling bench` does, as in emqtt_bench.
enum class bench_mode {
  conn, ///< open connections and hold them
  sub,  ///< subscribers: connect, subscribe, receive and measure
  pub,  ///< publishers: connect, publish at a rate or as fast as possible
};

std::string_view to_string(bench_mode mode) noexcept;

/// Everything a run is told on the command line. The defaults are
/// emqtt_bench's where it has one.
struct options {
  bench_mode mode = bench_mode::pub;
  std::vector<std::string> hosts{"127.0.0.1"}; ///< connections spread round robin
  std::uint16_t port = 1883;
  int version = 4;             ///< 3 (3.1), 4 (3.1.1) or 5
  std::uint64_t count = 1;     ///< connections
  double connect_rate = 0;     ///< new connections per second; 0 = no limit
  std::string prefix;          ///< client id prefix; empty: "<mode>-<pid>-"
  std::uint64_t start_index = 0;
  std::uint16_t keepalive_s = 300;
  bool clean_start = true;
  std::uint32_t session_expiry_s = 0; ///< MQTT 5 only
  std::string topic;                  ///< template; see topic_template
  std::uint32_t filters_per_client = 1; ///< sub: filters per connection (%j)
  int qos = 0;
  std::uint32_t payload_size = 256;
  /// pub pacing: per-publisher interval in ms (0 = as fast as possible) or
  /// a total rate in messages per second; at most one is set. Neither set
  /// means an interval of 1000 ms, as in emqtt_bench.
  std::optional<double> interval_ms;
  std::optional<double> rate;
  std::uint64_t limit = 0;      ///< pub: messages sent, sub: received; 0 = none
  std::uint32_t inflight = 32;  ///< unacknowledged QoS 1/2 per publisher
  std::optional<std::string> username;
  std::optional<std::string> password;
  std::vector<std::string> ifaddrs; ///< source addresses, round robin
  double duration_s = 0;            ///< stop after this long; 0 = no limit
  double idle_exit_s = 0;           ///< sub: stop this long after the last message
  /// TCP_QUICKACK off after every read: the kernel delays its ACKs, so a
  /// broker with Nagle on (Mosquitto's default) coalesces its writes in a
  /// flood instead of sending one small segment per message (see cli.md).
  bool delayed_ack = false;
  /// conn: a client the broker disconnects or refuses (a rebalance, an
  /// evacuation, a node going down) connects again, to the Server
  /// Reference it was given (MQTT 5) or else to the next host.
  bool reconnect = false;
  /// --reconnect-to: where clients reconnect without a Server Reference,
  /// one after another across the engine's reconnections (as a load
  /// balancer in front of the nodes would); empty: each client's next host.
  std::vector<std::string> reconnect_hosts;
  std::string json_file;            ///< write the summary here
  unsigned threads = 1;
  bool progress = true;             ///< one line per second on stderr

  broker::protocol_version protocol() const noexcept {
    return static_cast<broker::protocol_version>(version);
  }
  /// The per-publisher interval in effect, or nullopt when a total rate is
  /// set.
  std::optional<double> effective_interval_ms() const {
    if (rate)
      return std::nullopt;
    return interval_ms.value_or(1000.0);
  }
};

/// "a,b,,c" -> {"a", "b", "c"}: empty items are dropped.
std::vector<std::string> split_list(std::string_view text);

/// bench_mode from its name, or nullopt.
std::optional<bench_mode> parse_mode(std::string_view text);

/// A broker address as -h or a Server Reference gives it.
struct host_port {
  std::string host;
  std::optional<std::uint16_t> port; ///< none: the -p port
};

/// "host" or "host:port"; nullopt when the port is not 1..65535.
std::optional<host_port> split_host_port(std::string_view text);

/// An IPv4 address in dotted form, or nullopt.
std::optional<in_addr> parse_ipv4(std::string_view text);

/// The first problem with `opts` as a sentence naming the option, or
/// nullopt. Fills in the default prefix (needs the process id).
std::optional<std::string> validate(options& opts, int pid);

} // namespace starling::loadgen
