#pragma once

// Private to actors/src/mgmt: the JSON envelope every management answer
// travels in ({"ok": ...} or {"error": {status, code, message}}).

#include <string>

#include <nlohmann/json.hpp>

#include "starling/mgmt/api_error.hpp"

namespace starling::actors::mgmt {

inline std::string ok_envelope(const nlohmann::json& j) {
  return nlohmann::json{{"ok", j}}.dump();
}

inline std::string error_envelope(const starling::mgmt::api_error& e) {
  return nlohmann::json{{"error", {{"status", e.status}, {"code", e.code},
                                   {"message", e.message}}}}
    .dump();
}

inline starling::mgmt::outcome<nlohmann::json> open_envelope(const std::string& text) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_object() && j.contains("ok"))
    return j["ok"];
  if (j.is_object() && j.contains("error") && j["error"].is_object()) {
    auto& e = j["error"];
    return starling::mgmt::api_error{e.value("status", 500), e.value("code", "INTERNAL_ERROR"),
                                     e.value("message", "")};
  }
  return starling::mgmt::api_error{500, "INTERNAL_ERROR", "malformed answer"};
}

} // namespace starling::actors::mgmt
