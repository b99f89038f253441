// LibGit2Source against real repositories served over file://: ref selection, revision strings,
// ignore rules, safety checks, size limits, incremental fetches and failure handling.
#include "reconciler/git_source.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "reconciler/internal/libgit2_auth.h"
#include "tests/support/git_servers.h"
#include "tests/support/test_util.h"

namespace driftguard::reconciler {
namespace {

namespace fs = std::filesystem;
using testing::GitRepoBuilder;
using testing::ReadFile;
using testing::TempDir;

class GitSourceFileTest : public ::testing::Test {
 protected:
  GitSourceFileTest() : repo_(tmp_.path() / "repo") { options_.cache_dir = tmp_.path() / "cache"; }

  GitSourceSpec Spec() const {
    GitSourceSpec spec;
    spec.url = repo_.FileUrl();
    return spec;
  }
  std::string Where() const { return "fetching " + repo_.FileUrl(); }

  TempDir tmp_;
  GitRepoBuilder repo_;
  GitSourceOptions options_;
};

TEST_F(GitSourceFileTest, ChecksOutTheBranchWithFluxRevision) {
  repo_.Write("apps/deploy.yaml", "kind: Deployment\n");
  repo_.Write("bin/run.sh", "#!/bin/sh\n");
  fs::permissions(repo_.dir() / "bin/run.sh", fs::perms::owner_exec, fs::perm_options::add);
  std::string sha = repo_.Commit("first");
  LibGit2Source source(options_);
  GitSourceSpec spec = Spec();
  spec.ref.branch = "main";
  auto a = source.Fetch(spec);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->revision, "main@sha1:" + sha);
  EXPECT_EQ(a->commit, sha);
  EXPECT_EQ(std::to_string(a->commit_time) + "\n", repo_.Git("show -s --format=%ct HEAD"));
  EXPECT_EQ(ReadFile(a->path / "apps/deploy.yaml"), "kind: Deployment\n");
  EXPECT_NE(fs::status(a->path / "bin/run.sh").permissions() & fs::perms::owner_exec,
            fs::perms::none);
  EXPECT_FALSE(fs::exists(a->path / ".git"));
  EXPECT_EQ(a->files, 2u);
  EXPECT_EQ(a->bytes, 17u + 10u);
  EXPECT_EQ(source.last_artifact(), *a);
}

TEST_F(GitSourceFileTest, DefaultsToMasterLikeFlux) {
  repo_.Write("a.yaml", "a: 1\n");
  repo_.Commit("first");
  LibGit2Source source(options_);
  auto missing = source.Fetch(Spec());
  EXPECT_EQ(missing.status(),
            core::NotFoundError(Where() + ": couldn't find remote ref \"refs/heads/master\""));
  repo_.Git("branch master");
  auto a = source.Fetch(Spec());
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->revision, "master@sha1:" + repo_.Head());
}

TEST_F(GitSourceFileTest, TagsResolveToTheirCommit) {
  repo_.Write("a.yaml", "v: 1\n");
  std::string first = repo_.Commit("first");
  repo_.Tag("v1.0.0", /*annotated=*/true);
  repo_.Tag("light");
  repo_.Write("a.yaml", "v: 2\n");
  repo_.Commit("second");
  LibGit2Source source(options_);
  GitSourceSpec spec = Spec();
  spec.ref.tag = "v1.0.0";
  auto a = source.Fetch(spec);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->revision, "v1.0.0@sha1:" + first);
  EXPECT_EQ(ReadFile(a->path / "a.yaml"), "v: 1\n");
  spec.ref.tag = "light";
  a = source.Fetch(spec);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->revision, "light@sha1:" + first);
  spec.ref.tag = "v9";
  EXPECT_EQ(source.Fetch(spec).status(),
            core::NotFoundError(Where() + ": couldn't find remote ref \"refs/tags/v9\""));
}

TEST_F(GitSourceFileTest, SemverPicksTheHighestMatchingTag) {
  std::map<std::string, std::string> shas;
  for (std::string tag : {"v1.0.0", "v1.2.0", "1.2.5", "v1.3.0-rc.1", "v2.0.0", "latest"}) {
    repo_.Write("version", tag);
    shas[tag] = repo_.Commit(tag);
    repo_.Tag(tag, tag == "v2.0.0");
  }
  LibGit2Source source(options_);
  GitSourceSpec spec = Spec();
  spec.ref.semver = ">=1.0.0 <2.0.0";
  auto a = source.Fetch(spec);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->revision, "1.2.5@sha1:" + shas["1.2.5"]);
  spec.ref.semver = ">=1.3.0-0 <2.0.0-0";
  a = source.Fetch(spec);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->revision, "v1.3.0-rc.1@sha1:" + shas["v1.3.0-rc.1"]);
  spec.ref.semver = "^2";
  a = source.Fetch(spec);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->revision, "v2.0.0@sha1:" + shas["v2.0.0"]);
  EXPECT_EQ(ReadFile(a->path / "version"), "v2.0.0");
  spec.ref.semver = ">=5";
  EXPECT_EQ(source.Fetch(spec).status(),
            core::NotFoundError(Where() + ": no tag matches the semver range \">=5\""));
  spec.ref.semver = ">= nope";
  EXPECT_EQ(source.Fetch(spec).status(),
            core::InvalidArgumentError(Where() + ": invalid semver range \">= nope\": version " +
                                       "\"nope\": \"nope\" is not a number"));
}

TEST_F(GitSourceFileTest, CommitAloneOrWithBranch) {
  repo_.Write("a.yaml", "v: 1\n");
  std::string first = repo_.Commit("first");
  repo_.Write("a.yaml", "v: 2\n");
  repo_.Commit("second");
  repo_.Checkout("-b other");
  std::string elsewhere = repo_.Commit("on other");
  repo_.Checkout("main");

  LibGit2Source source(options_);
  GitSourceSpec spec = Spec();
  spec.ref.commit = first;
  auto a = source.Fetch(spec);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->revision, "sha1:" + first);
  EXPECT_EQ(ReadFile(a->path / "a.yaml"), "v: 1\n");

  spec.ref.branch = "main";
  a = source.Fetch(spec);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->revision, "main@sha1:" + first);

  spec.ref.commit = elsewhere;
  EXPECT_EQ(source.Fetch(spec).status(),
            core::NotFoundError(Where() + ": commit " + elsewhere + " not found in branch main"));
  spec.ref.branch.clear();
  spec.ref.commit = std::string(40, 'a');
  EXPECT_EQ(source.Fetch(spec).status(),
            core::NotFoundError(Where() + ": commit " + std::string(40, 'a') + " not found"));
  spec.ref.commit = "abc";
  EXPECT_EQ(
      source.Fetch(spec).status(),
      core::InvalidArgumentError(Where() + ": ref.commit \"abc\" is not a 40-character hex SHA-1"));
}

TEST_F(GitSourceFileTest, NameSelectsAnyReferenceAndKeepsItWhole) {
  repo_.Write("a.yaml", "v: 1\n");
  repo_.Commit("first");
  repo_.Write("a.yaml", "pr\n");
  std::string pr = repo_.Commit("pr");
  repo_.Git("update-ref refs/pull/1/head " + pr);
  repo_.Git("reset -q --hard HEAD~1");
  LibGit2Source source(options_);
  GitSourceSpec spec = Spec();
  spec.ref.name = "refs/pull/1/head";
  auto a = source.Fetch(spec);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->revision, "refs/pull/1/head@sha1:" + pr);
  EXPECT_EQ(ReadFile(a->path / "a.yaml"), "pr\n");
  spec.ref.name = "refs/heads/main";
  spec.ref.branch = "ignored-because-name-wins";
  a = source.Fetch(spec);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->revision, "refs/heads/main@sha1:" + repo_.Head());
  spec.ref.name = "main";
  EXPECT_EQ(source.Fetch(spec).status(),
            core::InvalidArgumentError(Where() +
                                       ": ref.name \"main\" is not a full reference (refs/...)"));
}

TEST_F(GitSourceFileTest, UnchangedRevisionReusesTheArtifactAndNewOnesReplaceIt) {
  repo_.Write("a.yaml", "v: 1\n");
  repo_.Commit("first");
  LibGit2Source source(options_);
  GitSourceSpec spec = Spec();
  spec.ref.branch = "main";
  auto first = source.Fetch(spec);
  ASSERT_TRUE(first.ok()) << first.status();
  auto again = source.Fetch(spec);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, *first);

  repo_.Write("a.yaml", "v: 2\n");
  std::string second_sha = repo_.Commit("second");
  auto second = source.Fetch(spec);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->revision, "main@sha1:" + second_sha);
  EXPECT_NE(second->path, first->path);
  EXPECT_FALSE(fs::exists(first->path));
  EXPECT_EQ(ReadFile(second->path / "a.yaml"), "v: 2\n");

  // A new ignore rule on the same revision produces a new checkout.
  spec.ignore = "a.yaml\n";
  auto filtered = source.Fetch(spec);
  ASSERT_TRUE(filtered.ok()) << filtered.status();
  EXPECT_NE(filtered->path, second->path);
  EXPECT_FALSE(fs::exists(filtered->path / "a.yaml"));
  EXPECT_EQ(std::distance(fs::directory_iterator(options_.cache_dir / "artifacts"),
                          fs::directory_iterator()),
            1);

  // A second source on the same cache reuses the objects (no re-clone needed).
  LibGit2Source restarted(options_);
  auto after_restart = restarted.Fetch(spec);
  ASSERT_TRUE(after_restart.ok()) << after_restart.status();
  EXPECT_EQ(after_restart->revision, "main@sha1:" + second_sha);
}

// A first clone over file:// takes the source's object files as they are (hard links to its
// pack and loose objects, as `git clone` of a local path does) instead of packing them anew;
// later fetches bring only the new commits through the transport.
TEST_F(GitSourceFileTest, FirstCloneLinksTheSourceObjectsAndLaterFetchesStillWork) {
  repo_.Write("a.yaml", "v: 1\n");
  repo_.Commit("first");
  repo_.Git("gc -q");
  repo_.Write("b.yaml", "v: 2\n");
  const std::string second = repo_.Commit("second");  // loose, on top of the pack
  LibGit2Source source(options_);
  GitSourceSpec spec = Spec();
  spec.ref.branch = "main";
  auto a = source.Fetch(spec);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->revision, "main@sha1:" + second);
  EXPECT_EQ(ReadFile(a->path / "a.yaml"), "v: 1\n");
  EXPECT_EQ(ReadFile(a->path / "b.yaml"), "v: 2\n");
  const fs::path src_objects = repo_.dir() / ".git/objects";
  const fs::path cache_objects = options_.cache_dir / "repo.git/objects";
  int packs = 0;
  for (const auto& e : fs::directory_iterator(src_objects / "pack")) {
    if (e.path().extension() != ".pack") continue;
    ++packs;
    EXPECT_TRUE(fs::equivalent(e.path(), cache_objects / "pack" / e.path().filename()));
  }
  EXPECT_EQ(packs, 1);
  const std::string loose = second.substr(0, 2) + "/" + second.substr(2);
  EXPECT_TRUE(fs::equivalent(src_objects / loose, cache_objects / loose));

  repo_.Write("c.yaml", "v: 3\n");
  const std::string third = repo_.Commit("third");
  auto b = source.Fetch(spec);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->revision, "main@sha1:" + third);
  EXPECT_EQ(ReadFile(b->path / "c.yaml"), "v: 3\n");
  // The new commit came through the transport, not by linking.
  const std::string third_loose = third.substr(0, 2) + "/" + third.substr(2);
  EXPECT_FALSE(fs::exists(cache_objects / third_loose) &&
               fs::equivalent(src_objects / third_loose, cache_objects / third_loose));
}

TEST_F(GitSourceFileTest, FailedFetchKeepsTheLastGoodArtifact) {
  repo_.Write("a.yaml", "v: 1\n");
  repo_.Commit("first");
  LibGit2Source source(options_);
  GitSourceSpec spec = Spec();
  spec.ref.branch = "main";
  auto good = source.Fetch(spec);
  ASSERT_TRUE(good.ok()) << good.status();

  repo_.Write("a.yaml", "v: 2\n");
  repo_.Commit("second");
  fs::rename(repo_.dir(), tmp_.path() / "moved");
  auto failed = source.Fetch(spec);
  fs::rename(tmp_.path() / "moved", repo_.dir());
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), core::StatusCode::kUnavailable) << failed.status();
  EXPECT_EQ(failed.status().message(), Where() + ": failed to resolve path '" +
                                           repo_.dir().string() + "': No such file or directory");
  EXPECT_EQ(source.last_artifact(), *good);
  EXPECT_EQ(ReadFile(good->path / "a.yaml"), "v: 1\n");

  spec.ref.branch = "nope";
  EXPECT_FALSE(source.Fetch(spec).ok());
  EXPECT_EQ(source.last_artifact(), *good);
  EXPECT_EQ(ReadFile(good->path / "a.yaml"), "v: 1\n");

  spec.ref.branch = "main";
  auto recovered = source.Fetch(spec);
  ASSERT_TRUE(recovered.ok()) << recovered.status();
  EXPECT_EQ(ReadFile(recovered->path / "a.yaml"), "v: 2\n");
}

TEST_F(GitSourceFileTest, AppliesFluxDefaultExclusions) {
  repo_.Write("apps/a.yaml", "a\n");
  repo_.Write("apps/logo.png", "png");
  repo_.Write(".github/workflows/ci.yaml", "ci");
  repo_.Write(".gitignore", "x\n");
  repo_.Write("apps/.sops.yaml", "sops");
  repo_.Commit("first");
  LibGit2Source source(options_);
  GitSourceSpec spec = Spec();
  spec.ref.branch = "main";
  auto a = source.Fetch(spec);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_TRUE(fs::exists(a->path / "apps/a.yaml"));
  EXPECT_FALSE(fs::exists(a->path / "apps/logo.png"));
  EXPECT_FALSE(fs::exists(a->path / ".github"));
  EXPECT_FALSE(fs::exists(a->path / ".gitignore"));
  EXPECT_FALSE(fs::exists(a->path / "apps/.sops.yaml"));
  EXPECT_EQ(a->files, 1u);
}

TEST_F(GitSourceFileTest, SourceignoreFilesAndSpecIgnoreExclude) {
  repo_.Write(".sourceignore", "*.md\n/scratch/\n");
  repo_.Write("README.md", "readme");
  repo_.Write("scratch/x.yaml", "x");
  repo_.Write("apps/.sourceignore", "!keep.md\ntest-*.yaml\n");
  repo_.Write("apps/keep.md", "keep");
  repo_.Write("apps/drop.md", "drop");
  repo_.Write("apps/test-1.yaml", "t");
  repo_.Write("apps/app.yaml", "app");
  repo_.Write("apps/logo.png", "png");
  repo_.Write("other/test-1.yaml", "other");
  repo_.Commit("first");
  LibGit2Source source(options_);
  GitSourceSpec spec = Spec();
  spec.ref.branch = "main";
  spec.ignore = "/other/\n";
  auto a = source.Fetch(spec);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_FALSE(fs::exists(a->path / "README.md"));
  EXPECT_FALSE(fs::exists(a->path / "scratch/x.yaml"));
  EXPECT_TRUE(fs::exists(a->path / "apps/keep.md"));
  EXPECT_FALSE(fs::exists(a->path / "apps/drop.md"));
  EXPECT_FALSE(fs::exists(a->path / "apps/test-1.yaml"));
  EXPECT_TRUE(fs::exists(a->path / "apps/app.yaml"));
  // User patterns replace the extension defaults, as in Flux.
  EXPECT_TRUE(fs::exists(a->path / "apps/logo.png"));
  EXPECT_FALSE(fs::exists(a->path / "other"));
  EXPECT_TRUE(fs::exists(a->path / ".sourceignore"));
}

TEST_F(GitSourceFileTest, SymlinksInsideAreKeptOutsideAreRejected) {
  repo_.Write("base/a.yaml", "a\n");
  repo_.Symlink("overlay/link.yaml", "../base/a.yaml");
  repo_.Commit("inside");
  LibGit2Source source(options_);
  GitSourceSpec spec = Spec();
  spec.ref.branch = "main";
  auto a = source.Fetch(spec);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_TRUE(fs::is_symlink(a->path / "overlay/link.yaml"));
  EXPECT_EQ(ReadFile(a->path / "overlay/link.yaml"), "a\n");

  repo_.Symlink("evil", "/etc/passwd");
  std::string sha = repo_.Commit("absolute");
  auto bad = source.Fetch(spec);
  EXPECT_EQ(bad.status(), core::InvalidArgumentError(
                              Where() + ": checking out main@sha1:" + sha +
                              ": symlink evil points outside the repository: /etc/passwd"));
  EXPECT_EQ(source.last_artifact(), *a);
  EXPECT_TRUE(fs::exists(a->path / "base/a.yaml"));

  fs::remove(repo_.dir() / "evil");
  repo_.Symlink("deep/escape", "../../outside");
  sha = repo_.Commit("relative");
  EXPECT_EQ(source.Fetch(spec).status(),
            core::InvalidArgumentError(
                Where() + ": checking out main@sha1:" + sha +
                ": symlink deep/escape points outside the repository: ../../outside"));

  // Each link alone stays inside; followed through the file system they leave the checkout.
  fs::remove(repo_.dir() / "deep/escape");
  repo_.Symlink("here", ".");
  repo_.Symlink("up", "here/..");
  sha = repo_.Commit("chained");
  EXPECT_EQ(source.Fetch(spec).status(),
            core::InvalidArgumentError(Where() + ": checking out main@sha1:" + sha +
                                       ": symlink up points outside the repository: here/.."));
  // Failed checkouts leave nothing behind but the last good artifact.
  EXPECT_EQ(std::distance(fs::directory_iterator(options_.cache_dir / "artifacts"),
                          fs::directory_iterator()),
            1);
}

TEST_F(GitSourceFileTest, RejectsDotDotPathsInTheTree) {
  repo_.Write("a.yaml", "a\n");
  repo_.Commit("first");
  std::string blob = repo_.Git("hash-object -w a.yaml");
  blob.pop_back();
  std::string tree = testing::MustRun("printf '100644 blob %s\\t..\\n' " + blob + " | git -C " +
                                      repo_.dir().string() + " mktree");
  tree.pop_back();
  std::string commit = repo_.Git("commit-tree " + tree + " -m evil");
  commit.pop_back();
  repo_.Git("update-ref refs/heads/evil " + commit);
  LibGit2Source source(options_);
  GitSourceSpec spec = Spec();
  spec.ref.branch = "evil";
  EXPECT_EQ(source.Fetch(spec).status(),
            core::InvalidArgumentError(Where() + ": checking out evil@sha1:" + commit +
                                       ": unsafe path in the repository tree: \"..\""));
}

TEST_F(GitSourceFileTest, EnforcesFileAndTotalSizeLimits) {
  repo_.Write("a.yaml", std::string(600, 'a'));
  repo_.Write("b.yaml", std::string(600, 'b'));
  repo_.Write("huge.png", std::string(5000, 'p'));  // excluded by default: never counted
  std::string sha = repo_.Commit("first");
  GitSourceSpec spec = Spec();
  spec.ref.branch = "main";

  options_.max_file_size = 500;
  options_.max_total_size = 10000;
  LibGit2Source small_files(options_);
  EXPECT_EQ(small_files.Fetch(spec).status(),
            core::ResourceExhaustedError(Where() + ": checking out main@sha1:" + sha +
                                         ": file a.yaml is 600 bytes, over the max_file_size of "
                                         "500 bytes"));

  options_.cache_dir = tmp_.path() / "cache2";
  options_.max_file_size = 1000;
  options_.max_total_size = 1000;
  LibGit2Source small_total(options_);
  EXPECT_EQ(small_total.Fetch(spec).status(),
            core::ResourceExhaustedError(
                Where() + ": checking out main@sha1:" + sha +
                ": the checkout exceeds the max_total_size of 1000 bytes at b.yaml (1200 bytes "
                "so far)"));

  options_.cache_dir = tmp_.path() / "cache3";
  options_.max_total_size = 1200;
  LibGit2Source enough(options_);
  auto a = enough.Fetch(spec);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->bytes, 1200u);
}

TEST_F(GitSourceFileTest, TimeoutFailsTheFetchAndKeepsTheLastArtifact) {
  repo_.Write("a.yaml", "a\n");
  repo_.Commit("first");
  LibGit2Source source(options_);
  GitSourceSpec spec = Spec();
  spec.ref.branch = "main";
  auto good = source.Fetch(spec);
  ASSERT_TRUE(good.ok()) << good.status();
  repo_.Write("a.yaml", "b\n");
  repo_.Commit("second");
  spec.timeout = std::chrono::milliseconds(0);
  EXPECT_EQ(source.Fetch(spec).status(),
            core::DeadlineExceededError(Where() + ": timed out after 0s"));
  EXPECT_EQ(source.last_artifact(), *good);
}

TEST_F(GitSourceFileTest, RequiresKnownHostsForSsh) {
  LibGit2Source source(options_);
  GitSourceSpec spec;
  spec.url = "ssh://git@example.com/fleet.git";
  spec.secret["identity"] = "key";
  EXPECT_EQ(source.Fetch(spec).status(),
            core::InvalidArgumentError("fetching ssh://git@example.com/fleet.git: the secret has "
                                       "no known_hosts; SSH needs it to verify the server"));
}

TEST(GitUrlTest, ParsesSchemesScpSyntaxAndRedactsPasswords) {
  auto u = ParseGitUrl("https://bot:s3cret@git.example.com:8443/org/repo.git");
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->scheme, "https");
  EXPECT_EQ(u->user, "bot");
  EXPECT_EQ(u->password, "s3cret");
  EXPECT_EQ(u->host, "git.example.com");
  EXPECT_EQ(u->port, 8443);
  EXPECT_EQ(u->path, "/org/repo.git");
  EXPECT_EQ(u->Redacted(), "https://bot@git.example.com:8443/org/repo.git");

  u = ParseGitUrl("git@github.com:acme/fleet.git");
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->scheme, "ssh");
  EXPECT_EQ(u->user, "git");
  EXPECT_EQ(u->host, "github.com");
  EXPECT_EQ(u->path, "/acme/fleet.git");

  u = ParseGitUrl("root@127.0.0.1:/srv/git/fleet");
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->Redacted(), "ssh://root@127.0.0.1/srv/git/fleet");

  u = ParseGitUrl("ssh://git@[::1]:2222/r.git");
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->port, 2222);
  EXPECT_EQ(u->Redacted(), "ssh://git@[::1]:2222/r.git");

  EXPECT_EQ(ParseGitUrl("ftp://x/y").status().message(),
            "invalid Git URL \"ftp://x/y\": unsupported scheme \"ftp\"");
  EXPECT_EQ(ParseGitUrl("https://h:99999/x").status().message(),
            "invalid Git URL \"https://h:99999/x\": invalid port");
  EXPECT_EQ(ParseGitUrl("just-a-name").status().message(),
            "invalid Git URL \"just-a-name\": expected scheme://host/path or user@host:path");
}

TEST(KnownHostsTest, MatchesPlainPortAndHashedEntries) {
  TempDir tmp;
  testing::MustRun("ssh-keygen -q -t ed25519 -N '' -f " + tmp.str() + "/k");
  testing::MustRun("ssh-keygen -q -t ed25519 -N '' -f " + tmp.str() + "/other");
  std::string pub = ReadFile(tmp.path() / "k.pub");
  std::string type_key = pub.substr(0, pub.rfind(' '));
  bool ok = false;
  std::string blob = internal::Base64Decode(type_key.substr(type_key.find(' ') + 1), &ok);
  ASSERT_TRUE(ok);
  std::string other_pub = ReadFile(tmp.path() / "other.pub");
  std::string other_blob = internal::Base64Decode(
      other_pub.substr(other_pub.find(' ') + 1, other_pub.rfind(' ') - other_pub.find(' ') - 1),
      &ok);
  ASSERT_TRUE(ok);

  testing::WriteFile(tmp.path() / "known_hosts",
                     "# comment\ngit.example.com," + std::string("[10.0.0.1]:2222 ") + type_key +
                         "\n*.wild.dev,!bad.wild.dev " + type_key + "\n");
  testing::MustRun("ssh-keygen -H -f " + tmp.str() + "/known_hosts");
  std::string hashed = ReadFile(tmp.path() / "known_hosts");
  ASSERT_NE(hashed.find("|1|"), std::string::npos);

  for (const std::string& text : {ReadFile(tmp.path() / "known_hosts.old"), hashed}) {
    auto kh = internal::ParseKnownHosts(text);
    ASSERT_TRUE(kh.ok()) << kh.status();
    EXPECT_TRUE(internal::VerifyHostKey(*kh, "git.example.com", 22, blob).ok());
    EXPECT_TRUE(internal::VerifyHostKey(*kh, "10.0.0.1", 2222, blob).ok());
    EXPECT_EQ(internal::VerifyHostKey(*kh, "10.0.0.1", 22, blob),
              core::UnauthenticatedError(
                  "host key verification failed for 10.0.0.1: no known_hosts entry for this "
                  "host (ssh-ed25519 " +
                  internal::SshFingerprint(blob) + ")"));
    EXPECT_EQ(internal::VerifyHostKey(*kh, "git.example.com", 22, other_blob),
              core::UnauthenticatedError(
                  "host key verification failed for git.example.com: the server's key does not "
                  "match the known_hosts entries (ssh-ed25519 " +
                  internal::SshFingerprint(other_blob) + ")"));
  }
  // Wildcards and negation (ssh-keygen -H leaves wildcard lines unhashed).
  auto kh = internal::ParseKnownHosts(hashed);
  ASSERT_TRUE(kh.ok());
  EXPECT_TRUE(internal::VerifyHostKey(*kh, "a.wild.dev", 22, blob).ok());
  EXPECT_FALSE(internal::VerifyHostKey(*kh, "bad.wild.dev", 22, blob).ok());

  std::string fp = testing::MustRun("ssh-keygen -l -E sha256 -f " + tmp.str() + "/k.pub");
  EXPECT_NE(fp.find(internal::SshFingerprint(blob) + " "), std::string::npos) << fp;

  EXPECT_EQ(internal::ParseKnownHosts("host ssh-ed25519 !!!\n").status().message(),
            "known_hosts line 1: key is not valid base64 of a ssh-ed25519 key");
}

}  // namespace
}  // namespace driftguard::reconciler
