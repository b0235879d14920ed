#include <doctest/doctest.h>

#include "starling/runtime/shell_text.hpp"

using namespace starling::runtime;

TEST_CASE("shell commands in Erlang call syntax and as words") {
  std::string err;
  using v = std::vector<std::string>;
  CHECK(*parse_shell_command("nodes()", err) == shell_command{"nodes", {}});
  CHECK(*parse_shell_command("  nodes(hidden).  ", err)
        == shell_command{"nodes", v{"hidden"}});
  CHECK(*parse_shell_command("nodes hidden", err)
        == shell_command{"nodes", v{"hidden"}});
  CHECK(*parse_shell_command("actor 12", err) == shell_command{"actor", v{"12"}});
  CHECK(*parse_shell_command("actor('node_agent')", err)
        == shell_command{"actor", v{"node_agent"}});
  CHECK(*parse_shell_command("rlog status", err)
        == shell_command{"rlog", v{"status"}});
  CHECK(*parse_shell_command("f(a, b)", err) == shell_command{"f", v{"a", "b"}});
  CHECK_FALSE(parse_shell_command("   ", err));
  CHECK(err.empty());
  CHECK_FALSE(parse_shell_command("nodes(", err));
  CHECK(err.find("missing ')'") != std::string::npos);
  CHECK_FALSE(parse_shell_command("f((x))", err));
  CHECK_FALSE(parse_shell_command("f(a,,b)", err));
  CHECK_FALSE(parse_shell_command("(x)", err));
}

TEST_CASE("tables align columns") {
  auto t = format_table({"ID", "NAME"}, {{"1", "node_agent"}, {"12", "x"}});
  CHECK(t == "ID  NAME\n1   node_agent\n12  x\n");
}

TEST_CASE("durations for humans") {
  CHECK(format_duration_ms(800) == "800ms");
  CHECK(format_duration_ms(5000) == "5s");
  CHECK(format_duration_ms(125000) == "2m 5s");
  CHECK(format_duration_ms(3 * 3600000 + 60000) == "3h 1m");
  CHECK(format_duration_ms(2 * 86400000LL + 3600000) == "2d 1h");
}

TEST_CASE("actor refs: the main system's ids are plain, other systems' labelled") {
  CHECK(actor_ref("", 6) == "6");
  CHECK(actor_ref("d0", 6) == "d0:6");
  CHECK(actor_ref("d1", 6) == "d1:6");
  // The same CAF id in two actor systems gives two refs, never one.
  CHECK(actor_ref("", 7) != actor_ref("d0", 7));
  CHECK(actor_ref("d0", 7) != actor_ref("d1", 7));
}
