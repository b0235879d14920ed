#include "starling/mgmt/listing.hpp"

#include <algorithm>

namespace starling::mgmt {

namespace {

std::string field_text(const nlohmann::json& item, const std::string& field) {
  auto i = item.find(field);
  if (i == item.end() || i->is_null())
    return {};
  return i->is_string() ? i->get<std::string>() : i->dump();
}

std::string join(const std::vector<std::string>& xs) {
  std::string out;
  for (auto& x : xs)
    out += (out.empty() ? "" : ", ") + x;
  return out;
}

} // namespace

outcome<int64_t> int_param(const query_params& q, const std::string& name,
                           int64_t min, int64_t max, int64_t dflt) {
  auto i = q.find(name);
  if (i == q.end())
    return dflt;
  auto& v = i->second;
  bool digits = !v.empty() && v.size() <= 12
                && std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; });
  auto n = digits ? std::stoll(v) : int64_t{-1};
  if (!digits || n < min || n > max)
    return bad_request("query parameter '" + name + "' must be a whole number between "
                       + std::to_string(min) + " and " + std::to_string(max)
                       + ", not '" + v + "'");
  return n;
}

std::optional<api_error> only_params(const query_params& q,
                                     const std::vector<std::string>& known) {
  for (auto& [k, v] : q)
    if (std::find(known.begin(), known.end(), k) == known.end())
      return bad_request("unknown query parameter '" + k + "'"
                         + (known.empty() ? " (this path takes none)"
                                          : " (known: " + join(known) + ")"));
  return std::nullopt;
}

outcome<nlohmann::json> page_list(const nlohmann::json& items,
                                  const query_params& q,
                                  const std::vector<list_filter>& filters) {
  std::vector<std::string> known{"page", "limit"};
  for (auto& f : filters)
    known.push_back(f.param);
  if (auto err = only_params(q, known))
    return *err;
  auto page = int_param(q, "page", 1, 1000000000, 1);
  if (!page)
    return page.error();
  auto limit = int_param(q, "limit", 1, max_page_limit, default_page_limit);
  if (!limit)
    return limit.error();
  for (auto& f : filters)
    if (auto i = q.find(f.param); i != q.end() && f.kind == list_filter::choice
        && std::find(f.choices.begin(), f.choices.end(), i->second) == f.choices.end())
      return bad_request("query parameter '" + f.param + "' must be one of "
                         + join(f.choices) + ", not '" + i->second + "'");
  auto keep = [&](const nlohmann::json& item) {
    for (auto& f : filters) {
      auto i = q.find(f.param);
      if (i == q.end())
        continue;
      auto v = field_text(item, f.field);
      if (f.kind == list_filter::substring ? v.find(i->second) == std::string::npos
                                           : v != i->second)
        return false;
    }
    return true;
  };
  auto data = nlohmann::json::array();
  int64_t count = 0;
  auto first = (*page - 1) * *limit;
  for (auto& item : items) {
    if (!keep(item))
      continue;
    if (count >= first && count < first + *limit)
      data.push_back(item);
    ++count;
  }
  return nlohmann::json{{"data", data},
                        {"meta", {{"page", *page},
                                  {"limit", *limit},
                                  {"count", count},
                                  {"hasnext", first + *limit < count}}}};
}

} // namespace starling::mgmt
