#pragma once

#include <ostream>

#include "starling/loadgen/options.hpp"

namespace starling::loadgen {

/// Runs `starling bench` with validated options: resolves the hosts, raises
/// the open-files limit as far as needed, starts `opts.threads` engines,
/// prints a progress line per second and a "ready" line to `err`, stops on
/// SIGINT/SIGTERM, --duration, -L, --idle-exit or the first error, and
/// prints the summary to `out` (and to --json). Returns the exit code: 0, or
/// 1 when the run failed (connection refused, a client dropped, ...).
int run_bench(const options& opts, std::ostream& out, std::ostream& err);

} // namespace starling::loadgen
