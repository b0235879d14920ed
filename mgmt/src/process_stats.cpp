#include "starling/mgmt/process_stats.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <string>

namespace starling::mgmt {

process_figures read_process_figures() {
  process_figures f;
  std::ifstream statm("/proc/self/statm");
  uint64_t size = 0, resident = 0;
  if (statm >> size >> resident)
    f.rss_bytes = resident * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  uint64_t kb = 0;
  if (meminfo >> key >> kb && key == "MemTotal:")
    f.memory_total_bytes = kb * 1024;
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) == 0)
    f.max_fds = lim.rlim_cur;
  return f;
}

} // namespace starling::mgmt
