#pragma once

#include <string>

namespace starling::runtime {

/// The release, from CMake's project() version: "0.1.0".
const char* version();

/// The git commit the binary was built from (`git rev-parse --short HEAD`
/// at build time), or "unknown" when built outside a git checkout.
const char* git_commit();

/// What `starling version` prints: "starling 0.1.0 (git abc1234)".
std::string version_line();

} // namespace starling::runtime
