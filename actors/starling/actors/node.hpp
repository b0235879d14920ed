#pragma once

#include "starling/runtime/node_config.hpp"

namespace starling::actors {

/// Runs a node until SIGINT or SIGTERM: one CAF actor system with BASP
/// heartbeats derived from node.tick_ms, the node agent, and the gatekeeper
/// published on the distribution port. Returns the process exit code.
int run_node(const runtime::node_config& cfg);

} // namespace starling::actors
