#include "starling/broker/ban_list.hpp"

#include <ctime>

#include <nlohmann/json.hpp>

#include "starling/runtime/node_config.hpp"

namespace starling::broker {

std::string_view to_string(ban_kind kind) noexcept {
  switch (kind) {
    case ban_kind::clientid:
      return "clientid";
    case ban_kind::username:
      return "username";
    case ban_kind::peerhost:
      return "peerhost";
  }
  return "?";
}

std::optional<ban_kind> parse_ban_kind(std::string_view text) noexcept {
  if (text == "clientid")
    return ban_kind::clientid;
  if (text == "username")
    return ban_kind::username;
  if (text == "peerhost")
    return ban_kind::peerhost;
  return std::nullopt;
}

std::string ban::key() const {
  return std::string(to_string(kind)) + ":" + value;
}

std::string ban::encode() const {
  return nlohmann::json{{"until", until_s}, {"at", at_s}, {"by", by}}.dump();
}

std::optional<ban> ban::decode(std::string_view key, std::string_view value) {
  auto colon = key.find(':');
  if (colon == std::string_view::npos)
    return std::nullopt;
  auto kind = parse_ban_kind(key.substr(0, colon));
  if (!kind)
    return std::nullopt;
  auto j = nlohmann::json::parse(value, nullptr, false);
  if (!j.is_object())
    return std::nullopt;
  ban b;
  b.kind = *kind;
  b.value = std::string(key.substr(colon + 1));
  b.until_s = j.value("until", std::int64_t{0});
  b.at_s = j.value("at", std::int64_t{0});
  b.by = j.value("by", std::string());
  return b;
}

void ban_list::put(std::string_view key, std::string_view value) {
  if (auto b = ban::decode(key, value))
    bans_.insert_or_assign(std::string(key), std::move(*b));
}

void ban_list::erase(std::string_view key) {
  if (auto i = bans_.find(key); i != bans_.end())
    bans_.erase(i);
}

const ban* ban_list::lookup(ban_kind kind, std::string_view value,
                            std::int64_t now_s) const {
  std::string key = std::string(to_string(kind)) + ":";
  key += value;
  auto i = bans_.find(key);
  if (i == bans_.end() || i->second.expired(now_s))
    return nullptr;
  return &i->second;
}

const ban* ban_list::find(std::string_view client_id,
                          std::optional<std::string_view> username,
                          std::string_view peer_host,
                          std::int64_t now_s) const {
  if (bans_.empty())
    return nullptr;
  if (auto b = lookup(ban_kind::clientid, client_id, now_s))
    return b;
  if (username)
    if (auto b = lookup(ban_kind::username, *username, now_s))
      return b;
  return lookup(ban_kind::peerhost, peer_host, now_s);
}

std::vector<ban> ban_list::list() const {
  std::vector<ban> out;
  for (auto& [key, b] : bans_)
    out.push_back(b);
  return out;
}

std::optional<std::int64_t> parse_ban_until(std::string_view text,
                                            std::int64_t now_s) {
  if (auto ms = runtime::parse_duration_ms(std::string(text)); ms && *ms > 0)
    return now_s + static_cast<std::int64_t>((*ms + 999) / 1000);
  std::tm tm{};
  std::string s(text);
  auto end = strptime(s.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm);
  if (end == nullptr || *end != '\0')
    return std::nullopt;
  auto t = static_cast<std::int64_t>(timegm(&tm));
  if (t <= now_s)
    return std::nullopt;
  return t;
}

std::string format_utc(std::int64_t epoch_s) {
  if (epoch_s == 0)
    return "infinity";
  std::time_t t = static_cast<std::time_t>(epoch_s);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

} // namespace starling::broker
