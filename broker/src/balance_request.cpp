#include "starling/broker/balance_request.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <set>

#include "starling/runtime/node_config.hpp"

namespace starling::broker {

namespace {

using json = nlohmann::json;

/// The field as text: a JSON string as it is, a number as written.
std::string text_of(const json& v) {
  return v.is_string() ? v.get<std::string>() : v.dump();
}

using error = std::optional<std::string>;

/// One field a request may carry, and how it is read into the options.
struct field {
  const char* name;
  std::function<error(const json&)> read;
};

error positive(const json& v, const char* name, std::uint64_t& out) {
  std::string t = text_of(v);
  if (v.is_number_integer() && v.get<std::int64_t>() > 0) {
    out = static_cast<std::uint64_t>(v.get<std::int64_t>());
    return std::nullopt;
  }
  if (v.is_string() && !t.empty() && t.find_first_not_of("0123456789") == std::string::npos
      && t.size() < 19 && std::stoull(t) > 0) {
    out = std::stoull(t);
    return std::nullopt;
  }
  return std::string(name) + ": '" + t + "' is not a positive whole number";
}

error ratio(const json& v, const char* name, double& out) {
  std::string t = text_of(v);
  double x = 0;
  if (v.is_number()) {
    x = v.get<double>();
  } else {
    try {
      size_t used = 0;
      x = std::stod(t, &used);
      if (used != t.size())
        x = 0;
    } catch (const std::exception&) {
      x = 0;
    }
  }
  if (!std::isfinite(x) || x < 1.0)
    return std::string(name) + ": '" + t + "' is not a number of at least 1.0";
  out = x;
  return std::nullopt;
}

/// Seconds (a number, or digits) or a duration ("60s", "500ms").
error wait(const json& v, const char* name, std::int64_t& out_ms) {
  std::string t = text_of(v);
  std::optional<std::uint64_t> ms;
  if (v.is_number_integer() && v.get<std::int64_t>() >= 0)
    ms = static_cast<std::uint64_t>(v.get<std::int64_t>()) * 1000;
  else if (v.is_string() && !t.empty()
           && t.find_first_not_of("0123456789") == std::string::npos && t.size() < 12)
    ms = std::stoull(t) * 1000;
  else if (v.is_string())
    ms = runtime::parse_duration_ms(t);
  if (!ms || *ms > 86'400'000ull)
    return std::string(name) + ": '" + t
           + "' is not a wait (seconds, or a duration such as 60s or 500ms, "
             "at most 1d)";
  out_ms = static_cast<std::int64_t>(*ms);
  return std::nullopt;
}

/// A list of node names: a JSON array, or "a,b" as ctl passes it.
error names(const json& v, const char* name, std::vector<std::string>& out) {
  out.clear();
  if (v.is_string()) {
    std::string t = v.get<std::string>(), one;
    for (size_t i = 0; i <= t.size(); ++i) {
      if (i == t.size() || t[i] == ',') {
        if (!one.empty())
          out.push_back(one);
        one.clear();
      } else {
        one += t[i];
      }
    }
  } else if (v.is_array()) {
    for (auto& x : v) {
      if (!x.is_string())
        return std::string(name) + ": every entry must be a node name";
      out.push_back(x.get<std::string>());
    }
  } else {
    return std::string(name) + ": a list of node names is expected";
  }
  std::set<std::string> seen;
  for (auto& n : out) {
    if (n.find('@') == std::string::npos)
      return std::string(name) + ": '" + n + "' is not a node name (NAME@HOST)";
    if (!seen.insert(n).second)
      return std::string(name) + ": " + n + " is named twice";
  }
  if (out.empty())
    return std::string(name) + ": no node named";
  return std::nullopt;
}

/// A field read by `reader(value, name, out)`.
template <class T>
field with(const char* name, error (*reader)(const json&, const char*, T&), T& out) {
  return {name, [=, &out](const json& v) { return reader(v, name, out); }};
}

/// The eviction rates and waits both requests have.
std::vector<field> common_fields(std::uint64_t& conn_rate, std::uint64_t& sess_rate,
                                 std::int64_t& wait_health_check_ms,
                                 std::int64_t& wait_takeover_ms) {
  return {with("conn_evict_rate", positive, conn_rate),
          with("sess_evict_rate", positive, sess_rate),
          with("wait_health_check", wait, wait_health_check_ms),
          with("wait_takeover", wait, wait_takeover_ms)};
}

/// Reads every field of `j` with its reader; a field not in `fields` is
/// an error naming the known ones.
error read_fields(const json& j, const std::vector<field>& fields) {
  if (!j.is_object())
    return std::string("the request must be a JSON object");
  for (auto& [key, value] : j.items()) {
    auto f = std::find_if(fields.begin(), fields.end(),
                          [&](const field& x) { return key == x.name; });
    if (f == fields.end()) {
      std::string list;
      for (auto& x : fields)
        list += (list.empty() ? "" : ", ") + std::string(x.name);
      return "unknown field '" + key + "' (known: " + list + ")";
    }
    if (auto err = f->read(value))
      return err;
  }
  return std::nullopt;
}

error server_reference(const json& v, const char*, std::string& out) {
  if (!v.is_string())
    return std::string("redirect_to: a server reference (HOST:PORT) is expected");
  out = v.get<std::string>();
  return std::nullopt;
}

} // namespace

std::optional<std::string> read_rebalance_request(const nlohmann::json& j,
                                                  rebalance_options& out,
                                                  std::vector<std::string>& nodes) {
  nodes.clear();
  auto fields = common_fields(out.conn_evict_rate, out.sess_evict_rate,
                              out.wait_health_check_ms, out.wait_takeover_ms);
  fields.insert(fields.begin(), with("nodes", names, nodes));
  fields.push_back(with("abs_conn_threshold", positive, out.abs_conn_threshold));
  fields.push_back(with("rel_conn_threshold", ratio, out.rel_conn_threshold));
  fields.push_back(with("abs_sess_threshold", positive, out.abs_sess_threshold));
  fields.push_back(with("rel_sess_threshold", ratio, out.rel_sess_threshold));
  if (auto err = read_fields(j, fields))
    return err;
  if (j.contains("nodes") && nodes.size() < 2)
    return std::string("nodes: a rebalance needs at least two nodes");
  return std::nullopt;
}

std::optional<std::string> read_evacuation_request(const nlohmann::json& j,
                                                   evacuation_options& out) {
  auto fields = common_fields(out.conn_evict_rate, out.sess_evict_rate,
                              out.wait_health_check_ms, out.wait_takeover_ms);
  fields.insert(fields.begin(), {with("redirect_to", server_reference, out.redirect_to),
                                 with("migrate_to", names, out.migrate_to)});
  return read_fields(j, fields);
}

} // namespace starling::broker
