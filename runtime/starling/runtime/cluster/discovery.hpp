#pragma once

// Discovery and autocluster (Ekka's autocluster): how a node finds the
// nodes of its cluster without `cluster join`.
//
// Strategies (cluster.discovery_strategy): manual (nothing is discovered),
// static (cluster.static.seeds), dns (A, AAAA or SRV records of
// cluster.dns.name), etcd (keys under <prefix>/<cluster.name>/nodes/, with
// a lock), k8s (the ready addresses of a service's Endpoints). Each is a
// small adapter that does the I/O (actors/src/discovery/); what its answers
// mean is here, and so is what to do with them (autocluster below).
//
// One round of the driver, on a core:
//
//   lock (etcd) --> discover --> ask each discovered node that is not
//   running with us for its members --> join the cluster holding the
//   oldest running core when it is not ours (the youngest joins the
//   oldest); when the oldest is ours, meet the younger discovered node now
//   rather than wait for its next round --> register (etcd) --> unlock.
//   The etcd lock keeps two cores starting together from dialling each
//   other at the same moment.
//
// A replicant joins the first discovered core that answers. Rounds repeat
// on an interval with jitter until the node is registered and every
// discovered node runs with it; then every 30 s, to notice nodes that came
// (or came back) later. A failing strategy is logged once per change of
// its error, not once per round; the node keeps serving meanwhile.

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "starling/runtime/node_config.hpp"

namespace starling::runtime::cluster {

enum class strategy { manual, static_seeds, dns, etcd, k8s };
std::string to_string(strategy s);
std::optional<strategy> strategy_from(const std::string& text);

/// The strategy a configuration asks for. cluster.static.seeds set while
/// cluster.discovery_strategy was left at its default means static (the
/// behaviour before strategies existed).
strategy configured_strategy(const node_config& cfg);

/// Why the configuration cannot work with its strategy, or "": the keys a
/// strategy needs, and whether this node's name can be found by it (dns
/// a/aaaa: the host must be an address of that family, since each address
/// becomes <name>@<address>; srv: a host name). Checked at start.
std::string check_discovery(const node_config& cfg);

// -- what the adapters' answers mean (pure) -----------------------------------

/// <name part>@<address> for each address (IPv6 in brackets).
std::vector<std::string> names_from_addresses(const std::string& name_part,
                                              const std::vector<std::string>& addresses);
/// <name part>@<target> for each SRV target (the trailing dot dropped),
/// ordered by priority then weight as the records say.
struct srv_record {
  uint16_t priority = 0, weight = 0, port = 0;
  std::string target;
};
std::vector<std::string> names_from_srv(const std::string& name_part,
                                        std::vector<srv_record> records);
/// Node names from a Kubernetes Endpoints object (ready addresses only),
/// formed as EMQX forms them: ip -> name@10.0.0.1; dns ->
/// name@10-0-0-1.<namespace>.<suffix>; hostname ->
/// name@<hostname>.<service>.<namespace>.<suffix> (without a suffix, the
/// bare dashed ip or hostname). Nullopt with `error` on a malformed object.
std::optional<std::vector<std::string>>
names_from_endpoints(const nlohmann::json& endpoints, const std::string& name_part,
                     const std::string& address_type, const std::string& service,
                     const std::string& ns, const std::string& suffix,
                     std::string& error);
/// etcd's v3 JSON gateway encodes keys and values in base64.
std::string base64_encode(const std::string& bytes);
std::optional<std::string> base64_decode(const std::string& text);
/// The registration key of `node`: <prefix>/<cluster>/nodes/<node>.
std::string etcd_node_key(const std::string& prefix, const std::string& cluster,
                          const std::string& node);
std::string etcd_lock_key(const std::string& prefix, const std::string& cluster);
/// The nodes under the nodes/ prefix in a /v3/kv/range answer: each key's
/// value, name@host:port (where the node listens), or the key's last part.
std::optional<std::vector<std::string>>
names_from_etcd_range(const nlohmann::json& answer, const std::string& prefix,
                      const std::string& cluster, std::string& error);

// -- the driver ----------------------------------------------------------------

/// What a discovered node said about its cluster (or that it did not answer).
struct probe_answer {
  bool reached = false;
  std::string error;
  bool core = false;
  /// Its running members with role and age (empty when not reached).
  struct member_age {
    std::string name;
    bool core = false;
    int64_t started_at_ms = 0;
  };
  std::vector<member_age> running;
};

struct autocluster_settings {
  strategy kind = strategy::manual;
  bool core = true;
  bool locks = false;     ///< etcd: a round holds the strategy's lock
  bool registers = false; ///< etcd: the node registers itself
  int64_t interval_ms = 5000;
  int64_t settled_interval_ms = 30000;
};

struct autocluster_effect {
  enum kind_t {
    lock,     ///< take the strategy's lock
    discover, ///< ask the strategy for the node names
    probe,    ///< ask `nodes` for their members
    join,     ///< join the cluster of `node`
    register_self,
    unlock,
    log,      ///< `text` (a change of state)
  } kind = log;
  std::string node;
  std::vector<std::string> nodes;
  std::string text;
};

class autocluster {
public:
  autocluster(std::string self, int64_t started_at_ms, autocluster_settings s);

  /// This node's running members now (name, role, age; itself included).
  void set_running(std::vector<probe_answer::member_age> running);

  std::vector<autocluster_effect> on_tick(int64_t now, double jitter);
  std::vector<autocluster_effect> on_locked(bool ok, const std::string& error,
                                            int64_t now, double jitter);
  std::vector<autocluster_effect> on_discovered(bool ok,
                                                std::vector<std::string> nodes,
                                                const std::string& error,
                                                int64_t now, double jitter);
  std::vector<autocluster_effect>
  on_probed(const std::map<std::string, probe_answer>& answers, int64_t now,
            double jitter);
  std::vector<autocluster_effect> on_joined(bool ok, const std::string& error,
                                            int64_t now, double jitter);
  std::vector<autocluster_effect> on_registered(bool ok, const std::string& error,
                                                int64_t now, double jitter);
  /// The registration expired (etcd: the lease's keepalive failed): the
  /// next round registers again, at once.
  void on_registration_lost();

  enum class phase { idle, locking, discovering, probing, joining, registering };
  phase current() const { return phase_; }
  bool settled() const { return settled_; }
  bool registered() const { return registered_; }
  const std::vector<std::string>& discovered() const { return discovered_; }
  const std::string& last_error() const { return last_error_; }
  int64_t next_round_ms() const { return next_ms_; }
  nlohmann::json to_json(int64_t now) const;

private:
  std::vector<autocluster_effect> end_round(int64_t now, double jitter,
                                            std::string error);
  std::vector<autocluster_effect> after_join(int64_t now, double jitter);
  bool runs_with_us(const std::string& node) const;

  std::string self_;
  int64_t started_at_ms_;
  autocluster_settings settings_;
  std::vector<probe_answer::member_age> running_;
  phase phase_ = phase::idle;
  bool holds_lock_ = false;
  bool registered_ = false;
  bool settled_ = false;
  int64_t next_ms_ = 0;
  std::vector<std::string> discovered_;
  std::string last_error_;
  std::string last_logged_;
  uint64_t rounds_ = 0;
};

std::string to_string(autocluster::phase p);

} // namespace starling::runtime::cluster
