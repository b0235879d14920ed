#pragma once

#include <cstdint>

namespace starling::mgmt {

/// This process's resident memory (/proc/self/statm), the host's memory
/// (/proc/meminfo), both in bytes, and its file descriptor limit; 0 where
/// unknown.
struct process_figures {
  uint64_t rss_bytes = 0;
  uint64_t memory_total_bytes = 0;
  uint64_t max_fds = 0;
};

process_figures read_process_figures();

} // namespace starling::mgmt
