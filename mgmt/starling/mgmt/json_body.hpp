#pragma once

// Strict reading of a JSON request body: every field is checked for its
// type and range, and a field the endpoint does not know is an error, so a
// typo ("qso": 1) is refused with a sentence naming it instead of being
// ignored.

#include <cstdint>
#include <optional>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "starling/mgmt/api_error.hpp"

namespace starling::mgmt {

class json_body {
public:
  /// Parses `text`; an empty body reads as {} when `allow_empty`.
  static outcome<json_body> parse(const std::string& text, bool allow_empty = false);

  /// Each getter records the field as known. A missing required field, a
  /// wrong type or a value out of range sets the first error.
  std::string text(const std::string& field);
  std::optional<std::string> optional_text(const std::string& field);
  int64_t integer(const std::string& field, int64_t min, int64_t max,
                  std::optional<int64_t> dflt = std::nullopt);
  bool boolean(const std::string& field, std::optional<bool> dflt = std::nullopt);
  /// The raw value (for fields of several types).
  const nlohmann::json* raw(const std::string& field);

  /// The first error, including unknown fields (checked here, after the
  /// getters named the known ones).
  std::optional<api_error> finish() const;

private:
  explicit json_body(nlohmann::json j) : j_(std::move(j)) {}
  const nlohmann::json* get(const std::string& field, bool required);
  void fail(std::string message);

  nlohmann::json j_;
  std::set<std::string> known_;
  std::optional<api_error> error_;
};

/// JSON's name for the type of `v` ("a string", "a number", ...).
std::string json_type_name(const nlohmann::json& v);

} // namespace starling::mgmt
