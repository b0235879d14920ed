#include "starling/runtime/node_name.hpp"

#include <algorithm>
#include <cctype>

namespace starling::runtime {

namespace {

bool valid_short_name_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
}

bool valid_host_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-'
         || c == '_';
}

} // namespace

std::optional<uint16_t> derived_dist_port(const std::string& short_name) {
  auto digits_begin = std::find_if_not(short_name.rbegin(), short_name.rend(),
                                       [](char c) {
                                         return std::isdigit(
                                           static_cast<unsigned char>(c));
                                       })
                        .base();
  std::string digits(digits_begin, short_name.end());
  if (digits.empty())
    return base_dist_port;
  if (digits.size() > 5)
    return std::nullopt;
  auto port = base_dist_port + std::stoul(digits);
  if (port > 65535)
    return std::nullopt;
  return static_cast<uint16_t>(port);
}

uint16_t node_name::dist_port() const {
  if (port)
    return *port;
  return derived_dist_port(name).value_or(base_dist_port);
}

std::optional<node_name> parse_node_name(const std::string& text,
                                         std::string& error) {
  auto quoted = "'" + text + "'";
  auto at = text.find('@');
  if (at == std::string::npos) {
    error = "invalid node name " + quoted + ": expected name@host";
    return std::nullopt;
  }
  if (text.find('@', at + 1) != std::string::npos) {
    error = "invalid node name " + quoted + ": more than one '@'";
    return std::nullopt;
  }
  node_name result;
  result.name = text.substr(0, at);
  auto rest = text.substr(at + 1);
  if (result.name.empty()
      || !std::all_of(result.name.begin(), result.name.end(),
                      valid_short_name_char)) {
    error = "invalid node name " + quoted
            + ": the part before '@' must be letters, digits, '_' or '-'";
    return std::nullopt;
  }
  bool bracketed = !rest.empty() && rest.front() == '[';
  std::string v6;
  if (bracketed) {
    auto close = rest.find(']');
    if (close == std::string::npos) {
      error = "invalid node name " + quoted + ": '[' without ']'";
      return std::nullopt;
    }
    v6 = rest.substr(1, close - 1);
    rest = "x" + rest.substr(close + 1); // a placeholder host for the port check
    if (v6.empty() || !std::all_of(v6.begin(), v6.end(), [](char c) {
          return std::isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.';
        })) {
      error = "invalid node name " + quoted + ": not an IPv6 address in brackets";
      return std::nullopt;
    }
  }
  if (auto colon = rest.find(':'); colon != std::string::npos) {
    auto port_text = rest.substr(colon + 1);
    rest = rest.substr(0, colon);
    bool digits = !port_text.empty() && port_text.size() <= 5
                  && std::all_of(port_text.begin(), port_text.end(), [](char c) {
                       return std::isdigit(static_cast<unsigned char>(c));
                     });
    auto value = digits ? std::stoul(port_text) : 0;
    if (!digits || value == 0 || value > 65535) {
      error = "invalid node name " + quoted + ": port must be 1..65535";
      return std::nullopt;
    }
    result.port = static_cast<uint16_t>(value);
  }
  if (rest.empty()
      || !std::all_of(rest.begin(), rest.end(), valid_host_char)) {
    error = "invalid node name " + quoted
            + ": the host after '@' must be a host name or IPv4 address";
    return std::nullopt;
  }
  result.host = bracketed ? v6 : rest;
  if (!result.port && !derived_dist_port(result.name)) {
    error = "invalid node name " + quoted
            + ": its trailing number gives a port above 65535";
    return std::nullopt;
  }
  return result;
}

} // namespace starling::runtime
