#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <caf/fwd.hpp>

#include "starling/runtime/db/types.hpp"

namespace starling::actors::db {

struct db_context;

/// What a shard server reads of its agents for `rlog status` without asking
/// them (they update it on their own thread).
struct agent_gauge {
  std::string node;
  bool core = false;
  std::atomic<uint64_t> pending{0};
  std::atomic<uint64_t> in_flight{0};
  std::atomic<uint64_t> acked{0};
};

/// The agent on a core that feeds one subscriber of a shard: it queues what
/// the shard server commits or applies, sends at most rlog window
/// transactions ahead of the subscriber's acknowledgements, and cuts the
/// subscriber off (it resubscribes) when the queue passes
/// rlog.agent_queue_limit, so a slow replicant never grows the core's
/// memory without bound. A following core acknowledges every transaction;
/// the agent reports that to the server, whose callers wait for it.
/// `initial` (a resume) is sent before anything pushed later.
caf::actor spawn_agent(db_context& db, const caf::actor& server,
                       const std::string& shard, uint64_t epoch,
                       const caf::actor& subscriber,
                       std::vector<runtime::db::committed> initial,
                       uint64_t latest, std::shared_ptr<agent_gauge> gauge);

} // namespace starling::actors::db
