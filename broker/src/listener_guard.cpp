#include "starling/broker/listener_guard.hpp"

#include <algorithm>

namespace starling::broker {

reason_code refusal_code(admission a) noexcept {
  switch (a) {
    case admission::accepted:
      return reason_code::success;
    case admission::too_many_connections:
      return reason_code::quota_exceeded;
    case admission::rate_exceeded:
      return reason_code::connection_rate_exceeded;
    case admission::moved:
      return reason_code::use_another_server;
  }
  return reason_code::server_unavailable;
}

std::string describe(admission a) {
  switch (a) {
    case admission::accepted:
      return "accepted";
    case admission::too_many_connections:
      return "max_connections reached";
    case admission::rate_exceeded:
      return "max_conn_rate exceeded";
    case admission::moved:
      return "clients are being moved off this node (rebalance or evacuation)";
  }
  return "?";
}

admission listener_guard::admit(std::int64_t now_ms) {
  if (max_conn_rate_ > 0) {
    const std::uint64_t cap = max_conn_rate_ * 1000;
    if (last_ms_ >= 0 && now_ms > last_ms_) {
      // rate tokens per second = rate milli-tokens per millisecond
      auto refill = static_cast<std::uint64_t>(now_ms - last_ms_) * max_conn_rate_;
      tokens_milli_ = std::min(cap, tokens_milli_ + refill);
    }
    if (last_ms_ < 0 || now_ms > last_ms_)
      last_ms_ = now_ms;
  }
  if (max_connections_ > 0 && current_ >= max_connections_) {
    ++refused_;
    return admission::too_many_connections;
  }
  if (max_conn_rate_ > 0) {
    if (tokens_milli_ < 1000) {
      ++refused_;
      return admission::rate_exceeded;
    }
    tokens_milli_ -= 1000;
  }
  ++current_;
  return admission::accepted;
}

std::string listener_guard::summary() const {
  auto limit = [](std::uint64_t n, const char* unit) {
    return n == 0 ? std::string("unlimited") : std::to_string(n) + unit;
  };
  return std::to_string(current_) + " connections (max_connections "
         + limit(max_connections_, "") + ", max_conn_rate "
         + limit(max_conn_rate_, "/s") + "), " + std::to_string(refused_)
         + " refused";
}

} // namespace starling::broker
