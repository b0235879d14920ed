#pragma once

#include <string>

namespace starling::runtime {

/// Where the Debian package keeps the node's cookie (written at install,
/// mode 0400), and where `starling ctl` and `starling remsh` look for one
/// when none is given.
inline constexpr const char* default_cookie_file = "/etc/starling/cookie";

/// A cookie read from a file: its text with surrounding whitespace (the
/// trailing newline) removed.
struct cookie_file_read {
  std::string cookie; ///< empty when it could not be read
  std::string error;  ///< why: "cannot read cookie file '/x': Permission denied"
  bool missing = false; ///< the file does not exist
};

/// Reads the cookie file at `path` (node.cookie_file). A file that is empty
/// or holds more than one line is an error, not a cookie.
cookie_file_read read_cookie_file(const std::string& path);

} // namespace starling::runtime
