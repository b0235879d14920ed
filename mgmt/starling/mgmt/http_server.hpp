#pragma once

// The node's HTTP listener (dashboard.listener.http): cpp-httplib's server
// on its own threads, never CAF's. Every request under /api/v5 and /status
// goes to the API (api.hpp); other GETs get the dashboard's embedded files.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "starling/mgmt/api.hpp"

namespace starling::mgmt {

/// A file of the dashboard, compiled into the binary (dashboard/ at the
/// top of the source tree; cmake/embed_assets.cmake).
struct asset {
  std::string_view content_type;
  std::string_view data;
};
/// `/` is index.html; nullptr for an unknown path.
const asset* find_asset(const std::string& path);

class http_server {
public:
  explicit http_server(api_context& ctx);
  ~http_server();

  /// Binds host:port and starts serving on the server's threads. Returns
  /// the error sentence, or "" (port() then tells the port bound).
  std::string start(const std::string& host, uint16_t port);
  uint16_t port() const { return port_; }
  /// Stops accepting and waits for the requests in progress.
  void stop();

private:
  struct impl;
  std::unique_ptr<impl> impl_;
  uint16_t port_ = 0;
};

} // namespace starling::mgmt
