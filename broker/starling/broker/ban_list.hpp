#pragma once

// Banned clients (EMQX's `banned` table): by client id, username or peer
// host, until a time or for ever. The records live in the replicated table
// `banned` (key `<kind>:<value>`, value JSON), which every node mirrors into
// a ban_list; the check at CONNECT is a lookup here.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace starling::broker {

enum class ban_kind : std::uint8_t { clientid, username, peerhost };

std::string_view to_string(ban_kind kind) noexcept;
std::optional<ban_kind> parse_ban_kind(std::string_view text) noexcept;

struct ban {
  ban_kind kind = ban_kind::clientid;
  std::string value;
  /// Wall-clock seconds since the epoch; 0: for ever.
  std::int64_t until_s = 0;
  std::int64_t at_s = 0; ///< when it was added
  std::string by;        ///< who added it ("ctl")

  /// The table key: "clientid:dev-1".
  std::string key() const;
  /// The table value (JSON: until, at, by).
  std::string encode() const;
  /// From a table record; nullopt if it is not one of ours.
  static std::optional<ban> decode(std::string_view key, std::string_view value);

  bool expired(std::int64_t now_s) const noexcept {
    return until_s != 0 && now_s >= until_s;
  }
};

class ban_list {
public:
  /// A record of the table was written (or rewritten); ignored when the
  /// record is not a ban.
  void put(std::string_view key, std::string_view value);
  void erase(std::string_view key);
  void clear() {
    bans_.clear();
  }

  /// The ban that refuses this client now, if any (client id first, then
  /// username, then host). Expired bans refuse nobody.
  const ban* find(std::string_view client_id,
                  std::optional<std::string_view> username,
                  std::string_view peer_host, std::int64_t now_s) const;

  /// Every ban, expired ones included, sorted by key.
  std::vector<ban> list() const;

  std::size_t size() const noexcept {
    return bans_.size();
  }

private:
  const ban* lookup(ban_kind kind, std::string_view value,
                    std::int64_t now_s) const;
  std::map<std::string, ban, std::less<>> bans_;
};

/// Parses `--until`: a duration from `now_s` (`30m`, `2h`, `7d`, as
/// cluster.autoclean) or a UTC time `2030-01-31T12:00:00Z`; nullopt when it
/// is neither, or not in the future.
std::optional<std::int64_t> parse_ban_until(std::string_view text,
                                            std::int64_t now_s);

/// `2030-01-31T12:00:00Z`, or `infinity` for 0.
std::string format_utc(std::int64_t epoch_s);

} // namespace starling::broker
