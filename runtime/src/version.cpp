// The only file that sees the git commit: the build regenerates
// starling/git_commit.hpp when HEAD moves, and only this file recompiles.
#include "starling/runtime/version.hpp"

#include "starling/git_commit.hpp"

namespace starling::runtime {

const char* version() {
  return STARLING_VERSION;
}

const char* git_commit() {
  return STARLING_GIT_COMMIT;
}

std::string version_line() {
  return std::string("starling ") + version() + " (git " + git_commit() + ")";
}

} // namespace starling::runtime
