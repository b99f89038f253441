// The Git source: fetches a repository the way Flux's source-controller does for a
// `source.toolkit.fluxcd.io/v1 GitRepository`, and checks the selected revision out as plain
// files for the renderer.
//
//   GitSourceOptions options;
//   options.cache_dir = "/var/cache/driftguard/git/flux-system/podinfo";
//   LibGit2Source source(options);
//   GitSourceSpec spec;
//   spec.url = "ssh://git@github.com/acme/fleet.git";
//   spec.ref.branch = "main";
//   spec.secret = {{"identity", key_pem}, {"known_hosts", known_hosts}};
//   ASSIGN_OR_RETURN(SourceArtifact artifact, source.Fetch(spec));
//   // artifact.revision == "main@sha1:3f0c...", artifact.path holds the files.
//
// Ref selection (`spec.ref`, Flux's precedence: commit > name > semver > tag > branch; nothing set
// means branch "master"). Revisions are written as Flux v1 writes them: `main@sha1:<40 hex>`,
// `v1.2.3@sha1:<hex>` (tag and semver), `refs/pull/1/head@sha1:<hex>` (name), `sha1:<hex>`
// (commit alone), `main@sha1:<commit>` (commit with branch). Tags resolve to the commit they
// point at.
//
// Secret keys (Flux's GitRepository secretRef `.data`): `username` + `password` (HTTPS basic auth),
// `bearerToken` (HTTPS `Authorization: Bearer`), `ca.crt` or `caFile` (PEM CA bundle trusted for
// HTTPS in addition to the system store; `ca.crt` wins), `identity` (SSH private key, PEM or
// OpenSSH format), `identity.pub` (optional), `password` (SSH key passphrase), `known_hosts`
// (required for SSH: there is no SSH without host key verification).
//
// Cache and artifacts: the repository is kept bare in `<cache_dir>/repo.git` and fetched
// incrementally; only the selected ref is downloaded. Each checked-out revision gets its own
// directory `<cache_dir>/artifacts/<sha>-<n>`; after a successful Fetch that produced a new
// directory, older artifact directories are removed. When the remote still points at the
// revision of the last artifact (and ignore rules and limits are unchanged), Fetch returns the
// same artifact without downloading or writing anything.
//
// Failure: a failed Fetch returns the error (naming the URL and the cause, never a secret) and
// leaves the last good artifact on disk and in last_artifact(), usable as before.
//
// Thread safety: Fetch calls on one LibGit2Source are serialised internally; last_artifact() may be
// called concurrently with Fetch. Two LibGit2Source objects must not share a cache_dir.
#ifndef DRIFTGUARD_RECONCILER_GIT_SOURCE_H_
#define DRIFTGUARD_RECONCILER_GIT_SOURCE_H_

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "core/status.h"

namespace driftguard::reconciler {

// `spec.ref` of a GitRepository. Empty strings are unset.
struct GitRef {
  std::string branch;
  std::string tag;
  std::string semver;
  std::string name;    // a full reference: refs/heads/x, refs/tags/y, refs/pull/1/head
  std::string commit;  // full 40-hex SHA-1, optionally with `branch`
};

// What to fetch: the GitRepository spec plus the decoded data of its secretRef.
struct GitSourceSpec {
  // file://, git://, http(s)://, ssh://[user@]host[:port]/path, or scp-like user@host:path.
  std::string url;
  GitRef ref;
  std::map<std::string, std::string> secret;  // Secret .data, already base64-decoded
  std::optional<std::string> ignore;          // spec.ignore (.gitignore syntax)
  // spec.timeout (Flux default 60s). Enforced between transfer callbacks; see Fetch.
  std::chrono::milliseconds timeout{std::chrono::seconds(60)};
};

struct SourceArtifact {
  std::string revision;        // Flux format, e.g. "main@sha1:<40 hex>"
  std::string commit;          // 40 hex
  int64_t commit_time = 0;     // committer time, seconds since the epoch
  std::filesystem::path path;  // directory holding the checked-out, filtered tree
  uint64_t files = 0;          // files written (regular files and symlinks)
  uint64_t bytes = 0;          // their total size

  friend bool operator==(const SourceArtifact&, const SourceArtifact&) = default;
};

// Options of the operator (not of the GitRepository); plain values, validated by Validate().
struct GitSourceOptions {
  std::filesystem::path cache_dir;         // required; created when missing
  uint64_t max_file_size = 16ull << 20;    // bytes per file; 0 = unlimited
  uint64_t max_total_size = 512ull << 20;  // bytes per checkout; 0 = unlimited

  core::Status Validate() const;
};

// Fetches a Git source. Implementations touch the network and the disk.
class GitSource {
 public:
  virtual ~GitSource() = default;

  // Fetches `spec` and returns the artifact of the selected revision. Errors:
  //   INVALID_ARGUMENT   bad URL, ref, semver range, secret, unsafe tree content (path, symlink);
  //   NOT_FOUND          the ref (branch, tag, name, commit) or no tag matching the range;
  //   UNAUTHENTICATED    credentials rejected, unknown SSH host key, untrusted TLS certificate;
  //   UNAVAILABLE        the server cannot be reached or the transfer failed;
  //   DEADLINE_EXCEEDED  spec.timeout passed (checked while data flows and between steps);
  //   RESOURCE_EXHAUSTED a file or the checkout exceeds the size limits.
  // Messages start with "fetching <url>" (userinfo password removed) or name the file.
  virtual core::StatusOr<SourceArtifact> Fetch(const GitSourceSpec& spec) = 0;

  // The artifact of the last successful Fetch, if any.
  virtual std::optional<SourceArtifact> last_artifact() const = 0;
};

// GitSource backed by libgit2 (Debian's 1.5: SSH through libssh2, HTTPS through mbedTLS).
class LibGit2Source final : public GitSource {
 public:
  explicit LibGit2Source(GitSourceOptions options);
  ~LibGit2Source() override;
  LibGit2Source(const LibGit2Source&) = delete;
  LibGit2Source& operator=(const LibGit2Source&) = delete;

  core::StatusOr<SourceArtifact> Fetch(const GitSourceSpec& spec) override;
  std::optional<SourceArtifact> last_artifact() const override;

 private:
  struct State;
  const GitSourceOptions options_;
  std::mutex fetch_mu_;  // serialises Fetch
  mutable std::mutex artifact_mu_;
  std::optional<SourceArtifact> last_;  // guarded by artifact_mu_
  std::unique_ptr<State> state_;        // guarded by fetch_mu_
};

// The parts of a Git URL that matter for authentication. scp-like "user@host:path" is accepted
// and reported with scheme "ssh".
struct GitUrl {
  std::string scheme;  // file, git, http, https, ssh
  std::string user;
  std::string password;  // from userinfo; never printed
  std::string host;
  int port = 0;  // 0: the scheme's default
  std::string path;

  // The URL without the userinfo password, for messages.
  std::string Redacted() const;
};
core::StatusOr<GitUrl> ParseGitUrl(std::string_view url);

}  // namespace driftguard::reconciler

#endif  // DRIFTGUARD_RECONCILER_GIT_SOURCE_H_
