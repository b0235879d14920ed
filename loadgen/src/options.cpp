#include "starling/loadgen/options.hpp"

#include <arpa/inet.h>

#include <variant>

#include "starling/broker/topic.hpp"
#include "starling/loadgen/stamp.hpp"
#include "starling/loadgen/topic_template.hpp"

namespace starling::loadgen {

std::string_view to_string(bench_mode mode) noexcept {
  switch (mode) {
    case bench_mode::conn:
      return "conn";
    case bench_mode::sub:
      return "sub";
    case bench_mode::pub:
      return "pub";
  }
  return "unknown";
}

std::vector<std::string> split_list(std::string_view text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    auto comma = text.find(',', start);
    if (comma == std::string_view::npos)
      comma = text.size();
    if (comma > start)
      out.emplace_back(text.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

std::optional<bench_mode> parse_mode(std::string_view text) {
  for (auto m : {bench_mode::conn, bench_mode::sub, bench_mode::pub})
    if (text == to_string(m))
      return m;
  return std::nullopt;
}

std::optional<host_port> split_host_port(std::string_view text) {
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos)
    return host_port{std::string(text), std::nullopt};
  auto digits = text.substr(colon + 1);
  if (digits.empty() || digits.size() > 5
      || digits.find_first_not_of("0123456789") != std::string_view::npos)
    return std::nullopt;
  auto port = std::stoul(std::string(digits));
  if (port == 0 || port > 65535)
    return std::nullopt;
  return host_port{std::string(text.substr(0, colon)), static_cast<std::uint16_t>(port)};
}

std::optional<in_addr> parse_ipv4(std::string_view text) {
  in_addr a{};
  std::string s(text);
  if (inet_pton(AF_INET, s.c_str(), &a) != 1)
    return std::nullopt;
  return a;
}

namespace {

/// Checks the topic template and one expansion of it for the mode.
std::optional<std::string> check_topic(const options& o) {
  if (o.mode == bench_mode::conn)
    return std::nullopt;
  if (o.topic.empty())
    return "-t/--topic is required in " + std::string(to_string(o.mode)) +
           " mode";
  auto parsed = topic_template::parse(o.topic);
  if (auto* why = std::get_if<std::string>(&parsed))
    return "-t/--topic: " + *why;
  const auto& t = std::get<topic_template>(parsed);
  if (o.mode == bench_mode::pub && t.uses_filter_index())
    return "-t/--topic: %j (filter index) is for sub mode only";
  if (o.filters_per_client > 1 && !t.uses_filter_index())
    return "--filters-per-client " + std::to_string(o.filters_per_client) +
           " needs %j in the topic, or every filter of a client is the same";
  auto sample = t.expand(o.start_index, o.prefix + std::to_string(o.start_index));
  auto error = o.mode == bench_mode::pub ? broker::topic_name_error(sample)
                                         : broker::topic_filter_error(sample);
  if (error)
    return "-t/--topic '" + o.topic + "' gives '" + sample + "': " + *error;
  return std::nullopt;
}

std::optional<std::string> check_pacing(const options& o) {
  if (o.interval_ms && o.rate)
    return "-I/--interval and -r/--rate exclude each other: give a "
           "per-publisher interval or a total rate";
  if (o.interval_ms && *o.interval_ms < 0)
    return "-I/--interval must be >= 0 ms (0: as fast as possible)";
  if (o.rate && *o.rate <= 0)
    return "-r/--rate must be > 0 messages per second";
  if (o.connect_rate < 0)
    return "-R/--connrate must be >= 0 (0: no limit)";
  if (o.mode == bench_mode::pub && o.payload_size < stamp::size)
    return "-s/--size " + std::to_string(o.payload_size) +
           " is too small: a payload carries a " + std::to_string(stamp::size) +
           "-byte stamp (timestamp, sequence number, publisher id), so the "
           "minimum is " + std::to_string(stamp::size);
  if (o.payload_size > 256u * 1024 * 1024)
    return "-s/--size must be at most 268435456 bytes";
  if (o.inflight < 1 || o.inflight > 65535)
    return "--inflight must be 1..65535";
  return std::nullopt;
}

std::optional<std::string> check_connection(options& o) {
  if (o.version < 3 || o.version > 5)
    return "-V/--version must be 3 (MQTT 3.1), 4 (3.1.1) or 5";
  if (o.qos < 0 || o.qos > 2)
    return "-q/--qos must be 0, 1 or 2";
  if (o.count < 1 || o.count > 10'000'000)
    return "-c/--count must be 1..10000000";
  if (o.threads < 1 || o.threads > 64)
    return "-j/--threads must be 1..64";
  if (o.threads > o.count)
    o.threads = static_cast<unsigned>(o.count);
  if (o.hosts.empty())
    return "-h/--host needs at least one host";
  if (o.port == 0)
    return "-p/--port must be 1..65535";
  if (o.session_expiry_s > 0 && o.version != 5)
    return "-x/--session-expiry needs MQTT 5 (-V 5)";
  if (o.password && !o.username && o.version != 5)
    return "-P/--password needs -u/--username before MQTT 5";
  for (const auto& a : o.ifaddrs)
    if (!parse_ipv4(a))
      return "--ifaddr: '" + a + "' is not an IPv4 address";
  if (o.filters_per_client < 1)
    return "--filters-per-client must be >= 1";
  if (o.reconnect && o.mode != bench_mode::conn)
    return "--reconnect is for conn mode only";
  if (!o.reconnect_hosts.empty() && !o.reconnect)
    return "--reconnect-to needs --reconnect";
  if (o.duration_s < 0 || o.idle_exit_s < 0)
    return "--duration and --idle-exit must be >= 0 seconds";
  return std::nullopt;
}

} // namespace

std::optional<std::string> validate(options& opts, int pid) {
  if (opts.prefix.empty())
    opts.prefix = std::string(to_string(opts.mode)) + "-" + std::to_string(pid) + "-";
  if (auto e = check_connection(opts))
    return e;
  if (auto e = check_pacing(opts))
    return e;
  return check_topic(opts);
}

} // namespace starling::loadgen
