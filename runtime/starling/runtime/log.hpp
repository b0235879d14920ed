#pragma once

#include <atomic>
#include <functional>
#include <mutex>
#include <optional>
#include <string>

namespace starling::runtime {

/// `text` with control bytes and invalid UTF-8 written as \xNN, so a log
/// line stays one line of valid UTF-8.
std::string log_safe(const std::string& text);


enum class log_level { debug, info, warning, error };

/// A line logger: `2026-11-22T04:30:00.123Z [info] core1@127.0.0.1 text`.
/// Thread-safe; the sink is injected (stderr in the node, a vector in tests).
class logger {
public:
  using sink_fn = std::function<void(const std::string& line)>;

  logger(std::string node, log_level min_level, sink_fn sink);

  /// A logger that writes to stderr.
  static logger to_stderr(std::string node, log_level min_level);

  void log(log_level level, const std::string& text);
  void debug(const std::string& t) { log(log_level::debug, t); }
  void info(const std::string& t) { log(log_level::info, t); }
  void warning(const std::string& t) { log(log_level::warning, t); }
  void error(const std::string& t) { log(log_level::error, t); }

  void set_node(std::string node);
  /// Lines below `level` are dropped from now on (log.level, online).
  void set_level(log_level level);

private:
  std::mutex mtx_;
  std::string node_;
  std::atomic<log_level> min_level_;
  sink_fn sink_;
};

/// "debug", "info", "warning", "error" -> the level; nullopt otherwise.
std::optional<log_level> parse_log_level(const std::string& text);

/// UTC time with milliseconds, ISO 8601.
std::string format_timestamp(int64_t unix_ms);

} // namespace starling::runtime
