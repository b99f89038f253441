// Local repository helpers for bootstrap and demos: turn a directory into a Git repository with one
// commit, so that a GitRepository can point at it with a file:// URL.
//
//   ASSIGN_OR_RETURN(std::string sha, CommitDirectory("examples/", "/tmp/demo/repo", "main",
//   "demo"));
#ifndef DRIFTGUARD_RECONCILER_GIT_LOCAL_H_
#define DRIFTGUARD_RECONCILER_GIT_LOCAL_H_

#include <filesystem>
#include <string>

#include "core/status.h"

namespace driftguard::reconciler {

// Creates (or reuses) a non-bare repository at `repo_dir`, replaces its work tree content with the
// regular files below `source_dir` (symlinks and special files are skipped), and commits them on
// `branch` with `message`. Returns the new commit's 40-hex id.
core::StatusOr<std::string> CommitDirectory(const std::filesystem::path& source_dir,
                                            const std::filesystem::path& repo_dir,
                                            const std::string& branch, const std::string& message);

}  // namespace driftguard::reconciler

#endif  // DRIFTGUARD_RECONCILER_GIT_LOCAL_H_
