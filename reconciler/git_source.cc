#include "reconciler/git_source.h"

#include <git2.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>
#include <system_error>
#include <utility>
#include <vector>

#include "reconciler/internal/libgit2_auth.h"
#include "reconciler/internal/libgit2_error.h"
#include "reconciler/internal/libgit2_tree_writer.h"
#include "reconciler/semver.h"

namespace driftguard::reconciler {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using core::Status;
using core::StatusOr;
using internal::GitCall;
using internal::GitStatus;
using internal::Out;

std::string SecretValue(const std::map<std::string, std::string>& secret, const std::string& key) {
  auto it = secret.find(key);
  return it == secret.end() ? std::string() : it->second;
}

bool IsHexSha(std::string_view s) {
  if (s.size() != GIT_OID_HEXSZ) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return std::isxdigit(c) != 0; });
}

std::string FormatDuration(std::chrono::milliseconds d) {
  if (d.count() % 1000 == 0) return std::to_string(d.count() / 1000) + "s";
  return std::to_string(d.count()) + "ms";
}

// What the ref selection asks for, before talking to the remote.
struct Selection {
  enum class Kind { kExact, kSemver, kAllHeads };
  Kind kind = Kind::kExact;
  std::string remote_ref;     // kExact: the full ref name
  std::string revision_name;  // the part before "@sha1:" ("" for a bare commit)
  std::optional<VersionRange> range;
  std::string commit;  // requested commit (may be empty)
};

StatusOr<Selection> Select(const GitRef& ref) {
  Selection s;
  s.commit = ref.commit;
  if (!ref.commit.empty()) {
    if (!IsHexSha(ref.commit)) {
      return core::InvalidArgumentError("ref.commit \"" + ref.commit +
                                        "\" is not a 40-character hex SHA-1");
    }
    for (char& c : s.commit) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (!ref.branch.empty()) {
      s.remote_ref = "refs/heads/" + ref.branch;
      s.revision_name = ref.branch;
    } else {
      s.kind = Selection::Kind::kAllHeads;
    }
    return s;
  }
  if (!ref.name.empty()) {
    if (ref.name.rfind("refs/", 0) != 0) {
      return core::InvalidArgumentError("ref.name \"" + ref.name +
                                        "\" is not a full reference (refs/...)");
    }
    s.remote_ref = ref.name;
    s.revision_name = ref.name;
    return s;
  }
  if (!ref.semver.empty()) {
    ASSIGN_OR_RETURN(VersionRange range, VersionRange::Parse(ref.semver));
    s.kind = Selection::Kind::kSemver;
    s.range = std::move(range);
    return s;
  }
  if (!ref.tag.empty()) {
    s.remote_ref = "refs/tags/" + ref.tag;
    s.revision_name = ref.tag;
    return s;
  }
  std::string branch = ref.branch.empty() ? "master" : ref.branch;
  s.remote_ref = "refs/heads/" + branch;
  s.revision_name = branch;
  return s;
}

// Shared with the libgit2 callbacks of one Fetch.
struct CallbackState {
  GitUrl url;
  std::string redacted_url;
  Clock::time_point deadline;
  std::chrono::milliseconds timeout{0};
  const std::map<std::string, std::string>* secret = nullptr;
  std::vector<internal::KnownHost> known_hosts;
  std::string ca_pem;
  int ssh_key_attempts = 0;
  int userpass_attempts = 0;
  Status error;  // set by a callback that aborts the operation

  bool Expired() const { return Clock::now() > deadline; }
  int Fail(Status s) {
    error = std::move(s);
    return -1;
  }
  int CheckDeadline() {
    if (!Expired()) return 0;
    return Fail(core::DeadlineExceededError("fetching " + redacted_url + ": timed out after " +
                                            FormatDuration(timeout)));
  }
};

int AcquireCredentials(git_credential** out, const char* /*url*/, const char* username_from_url,
                       unsigned int allowed_types, void* payload) {
  auto* st = static_cast<CallbackState*>(payload);
  if (int rc = st->CheckDeadline(); rc != 0) return rc;
  const std::string where = "fetching " + st->redacted_url;
  const auto& secret = *st->secret;
  std::string user = username_from_url != nullptr ? username_from_url : "";
  // libgit2 asks again for the same type only after the server refused what we offered.
  if (allowed_types & GIT_CREDENTIAL_SSH_KEY) {
    if (++st->ssh_key_attempts > 1) {
      return st->Fail(core::UnauthenticatedError(
          where +
          ": authentication failed: the server rejected the SSH key (identity) for user \"" +
          (user.empty() ? std::string("git") : user) + "\""));
    }
  } else if (allowed_types & GIT_CREDENTIAL_USERPASS_PLAINTEXT) {
    if (++st->userpass_attempts > 1) {
      return st->Fail(core::UnauthenticatedError(
          where + ": authentication failed: the server rejected the username/password"));
    }
  }
  if (allowed_types & GIT_CREDENTIAL_SSH_KEY) {
    std::string identity = SecretValue(secret, "identity");
    if (identity.empty()) {
      return st->Fail(core::UnauthenticatedError(
          where + ": the server asks for an SSH key and the secret has no \"identity\""));
    }
    if (user.empty()) user = "git";
    std::string pub = SecretValue(secret, "identity.pub");
    std::string passphrase = SecretValue(secret, "password");
    int rc = git_credential_ssh_key_memory_new(
        out, user.c_str(), pub.empty() ? nullptr : pub.c_str(), identity.c_str(),
        passphrase.empty() ? nullptr : passphrase.c_str());
    if (rc < 0) return st->Fail(GitStatus(rc, where + ": loading the SSH identity"));
    return 0;
  }
  if (allowed_types & GIT_CREDENTIAL_USERNAME) {
    if (user.empty()) user = "git";
    return git_credential_username_new(out, user.c_str());
  }
  if (allowed_types & GIT_CREDENTIAL_USERPASS_PLAINTEXT) {
    std::string username = SecretValue(secret, "username");
    std::string password = SecretValue(secret, "password");
    if (username.empty() && !st->url.user.empty()) {
      username = st->url.user;
      password = st->url.password;
    }
    if (username.empty() && password.empty()) {
      return st->Fail(core::UnauthenticatedError(
          where + ": the server requires authentication and the secret has no username/password" +
          (SecretValue(secret, "bearerToken").empty() ? "" : " (the bearer token was refused)")));
    }
    int rc = git_credential_userpass_plaintext_new(out, username.c_str(), password.c_str());
    if (rc < 0) return st->Fail(GitStatus(rc, where + ": preparing credentials"));
    return 0;
  }
  return st->Fail(
      core::UnauthenticatedError(where + ": the server asks for an unsupported credential type"));
}

int CheckCertificate(git_cert* cert, int valid, const char* host, void* payload) {
  auto* st = static_cast<CallbackState*>(payload);
  if (int rc = st->CheckDeadline(); rc != 0) return rc;
  const std::string where = "fetching " + st->redacted_url;
  if (cert->cert_type == GIT_CERT_HOSTKEY_LIBSSH2) {
    const auto* hk = reinterpret_cast<const git_cert_hostkey*>(cert);
    if ((hk->type & GIT_CERT_SSH_RAW) == 0 || hk->hostkey == nullptr) {
      return st->Fail(core::UnauthenticatedError(
          where + ": host key verification failed: libgit2 did not expose the raw host key"));
    }
    Status s =
        internal::VerifyHostKey(st->known_hosts, st->url.host, st->url.port > 0 ? st->url.port : 22,
                                std::string_view(hk->hostkey, hk->hostkey_len));
    if (!s.ok()) return st->Fail(s.WithPrefix(where));
    return 0;
  }
  if (cert->cert_type == GIT_CERT_X509) {
    if (valid) return 0;
    if (st->ca_pem.empty()) {
      return st->Fail(core::UnauthenticatedError(
          where + ": the server certificate for " + std::string(host != nullptr ? host : "") +
          " is not trusted by the system CAs (no ca.crt/caFile in the secret)"));
    }
    const auto* x = reinterpret_cast<const git_cert_x509*>(cert);
    Status s = internal::VerifyServerCertificate(
        std::string_view(static_cast<const char*>(x->data), x->len), st->ca_pem,
        host != nullptr ? host : st->url.host);
    if (!s.ok()) return st->Fail(s.WithPrefix(where));
    return 0;
  }
  return valid ? 0 : st->Fail(core::UnauthenticatedError(where + ": unknown certificate type"));
}

int TransferProgress(const git_indexer_progress* /*stats*/, void* payload) {
  return static_cast<CallbackState*>(payload)->CheckDeadline();
}

int SidebandProgress(const char* /*str*/, int /*len*/, void* payload) {
  return static_cast<CallbackState*>(payload)->CheckDeadline();
}

git_remote_callbacks MakeCallbacks(CallbackState* st) {
  git_remote_callbacks cb;
  git_remote_init_callbacks(&cb, GIT_REMOTE_CALLBACKS_VERSION);
  cb.credentials = AcquireCredentials;
  cb.certificate_check = CheckCertificate;
  cb.transfer_progress = TransferProgress;
  cb.sideband_progress = SidebandProgress;
  cb.payload = st;
  return cb;
}

core::Status RemoveTree(const fs::path& p) {
  std::error_code ec;
  fs::remove_all(p, ec);
  if (ec) return core::InternalError("cannot remove " + p.string() + ": " + ec.message());
  return core::OkStatus();
}

std::string ReadSmallFile(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The (commit, ignore, limits) a checkout depends on: equal keys mean an identical artifact.
std::string ArtifactKey(const std::string& commit, const GitSourceSpec& spec,
                        const GitSourceOptions& options) {
  std::string key = commit + "\n" + std::to_string(options.max_file_size) + "\n" +
                    std::to_string(options.max_total_size) + "\n";
  if (spec.ignore) key += "ignore:" + *spec.ignore;
  return key;
}

// Gives or copies `from` to `to`: a hard link when both are on one file system (Git never
// rewrites an object file in place, so sharing the inode is safe), else a copy.
bool LinkOrCopy(const fs::path& from, const fs::path& to) {
  std::error_code ec;
  fs::create_hard_link(from, to, ec);
  if (!ec) return true;
  return fs::copy_file(from, to, fs::copy_options::skip_existing, ec) && !ec;
}

// Seeds an empty cache repository from the local repository at `source` (a file:// URL) by
// linking its object files, as `git clone` does for a local path. libgit2's local transport
// instead builds a new pack in-process, recomputing every delta (~1 s of CPU for a 3,000-file
// repository, where git's upload-pack reuses the deltas it has). Takes complete packs (a .pack
// with its .idx; the .idx last, since it is what makes a pack visible) and loose objects. A
// repository that borrows objects (objects/info/alternates) is left to the transport. Best
// effort: whatever is missing afterwards is fetched by the transport as before.
void SeedFromLocalRepository(const std::string& source, const fs::path& cache_repo) {
  internal::GitRepositoryPtr src;
  if (git_repository_open_ext(Out(src), source.c_str(), GIT_REPOSITORY_OPEN_NO_SEARCH, nullptr) <
      0) {
    git_error_clear();
    return;
  }
  const fs::path objects = fs::path(git_repository_commondir(src.get())) / "objects";
  const fs::path dest = cache_repo / "objects";
  std::error_code ec;
  if (fs::exists(objects / "info" / "alternates", ec)) return;
  for (const auto& e : fs::directory_iterator(objects / "pack", ec)) {
    const fs::path& pack = e.path();
    const std::string name = pack.filename().string();
    if (pack.extension() != ".pack" || name.starts_with("tmp_")) continue;
    fs::path idx = pack;
    idx.replace_extension(".idx");
    if (!fs::is_regular_file(idx, ec)) continue;
    fs::create_directories(dest / "pack", ec);
    if (!LinkOrCopy(pack, dest / "pack" / name)) continue;
    LinkOrCopy(idx, dest / "pack" / idx.filename());
  }
  for (const auto& dir : fs::directory_iterator(objects, ec)) {
    const std::string name = dir.path().filename().string();
    if (name.size() != 2 || !std::isxdigit(static_cast<unsigned char>(name[0])) ||
        !std::isxdigit(static_cast<unsigned char>(name[1])) || !dir.is_directory(ec)) {
      continue;
    }
    fs::create_directories(dest / name, ec);
    for (const auto& f : fs::directory_iterator(dir.path(), ec)) {
      if (f.is_regular_file(ec)) LinkOrCopy(f.path(), dest / name / f.path().filename());
    }
  }
}

}  // namespace

std::string GitUrl::Redacted() const {
  if (scheme == "file") return "file://" + path;
  std::string out = scheme + "://";
  if (!user.empty()) out += user + "@";
  out += host.find(':') != std::string::npos ? "[" + host + "]" : host;
  if (port > 0) out += ":" + std::to_string(port);
  out += path;
  return out;
}

StatusOr<GitUrl> ParseGitUrl(std::string_view url) {
  auto bad = [&](const std::string& why) {
    return core::InvalidArgumentError("invalid Git URL \"" + std::string(url) + "\": " + why);
  };
  GitUrl out;
  size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) {
    // scp-like: [user@]host:path
    size_t colon = url.find(':');
    size_t slash = url.find('/');
    if (colon == std::string_view::npos || colon == 0 ||
        (slash != std::string_view::npos && slash < colon)) {
      return bad("expected scheme://host/path or user@host:path");
    }
    std::string_view authority = url.substr(0, colon);
    if (size_t at = authority.rfind('@'); at != std::string_view::npos) {
      out.user = std::string(authority.substr(0, at));
      authority = authority.substr(at + 1);
    }
    out.scheme = "ssh";
    out.host = std::string(authority);
    std::string_view path = url.substr(colon + 1);
    out.path = (!path.empty() && path[0] == '/' ? "" : "/") + std::string(path);
    if (out.host.empty() || url.size() == colon + 1) return bad("missing host or path");
    return out;
  }
  out.scheme = std::string(url.substr(0, scheme_end));
  for (char& c : out.scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::string_view rest = url.substr(scheme_end + 3);
  if (out.scheme == "file") {
    if (rest.empty() || rest[0] != '/') return bad("file URLs need an absolute path");
    out.path = std::string(rest);
    return out;
  }
  if (out.scheme != "ssh" && out.scheme != "git" && out.scheme != "http" && out.scheme != "https") {
    return bad("unsupported scheme \"" + out.scheme + "\"");
  }
  size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  out.path = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  if (size_t at = authority.rfind('@'); at != std::string_view::npos) {
    std::string_view userinfo = authority.substr(0, at);
    authority = authority.substr(at + 1);
    size_t colon = userinfo.find(':');
    out.user = std::string(userinfo.substr(0, colon));
    if (colon != std::string_view::npos) out.password = std::string(userinfo.substr(colon + 1));
  }
  std::string_view port;
  if (!authority.empty() && authority[0] == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return bad("unclosed '[' in host");
    out.host = std::string(authority.substr(1, close - 1));
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') return bad("junk after ']'");
      port = authority.substr(close + 2);
    }
  } else {
    size_t colon = authority.rfind(':');
    out.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
  }
  if (out.host.empty()) return bad("missing host");
  if (!port.empty()) {
    int p = 0;
    for (char c : port) {
      if (!std::isdigit(static_cast<unsigned char>(c)) || p > 65535) return bad("invalid port");
      p = p * 10 + (c - '0');
    }
    if (p <= 0 || p > 65535) return bad("invalid port");
    out.port = p;
  }
  return out;
}

core::Status GitSourceOptions::Validate() const {
  if (cache_dir.empty()) return core::InvalidArgumentError("GitSourceOptions.cache_dir is empty");
  if (max_total_size > 0 && max_file_size > max_total_size) {
    return core::InvalidArgumentError(
        "GitSourceOptions.max_file_size is larger than max_total_size");
  }
  return core::OkStatus();
}

struct LibGit2Source::State {
  internal::LibGit2Runtime runtime;
  internal::GitRepositoryPtr repo;
  std::string repo_url;      // the URL the cached repository was fetched from
  std::string artifact_key;  // ArtifactKey of last_
  uint64_t next_seq = 0;
};

LibGit2Source::LibGit2Source(GitSourceOptions options)
    : options_(std::move(options)), state_(std::make_unique<State>()) {}

LibGit2Source::~LibGit2Source() = default;

std::optional<SourceArtifact> LibGit2Source::last_artifact() const {
  std::lock_guard<std::mutex> lock(artifact_mu_);
  return last_;
}

StatusOr<SourceArtifact> LibGit2Source::Fetch(const GitSourceSpec& spec) {
  std::lock_guard<std::mutex> lock(fetch_mu_);
  RETURN_IF_ERROR(options_.Validate());
  State& state = *state_;

  ASSIGN_OR_RETURN(GitUrl url, ParseGitUrl(spec.url));
  const std::string where = "fetching " + url.Redacted();
  const std::vector<std::string> secrets = {url.password, SecretValue(spec.secret, "password"),
                                            SecretValue(spec.secret, "bearerToken"),
                                            SecretValue(spec.secret, "identity")};

  auto selection_or = Select(spec.ref);
  if (!selection_or.ok()) return selection_or.status().WithPrefix(where);
  Selection sel = std::move(selection_or).value();

  CallbackState cbs;
  cbs.url = url;
  cbs.redacted_url = url.Redacted();
  cbs.timeout = spec.timeout;
  cbs.deadline = Clock::now() + spec.timeout;
  cbs.secret = &spec.secret;
  cbs.ca_pem = SecretValue(spec.secret, "ca.crt");
  if (cbs.ca_pem.empty()) cbs.ca_pem = SecretValue(spec.secret, "caFile");
  if (url.scheme == "ssh") {
    std::string known_hosts = SecretValue(spec.secret, "known_hosts");
    if (known_hosts.empty()) {
      return core::InvalidArgumentError(
          where + ": the secret has no known_hosts; SSH needs it to verify the server");
    }
    auto parsed = internal::ParseKnownHosts(known_hosts);
    if (!parsed.ok()) return parsed.status().WithPrefix(where);
    cbs.known_hosts = std::move(parsed).value();
  }

  // The cached bare repository; a different URL starts from scratch.
  const fs::path repo_dir = options_.cache_dir / "repo.git";
  const fs::path url_file = options_.cache_dir / "url";
  std::error_code ec;
  fs::create_directories(options_.cache_dir / "artifacts", ec);
  if (ec) {
    return core::InternalError("cannot create cache directory " + options_.cache_dir.string() +
                               ": " + ec.message());
  }
  if (state.repo == nullptr) {
    state.repo_url = ReadSmallFile(url_file);
    if (git_repository_open_bare(Out(state.repo), repo_dir.c_str()) < 0) {
      git_error_clear();
      state.repo_url.clear();
    }
  }
  if (state.repo != nullptr && state.repo_url != spec.url) {
    state.repo.reset();
    RETURN_IF_ERROR(RemoveTree(repo_dir));
  }
  bool fresh_repo = false;
  if (state.repo == nullptr) {
    RETURN_IF_ERROR(GitCall(git_repository_init(Out(state.repo), repo_dir.c_str(), 1),
                            "creating cache repository " + repo_dir.string()));
    std::ofstream(url_file, std::ios::trunc) << spec.url;
    state.repo_url = spec.url;
    fresh_repo = true;
  }
  git_repository* repo = state.repo.get();

  internal::GitOdbPtr odb;
  RETURN_IF_ERROR(GitCall(git_repository_odb(Out(odb), repo), "opening the object database"));

  git_oid target_oid;  // what the selected ref points at (a commit or an annotated tag)
  git_oid commit_req;
  bool have_commit_req = false;
  if (!sel.commit.empty()) {
    git_oid_fromstr(&commit_req, sel.commit.c_str());
    have_commit_req = true;
  }
  const bool need_network =
      !(sel.kind == Selection::Kind::kAllHeads && git_odb_exists(odb.get(), &commit_req));

  if (need_network) {
    internal::GitRemotePtr remote;
    Status s =
        GitStatus(git_remote_create_anonymous(Out(remote), repo, spec.url.c_str()), where, secrets);
    if (!s.ok()) return s;
    git_remote_callbacks callbacks = MakeCallbacks(&cbs);
    std::string bearer = SecretValue(spec.secret, "bearerToken");
    std::string auth_header = "Authorization: Bearer " + bearer;
    char* header_ptr = auth_header.data();
    git_strarray headers = {&header_ptr, bearer.empty() ? 0u : 1u};

    auto fail = [&](int rc) -> Status {
      if (!cbs.error.ok()) {
        git_error_clear();
        return core::Status(cbs.error.code(), internal::Redact(cbs.error.message(), secrets));
      }
      // Whatever stops the transport (missing repository, refused connection, protocol error)
      // means the remote is unusable right now: a transient error for the caller.
      Status s = GitStatus(rc, where, secrets);
      if (s.code() == core::StatusCode::kInternal) s = core::UnavailableError(s.message());
      if (s.code() == core::StatusCode::kUnauthenticated && !bearer.empty() &&
          cbs.userpass_attempts == 0) {
        // A 401 without a usable challenge: libgit2 cannot say more than "unsupported".
        s = core::UnauthenticatedError(where +
                                       ": authentication failed: the server refused the bearer "
                                       "token");
      }
      return s;
    };

    int rc = git_remote_connect(remote.get(), GIT_DIRECTION_FETCH, &callbacks, nullptr, &headers);
    if (rc < 0) return fail(rc);

    const git_remote_head** heads = nullptr;
    size_t nheads = 0;
    rc = git_remote_ls(&heads, &nheads, remote.get());
    if (rc < 0) return fail(rc);

    std::vector<std::string> refspecs;
    std::vector<std::pair<std::string, git_oid>> refs_to_store;
    if (sel.kind == Selection::Kind::kAllHeads) {
      refspecs.push_back("+refs/heads/*:refs/heads/*");
      for (size_t i = 0; i < nheads; ++i) {
        std::string_view name = heads[i]->name;
        if (name.rfind("refs/heads/", 0) == 0) refs_to_store.emplace_back(name, heads[i]->oid);
      }
    } else {
      const git_remote_head* found = nullptr;
      if (sel.kind == Selection::Kind::kSemver) {
        std::optional<Version> best;
        for (size_t i = 0; i < nheads; ++i) {
          std::string_view name = heads[i]->name;
          bool is_tag = name.rfind("refs/tags/", 0) == 0;
          bool peeled = name.size() > 3 && name.substr(name.size() - 3) == "^{}";
          if (!is_tag || peeled) continue;
          auto v = ParseVersion(name.substr(10));
          if (!v.ok() || !sel.range->Matches(*v)) continue;
          if (!best || CompareVersions(*v, *best) > 0) {
            best = *v;
            found = heads[i];
          }
        }
        if (found == nullptr) {
          return core::NotFoundError(where + ": no tag matches the semver range \"" +
                                     sel.range->text() + "\"");
        }
        sel.remote_ref = found->name;
        sel.revision_name = sel.remote_ref.substr(10);
      } else {
        for (size_t i = 0; i < nheads; ++i) {
          if (sel.remote_ref == heads[i]->name) found = heads[i];
        }
        if (found == nullptr) {
          return core::NotFoundError(where + ": couldn't find remote ref \"" + sel.remote_ref +
                                     "\"");
        }
      }
      refspecs.push_back("+" + sel.remote_ref + ":" + sel.remote_ref);
      refs_to_store.emplace_back(sel.remote_ref, found->oid);
      target_oid = found->oid;
    }

    bool missing = false;
    for (const auto& [name, oid] : refs_to_store) {
      if (!git_odb_exists(odb.get(), &oid)) missing = true;
    }
    if (have_commit_req && sel.kind == Selection::Kind::kAllHeads) missing = true;
    if (missing && fresh_repo && url.scheme == "file") {
      SeedFromLocalRepository(url.path, repo_dir);
      git_odb_refresh(odb.get());
      missing = have_commit_req && sel.kind == Selection::Kind::kAllHeads &&
                !git_odb_exists(odb.get(), &commit_req);
      for (const auto& [name, oid] : refs_to_store) {
        if (!git_odb_exists(odb.get(), &oid)) missing = true;
      }
    }
    if (missing) {
      std::vector<char*> spec_ptrs;
      for (std::string& r : refspecs) spec_ptrs.push_back(r.data());
      git_strarray specs = {spec_ptrs.data(), spec_ptrs.size()};
      git_fetch_options fo;
      git_fetch_options_init(&fo, GIT_FETCH_OPTIONS_VERSION);
      fo.callbacks = callbacks;
      fo.custom_headers = headers;
      fo.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
      fo.update_fetchhead = 0;
      rc = git_remote_download(remote.get(), &specs, &fo);
      if (rc < 0) return fail(rc);
    }
    git_remote_disconnect(remote.get());
    for (const auto& [name, oid] : refs_to_store) {
      if (!git_odb_exists(odb.get(), &oid)) continue;
      internal::GitReferencePtr stored;
      RETURN_IF_ERROR(GitCall(
          git_reference_create(Out(stored), repo, name.c_str(), &oid, 1, "driftguard fetch"),
          where + ": storing " + name));
    }
  }
  if (Clock::now() > cbs.deadline) {
    return core::DeadlineExceededError(where + ": timed out after " + FormatDuration(spec.timeout));
  }

  // Resolve the commit.
  internal::GitCommitPtr commit;
  if (have_commit_req) {
    if (git_commit_lookup(Out(commit), repo, &commit_req) < 0) {
      git_error_clear();
      return core::NotFoundError(
          where + ": commit " + sel.commit + " not found" +
          (sel.revision_name.empty() ? std::string() : " in branch " + sel.revision_name));
    }
    if (!sel.revision_name.empty() && !git_oid_equal(&commit_req, &target_oid) &&
        git_graph_descendant_of(repo, &target_oid, &commit_req) != 1) {
      git_error_clear();
      return core::NotFoundError(where + ": commit " + sel.commit + " not found in branch " +
                                 sel.revision_name);
    }
  } else {
    internal::GitObjectPtr obj, peeled;
    RETURN_IF_ERROR(GitCall(git_object_lookup(Out(obj), repo, &target_oid, GIT_OBJECT_ANY),
                            where + ": reading " + sel.remote_ref));
    int rc = git_object_peel(Out(peeled), obj.get(), GIT_OBJECT_COMMIT);
    if (rc < 0) {
      git_error_clear();
      return core::InvalidArgumentError(where + ": " + sel.remote_ref +
                                        " does not point at a commit");
    }
    RETURN_IF_ERROR(GitCall(git_commit_lookup(Out(commit), repo, git_object_id(peeled.get())),
                            where + ": reading commit"));
  }
  const std::string sha = internal::OidHex(*git_commit_id(commit.get()));
  const std::string revision =
      sel.revision_name.empty() ? "sha1:" + sha : sel.revision_name + "@sha1:" + sha;

  // Unchanged revision, ignore rules and limits: the current artifact stands.
  const std::string key = ArtifactKey(sha, spec, options_);
  {
    std::lock_guard<std::mutex> alock(artifact_mu_);
    if (last_ && state.artifact_key == key && fs::is_directory(last_->path, ec)) {
      last_->revision = revision;  // the same commit may be reached through another ref name
      return *last_;
    }
  }

  internal::GitTreePtr tree;
  RETURN_IF_ERROR(GitCall(git_commit_tree(Out(tree), commit.get()), where + ": reading tree"));
  const fs::path artifacts = options_.cache_dir / "artifacts";
  fs::path dest;
  do {
    dest = artifacts / (sha + "-" + std::to_string(state.next_seq++));
  } while (fs::exists(dest, ec));
  internal::TreeLimits limits{options_.max_file_size, options_.max_total_size};
  auto written = internal::WriteFilteredTree(repo, tree.get(), dest, spec.ignore, limits);
  if (!written.ok()) return written.status().WithPrefix(where + ": checking out " + revision);

  SourceArtifact artifact;
  artifact.revision = revision;
  artifact.commit = sha;
  artifact.commit_time = static_cast<int64_t>(git_commit_time(commit.get()));
  artifact.path = dest;
  artifact.files = written->files;
  artifact.bytes = written->bytes;
  {
    std::lock_guard<std::mutex> alock(artifact_mu_);
    last_ = artifact;
    state.artifact_key = key;
  }
  for (const auto& entry : fs::directory_iterator(artifacts, ec)) {
    if (entry.path() != dest) RemoveTree(entry.path()).IgnoreError();
  }
  return artifact;
}

}  // namespace driftguard::reconciler
