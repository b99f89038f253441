#include "reconciler/source_sync.h"

#include <gtest/gtest.h>

#include <thread>

#include "tests/support/test_util.h"

namespace driftguard::reconciler {
namespace {

using core::Json;
using testing::RunCommand;
using testing::TempDir;
using testing::WriteFile;

// A real Git repository in a temp dir, committed to with the git CLI.
class Repo {
 public:
  explicit Repo(const std::filesystem::path& dir) : dir_(dir) {
    std::filesystem::create_directories(dir_);
    Git("init -q -b main");
    Git("config user.email test@example.com");
    Git("config user.name test");
  }
  void Write(const std::string& path, const std::string& content) {
    WriteFile(dir_ / path, content);
  }
  std::string Commit(const std::string& message) {
    Git("add -A");
    Git("commit -q -m '" + message + "'");
    std::string sha = RunCommand("git -C " + dir_.string() + " rev-parse HEAD").output;
    sha.erase(sha.find_last_not_of("\n") + 1);
    return sha;
  }
  std::string url() const { return "file://" + dir_.string(); }

 private:
  void Git(const std::string& args) {
    auto r = RunCommand("git -C " + dir_.string() + " " + args + " 2>&1");
    ASSERT_EQ(r.exit_code, 0) << args << ": " << r.output;
  }
  std::filesystem::path dir_;
};

constexpr char kDeployment[] = R"(apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
        - name: web
          image: nginx:1.25
)";

std::string ConfigYaml(const std::string& url, const std::string& extra_ks = "") {
  return "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: shop\n"
         "  namespace: flux-system\nspec:\n  interval: 100ms\n  url: " +
         url +
         "\n  ref:\n    branch: main\n---\napiVersion: kustomize.toolkit.fluxcd.io/v1\n"
         "kind: Kustomization\nmetadata:\n  name: web\n  namespace: flux-system\nspec:\n"
         "  interval: 10m\n  path: ./apps/web\n  targetNamespace: shop\n  sourceRef:\n"
         "    kind: GitRepository\n    name: shop\n" +
         extra_ks;
}

class SourceSyncTest : public ::testing::Test {
 protected:
  void SetUp() override {
    repo_ = std::make_unique<Repo>(tmp_.path() / "repo");
    repo_->Write(
        "apps/web/kustomization.yaml",
        "resources:\n  - deployment.yaml\nimages:\n  - name: nginx\n    newTag: \"1.27\"\n");
    repo_->Write("apps/web/deployment.yaml", kDeployment);
    first_ = repo_->Commit("first");
  }

  SourceSyncOptions Options() {
    SourceSyncOptions o;
    o.cache_dir = tmp_.path() / "cache";
    return o;
  }

  core::FluxConfig Config(const std::string& extra_ks = "") {
    auto cfg = core::ParseFluxConfig(ConfigYaml(repo_->url(), extra_ks), "config.yaml");
    EXPECT_TRUE(cfg.ok()) << cfg.status();
    return *cfg;
  }

  const core::KustomizationEntry* Entry() {
    view_ = store_.Current();
    return view_->Find({"flux-system", "web"});
  }

  TempDir tmp_;
  std::unique_ptr<Repo> repo_;
  std::string first_;
  core::DesiredStateStore store_;
  std::shared_ptr<const core::DesiredStateView> view_;
};

TEST_F(SourceSyncTest, FirstSyncPublishesRenderedObjectsWithProvenance) {
  SourceSync sync(Options(), Config(), &store_, nullptr);
  std::string reason;
  EXPECT_FALSE(store_.Current()->Ready(&reason));
  ASSERT_TRUE(sync.SyncOnce().ok());
  EXPECT_TRUE(store_.Current()->Ready(&reason)) << reason;
  const core::KustomizationEntry* e = Entry();
  ASSERT_NE(e, nullptr);
  ASSERT_NE(e->snapshot, nullptr);
  EXPECT_EQ(e->snapshot->info().revision, "main@sha1:" + first_);
  EXPECT_EQ(e->snapshot->info().commit, first_);
  const core::DesiredObject* d = e->snapshot->Find({"apps", "Deployment", "shop", "web"});
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->object["spec"]["template"]["spec"]["containers"][0]["image"], "nginx:1.27");
  EXPECT_EQ(d->object["metadata"]["labels"]["kustomize.toolkit.fluxcd.io/name"], "web");
  EXPECT_EQ(d->object["metadata"]["labels"]["kustomize.toolkit.fluxcd.io/namespace"],
            "flux-system");
  const core::FieldOrigin* replicas = d->Origin("/spec/replicas");
  ASSERT_NE(replicas, nullptr);
  EXPECT_EQ(*replicas, (core::FieldOrigin{"apps/web/deployment.yaml", 6}));
  const core::FieldOrigin* image = d->Origin("/spec/template/spec/containers/0/image");
  ASSERT_NE(image, nullptr);
  EXPECT_EQ(image->file, "apps/web/kustomization.yaml");
  auto results = sync.Results();
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].objects, 1u);
  EXPECT_TRUE(results[0].error.ok());
}

TEST_F(SourceSyncTest, NewCommitIsRenderedAndBadContentKeepsLastGoodSnapshot) {
  SourceSync sync(Options(), Config(), &store_, nullptr);
  ASSERT_TRUE(sync.SyncOnce().ok());
  repo_->Write("apps/web/deployment.yaml",
               std::string(kDeployment)
                   .replace(std::string(kDeployment).find("replicas: 2"), 11, "replicas: 4"));
  std::string second = repo_->Commit("scale");
  ASSERT_TRUE(sync.SyncOnce().ok());
  EXPECT_EQ(Entry()->snapshot->info().revision, "main@sha1:" + second);
  EXPECT_EQ(Entry()->snapshot->objects()[0].object["spec"]["replicas"], 4);

  repo_->Write("apps/web/deployment.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata: [\n");
  std::string broken = repo_->Commit("broken");
  core::Status s = sync.SyncOnce();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.message().rfind("Kustomization flux-system/web at main@sha1:" + broken + ": ", 0), 0u)
      << s.message();
  EXPECT_NE(s.message().find("apps/web/deployment.yaml"), std::string::npos) << s.message();
  const core::KustomizationEntry* e = Entry();
  EXPECT_EQ(e->snapshot->info().revision, "main@sha1:" + second);
  EXPECT_EQ(e->last_error, s);
}

TEST_F(SourceSyncTest, FetchFailureKeepsLastGoodSnapshotAndSaysWhy) {
  SourceSync sync(Options(), Config(), &store_, nullptr);
  ASSERT_TRUE(sync.SyncOnce().ok());
  std::filesystem::remove_all(tmp_.path() / "repo");
  core::Status s = sync.SyncOnce();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.message().rfind("GitRepository flux-system/shop: fetching file://", 0), 0u)
      << s.message();
  EXPECT_EQ(Entry()->snapshot->info().revision, "main@sha1:" + first_);
  EXPECT_EQ(Entry()->last_error, s);
}

// The source comes back at the same revision: the fetch error is cleared, not kept until a new
// commit arrives.
TEST_F(SourceSyncTest, FetchErrorClearsWhenTheSourceReturnsAtTheSameRevision) {
  SourceSync sync(Options(), Config(), &store_, nullptr);
  ASSERT_TRUE(sync.SyncOnce().ok());
  const auto repo = tmp_.path() / "repo";
  const auto moved = tmp_.path() / "repo-away";
  std::filesystem::rename(repo, moved);
  ASSERT_FALSE(sync.SyncOnce().ok());
  ASSERT_FALSE(Entry()->last_error.ok());
  std::filesystem::rename(moved, repo);
  ASSERT_TRUE(sync.SyncOnce().ok());
  EXPECT_TRUE(Entry()->last_error.ok()) << Entry()->last_error;
  EXPECT_EQ(Entry()->snapshot->info().revision, "main@sha1:" + first_);
}

TEST_F(SourceSyncTest, FirstFetchFailureSettlesReadinessWithoutSnapshot) {
  std::filesystem::remove_all(tmp_.path() / "repo");
  SourceSync sync(Options(), Config(), &store_, nullptr);
  EXPECT_FALSE(sync.SyncOnce().ok());
  std::string reason;
  EXPECT_TRUE(store_.Current()->Ready(&reason));
  EXPECT_EQ(Entry()->snapshot, nullptr);
}

TEST_F(SourceSyncTest, SecretRefWithoutSecretSourceIsExplained) {
  auto cfg = Config();
  cfg.repositories[0].secret_ref = "shop-auth";
  SourceSync sync(Options(), cfg, &store_, nullptr);
  EXPECT_EQ(sync.SyncOnce().message(),
            "GitRepository flux-system/shop: secretRef shop-auth cannot be read: no secret source "
            "is configured (use --secrets-dir or a cluster)");
}

TEST_F(SourceSyncTest, SubstituteFromUsesTheLookup) {
  repo_->Write(
      "apps/web/deployment.yaml",
      std::string(kDeployment)
          .replace(std::string(kDeployment).find("replicas: 2"), 11, "replicas: ${replicas:=1}"));
  repo_->Commit("vars");
  auto cfg = Config(
      "  postBuild:\n    substituteFrom:\n      - kind: ConfigMap\n        name: cluster-vars\n"
      "      - kind: Secret\n        name: missing\n        optional: true\n");
  ObjectDataLookup lookup =
      [](std::string_view kind, std::string_view ns,
         std::string_view name) -> core::StatusOr<std::map<std::string, std::string>> {
    if (kind == "ConfigMap" && ns == "flux-system" && name == "cluster-vars") {
      return std::map<std::string, std::string>{{"replicas", "5"}};
    }
    return core::NotFoundError(std::string(kind) + " " + std::string(name) + " not found");
  };
  SourceSync sync(Options(), cfg, &store_, lookup);
  ASSERT_TRUE(sync.SyncOnce().ok());
  EXPECT_EQ(Entry()->snapshot->objects()[0].object["spec"]["replicas"], 5);
}

TEST_F(SourceSyncTest, BackgroundSyncPicksUpNewCommits) {
  SourceSync sync(Options(), Config(), &store_, nullptr);
  sync.Start();
  repo_->Write("apps/web/extra.yaml",
               "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\n");
  repo_->Write("apps/web/kustomization.yaml", "resources:\n  - deployment.yaml\n  - extra.yaml\n");
  std::string second = repo_->Commit("add configmap");
  // The repository's interval is 100ms; wait (bounded) for the new revision to be published.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    const core::KustomizationEntry* e = Entry();
    if (e != nullptr && e->snapshot && e->snapshot->info().commit == second) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  sync.Stop();
  ASSERT_NE(Entry()->snapshot, nullptr);
  EXPECT_EQ(Entry()->snapshot->info().commit, second);
  EXPECT_NE(Entry()->snapshot->Find({"", "ConfigMap", "shop", "extra"}), nullptr);
}

TEST(SourceSyncOptionsTest, Validate) {
  SourceSyncOptions o;
  EXPECT_EQ(o.Validate().message(), "source sync: cache directory is required");
  o.cache_dir = "/tmp/x";
  o.jitter = 1.5;
  EXPECT_EQ(o.Validate().message(), "source sync: jitter must be in [0, 1), got 1.500000");
}

}  // namespace
}  // namespace driftguard::reconciler
