// The one place where libgit2 return codes and git_error_last() become core::Status, plus RAII
// owners for libgit2 objects. Private to driftguard::reconciler.
//
//   GitRepositoryPtr repo;
//   RETURN_IF_ERROR(GitCall(git_repository_open_bare(Out(repo), path.c_str()), "opening " + path));
#ifndef DRIFTGUARD_RECONCILER_INTERNAL_LIBGIT2_ERROR_H_
#define DRIFTGUARD_RECONCILER_INTERNAL_LIBGIT2_ERROR_H_

#include <git2.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace driftguard::reconciler::internal {

// Status for a libgit2 call that returned `code` (OK when code >= 0). The message is
// "<context>: <libgit2 message>"; the code is mapped by class: not found -> NOT_FOUND, auth ->
// UNAUTHENTICATED, certificate -> UNAUTHENTICATED, network/SSH/TLS/HTTP -> UNAVAILABLE, invalid
// spec -> INVALID_ARGUMENT, otherwise INTERNAL. Clears the libgit2 error afterwards. Every string
// in `redact` (secrets) is replaced with "***" in the message.
core::Status GitStatus(int code, std::string_view context,
                       const std::vector<std::string>& redact = {});

// Shorthand for calls whose failure needs no redaction.
inline core::Status GitCall(int code, std::string_view context) {
  return code >= 0 ? core::OkStatus() : GitStatus(code, context);
}

// Replaces every occurrence of each non-empty secret in `text` with "***".
std::string Redact(std::string text, const std::vector<std::string>& secrets);

template <typename T, void (*Free)(T*)>
struct GitDeleter {
  void operator()(T* p) const {
    if (p != nullptr) Free(p);
  }
};
template <typename T, void (*Free)(T*)>
using GitPtr = std::unique_ptr<T, GitDeleter<T, Free>>;

using GitRepositoryPtr = GitPtr<git_repository, git_repository_free>;
using GitRemotePtr = GitPtr<git_remote, git_remote_free>;
using GitObjectPtr = GitPtr<git_object, git_object_free>;
using GitCommitPtr = GitPtr<git_commit, git_commit_free>;
using GitTreePtr = GitPtr<git_tree, git_tree_free>;
using GitBlobPtr = GitPtr<git_blob, git_blob_free>;
using GitReferencePtr = GitPtr<git_reference, git_reference_free>;
using GitOdbPtr = GitPtr<git_odb, git_odb_free>;

// Adapts a GitPtr for libgit2's out-parameters: `git_commit_lookup(Out(commit), repo, &oid)`.
template <typename T, void (*Free)(T*)>
class OutParam {
 public:
  explicit OutParam(GitPtr<T, Free>& owner) : owner_(owner) {}
  ~OutParam() { owner_.reset(raw_); }
  operator T**() { return &raw_; }  // NOLINT: implicit by design

 private:
  GitPtr<T, Free>& owner_;
  T* raw_ = nullptr;
};
template <typename T, void (*Free)(T*)>
OutParam<T, Free> Out(GitPtr<T, Free>& owner) {
  return OutParam<T, Free>(owner);
}

// Keeps libgit2 initialised for the lifetime of the object (libgit2 counts init/shutdown pairs).
class LibGit2Runtime {
 public:
  LibGit2Runtime() { git_libgit2_init(); }
  ~LibGit2Runtime() { git_libgit2_shutdown(); }
  LibGit2Runtime(const LibGit2Runtime&) = delete;
  LibGit2Runtime& operator=(const LibGit2Runtime&) = delete;
};

std::string OidHex(const git_oid& oid);

}  // namespace driftguard::reconciler::internal

#endif  // DRIFTGUARD_RECONCILER_INTERNAL_LIBGIT2_ERROR_H_
