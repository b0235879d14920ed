#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace starling::broker {

/// The longest topic name or filter: an MQTT UTF-8 string has a two-byte
/// length prefix (MQTT 5 §1.5.4).
inline constexpr std::size_t max_topic_bytes = 65535;

/// Separates the levels of a topic (MQTT 5 §4.7.1.1).
inline constexpr char topic_level_separator = '/';

/// Prefix of a shared subscription filter (MQTT 5 §4.8.2).
inline constexpr std::string_view shared_subscription_prefix = "$share/";

/// EMQX's default `mqtt.max_topic_levels`. Nothing in MQTT bounds the number
/// of levels, but the trie and the retained store recurse once per level, so
/// the channel should refuse deeper names and filters (see `level_count`).
inline constexpr std::size_t default_max_topic_levels = 128;

/// Why `name` cannot be the Topic Name of a PUBLISH, or nullopt when it can.
///
/// A Topic Name is non-empty, at most 65535 bytes, and contains neither
/// wildcard (`+`, `#`) nor U+0000 (MQTT 5 §4.7.3, §1.5.4). Well-formed UTF-8
/// is the codec's concern: it checks every MQTT string as it decodes it.
[[nodiscard]] std::optional<std::string>
topic_name_error(std::string_view name);

/// Why `filter` cannot be the Topic Filter of a SUBSCRIBE or UNSUBSCRIBE, or
/// nullopt when it can.
///
/// A Topic Filter is non-empty, at most 65535 bytes and free of U+0000; `+`
/// occupies a whole level and `#` a whole level that is also the last one
/// (MQTT 5 §4.7.1). A `$share/` filter is not checked as a shared
/// subscription here; use `parse_shared_filter` for that.
[[nodiscard]] std::optional<std::string>
topic_filter_error(std::string_view filter);

/// Whether `filter` contains `+` or `#`. Only such filters need the trie; an
/// exact filter can be looked up by name in a hash map.
bool has_wildcards(std::string_view filter) noexcept;

/// Whether `topic` starts with `$` (`$SYS/...`, `$share/...`): such names are
/// never matched by a wildcard in the first level of a filter (§4.7.2).
inline bool is_dollar_topic(std::string_view topic) noexcept {
  return !topic.empty() && topic.front() == '$';
}

/// The number of levels of `topic`: one more than the number of `/`.
std::size_t level_count(std::string_view topic) noexcept;

/// The levels of `topic`, as views into it: "a//b" -> {"a", "", "b"},
/// "/x" -> {"", "x"}, "" -> {""}.
std::vector<std::string_view> split_levels(std::string_view topic);

/// Walks the levels of a topic or filter one at a time without copying or
/// allocating, for the matching hot paths. Copies are independent cursors,
/// which is what a backtracking match needs.
class topic_levels {
public:
  explicit topic_levels(std::string_view topic) noexcept : rest_(topic) {}

  /// Whether every level has been taken.
  bool done() const noexcept { return done_; }

  /// Takes the next level. Precondition: `!done()`.
  std::string_view next() noexcept {
    auto slash = rest_.find(topic_level_separator);
    if (slash == std::string_view::npos) {
      done_ = true;
      return rest_;
    }
    auto level = rest_.substr(0, slash);
    rest_.remove_prefix(slash + 1);
    return level;
  }

private:
  std::string_view rest_;
  bool done_ = false;
};

/// Hash for maps keyed by a topic level. Transparent, so that together with
/// `std::equal_to<>` a level of a published topic is looked up as a
/// `string_view`, without building a `std::string` per level.
struct topic_level_hash {
  using is_transparent = void;
  std::size_t operator()(std::string_view level) const noexcept {
    return std::hash<std::string_view>{}(level);
  }
};

/// A shared subscription `$share/{group}/{filter}`, split.
struct shared_filter {
  std::string group;  ///< the ShareName
  std::string filter; ///< the Topic Filter the group subscribes to

  friend bool operator==(const shared_filter&, const shared_filter&) = default;
};

/// Whether `filter` asks for a shared subscription, i.e. starts with
/// `$share/`. A broker that finds one must either parse it with
/// `parse_shared_filter` or refuse it; it is never an ordinary filter.
inline bool is_shared_filter(std::string_view filter) noexcept {
  return filter.starts_with(shared_subscription_prefix);
}

/// Splits `$share/{group}/{filter}` (MQTT 5 §4.8.2). The ShareName must be
/// non-empty and free of `/`, `+` and `#`; the rest must be a valid Topic
/// Filter. On failure returns nullopt and sets `error` to a sentence naming
/// what is wrong.
std::optional<shared_filter> parse_shared_filter(std::string_view text,
                                                 std::string& error);

/// Whether Topic Filter `filter` matches Topic Name `name` (§4.7). The
/// reference matcher, one pair at a time; it checks the trie in tests and
/// serves places with a handful of filters (e.g. ACL rules). Both arguments
/// must be valid.
bool topic_matches(std::string_view filter, std::string_view name) noexcept;

} // namespace starling::broker
