#include "starling/runtime/cookie_file.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

namespace starling::runtime {

cookie_file_read read_cookie_file(const std::string& path) {
  cookie_file_read res;
  auto where = "cookie file '" + path + "'";
  // fopen, not ifstream: its errno tells "missing" from "not allowed".
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"),
                                          &std::fclose);
  if (!f) {
    res.missing = errno == ENOENT;
    res.error = "cannot read " + where + ": " + std::strerror(errno);
    return res;
  }
  std::string text;
  char buf[256];
  size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof(buf), f.get())) > 0 && text.size() < 65536)
    text.append(buf, n);
  if (std::ferror(f.get())) {
    res.error = "cannot read " + where + ": " + std::strerror(errno);
    return res;
  }
  const char* space = " \t\r\n";
  auto b = text.find_first_not_of(space);
  if (b == std::string::npos) {
    res.error = where + " is empty";
    return res;
  }
  auto cookie = text.substr(b, text.find_last_not_of(space) - b + 1);
  if (cookie.find_first_of("\r\n") != std::string::npos) {
    res.error = where + " holds more than one line";
    return res;
  }
  res.cookie = std::move(cookie);
  return res;
}

} // namespace starling::runtime
