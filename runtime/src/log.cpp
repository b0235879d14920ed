#include "starling/runtime/log.hpp"

#include <chrono>
#include <cstdio>
#include <ctime>

namespace starling::runtime {

namespace {
const char* level_name(log_level l) {
  switch (l) {
    case log_level::debug:
      return "debug";
    case log_level::info:
      return "info";
    case log_level::warning:
      return "warning";
    case log_level::error:
      return "error";
  }
  return "?";
}
} // namespace

std::string format_timestamp(int64_t unix_ms) {
  std::time_t secs = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                tm.tm_min, tm.tm_sec, static_cast<int>(unix_ms % 1000));
  return buf;
}

logger::logger(std::string node, log_level min_level, sink_fn sink)
  : node_(std::move(node)), min_level_(min_level), sink_(std::move(sink)) {
}

logger logger::to_stderr(std::string node, log_level min_level) {
  return logger(std::move(node), min_level, [](const std::string& line) {
    std::fputs(line.c_str(), stderr);
    std::fputc('\n', stderr);
    std::fflush(stderr);
  });
}

void logger::log(log_level level, const std::string& text) {
  if (level < min_level_)
    return;
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
               .count();
  std::lock_guard<std::mutex> guard(mtx_);
  sink_(format_timestamp(now) + " [" + level_name(level) + "] " + node_ + " "
        + text);
}

void logger::set_node(std::string node) {
  std::lock_guard<std::mutex> guard(mtx_);
  node_ = std::move(node);
}

} // namespace starling::runtime
