#include "starling/mgmt/json_body.hpp"

namespace starling::mgmt {

std::string json_type_name(const nlohmann::json& v) {
  switch (v.type()) {
    case nlohmann::json::value_t::null:
      return "null";
    case nlohmann::json::value_t::boolean:
      return "a boolean";
    case nlohmann::json::value_t::string:
      return "a string";
    case nlohmann::json::value_t::array:
      return "an array";
    case nlohmann::json::value_t::object:
      return "an object";
    default:
      return "a number";
  }
}

outcome<json_body> json_body::parse(const std::string& text, bool allow_empty) {
  if (text.find_first_not_of(" \t\r\n") == std::string::npos) {
    if (allow_empty)
      return json_body(nlohmann::json::object());
    return bad_request("the request needs a JSON object as its body");
  }
  try {
    auto j = nlohmann::json::parse(text);
    if (!j.is_object())
      return bad_request("the body must be a JSON object, not " + json_type_name(j));
    return json_body(std::move(j));
  } catch (const nlohmann::json::parse_error& e) {
    // e.byte: where the parser stopped, counted from 1.
    return bad_request("the body is not valid JSON (at byte "
                       + std::to_string(e.byte) + ")");
  }
}

void json_body::fail(std::string message) {
  if (!error_)
    error_ = bad_request(std::move(message));
}

const nlohmann::json* json_body::get(const std::string& field, bool required) {
  known_.insert(field);
  auto i = j_.find(field);
  if (i == j_.end() || i->is_null()) {
    if (required)
      fail("missing field '" + field + "'");
    return nullptr;
  }
  return &*i;
}

const nlohmann::json* json_body::raw(const std::string& field) {
  return get(field, false);
}

std::string json_body::text(const std::string& field) {
  auto v = get(field, true);
  if (!v)
    return {};
  if (!v->is_string()) {
    fail("field '" + field + "' must be a string, not " + json_type_name(*v));
    return {};
  }
  return v->get<std::string>();
}

std::optional<std::string> json_body::optional_text(const std::string& field) {
  auto v = get(field, false);
  if (!v)
    return std::nullopt;
  if (!v->is_string()) {
    fail("field '" + field + "' must be a string, not " + json_type_name(*v));
    return std::nullopt;
  }
  return v->get<std::string>();
}

int64_t json_body::integer(const std::string& field, int64_t min, int64_t max,
                           std::optional<int64_t> dflt) {
  auto v = get(field, !dflt);
  if (!v)
    return dflt.value_or(0);
  if (!v->is_number_integer()) {
    fail("field '" + field + "' must be a whole number, not "
         + (v->is_number() ? v->dump() : json_type_name(*v)));
    return dflt.value_or(0);
  }
  auto n = v->get<int64_t>();
  if (n < min || n > max) {
    fail("field '" + field + "' must be between " + std::to_string(min)
         + " and " + std::to_string(max) + ", not " + std::to_string(n));
    return dflt.value_or(0);
  }
  return n;
}

bool json_body::boolean(const std::string& field, std::optional<bool> dflt) {
  auto v = get(field, !dflt);
  if (!v)
    return dflt.value_or(false);
  if (!v->is_boolean()) {
    fail("field '" + field + "' must be true or false, not " + json_type_name(*v));
    return dflt.value_or(false);
  }
  return v->get<bool>();
}

std::optional<api_error> json_body::finish() const {
  if (error_)
    return error_;
  for (auto& [k, v] : j_.items())
    if (!known_.count(k)) {
      std::string list;
      for (auto& f : known_)
        list += (list.empty() ? "" : ", ") + f;
      return bad_request("unknown field '" + k + "' (known: " + list + ")");
    }
  return std::nullopt;
}

} // namespace starling::mgmt
