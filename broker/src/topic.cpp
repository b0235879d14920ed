#include "starling/broker/topic.hpp"

#include <algorithm>

namespace starling::broker {

namespace {

/// A level quoted for an error message. Topics can be 64 KiB long and end up
/// in logs and Reason Strings, so long levels are cut short.
std::string quoted(std::string_view level) {
  constexpr std::size_t max_quoted = 40;
  std::string out = "\"";
  if (level.size() > max_quoted) {
    out.append(level.substr(0, max_quoted));
    out += "...";
  } else {
    out.append(level);
  }
  out += '"';
  return out;
}

/// The checks that names and filters share: length and U+0000. `what` is
/// "topic name" or "topic filter".
std::optional<std::string> common_error(std::string_view what,
                                        std::string_view topic) {
  if (topic.empty())
    return std::string(what) + " is empty";
  if (topic.size() > max_topic_bytes)
    return std::string(what) + " is " + std::to_string(topic.size()) +
           " bytes; the limit is " + std::to_string(max_topic_bytes);
  if (auto nul = topic.find('\0'); nul != std::string_view::npos)
    return std::string(what) + " contains U+0000 at byte " +
           std::to_string(nul);
  return std::nullopt;
}

/// The rules for one level of a filter: `+` and `#` stand alone, and `#` is
/// the last level. `index` counts from 1, as people do.
std::optional<std::string> filter_level_error(std::string_view level,
                                              std::size_t index, bool last) {
  auto where = "topic filter level " + std::to_string(index) + " (" +
               quoted(level) + ")";
  if (level.find('#') != std::string_view::npos) {
    if (level.size() != 1)
      return where + " mixes '#' with other characters; '#' must occupy a "
                     "whole level";
    if (!last)
      return where + " is '#' but not the last level; '#' must be last";
  }
  if (level.find('+') != std::string_view::npos && level.size() != 1)
    return where + " mixes '+' with other characters; '+' must occupy a "
                   "whole level";
  return std::nullopt;
}

} // namespace

std::optional<std::string> topic_name_error(std::string_view name) {
  if (auto err = common_error("topic name", name))
    return err;
  if (auto wild = name.find_first_of("+#"); wild != std::string_view::npos)
    return std::string("topic name contains wildcard '") + name[wild] +
           "' at byte " + std::to_string(wild) +
           "; wildcards are only allowed in topic filters";
  return std::nullopt;
}

std::optional<std::string> topic_filter_error(std::string_view filter) {
  if (auto err = common_error("topic filter", filter))
    return err;
  // Most filters have no wildcard at all; skip the per-level walk for them.
  if (!has_wildcards(filter))
    return std::nullopt;
  topic_levels levels(filter);
  for (std::size_t index = 1; !levels.done(); ++index) {
    auto level = levels.next();
    if (auto err = filter_level_error(level, index, levels.done()))
      return err;
  }
  return std::nullopt;
}

bool has_wildcards(std::string_view filter) noexcept {
  return filter.find_first_of("+#") != std::string_view::npos;
}

std::size_t level_count(std::string_view topic) noexcept {
  return 1 + static_cast<std::size_t>(
                 std::count(topic.begin(), topic.end(), topic_level_separator));
}

std::vector<std::string_view> split_levels(std::string_view topic) {
  std::vector<std::string_view> out;
  out.reserve(level_count(topic));
  for (topic_levels levels(topic); !levels.done();)
    out.push_back(levels.next());
  return out;
}

std::optional<shared_filter> parse_shared_filter(std::string_view text,
                                                 std::string& error) {
  if (!is_shared_filter(text)) {
    error = "not a shared subscription: " + quoted(text) +
            " does not start with $share/";
    return std::nullopt;
  }
  if (auto err = common_error("shared subscription", text)) {
    error = *err;
    return std::nullopt;
  }
  auto rest = text.substr(shared_subscription_prefix.size());
  auto slash = rest.find(topic_level_separator);
  auto group = rest.substr(0, slash);
  if (group.empty()) {
    error = "shared subscription has an empty share name";
    return std::nullopt;
  }
  if (group.find_first_of("+#") != std::string_view::npos) {
    error = "share name " + quoted(group) + " contains a wildcard";
    return std::nullopt;
  }
  if (slash == std::string_view::npos) {
    error = "shared subscription " + quoted(text) +
            " has no topic filter after the share name";
    return std::nullopt;
  }
  auto filter = rest.substr(slash + 1);
  if (auto err = topic_filter_error(filter)) {
    error = "shared subscription to group " + quoted(group) + ": " + *err;
    return std::nullopt;
  }
  return shared_filter{std::string(group), std::string(filter)};
}

bool topic_matches(std::string_view filter, std::string_view name) noexcept {
  // §4.7.2: a wildcard in the first level never matches a `$` topic.
  if (is_dollar_topic(name) && !filter.empty() &&
      (filter.front() == '+' || filter.front() == '#'))
    return false;
  topic_levels want(filter);
  topic_levels have(name);
  while (!want.done()) {
    auto level = want.next();
    // `#` matches whatever is left, including nothing: "a/#" matches "a".
    if (level == "#")
      return true;
    if (have.done())
      return false;
    auto actual = have.next();
    if (level != "+" && level != actual)
      return false;
  }
  return have.done();
}

} // namespace starling::broker
