#include "starling/broker/sys_topics.hpp"

#include <ctime>

namespace starling::broker {

namespace {

/// "2 days, 3 hours, 4 minutes, 5 seconds", as EMQX writes its uptime.
std::string uptime_text(int64_t ms) {
  auto s = ms / 1000;
  std::string out;
  auto part = [&](int64_t n, const char* unit) {
    if (n > 0 || (out.empty() && unit[0] == 's'))
      out += (out.empty() ? "" : ", ") + std::to_string(n) + " " + unit
             + (n == 1 ? "" : "s");
  };
  part(s / 86400, "day");
  part(s % 86400 / 3600, "hour");
  part(s % 3600 / 60, "minute");
  part(s % 60, "second");
  return out;
}

std::string datetime(int64_t unix_ms) {
  auto t = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

} // namespace

std::vector<std::pair<std::string, std::string>>
sys_topics(const std::string& node, const std::string& version,
           int64_t uptime_ms, int64_t now_ms, const broker_stats& stats) {
  auto base = "$SYS/brokers/" + node + "/";
  auto n = [](uint64_t x) { return std::to_string(x); };
  return {
    {base + "version", version},
    {base + "uptime", uptime_text(uptime_ms)},
    {base + "datetime", datetime(now_ms)},
    {base + "sysdescr", "Starling MQTT broker"},
    {base + "stats/connections/count", n(stats.connections)},
    {base + "stats/sessions/count", n(stats.sessions)},
    {base + "stats/subscriptions/count", n(stats.subscriptions)},
    {base + "stats/topics/count", n(stats.topics)},
    {base + "stats/retained/count", n(stats.retained)},
    {base + "metrics/messages/received", n(stats.messages_received)},
    {base + "metrics/messages/sent", n(stats.messages_sent)},
    {base + "metrics/messages/dropped", n(stats.messages_dropped)},
    {base + "metrics/bytes/received", n(stats.bytes_received)},
    {base + "metrics/bytes/sent", n(stats.bytes_sent)},
  };
}

} // namespace starling::broker
