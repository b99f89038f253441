// The reconciler's core scenarios against a real cluster. Runs only when
// DRIFTGUARD_E2E_KUBECONFIG names a kubeconfig (optionally DRIFTGUARD_E2E_CONTEXT); otherwise
// every test skips with a message. Each test works in a namespace it creates and deletes; the
// Kustomizations live in that namespace too, with inventory and status in ConfigMaps (the Flux
// CRDs need not be installed).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <thread>

#include "core/desired_state.h"
#include "core/flux_config.h"
#include "core/kube_client.h"
#include "core/kube_config.h"
#include "reconciler/controller.h"
#include "reconciler/drift_repair.h"
#include "reconciler/source_sync.h"
#include "tests/support/test_util.h"

namespace driftguard::reconciler {
namespace {

using core::Json;

const core::GroupVersionKind kNamespaceGvk{"", "v1", "Namespace"};
const core::GroupVersionKind kConfigMapGvk{"", "v1", "ConfigMap"};
const core::GroupVersionKind kDeploymentGvk{"apps", "v1", "Deployment"};

std::string Deployment(int replicas) {
  // An image that cannot be pulled: the Deployment never becomes available.
  return "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: " +
         std::to_string(replicas) +
         "\n  selector:\n    matchLabels:\n      app: web\n  template:\n    metadata:\n"
         "      labels:\n        app: web\n    spec:\n      containers:\n        - name: web\n"
         "          image: registry.invalid/driftguard/none:1\n";
}

class ReconcilerE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* path = std::getenv("DRIFTGUARD_E2E_KUBECONFIG");
    if (path == nullptr || *path == '\0') {
      GTEST_SKIP() << "DRIFTGUARD_E2E_KUBECONFIG is not set; set it to a kubeconfig to run the "
                      "e2e tests against a real cluster";
    }
    const char* context = std::getenv("DRIFTGUARD_E2E_CONTEXT");
    auto config = core::LoadKubeConfigFile(path, context != nullptr ? context : "");
    ASSERT_TRUE(config.ok()) << config.status();
    config->field_manager = "driftguard";
    auto client = core::HttpKubeClient::Create(*config);
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = std::move(client).value();
    std::random_device rd;
    namespace_ = "driftguard-e2e-rec-" + std::to_string(rd() % 1000000);
    auto created = client_->Create(
        {{"apiVersion", "v1"},
         {"kind", "Namespace"},
         {"metadata", {{"name", namespace_}, {"labels", {{"driftguard.io/e2e", "true"}}}}}});
    ASSERT_TRUE(created.ok()) << created.status();

    repo_ = tmp_.path() / "repo";
    Git("init -q -b main " + repo_.string());
    Git("-C " + repo_.string() + " config user.email e2e@example.com");
    Git("-C " + repo_.string() + " config user.name e2e");
    Write("apps/web/kustomization.yaml", "resources:\n  - configmap.yaml\n  - deployment.yaml\n");
    Write("apps/web/configmap.yaml",
          "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-config\ndata:\n  color: blue\n");
    Write("apps/web/deployment.yaml", Deployment(1));
    first_ = Commit();
  }

  void TearDown() override {
    reconciler_.reset();
    if (client_ != nullptr && !namespace_.empty()) {
      core::Status s = client_->Delete(kNamespaceGvk, "", namespace_).status();
      EXPECT_TRUE(s.ok() || core::IsNotFound(s)) << "cleanup of " << namespace_ << ": " << s;
    }
  }

  void Git(const std::string& args) {
    auto r = testing::RunCommand("git " + args + " 2>&1");
    ASSERT_EQ(r.exit_code, 0) << args << ": " << r.output;
  }
  void Write(const std::string& path, const std::string& content) {
    testing::WriteFile(repo_ / path, content);
  }
  std::string Commit() {
    Git("-C " + repo_.string() + " add -A");
    Git("-C " + repo_.string() + " commit -q -m change");
    std::string sha = testing::RunCommand("git -C " + repo_.string() + " rev-parse HEAD").output;
    sha.erase(sha.find_last_not_of('\n') + 1);
    return "main@sha1:" + sha;
  }

  // Config (Kustomization `web` in the test namespace, applying into it) and a fresh reconciler.
  void Build(const std::string& extra_spec, DriftRepairer* repairer = nullptr) {
    const std::string yaml =
        "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: repo\n"
        "  namespace: " +
        namespace_ + "\nspec:\n  interval: 1m\n  url: file://" + repo_.string() +
        "\n  ref:\n    branch: main\n---\napiVersion: kustomize.toolkit.fluxcd.io/v1\n"
        "kind: Kustomization\nmetadata:\n  name: web\n  namespace: " +
        namespace_ + "\nspec:\n  interval: 10m\n  path: ./apps/web\n  prune: true\n" +
        "  targetNamespace: " + namespace_ +
        "\n  sourceRef:\n    kind: GitRepository\n    name: repo\n" + extra_spec;
    auto config = core::ParseFluxConfig(yaml, "e2e.yaml");
    ASSERT_TRUE(config.ok()) << config.status();
    SourceSyncOptions sync_options;
    sync_options.cache_dir = tmp_.path() / "cache";
    SourceSync sync(sync_options, *config, &store_, nullptr);
    ASSERT_TRUE(sync.SyncOnce().ok());
    ReconcilerOptions options;
    options.status_sink = StatusSink::kConfigMap;
    options.health_poll_interval = std::chrono::milliseconds(500);
    reconciler_ =
        std::make_unique<Reconciler>(client_.get(), &store_, *config, options, nullptr, repairer);
  }

  RunOutcome Run() { return reconciler_->ReconcileOne({namespace_, "web"}); }

  testing::TempDir tmp_;
  std::unique_ptr<core::KubeClient> client_;
  std::string namespace_;
  std::filesystem::path repo_;
  std::string first_;
  core::DesiredStateStore store_;
  std::unique_ptr<Reconciler> reconciler_;
};

TEST_F(ReconcilerE2eTest, FirstSyncUpdateAndPrune) {
  Build("");
  RunOutcome first = Run();
  ASSERT_EQ(first.result, RunResult::kSucceeded) << first.message;
  EXPECT_EQ(first.Describe(), "Kustomization " + namespace_ + "/web: applied " + first_ +
                                  "\n  ConfigMap/" + namespace_ + "/web-config created\n" +
                                  "  Deployment/" + namespace_ + "/web created\n");
  auto inventory = client_->Get(kConfigMapGvk, namespace_, "driftguard-inventory-web");
  ASSERT_TRUE(inventory.ok()) << inventory.status();

  Write("apps/web/deployment.yaml", Deployment(2));
  Write("apps/web/kustomization.yaml", "resources:\n  - deployment.yaml\n");
  const std::string second = Commit();
  Build("");  // a new reconciler: the inventory comes from the ConfigMap
  RunOutcome update = Run();
  ASSERT_EQ(update.result, RunResult::kSucceeded) << update.message;
  EXPECT_EQ(update.Describe(), "Kustomization " + namespace_ + "/web: applied " + second +
                                   "\n  Deployment/" + namespace_ + "/web configured\n" +
                                   "  ConfigMap/" + namespace_ + "/web-config deleted\n");
  auto deployment = client_->Get(kDeploymentGvk, namespace_, "web");
  ASSERT_TRUE(deployment.ok()) << deployment.status();
  EXPECT_EQ((*deployment)["spec"]["replicas"], 2);
  EXPECT_TRUE(core::IsNotFound(client_->Get(kConfigMapGvk, namespace_, "web-config").status()));
}

TEST_F(ReconcilerE2eTest, SuspendWritesNothing) {
  Build("  suspend: true\n");
  EXPECT_EQ(Run().result, RunResult::kSuspended);
  EXPECT_TRUE(core::IsNotFound(client_->Get(kDeploymentGvk, namespace_, "web").status()));
}

TEST_F(ReconcilerE2eTest, HealthTimeout) {
  Build("  wait: true\n  timeout: 5s\n");
  RunOutcome run = Run();
  EXPECT_EQ(run.result, RunResult::kFailed);
  EXPECT_EQ(run.reason, "HealthCheckFailed");
  EXPECT_EQ(run.message.rfind("Health check failed after 5s: timeout waiting for: [", 0), 0u)
      << run.message;
  auto status = reconciler_->LastStatus({namespace_, "web"});
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(status->last_applied_revision, "");
  EXPECT_EQ(status->last_attempted_revision, first_);
}

TEST_F(ReconcilerE2eTest, DriftRepair) {
  DriftRepairer repairer(client_.get(), nullptr, nullptr, {});
  repairer.SetEnabled(true);
  Build("", &repairer);
  ASSERT_EQ(Run().result, RunResult::kSucceeded);
  core::WriteOptions by_hand;
  by_hand.field_manager = "kubectl-edit";
  auto patched = client_->MergePatch(kDeploymentGvk, namespace_, "web",
                                     {{"spec", {{"replicas", 3}}}}, by_hand);
  ASSERT_TRUE(patched.ok()) << patched.status();
  std::vector<DriftRepair> repairs = repairer.Resync();
  ASSERT_EQ(repairs.size(), 1u);
  EXPECT_EQ(repairs[0].fields, std::vector<std::string>{"spec.replicas"});
  auto deployment = client_->Get(kDeploymentGvk, namespace_, "web");
  ASSERT_TRUE(deployment.ok());
  EXPECT_EQ((*deployment)["spec"]["replicas"], 1);
}

}  // namespace
}  // namespace driftguard::reconciler
