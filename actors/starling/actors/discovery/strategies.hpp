#pragma once

// The discovery strategies' I/O (no CAF here: plain blocking calls, run on
// a detached worker so no scheduler thread waits on a network). What the
// answers mean is runtime/cluster/discovery.hpp; these only fetch them.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "starling/runtime/node_config.hpp"

namespace starling::actors::discovery {

/// Node names, or an error sentence naming what failed.
struct answer {
  bool ok = false;
  std::vector<std::string> nodes;
  std::string error;
};

/// dns: A/AAAA through getaddrinfo, SRV through res_query; both follow
/// /etc/resolv.conf.
answer discover_dns(const runtime::node_config& cfg);
/// k8s: GET /api/v1/namespaces/{ns}/endpoints/{svc} with the service
/// account's token and CA.
answer discover_k8s(const runtime::node_config& cfg);
/// static: cluster.static.seeds.
answer discover_static(const runtime::node_config& cfg);

/// etcd through its v3 JSON gateway: a lease kept alive, the node's key
/// under it, a lock key taken with a transaction on create_revision == 0.
class etcd {
public:
  explicit etcd(const runtime::node_config& cfg);
  ~etcd();
  answer discover();
  /// Takes the lock (a lease-bound key); false with the holder or the error.
  bool lock(std::string& error);
  void unlock();
  /// Puts <prefix>/<cluster>/nodes/<node> under the node's lease.
  bool register_self(std::string& error);
  /// Renews the lease; false when it is gone (expired, etcd lost it).
  bool keepalive(std::string& error);
  int64_t ttl_ms() const { return ttl_ms_; }

private:
  /// A live lease: renewed, or granted anew.
  bool ensure_lease(std::string& error);
  struct impl;
  std::unique_ptr<impl> impl_;
  int64_t ttl_ms_;
};

} // namespace starling::actors::discovery
