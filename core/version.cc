#include "core/version.h"

#ifndef DRIFTGUARD_VERSION
#error "DRIFTGUARD_VERSION must be defined by the build (core/CMakeLists.txt)"
#endif
#ifndef DRIFTGUARD_GIT_COMMIT
#error "DRIFTGUARD_GIT_COMMIT must be defined by the build (core/CMakeLists.txt)"
#endif

namespace driftguard::core {

std::string_view Version() { return DRIFTGUARD_VERSION; }

std::string_view GitCommit() { return DRIFTGUARD_GIT_COMMIT; }

std::string VersionLine() {
  return "driftguard " + std::string(Version()) + " (commit " + std::string(GitCommit()) + ")";
}

}  // namespace driftguard::core
