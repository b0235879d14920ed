#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "starling/runtime/node_config.hpp"
#include "starling/runtime/node_name.hpp"

namespace starling::actors {

/// A hidden node (Erlang's sense): what `starling ctl` and `starling remsh`
/// use to talk to a node. It passes the cookie handshake like a peer but
/// never joins the mesh and never shows in nodes(). Blocking; every call is
/// bounded by the timeout given at connect.
class hidden_client {
public:
  /// Either the answer text or, when `ok` is false, the error sentence.
  struct answer {
    bool ok = false;
    std::string text;
  };

  ~hidden_client();

  /// Connects and authenticates. Always returns a client; check `ok()`.
  /// A failed client keeps its actor system: destroying it would wait for a
  /// connect CAF may still have pending (a peer that accepted TCP and went
  /// silent), so the caller prints `error()` and ends the process instead.
  /// `kind` names the client in the node's nodes(hidden): ctl, remsh, ...
  /// `wait`: how long to keep retrying while the node does not accept the
  /// connection yet (it is starting). `tls`: a node with node.dist_tls is
  /// reached over mutual TLS with these files (a certificate from the
  /// node's CA).
  static std::unique_ptr<hidden_client>
  connect(const runtime::node_name& target, const std::string& cookie,
          const std::string& kind, std::chrono::milliseconds timeout,
          std::chrono::milliseconds wait = std::chrono::milliseconds{0},
          const runtime::dist_tls_settings& tls = {});

  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  const std::string& node() const { return node_; }

  answer status();
  answer cluster_status();
  answer cluster_join(const std::string& target);
  answer cluster_leave();
  answer cluster_force_leave(const std::string& node);
  /// What autoheal discarded, from every running core (JSON).
  answer cluster_heal_report();
  /// The autocluster state (JSON).
  answer cluster_discovery();
  answer shell(const std::string& line);

  // -- online configuration (sent to the node's management actor) --
  answer conf_get(const std::string& key);
  /// Commits key = value for the whole cluster (the answer is the seqno).
  answer conf_set(const std::string& key, const std::string& value);

  // -- rebalance and evacuation (sent to the node's balancer) --
  /// `command`: rebalance_start, rebalance_stop, evacuation_start,
  /// evacuation_stop, status, global_status; `args`: a JSON object (the
  /// start options). The answer is the node's balance status (JSON).
  answer balancer(const std::string& command, const std::string& args);

  // -- the replicated database (sent to the node's db manager) --
  answer rlog_status();
  /// Writes a record (a transaction on a regular table, the node's own
  /// record in a merge table); the answer is the transaction's seqno.
  answer db_put(const std::string& table, const std::string& key,
                const std::string& value);
  answer db_delete(const std::string& table, const std::string& key);
  answer db_get(const std::string& table, const std::string& key);
  /// Runs `count` write transactions inside the node; JSON latency summary.
  answer db_load(const std::string& table, const std::string& prefix,
                 uint64_t count, uint32_t concurrency, uint32_t value_size);

private:
  struct impl;
  explicit hidden_client(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
  std::string node_;
  std::string error_;
};

} // namespace starling::actors
