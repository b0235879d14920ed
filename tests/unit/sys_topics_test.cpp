#include <doctest/doctest.h>

#include <map>

#include "starling/broker/sys_topics.hpp"

using namespace starling::broker;

TEST_CASE("sys topics carry EMQX's names and the figures given") {
  broker_stats s;
  s.connections = 3;
  s.messages_received = 10;
  s.messages_sent = 7;
  auto list = sys_topics("core1@127.0.0.1", "0.1.0",
                         (2 * 86400 + 3 * 3600 + 61) * 1000LL,
                         1795000000000LL, s);
  std::map<std::string, std::string> m(list.begin(), list.end());
  auto base = std::string("$SYS/brokers/core1@127.0.0.1/");
  CHECK(m.at(base + "version") == "0.1.0");
  CHECK(m.at(base + "uptime") == "2 days, 3 hours, 1 minute, 1 second");
  CHECK(m.at(base + "datetime") == "2026-11-18T11:06:40Z");
  CHECK(m.at(base + "stats/connections/count") == "3");
  CHECK(m.at(base + "metrics/messages/received") == "10");
  CHECK(m.at(base + "metrics/messages/sent") == "7");
  CHECK(sys_topics("n", "v", 500, 0, s)[1].second == "0 seconds");
}
