#include "reconciler/git_local.h"

#include <git2.h>

#include <system_error>

#include "reconciler/internal/libgit2_error.h"

namespace driftguard::reconciler {

using internal::GitCall;
using internal::Out;

namespace {
using GitIndexPtr = internal::GitPtr<git_index, git_index_free>;
using GitSignaturePtr = internal::GitPtr<git_signature, git_signature_free>;
}  // namespace

core::StatusOr<std::string> CommitDirectory(const std::filesystem::path& source_dir,
                                            const std::filesystem::path& repo_dir,
                                            const std::string& branch, const std::string& message) {
  namespace fs = std::filesystem;
  internal::LibGit2Runtime runtime;
  std::error_code ec;
  if (!fs::is_directory(source_dir, ec)) {
    return core::NotFoundError("source directory " + source_dir.string() + " does not exist");
  }
  fs::create_directories(repo_dir, ec);
  // Replace the work tree (everything but .git) with the source files.
  for (const auto& entry : fs::directory_iterator(repo_dir, ec)) {
    if (entry.path().filename() != ".git") fs::remove_all(entry.path(), ec);
  }
  for (auto it = fs::recursive_directory_iterator(source_dir, ec);
       it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) break;
    const fs::path rel = fs::relative(it->path(), source_dir, ec);
    if (it->is_directory()) {
      fs::create_directories(repo_dir / rel, ec);
    } else if (it->is_regular_file() && !it->is_symlink()) {
      fs::copy_file(it->path(), repo_dir / rel, fs::copy_options::overwrite_existing, ec);
    }
    if (ec) {
      return core::InternalError("copying " + it->path().string() + ": " + ec.message());
    }
  }

  internal::GitRepositoryPtr repo;
  git_repository_init_options init = GIT_REPOSITORY_INIT_OPTIONS_INIT;
  init.flags = GIT_REPOSITORY_INIT_MKPATH;
  init.initial_head = branch.c_str();
  RETURN_IF_ERROR(GitCall(git_repository_init_ext(Out(repo), repo_dir.c_str(), &init),
                          "initialising " + repo_dir.string()));
  GitIndexPtr index;
  RETURN_IF_ERROR(GitCall(git_repository_index(Out(index), repo.get()), "opening the index"));
  RETURN_IF_ERROR(GitCall(git_index_clear(index.get()), "clearing the index"));
  RETURN_IF_ERROR(
      GitCall(git_index_add_all(index.get(), nullptr, GIT_INDEX_ADD_FORCE, nullptr, nullptr),
              "adding files"));
  RETURN_IF_ERROR(GitCall(git_index_write(index.get()), "writing the index"));
  git_oid tree_id;
  RETURN_IF_ERROR(GitCall(git_index_write_tree(&tree_id, index.get()), "writing the tree"));
  internal::GitTreePtr tree;
  RETURN_IF_ERROR(GitCall(git_tree_lookup(Out(tree), repo.get(), &tree_id), "looking up the tree"));
  GitSignaturePtr sig;
  RETURN_IF_ERROR(
      GitCall(git_signature_now(Out(sig), "driftguard", "driftguard@localhost"), "signature"));

  internal::GitCommitPtr parent;
  git_oid head_id;
  const git_commit* parents[1] = {nullptr};
  size_t parent_count = 0;
  if (git_reference_name_to_id(&head_id, repo.get(), "HEAD") == 0) {
    RETURN_IF_ERROR(GitCall(git_commit_lookup(Out(parent), repo.get(), &head_id), "reading HEAD"));
    parents[0] = parent.get();
    parent_count = 1;
  }
  git_error_clear();
  git_oid commit_id;
  RETURN_IF_ERROR(
      GitCall(git_commit_create(&commit_id, repo.get(), "HEAD", sig.get(), sig.get(), nullptr,
                                message.c_str(), tree.get(), parent_count, parents),
              "committing"));
  return internal::OidHex(commit_id);
}

}  // namespace driftguard::reconciler
