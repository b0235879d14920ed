#pragma once

#include <doctest/doctest.h>

#include <fstream>
#include <string>

#include <unistd.h>

/// Writes `text` to a new file in /tmp and returns its path; the test
/// removes it.
inline std::string temp_file(const std::string& text) {
  char path[] = "/tmp/starling-test-XXXXXX";
  int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  close(fd);
  std::ofstream(path) << text;
  return path;
}
