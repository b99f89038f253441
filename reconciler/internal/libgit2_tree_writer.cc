#include "reconciler/internal/libgit2_tree_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <string_view>
#include <system_error>
#include <vector>

#include "reconciler/internal/libgit2_error.h"
#include "reconciler/source_ignore.h"

namespace driftguard::reconciler::internal {
namespace {

namespace fs = std::filesystem;

struct Entry {
  std::string path;  // '/'-separated, relative to the tree root
  git_oid oid;
  git_filemode_t mode;
};

core::Status Collect(git_repository* repo, const git_tree* tree, const std::string& prefix,
                     std::vector<Entry>* out, std::vector<IgnoreFile>* ignore_files) {
  size_t n = git_tree_entrycount(tree);
  for (size_t i = 0; i < n; ++i) {
    const git_tree_entry* te = git_tree_entry_byindex(tree, i);
    std::string_view name = git_tree_entry_name(te);
    std::string path = prefix.empty() ? std::string(name) : prefix + "/" + std::string(name);
    if (name.empty() || name == "." || name == ".." ||
        name.find_first_of(std::string_view("/\0", 2)) != std::string_view::npos) {
      return core::InvalidArgumentError("unsafe path in the repository tree: \"" + path + "\"");
    }
    git_filemode_t mode = git_tree_entry_filemode(te);
    if (mode == GIT_FILEMODE_TREE) {
      GitTreePtr sub;
      RETURN_IF_ERROR(
          GitCall(git_tree_lookup(Out(sub), repo, git_tree_entry_id(te)), "reading tree " + path));
      RETURN_IF_ERROR(Collect(repo, sub.get(), path, out, ignore_files));
      continue;
    }
    if (mode == GIT_FILEMODE_BLOB && name == kSourceIgnoreFile) {
      GitBlobPtr blob;
      RETURN_IF_ERROR(
          GitCall(git_blob_lookup(Out(blob), repo, git_tree_entry_id(te)), "reading " + path));
      const char* data = static_cast<const char*>(git_blob_rawcontent(blob.get()));
      ignore_files->push_back(
          {prefix, std::string(data, static_cast<size_t>(git_blob_rawsize(blob.get())))});
    }
    out->push_back({path, *git_tree_entry_id(te), mode});
  }
  return core::OkStatus();
}

core::Status WriteBytes(const fs::path& file, const void* data, size_t size, bool executable) {
  int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
                  executable ? 0755 : 0644);
  if (fd < 0) {
    return core::InternalError("cannot create " + file.string() + ": " +
                               std::error_code(errno, std::generic_category()).message());
  }
  const char* p = static_cast<const char*>(data);
  size_t left = size;
  while (left > 0) {
    ssize_t w = ::write(fd, p, left);
    if (w < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      ::close(fd);
      return core::InternalError("cannot write " + file.string() + ": " +
                                 std::error_code(e, std::generic_category()).message());
    }
    p += w;
    left -= static_cast<size_t>(w);
  }
  if (::close(fd) != 0) return core::InternalError("cannot close " + file.string());
  return core::OkStatus();
}

// True when `target` of a symlink at `link_path` stays below the root lexically.
bool LexicallyInside(const std::string& link_path, const std::string& target) {
  if (target.empty() || target[0] == '/') return false;
  fs::path joined = fs::path(link_path).parent_path() / target;
  fs::path norm = joined.lexically_normal();
  return norm.empty() || *norm.begin() != "..";
}

bool IsUnder(const fs::path& p, const fs::path& root) {
  auto r = root.begin();
  auto q = p.begin();
  for (; r != root.end(); ++r, ++q) {
    if (q == p.end() || *q != *r) return false;
  }
  return true;
}

core::StatusOr<TreeWriteResult> WriteAll(git_repository* repo, const git_tree* tree,
                                         const fs::path& dest,
                                         const std::optional<std::string>& spec_ignore,
                                         const TreeLimits& limits) {
  std::vector<Entry> entries;
  std::vector<IgnoreFile> ignore_files;
  RETURN_IF_ERROR(Collect(repo, tree, "", &entries, &ignore_files));
  const SourceIgnore ignore = SourceIgnore::ForFlux(std::move(ignore_files), spec_ignore);

  GitOdbPtr odb;
  RETURN_IF_ERROR(GitCall(git_repository_odb(Out(odb), repo), "opening the object database"));

  std::error_code ec;
  fs::create_directories(dest, ec);
  if (ec) return core::InternalError("cannot create " + dest.string() + ": " + ec.message());

  TreeWriteResult result;
  std::vector<std::string> symlinks;
  for (const Entry& e : entries) {
    if (e.mode == GIT_FILEMODE_COMMIT) continue;  // submodule: not fetched, as in Flux's default
    if (ignore.Excluded(e.path, false)) continue;

    size_t size = 0;
    git_object_t type;
    RETURN_IF_ERROR(
        GitCall(git_odb_read_header(&size, &type, odb.get(), &e.oid), "reading " + e.path));
    if (limits.max_file_size > 0 && size > limits.max_file_size) {
      return core::ResourceExhaustedError("file " + e.path + " is " + std::to_string(size) +
                                          " bytes, over the max_file_size of " +
                                          std::to_string(limits.max_file_size) + " bytes");
    }
    result.bytes += size;
    if (limits.max_total_size > 0 && result.bytes > limits.max_total_size) {
      return core::ResourceExhaustedError(
          "the checkout exceeds the max_total_size of " + std::to_string(limits.max_total_size) +
          " bytes at " + e.path + " (" + std::to_string(result.bytes) + " bytes so far)");
    }

    GitBlobPtr blob;
    RETURN_IF_ERROR(GitCall(git_blob_lookup(Out(blob), repo, &e.oid), "reading " + e.path));
    const void* data = git_blob_rawcontent(blob.get());
    fs::path file = dest / e.path;
    fs::create_directories(file.parent_path(), ec);
    if (ec) {
      return core::InternalError("cannot create " + file.parent_path().string() + ": " +
                                 ec.message());
    }
    if (e.mode == GIT_FILEMODE_LINK) {
      std::string target(static_cast<const char*>(data), size);
      if (!LexicallyInside(e.path, target)) {
        return core::InvalidArgumentError("symlink " + e.path +
                                          " points outside the repository: " + target);
      }
      fs::create_symlink(target, file, ec);
      if (ec) return core::InternalError("cannot create symlink " + e.path + ": " + ec.message());
      symlinks.push_back(e.path);
    } else {
      RETURN_IF_ERROR(WriteBytes(file, data, size, e.mode == GIT_FILEMODE_BLOB_EXECUTABLE));
    }
    ++result.files;
  }

  // Chains of links ("a" -> ".", "b" -> "a/..") can escape even when each is lexically inside;
  // resolve every link through the file system now that the whole tree exists.
  const fs::path root = fs::canonical(dest, ec);
  if (ec) return core::InternalError("cannot resolve " + dest.string() + ": " + ec.message());
  for (const std::string& link : symlinks) {
    fs::path resolved = fs::weakly_canonical(dest / link, ec);
    if (ec || !IsUnder(resolved, root)) {
      std::string target = fs::read_symlink(dest / link, ec).string();
      return core::InvalidArgumentError("symlink " + link +
                                        " points outside the repository: " + target);
    }
  }
  return result;
}

}  // namespace

core::StatusOr<TreeWriteResult> WriteFilteredTree(git_repository* repo, const git_tree* tree,
                                                  const fs::path& dest,
                                                  const std::optional<std::string>& spec_ignore,
                                                  const TreeLimits& limits) {
  std::error_code ec;
  if (fs::exists(dest, ec)) {
    return core::AlreadyExistsError("checkout directory " + dest.string() + " already exists");
  }
  core::StatusOr<TreeWriteResult> result = WriteAll(repo, tree, dest, spec_ignore, limits);
  if (!result.ok()) fs::remove_all(dest, ec);
  return result;
}

}  // namespace driftguard::reconciler::internal
