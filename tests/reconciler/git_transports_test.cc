// LibGit2Source against real servers on 127.0.0.1: `git daemon` (git://), `sshd` (ssh:// with
// key auth and known_hosts), and nginx + git http-backend (https:// with a test CA, basic auth and
// a bearer token). Each server starts once per suite.
#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>

#include "reconciler/git_source.h"
#include "tests/support/git_servers.h"
#include "tests/support/test_util.h"

namespace driftguard::reconciler {
namespace {

namespace fs = std::filesystem;
using testing::GitRepoBuilder;
using testing::ReadFile;
using testing::TempDir;

// One repository below a shared base directory, with two commits on main and a tag.
struct ServedRepo {
  explicit ServedRepo(const fs::path& base) : repo(base / "fleet") {
    repo.Write("apps/app.yaml", "kind: ConfigMap\n");
    first = repo.Commit("first");
    repo.Tag("v1.0.0", true);
    repo.Write("apps/app.yaml", "kind: Secret\n");
    second = repo.Commit("second");
  }
  GitRepoBuilder repo;
  std::string first;
  std::string second;
};

class GitDaemonTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    base_ = new TempDir();
    served_ = new ServedRepo(base_->path());
    daemon_ = new testing::GitDaemon(base_->path());
  }
  static void TearDownTestSuite() {
    delete daemon_;
    delete served_;
    delete base_;
  }
  GitSourceOptions Options() const {
    GitSourceOptions o;
    o.cache_dir = cache_.path();
    return o;
  }

  static TempDir* base_;
  static ServedRepo* served_;
  static testing::GitDaemon* daemon_;
  TempDir cache_;
};
TempDir* GitDaemonTest::base_ = nullptr;
ServedRepo* GitDaemonTest::served_ = nullptr;
testing::GitDaemon* GitDaemonTest::daemon_ = nullptr;

TEST_F(GitDaemonTest, ClonesBranchAndTagOverGitProtocol) {
  LibGit2Source source(Options());
  GitSourceSpec spec;
  spec.url = daemon_->Url("fleet");
  spec.ref.branch = "main";
  auto a = source.Fetch(spec);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->revision, "main@sha1:" + served_->second);
  EXPECT_EQ(ReadFile(a->path / "apps/app.yaml"), "kind: Secret\n");
  spec.ref.tag = "v1.0.0";
  a = source.Fetch(spec);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->revision, "v1.0.0@sha1:" + served_->first);
  EXPECT_EQ(ReadFile(a->path / "apps/app.yaml"), "kind: ConfigMap\n");
}

TEST_F(GitDaemonTest, UnreachableServerKeepsTheLastGoodArtifact) {
  TempDir base;
  ServedRepo served(base.path());
  auto daemon = std::make_unique<testing::GitDaemon>(base.path());
  LibGit2Source source(Options());
  GitSourceSpec spec;
  spec.url = daemon->Url("fleet");
  spec.ref.branch = "main";
  auto good = source.Fetch(spec);
  ASSERT_TRUE(good.ok()) << good.status();

  const int port = daemon->port();
  daemon.reset();
  auto failed = source.Fetch(spec);
  EXPECT_EQ(failed.status(),
            core::UnavailableError("fetching git://127.0.0.1:" + std::to_string(port) +
                                   "/fleet: failed to connect to 127.0.0.1: Connection refused"));
  EXPECT_EQ(source.last_artifact(), *good);
  EXPECT_EQ(ReadFile(good->path / "apps/app.yaml"), "kind: Secret\n");
}

class SshGitTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    base_ = new TempDir();
    served_ = new ServedRepo(base_->path());
    server_ = new testing::SshGitServer();
  }
  static void TearDownTestSuite() {
    delete server_;
    delete served_;
    delete base_;
  }
  GitSourceSpec Spec(const std::string& key = "user_key") const {
    GitSourceSpec spec;
    spec.url = server_->Url(served_->repo.dir());
    spec.ref.branch = "main";
    spec.secret["identity"] = server_->PrivateKey(key);
    spec.secret["known_hosts"] = server_->KnownHostsLine();
    return spec;
  }
  std::string Where() const { return "fetching " + server_->Url(served_->repo.dir()); }
  GitSourceOptions Options() const {
    GitSourceOptions o;
    o.cache_dir = cache_.path();
    return o;
  }

  static TempDir* base_;
  static ServedRepo* served_;
  static testing::SshGitServer* server_;
  TempDir cache_;
};
TempDir* SshGitTest::base_ = nullptr;
ServedRepo* SshGitTest::served_ = nullptr;
testing::SshGitServer* SshGitTest::server_ = nullptr;

TEST_F(SshGitTest, FetchesWithKeyAndKnownHosts) {
  LibGit2Source source(Options());
  auto a = source.Fetch(Spec());
  ASSERT_TRUE(a.ok()) << a.status() << "\n" << server_->Log();
  EXPECT_EQ(a->revision, "main@sha1:" + served_->second);
  EXPECT_EQ(ReadFile(a->path / "apps/app.yaml"), "kind: Secret\n");
  // Unchanged remote: same artifact.
  auto again = source.Fetch(Spec());
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, *a);
}

TEST_F(SshGitTest, DecryptsAPassphraseProtectedKey) {
  LibGit2Source source(Options());
  GitSourceSpec spec = Spec("locked_key");
  spec.secret["password"] = "pass phrase";
  spec.secret["identity.pub"] = server_->PublicKey("locked_key");
  auto a = source.Fetch(spec);
  ASSERT_TRUE(a.ok()) << a.status() << "\n" << server_->Log();
  EXPECT_EQ(a->revision, "main@sha1:" + served_->second);
}

TEST_F(SshGitTest, RejectsAnUnknownHostKey) {
  LibGit2Source source(Options());
  GitSourceSpec spec = Spec();
  spec.secret["known_hosts"] = server_->KnownHostsLine("unrelated_host_key");
  const std::string name = "[127.0.0.1]:" + std::to_string(server_->port());
  EXPECT_EQ(source.Fetch(spec).status(),
            core::UnauthenticatedError(
                Where() + ": host key verification failed for " + name +
                ": the server's key does not match the known_hosts entries (ssh-ed25519 " +
                server_->Fingerprint() + ")"));

  spec.secret["known_hosts"] =
      "other.example.com " + server_->KnownHostsLine().substr(name.size() + 1);
  EXPECT_EQ(source.Fetch(spec).status(),
            core::UnauthenticatedError(Where() + ": host key verification failed for " + name +
                                       ": no known_hosts entry for this host (ssh-ed25519 " +
                                       server_->Fingerprint() + ")"));
  EXPECT_FALSE(source.last_artifact().has_value());
}

TEST_F(SshGitTest, RejectsAKeyTheServerDoesNotAuthorize) {
  LibGit2Source source(Options());
  auto status = source.Fetch(Spec("other_key")).status();
  EXPECT_EQ(status, core::UnauthenticatedError(
                        Where() +
                        ": authentication failed: the server rejected the SSH key (identity) for "
                        "user \"" +
                        server_->User() + "\""));
  EXPECT_EQ(status.message().find("PRIVATE KEY"), std::string::npos);
}

class HttpsGitTest : public ::testing::Test {
 protected:
  static constexpr const char* kUser = "flux";
  static constexpr const char* kPassword = "hunter2-secret";
  static constexpr const char* kToken = "tok-0123456789";

  static void SetUpTestSuite() {
    base_ = new TempDir();
    served_ = new ServedRepo(base_->path());
    server_ = new testing::HttpsGitServer(base_->path(), kUser, kPassword, kToken);
  }
  static void TearDownTestSuite() {
    delete server_;
    delete served_;
    delete base_;
  }
  GitSourceSpec Spec() const {
    GitSourceSpec spec;
    spec.url = server_->BasicUrl("fleet");
    spec.ref.branch = "main";
    spec.secret["username"] = kUser;
    spec.secret["password"] = kPassword;
    spec.secret["ca.crt"] = server_->CaPem();
    return spec;
  }
  std::string Where(const std::string& url) const { return "fetching " + url; }
  GitSourceOptions Options() const {
    GitSourceOptions o;
    o.cache_dir = cache_.path();
    return o;
  }

  static TempDir* base_;
  static ServedRepo* served_;
  static testing::HttpsGitServer* server_;
  TempDir cache_;
};
TempDir* HttpsGitTest::base_ = nullptr;
ServedRepo* HttpsGitTest::served_ = nullptr;
testing::HttpsGitServer* HttpsGitTest::server_ = nullptr;

TEST_F(HttpsGitTest, FetchesWithCaAndBasicAuth) {
  LibGit2Source source(Options());
  auto a = source.Fetch(Spec());
  ASSERT_TRUE(a.ok()) << a.status() << "\n" << server_->ErrorLog();
  EXPECT_EQ(a->revision, "main@sha1:" + served_->second);
  EXPECT_EQ(ReadFile(a->path / "apps/app.yaml"), "kind: Secret\n");
  GitSourceSpec spec = Spec();
  spec.ref.semver = "^1";
  a = source.Fetch(spec);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->revision, "v1.0.0@sha1:" + served_->first);
}

TEST_F(HttpsGitTest, CaFileKeyIsAcceptedToo) {
  LibGit2Source source(Options());
  GitSourceSpec spec = Spec();
  spec.secret.erase("ca.crt");
  spec.secret["caFile"] = server_->CaPem();
  auto a = source.Fetch(spec);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->revision, "main@sha1:" + served_->second);
}

TEST_F(HttpsGitTest, FetchesWithABearerToken) {
  LibGit2Source source(Options());
  GitSourceSpec spec;
  spec.url = server_->BearerUrl("fleet");
  spec.secret["bearerToken"] = kToken;
  spec.secret["ca.crt"] = server_->CaPem();
  spec.ref.branch = "main";
  auto a = source.Fetch(spec);
  ASSERT_TRUE(a.ok()) << a.status() << "\n" << server_->ErrorLog();
  EXPECT_EQ(a->revision, "main@sha1:" + served_->second);

  spec.secret["bearerToken"] = "wrong-token-value";
  LibGit2Source other(GitSourceOptions{cache_.path() / "other"});
  auto status = other.Fetch(spec).status();
  EXPECT_EQ(status,
            core::UnauthenticatedError(
                Where(spec.url) + ": authentication failed: the server refused the bearer token"));
  EXPECT_EQ(status.message().find("wrong-token-value"), std::string::npos);
}

TEST_F(HttpsGitTest, WrongPasswordFailsWithoutLeakingIt) {
  LibGit2Source source(Options());
  GitSourceSpec spec = Spec();
  spec.secret["password"] = "not-the-password";
  auto status = source.Fetch(spec).status();
  EXPECT_EQ(status, core::UnauthenticatedError(
                        Where(spec.url) +
                        ": authentication failed: the server rejected the username/password"));
  EXPECT_EQ(status.message().find("not-the-password"), std::string::npos);

  spec.secret.erase("username");
  spec.secret.erase("password");
  EXPECT_EQ(source.Fetch(spec).status(),
            core::UnauthenticatedError(
                Where(spec.url) +
                ": the server requires authentication and the secret has no username/password"));
}

TEST_F(HttpsGitTest, RejectsACertificateFromAnUntrustedCa) {
  LibGit2Source source(Options());
  GitSourceSpec spec = Spec();
  spec.secret["ca.crt"] = server_->OtherCaPem();
  EXPECT_EQ(source.Fetch(spec).status(),
            core::UnauthenticatedError(Where(spec.url) +
                                       ": the server certificate for 127.0.0.1 is not trusted by "
                                       "the given CA: unable to get local issuer certificate"));
  spec.secret.erase("ca.crt");
  EXPECT_EQ(source.Fetch(spec).status(),
            core::UnauthenticatedError(Where(spec.url) +
                                       ": the server certificate for 127.0.0.1 is not trusted by "
                                       "the system CAs (no ca.crt/caFile in the secret)"));
  EXPECT_FALSE(source.last_artifact().has_value());
}

TEST_F(HttpsGitTest, PasswordInTheUrlIsNeverPrinted) {
  LibGit2Source source(Options());
  GitSourceSpec spec;
  spec.url = "https://flux:url-password-xyz@127.0.0.1:" + std::to_string(server_->port()) +
             "/git/missing-repo";
  spec.secret["ca.crt"] = server_->CaPem();
  auto status = source.Fetch(spec).status();
  EXPECT_FALSE(status.ok());
  EXPECT_EQ(status.message().rfind("fetching https://flux@127.0.0.1:", 0), 0u) << status;
  EXPECT_EQ(status.message().find("url-password-xyz"), std::string::npos) << status;
}

}  // namespace
}  // namespace driftguard::reconciler
