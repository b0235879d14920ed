#pragma once

// Lists the API pages through (clients, subscriptions, routes, topics):
// the query parameters page, limit and each list's filters are checked
// (an unknown parameter or an out-of-range value is an error, named), then
// the matching items are cut into the page asked for, in EMQX's shape:
//   {"data": [...], "meta": {"page": 1, "limit": 100, "count": 7, "hasnext": false}}

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "starling/mgmt/api_error.hpp"

namespace starling::mgmt {

using query_params = std::map<std::string, std::string>;

inline constexpr int64_t max_page_limit = 10000;
inline constexpr int64_t default_page_limit = 100;

/// One filter of a list: query parameter `param` keeps the items whose
/// `field` equals it (`exact`), contains it (`substring`), or equals one of
/// `choices`.
struct list_filter {
  enum kind_t { exact, substring, choice } kind = exact;
  std::string param;
  std::string field;
  std::vector<std::string> choices = {};
};

/// Checks `q` against the filters and page/limit; returns the page.
/// Items are compared through their field's text (numbers as digits).
outcome<nlohmann::json> page_list(const nlohmann::json& items,
                                  const query_params& q,
                                  const std::vector<list_filter>& filters);

/// Parses a decimal parameter in [min, max]; error names it.
outcome<int64_t> int_param(const query_params& q, const std::string& name,
                           int64_t min, int64_t max, int64_t dflt);

/// Refuses every parameter not in `known`.
std::optional<api_error> only_params(const query_params& q,
                                     const std::vector<std::string>& known);

} // namespace starling::mgmt
