#include "starling/broker/balance_request.hpp"

#include <cmath>
#include <set>

#include "starling/runtime/node_config.hpp"

namespace starling::broker {

namespace {

using json = nlohmann::json;

/// The field as text: a JSON string as it is, a number as written.
std::string text_of(const json& v) {
  return v.is_string() ? v.get<std::string>() : v.dump();
}

std::optional<std::string> positive(const json& v, const char* name,
                                    std::uint64_t& out) {
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

std::optional<std::string> ratio(const json& v, const char* name, double& out) {
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
std::optional<std::string> wait(const json& v, const char* name, std::int64_t& out_ms) {
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
std::optional<std::string> names(const json& v, const char* name,
                                 std::vector<std::string>& out) {
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

/// Every field of `j` must be one of `known`.
std::optional<std::string> only(const json& j, std::initializer_list<const char*> known) {
  if (!j.is_object())
    return std::string("the request must be a JSON object");
  for (auto& [key, _] : j.items()) {
    bool found = false;
    for (auto k : known)
      found = found || key == k;
    if (!found) {
      std::string list;
      for (auto k : known)
        list += (list.empty() ? "" : ", ") + std::string(k);
      return "unknown field '" + key + "' (known: " + list + ")";
    }
  }
  return std::nullopt;
}

} // namespace

std::optional<std::string> read_rebalance_request(const nlohmann::json& j,
                                                  rebalance_options& out,
                                                  std::vector<std::string>& nodes) {
  if (auto err = only(j, {"nodes", "conn_evict_rate", "sess_evict_rate",
                          "wait_health_check", "wait_takeover", "abs_conn_threshold",
                          "rel_conn_threshold", "abs_sess_threshold",
                          "rel_sess_threshold"}))
    return err;
  nodes.clear();
  std::optional<std::string> err;
  auto has = [&](const char* k) { return !err && j.contains(k); };
  if (has("nodes"))
    err = names(j["nodes"], "nodes", nodes);
  if (has("conn_evict_rate"))
    err = positive(j["conn_evict_rate"], "conn_evict_rate", out.conn_evict_rate);
  if (has("sess_evict_rate"))
    err = positive(j["sess_evict_rate"], "sess_evict_rate", out.sess_evict_rate);
  if (has("wait_health_check"))
    err = wait(j["wait_health_check"], "wait_health_check", out.wait_health_check_ms);
  if (has("wait_takeover"))
    err = wait(j["wait_takeover"], "wait_takeover", out.wait_takeover_ms);
  if (has("abs_conn_threshold"))
    err = positive(j["abs_conn_threshold"], "abs_conn_threshold", out.abs_conn_threshold);
  if (has("rel_conn_threshold"))
    err = ratio(j["rel_conn_threshold"], "rel_conn_threshold", out.rel_conn_threshold);
  if (has("abs_sess_threshold"))
    err = positive(j["abs_sess_threshold"], "abs_sess_threshold", out.abs_sess_threshold);
  if (has("rel_sess_threshold"))
    err = ratio(j["rel_sess_threshold"], "rel_sess_threshold", out.rel_sess_threshold);
  if (!err && j.contains("nodes") && nodes.size() < 2)
    err = "nodes: a rebalance needs at least two nodes";
  return err;
}

std::optional<std::string> read_evacuation_request(const nlohmann::json& j,
                                                   evacuation_options& out) {
  if (auto err = only(j, {"redirect_to", "migrate_to", "conn_evict_rate",
                          "sess_evict_rate", "wait_health_check", "wait_takeover"}))
    return err;
  std::optional<std::string> err;
  auto has = [&](const char* k) { return !err && j.contains(k); };
  if (has("redirect_to")) {
    if (!j["redirect_to"].is_string())
      err = "redirect_to: a server reference (HOST:PORT) is expected";
    else
      out.redirect_to = j["redirect_to"].get<std::string>();
  }
  if (has("migrate_to"))
    err = names(j["migrate_to"], "migrate_to", out.migrate_to);
  if (has("conn_evict_rate"))
    err = positive(j["conn_evict_rate"], "conn_evict_rate", out.conn_evict_rate);
  if (has("sess_evict_rate"))
    err = positive(j["sess_evict_rate"], "sess_evict_rate", out.sess_evict_rate);
  if (has("wait_health_check"))
    err = wait(j["wait_health_check"], "wait_health_check", out.wait_health_check_ms);
  if (has("wait_takeover"))
    err = wait(j["wait_takeover"], "wait_takeover", out.wait_takeover_ms);
  return err;
}

} // namespace starling::broker
