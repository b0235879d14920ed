#pragma once

// The management HTTP API (EMQX's /api/v5 paths): routing, credentials,
// validation and the shape of every answer. Plain C++: the HTTP server
// (http_server.hpp) turns requests into `http_request`s and sends back the
// `http_response`s; the node's data comes through `backend`.

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "starling/mgmt/auth_store.hpp"
#include "starling/mgmt/backend.hpp"
#include "starling/mgmt/credentials.hpp"
#include "starling/mgmt/health.hpp"
#include "starling/mgmt/listing.hpp"

namespace starling::mgmt {

struct http_request {
  std::string method;
  std::string path; ///< decoded
  query_params query;
  std::string body;
  std::string authorization; ///< the Authorization header
  std::string remote_addr;
};

struct http_response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::map<std::string, std::string> headers;
};

/// Everything the handlers share. One per node, used by every HTTP thread.
struct api_context {
  backend* node = nullptr;
  auth_store* auth = nullptr;
  health_state* health = nullptr;
  std::unique_ptr<token_signer> signer;
  login_limiter limiter;
  std::function<int64_t()> now_ms;
  runtime::random_source rnd;
};

/// Who a request comes from, once its credentials passed.
struct identity {
  std::string name;     ///< user name or API key name
  bool api_key = false;
  bool must_change = false; ///< a user still on the default password
};

http_response handle(api_context& ctx, const http_request& req);

/// The response for an error.
http_response error_response(const api_error& e);
http_response json_response(int status, const nlohmann::json& body);

// -- the handlers, by area (api_*.cpp) -------------------------------------------
using handler = std::function<http_response(
  api_context&, const http_request&, const std::map<std::string, std::string>& params,
  const identity& who)>;

struct endpoint {
  std::string method;
  std::string pattern; ///< "/api/v5/clients/{clientid}"; {x...} takes the rest
  handler run;
  enum auth_t { open, user_or_key, any_user } auth = user_or_key;
};

std::vector<endpoint> cluster_endpoints();
std::vector<endpoint> client_endpoints();
std::vector<endpoint> auth_endpoints();
std::vector<endpoint> config_endpoints();
std::vector<endpoint> rebalance_endpoints();

/// Matches `path` against `pattern`; the {params} on success.
std::optional<std::map<std::string, std::string>>
match_path(const std::string& pattern, const std::string& path);

/// Checks the Authorization header: "Bearer TOKEN" (a login) or "Basic
/// base64(key:secret)" (an API key).
outcome<identity> authenticate(api_context& ctx, const std::string& header);

/// Running members from a cluster status JSON, this node first.
std::vector<std::string> running_nodes(const nlohmann::json& cluster,
                                       const std::string& self);
/// Every member's name (running and stopped).
std::vector<std::string> member_names(const nlohmann::json& cluster);

/// A 404 naming the members, for a node that is not one.
api_error unknown_node(const std::string& node, const nlohmann::json& cluster);

} // namespace starling::mgmt
