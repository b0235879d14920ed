#include <doctest/doctest.h>

#include "starling/runtime/log.hpp"

using starling::runtime::log_safe;

TEST_CASE("log_safe keeps text and valid UTF-8, escapes the rest") {
  CHECK(log_safe("client 'dev-1' connected") == "client 'dev-1' connected");
  CHECK(log_safe("caf\xc3\xa9 \xe2\x82\xac") == "caf\xc3\xa9 \xe2\x82\xac");
  // A client id with a newline cannot forge a second log line.
  CHECK(log_safe("a\nb [error] x") == "a\\x0ab [error] x");
  CHECK(log_safe(std::string("nul\0!", 5)) == "nul\\x00!");
  CHECK(log_safe("bad \xb3 byte") == "bad \\xb3 byte");
  CHECK(log_safe("cut \xe2\x82") == "cut \\xe2\\x82");
  CHECK(log_safe("del \x7f") == "del \\x7f");
}
