// The version and Git commit driftguard was built from.
//
// Both are fixed at build time by CMake (DRIFTGUARD_VERSION from project(), DRIFTGUARD_GIT_COMMIT
// from `git rev-parse --short=12 HEAD`, "unknown" outside a Git checkout).
//
//   std::cout << core::VersionLine() << "\n";  // "driftguard 0.1.0 (commit 1a2b3c4d5e6f)"
#ifndef DRIFTGUARD_CORE_VERSION_H_
#define DRIFTGUARD_CORE_VERSION_H_

#include <string>
#include <string_view>

namespace driftguard::core {

// "0.1.0".
std::string_view Version();
// Short commit hash, or "unknown".
std::string_view GitCommit();
// "driftguard <version> (commit <commit>)", as `driftguard version` prints it.
std::string VersionLine();

}  // namespace driftguard::core

#endif  // DRIFTGUARD_CORE_VERSION_H_
