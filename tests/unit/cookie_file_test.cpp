#include <doctest/doctest.h>

#include <cstdio>

#include "starling/runtime/cookie_file.hpp"
#include "temp_file.hpp"

using namespace starling::runtime;

TEST_CASE("cookie files: one line, whitespace around it removed") {
  auto path = temp_file("s3cret\n");
  auto r = read_cookie_file(path);
  CHECK(r.cookie == "s3cret");
  CHECK(r.error.empty());
  std::remove(path.c_str());
}

TEST_CASE("cookie files: missing, unreadable, empty") {
  auto r = read_cookie_file("/nonexistent/cookie");
  CHECK(r.cookie.empty());
  CHECK(r.missing);
  CHECK(r.error == "cannot read cookie file '/nonexistent/cookie': No such file or directory");
  auto dir = read_cookie_file("/");
  CHECK(dir.cookie.empty());
  CHECK_FALSE(dir.missing);
  CHECK(dir.error.find("cannot read cookie file '/'") == 0);
  auto path = temp_file("\n");
  r = read_cookie_file(path);
  CHECK(r.cookie.empty());
  CHECK_FALSE(r.missing);
  CHECK(r.error == "cookie file '" + path + "' is empty");
  std::remove(path.c_str());
}
