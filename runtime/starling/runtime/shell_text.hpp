#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace starling::runtime {

/// A remsh command line, parsed. Both Erlang call syntax and shell words are
/// accepted: `nodes(hidden)`, `nodes hidden`, `actor 12`, `rlog status`; a
/// trailing '.' is ignored, as Erlang users type it.
struct shell_command {
  std::string name;
  std::vector<std::string> args;
  friend bool operator==(const shell_command&, const shell_command&) = default;
};

/// Parses `line`; nullopt for an empty line or (with `error` set) bad syntax.
std::optional<shell_command> parse_shell_command(const std::string& line,
                                                 std::string& error);

/// Left-aligned columns separated by two spaces, header first.
std::string format_table(const std::vector<std::string>& headers,
                         const std::vector<std::vector<std::string>>& rows);

/// An actor as remsh lists it: its CAF id, prefixed by the label of its
/// actor system unless that is the node's main one (label ""). Each actor
/// system numbers its actors from 1, so "6" and "d0:6" are two actors.
std::string actor_ref(const std::string& system_label, uint64_t id);

/// "3d 4h", "12m 5s", "800ms": a duration for humans.
std::string format_duration_ms(int64_t ms);

} // namespace starling::runtime
