#pragma once

// What a node keeps of its cluster across restarts, in
// <node.data_dir>/<node>.cluster.json: the other members (name, address,
// role) and the removals. A restarted node loads its members as down and
// dials them (reconnect), so it rejoins its cluster by itself.

#include <optional>
#include <string>
#include <vector>

#include "starling/runtime/membership.hpp"

namespace starling::runtime::cluster {

struct saved_membership {
  std::vector<member> members; ///< without the node itself; status down
  std::vector<removal> removals;
};

std::string to_text(const membership& view);
/// Nullopt with `error` set when the text is not a membership file.
std::optional<saved_membership> parse_membership(const std::string& text,
                                                 std::string& error);

/// Writes atomically (a temporary file renamed over the old one). Returns
/// false with `error` naming the path on failure.
bool save_membership(const std::string& path, const membership& view,
                     std::string& error);
/// An empty result when the file does not exist; nullopt with `error` set
/// when it cannot be read or parsed.
std::optional<saved_membership> load_membership(const std::string& path,
                                                std::string& error);

} // namespace starling::runtime::cluster
