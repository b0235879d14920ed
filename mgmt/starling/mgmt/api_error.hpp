#pragma once

// What every failed request of the management API answers: an HTTP status
// and the JSON body {"code": "...", "message": "..."} (EMQX's shape), and a
// value-or-error type for the functions that produce answers.

#include <optional>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

namespace starling::mgmt {

struct api_error {
  int status = 500;
  std::string code;
  std::string message;

  nlohmann::json to_json() const { return {{"code", code}, {"message", message}}; }
};

inline api_error bad_request(std::string message) {
  return {400, "BAD_REQUEST", std::move(message)};
}
inline api_error not_found(std::string message, std::string code = "NOT_FOUND") {
  return {404, std::move(code), std::move(message)};
}
inline api_error unavailable(std::string message) {
  return {503, "SERVICE_UNAVAILABLE", std::move(message)};
}

/// A value or the api_error saying why there is none.
template <class T>
class outcome {
public:
  outcome(T value) : value_(std::move(value)) {}
  outcome(api_error err) : error_(std::move(err)) {}

  explicit operator bool() const { return value_.has_value(); }
  T& operator*() { return *value_; }
  const T& operator*() const { return *value_; }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  const api_error& error() const { return error_; }

private:
  std::optional<T> value_;
  api_error error_;
};

} // namespace starling::mgmt
