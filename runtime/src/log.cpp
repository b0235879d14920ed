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

std::string log_safe(const std::string& text) {
  // Client ids, topics and peer names reach the log; a line stays one line
  // of valid UTF-8 whatever bytes they hold (no forged lines, no broken
  // log readers): control bytes and invalid UTF-8 become \xNN.
  std::string out;
  out.reserve(text.size());
  auto escape = [&](unsigned char c) {
    static const char* hex = "0123456789abcdef";
    out += "\\x";
    out += hex[c >> 4];
    out += hex[c & 15];
  };
  for (size_t i = 0; i < text.size();) {
    auto c = static_cast<unsigned char>(text[i]);
    size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3
               : (c >> 3) == 30 ? 4 : 0;
    bool ok = len > 0 && i + len <= text.size();
    for (size_t k = 1; ok && k < len; ++k)
      ok = (static_cast<unsigned char>(text[i + k]) >> 6) == 2;
    if (!ok || (len == 1 && (c < 0x20 || c == 0x7f))) {
      escape(c);
      ++i;
      continue;
    }
    out.append(text, i, len);
    i += len;
  }
  return out;
}

void logger::log(log_level level, const std::string& text) {
  if (level < min_level_.load(std::memory_order_relaxed))
    return;
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
               .count();
  std::lock_guard<std::mutex> guard(mtx_);
  sink_(format_timestamp(now) + " [" + level_name(level) + "] " + node_ + " "
        + log_safe(text));
}

void logger::set_level(log_level level) {
  min_level_.store(level, std::memory_order_relaxed);
}

std::optional<log_level> parse_log_level(const std::string& text) {
  for (auto l : {log_level::debug, log_level::info, log_level::warning,
                 log_level::error})
    if (text == level_name(l))
      return l;
  return std::nullopt;
}

void logger::set_node(std::string node) {
  std::lock_guard<std::mutex> guard(mtx_);
  node_ = std::move(node);
}

} // namespace starling::runtime
