#pragma once

#include <caf/actor.hpp>

namespace starling::actors {

struct node_context;

/// Evaluates remsh command lines on the node (the remsh client only reads
/// lines and prints answers, so the command set grows here). Commands are
/// listed by `help`; later subsystems add theirs to the table in shell.cpp.
caf::actor spawn_shell(node_context& ctx, const caf::actor& agent);

} // namespace starling::actors
