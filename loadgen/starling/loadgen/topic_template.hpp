#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace starling::loadgen {

/// A topic (or client id) template such as `dev/%i/+/status`, parsed once
/// and expanded per client and per filter.
///
/// Placeholders, as in emqtt_bench: `%i` the client's index (start index
/// plus its position), `%c` the client id, and ours: `%j` the filter's
/// index within the client (sub mode with several filters per client),
/// `%%` a literal `%`. Any other `%x`, or a `%` at the end, is refused when
/// parsing, so a typo fails the run before the first connection.
class topic_template {
public:
  /// The template, or why it is not one.
  static std::variant<topic_template, std::string> parse(std::string_view text);

  /// The text with every placeholder replaced.
  std::string expand(std::uint64_t index, std::string_view client_id,
                     std::uint64_t filter_index = 0) const;

  /// Whether the expansion depends on `%i`, `%c` or `%j`.
  bool uses_client() const noexcept;
  bool uses_filter_index() const noexcept;

  const std::string& text() const noexcept { return text_; }

private:
  enum class part_kind : std::uint8_t { literal, index, client_id, filter };
  struct part {
    part_kind kind;
    std::string literal;
  };

  std::string text_;
  std::vector<part> parts_;
};

} // namespace starling::loadgen
