// Materialises a Git tree object as plain files, applying Flux's ignore rules and the safety
// limits of the Git source. Private to driftguard::reconciler.
//
// Contract: on success `dest` (which must not exist) holds every non-excluded regular file,
// executable and symlink of the tree; submodule entries are skipped. On error `dest` is removed
// and nothing else is touched. Errors (all name the path inside the repository):
//   - an entry name that is empty, ".", "..", or holds '/' -> INVALID_ARGUMENT "unsafe path ...";
//   - a symlink that is absolute or resolves outside `dest` -> INVALID_ARGUMENT;
//   - a file over max_file_size or a running total over max_total_size -> RESOURCE_EXHAUSTED.
#ifndef DRIFTGUARD_RECONCILER_INTERNAL_LIBGIT2_TREE_WRITER_H_
#define DRIFTGUARD_RECONCILER_INTERNAL_LIBGIT2_TREE_WRITER_H_

#include <git2.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "core/status.h"

namespace driftguard::reconciler::internal {

struct TreeLimits {
  uint64_t max_file_size = 0;   // 0: unlimited
  uint64_t max_total_size = 0;  // 0: unlimited
};

struct TreeWriteResult {
  uint64_t files = 0;  // regular files and symlinks written
  uint64_t bytes = 0;  // sum of their sizes
};

core::StatusOr<TreeWriteResult> WriteFilteredTree(git_repository* repo, const git_tree* tree,
                                                  const std::filesystem::path& dest,
                                                  const std::optional<std::string>& spec_ignore,
                                                  const TreeLimits& limits);

}  // namespace driftguard::reconciler::internal

#endif  // DRIFTGUARD_RECONCILER_INTERNAL_LIBGIT2_TREE_WRITER_H_
