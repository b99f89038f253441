// Reconciler scenarios end to end: a real Git repository (file://), SourceSync rendering into a
// DesiredStateStore, and the Reconciler applying to the FakeApiServer test double over HTTPS.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/desired_state.h"
#include "core/flux_config.h"
#include "core/kube_client.h"
#include "reconciler/controller.h"
#include "reconciler/drift_repair.h"
#include "reconciler/flux_objects.h"
#include "reconciler/flux_status.h"
#include "reconciler/leader_election.h"
#include "reconciler/source_sync.h"
#include "tests/support/fake_apiserver.h"
#include "tests/support/test_util.h"

namespace driftguard::reconciler {
namespace {

using core::Json;
using testing::FakeApiServer;
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
  void Remove(const std::string& path) { std::filesystem::remove(dir_ / path); }
  std::string Commit(const std::string& message) {
    Git("add -A");
    Git("commit -q -m '" + message + "'");
    std::string sha = RunCommand("git -C " + dir_.string() + " rev-parse HEAD").output;
    sha.erase(sha.find_last_not_of("\n") + 1);
    return sha;
  }
  std::string url() const { return "file://" + dir_.string(); }
  const std::filesystem::path& dir() const { return dir_; }

 private:
  void Git(const std::string& args) {
    auto r = RunCommand("git -C " + dir_.string() + " " + args + " 2>&1");
    ASSERT_EQ(r.exit_code, 0) << args << ": " << r.output;
  }
  std::filesystem::path dir_;
};

std::string Deployment(int replicas, const std::string& app = "web") {
  return "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: " +
         std::to_string(replicas) + "\n  selector:\n    matchLabels:\n      app: " + app +
         "\n  template:\n    metadata:\n      labels:\n        app: " + app +
         "\n    spec:\n      containers:\n        - name: web\n          image: nginx:1.25\n";
}

constexpr char kConfigMap[] =
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-config\ndata:\n  color: blue\n";

std::string GitRepositoryYaml(const std::string& url) {
  return "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: shop\n"
         "  namespace: flux-system\nspec:\n  interval: 1m\n  url: " +
         url + "\n  ref:\n    branch: main\n";
}

// A Kustomization of the `shop` repository; `extra` is appended to its spec.
std::string KustomizationYaml(const std::string& name, const std::string& path,
                              const std::string& extra = "") {
  return "---\napiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n"
         "  name: " +
         name +
         "\n  namespace: flux-system\nspec:\n  interval: 10m\n  retryInterval: 30s\n  path: " +
         path +
         "\n  targetNamespace: shop\n  sourceRef:\n    kind: GitRepository\n    name: shop\n" +
         extra;
}

const core::GroupVersionKind kDeploymentGvk{"apps", "v1", "Deployment"};

// Waits (bounded) until `done` holds; the bound is generous and never asserted as a duration.
bool Eventually(const std::function<bool()>& done,
                std::chrono::seconds bound = std::chrono::seconds(20)) {
  const auto deadline = std::chrono::steady_clock::now() + bound;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return done();
}

class ScenarioTest : public ::testing::Test {
 protected:
  void SetUp() override {
    FakeApiServer::Options options;
    options.namespaces = {"default", "kube-system", "flux-system", "shop"};
    api_ = std::make_unique<FakeApiServer>(options);
    client_ = NewClient();
    events_ = std::make_unique<EventRecorder>(client_.get());
    repo_ = std::make_unique<Repo>(tmp_.path() / "repo");
    repo_->Write("apps/web/kustomization.yaml",
                 "resources:\n  - configmap.yaml\n  - deployment.yaml\n");
    repo_->Write("apps/web/configmap.yaml", kConfigMap);
    repo_->Write("apps/web/deployment.yaml", Deployment(2));
    first_ = repo_->Commit("first");
  }

  std::unique_ptr<core::KubeClient> NewClient() {
    auto client = core::HttpKubeClient::Create(api_->Config());
    EXPECT_TRUE(client.ok()) << client.status();
    return std::move(client).value();
  }

  // Parses the config and seeds its Kustomization objects into the cluster (as Flux users do).
  core::FluxConfig Config(const std::string& kustomizations, bool seed = true) {
    auto cfg =
        core::ParseFluxConfig(GitRepositoryYaml(repo_->url()) + kustomizations, "config.yaml");
    EXPECT_TRUE(cfg.ok()) << cfg.status();
    if (seed && cfg.ok()) {
      for (const auto& r : cfg->repositories) api_->Put(r.object);
      for (auto& k : cfg->kustomizations) {
        Json stored = api_->Put(k.object);
        k.object["metadata"]["generation"] = stored["metadata"]["generation"];
      }
    }
    return cfg.ok() ? *cfg : core::FluxConfig{};
  }

  // SourceSync + Reconciler on `config`, on this test's store.
  void Build(const core::FluxConfig& config, ReconcilerOptions options = {},
             DriftRepairer* repairer = nullptr) {
    SourceSyncOptions sync_options;
    sync_options.cache_dir = tmp_.path() / "cache";
    sync_ = std::make_unique<SourceSync>(sync_options, config, &store_, nullptr);
    options.health_poll_interval = std::chrono::milliseconds(50);
    options.min_backoff = std::chrono::milliseconds(50);
    reconciler_ = std::make_unique<Reconciler>(client_.get(), &store_, config, options, nullptr,
                                               repairer, events_.get(), &metrics_);
  }

  void Sync() { ASSERT_TRUE(sync_->SyncOnce().ok()); }

  std::string Rev(const std::string& sha) const { return "main@sha1:" + sha; }

  std::optional<Json> Live(const std::string& kind, const std::string& name) {
    return api_->Object(kind == "Deployment" ? "apps/v1" : "v1", kind, "shop", name);
  }

  Json KsStatus(const std::string& name) {
    auto k = api_->Object("kustomize.toolkit.fluxcd.io/v1", "Kustomization", "flux-system", name);
    return k ? k->value("status", Json::object()) : Json();
  }

  static Json Condition(const Json& status, const std::string& type) {
    if (!status.is_object()) return Json::object();
    for (const Json& c : status.value("conditions", Json::array())) {
      if (c.value("type", "") == type) return c;
    }
    return Json::object();
  }

  static std::vector<std::string> InventoryIds(const Json& status) {
    std::vector<std::string> ids;
    for (const Json& e : status["inventory"].value("entries", Json::array())) {
      ids.push_back(e.value("id", ""));
    }
    return ids;
  }

  TempDir tmp_;
  std::unique_ptr<FakeApiServer> api_;
  std::unique_ptr<core::KubeClient> client_;
  std::unique_ptr<Repo> repo_;
  std::string first_;
  core::DesiredStateStore store_;
  core::MetricsRegistry metrics_;
  std::unique_ptr<EventRecorder> events_;
  std::unique_ptr<SourceSync> sync_;
  std::unique_ptr<Reconciler> reconciler_;
};

TEST_F(ScenarioTest, FirstSyncAppliesEverythingAndWritesFluxStatus) {
  Build(Config(KustomizationYaml("web", "./apps/web")));
  Sync();
  std::vector<RunOutcome> outcomes = reconciler_->ReconcileAll();
  ASSERT_EQ(outcomes.size(), 1u);
  EXPECT_EQ(outcomes[0].result, RunResult::kSucceeded) << outcomes[0].message;
  EXPECT_EQ(outcomes[0].Describe(), "Kustomization flux-system/web: applied " + Rev(first_) +
                                        "\n  ConfigMap/shop/web-config created\n"
                                        "  Deployment/shop/web created\n");
  auto deployment = Live("Deployment", "web");
  ASSERT_TRUE(deployment.has_value());
  EXPECT_EQ((*deployment)["spec"]["replicas"], 2);
  EXPECT_EQ((*deployment)["metadata"]["labels"]["kustomize.toolkit.fluxcd.io/name"], "web");
  ASSERT_TRUE(Live("ConfigMap", "web-config").has_value());

  Json status = KsStatus("web");
  EXPECT_EQ(status["lastAppliedRevision"], Rev(first_));
  EXPECT_EQ(status["lastAttemptedRevision"], Rev(first_));
  EXPECT_EQ(status["observedGeneration"], 1);
  Json ready = Condition(status, "Ready");
  EXPECT_EQ(ready["status"], "True");
  EXPECT_EQ(ready["reason"], "ReconciliationSucceeded");
  EXPECT_EQ(ready["message"], "Applied revision: " + Rev(first_));
  EXPECT_EQ(InventoryIds(status),
            (std::vector<std::string>{"shop_web-config__ConfigMap", "shop_web_apps_Deployment"}));
  EXPECT_EQ(events_->recorded(), 1u);
  EXPECT_NE(metrics_.Render().find(
                "driftguard_reconcile_runs_total{kustomization=\"flux-system/web\",result="
                "\"succeeded\"} 1\n"),
            std::string::npos)
      << metrics_.Render();

  // A second run of the same revision changes nothing and records no event.
  RunOutcome again = reconciler_->ReconcileOne({"flux-system", "web"});
  EXPECT_EQ(again.Describe(),
            "Kustomization flux-system/web: applied " + Rev(first_) + "\n  no changes\n");
  EXPECT_EQ(events_->recorded(), 1u);
}

TEST_F(ScenarioTest, NewCommitConfiguresAndRemovedFilesArePruned) {
  Build(Config(KustomizationYaml("web", "./apps/web", "  prune: true\n")));
  Sync();
  ASSERT_EQ(reconciler_->ReconcileAll()[0].result, RunResult::kSucceeded);

  repo_->Write("apps/web/deployment.yaml", Deployment(4));
  const std::string second = repo_->Commit("scale");
  Sync();
  RunOutcome update = reconciler_->ReconcileOne({"flux-system", "web"});
  EXPECT_EQ(update.Describe(), "Kustomization flux-system/web: applied " + Rev(second) +
                                   "\n  Deployment/shop/web configured\n");
  EXPECT_EQ((*Live("Deployment", "web"))["spec"]["replicas"], 4);

  repo_->Write("apps/web/kustomization.yaml", "resources:\n  - deployment.yaml\n");
  repo_->Remove("apps/web/configmap.yaml");
  const std::string third = repo_->Commit("drop the configmap");
  Sync();
  RunOutcome prune = reconciler_->ReconcileOne({"flux-system", "web"});
  EXPECT_EQ(prune.Describe(), "Kustomization flux-system/web: applied " + Rev(third) +
                                  "\n  ConfigMap/shop/web-config deleted\n");
  EXPECT_FALSE(Live("ConfigMap", "web-config").has_value());
  EXPECT_TRUE(Live("Deployment", "web").has_value());
  EXPECT_EQ(InventoryIds(KsStatus("web")), (std::vector<std::string>{"shop_web_apps_Deployment"}));
}

// A Kustomization deleted from the cluster takes what it applied with it when prune is on (Flux's
// finalizer), and leaves it when prune is off.
TEST_F(ScenarioTest, DeletedKustomizationIsGarbageCollectedOnlyWithPrune) {
  repo_->Write("infra/kustomization.yaml", "resources:\n  - settings.yaml\n");
  repo_->Write("infra/settings.yaml",
               "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: "
               "shop\ndata:\n  tier: gold\n");
  repo_->Commit("infra");
  core::FluxConfig config = Config(KustomizationYaml("web", "./apps/web", "  prune: true\n") +
                                   KustomizationYaml("infra", "./infra"));
  Build(config);
  Sync();
  for (const RunOutcome& o : reconciler_->ReconcileAll()) {
    ASSERT_EQ(o.result, RunResult::kSucceeded) << o.Describe();
  }
  ASSERT_TRUE(Live("ConfigMap", "settings").has_value());

  core::FluxConfig without = config;
  without.kustomizations.clear();
  reconciler_->SetConfig(without);
  EXPECT_FALSE(Live("ConfigMap", "web-config").has_value());
  EXPECT_FALSE(Live("Deployment", "web").has_value());
  // infra has no prune: its objects stay.
  EXPECT_TRUE(Live("ConfigMap", "settings").has_value());
}

TEST_F(ScenarioTest, WithoutPruneRemovedObjectsStay) {
  Build(Config(KustomizationYaml("web", "./apps/web")));
  Sync();
  ASSERT_EQ(reconciler_->ReconcileAll()[0].result, RunResult::kSucceeded);
  repo_->Write("apps/web/kustomization.yaml", "resources:\n  - deployment.yaml\n");
  const std::string second = repo_->Commit("drop the configmap");
  Sync();
  RunOutcome run = reconciler_->ReconcileOne({"flux-system", "web"});
  EXPECT_EQ(run.Describe(),
            "Kustomization flux-system/web: applied " + Rev(second) + "\n  no changes\n");
  EXPECT_TRUE(Live("ConfigMap", "web-config").has_value());
}

TEST_F(ScenarioTest, DependsOnWaitsForTheDependencyAtItsCurrentRevision) {
  repo_->Write("infra/kustomization.yaml", "resources:\n  - settings.yaml\n");
  repo_->Write("infra/settings.yaml",
               "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  a: b\n");
  repo_->Commit("infra");
  Build(Config(KustomizationYaml("web", "./apps/web", "  dependsOn:\n    - name: infra\n") +
               KustomizationYaml("infra", "./infra")));
  Sync();

  RunOutcome early = reconciler_->ReconcileOne({"flux-system", "web"});
  EXPECT_EQ(early.result, RunResult::kFailed);
  EXPECT_FALSE(early.transient);
  EXPECT_EQ(early.reason, "DependencyNotReady");
  EXPECT_EQ(early.Describe(),
            "Kustomization flux-system/web: failed (DependencyNotReady): dependency "
            "'flux-system/infra' is not ready\n");
  EXPECT_FALSE(Live("Deployment", "web").has_value());
  Json ready = Condition(KsStatus("web"), "Ready");
  EXPECT_EQ(ready["status"], "False");
  EXPECT_EQ(ready["reason"], "DependencyNotReady");

  // ReconcileAll runs the dependency first, whatever the config's order.
  std::vector<RunOutcome> all = reconciler_->ReconcileAll();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].id.name, "infra");
  EXPECT_EQ(all[0].result, RunResult::kSucceeded);
  EXPECT_EQ(all[1].id.name, "web");
  EXPECT_EQ(all[1].result, RunResult::kSucceeded) << all[1].message;
  EXPECT_EQ(Condition(KsStatus("web"), "Ready")["status"], "True");
  EXPECT_TRUE(api_->Object("v1", "ConfigMap", "shop", "settings").has_value());
}

TEST_F(ScenarioTest, SuspendedKustomizationIsSkippedWithoutWrites) {
  Build(Config(KustomizationYaml("web", "./apps/web", "  suspend: true\n")));
  Sync();
  RunOutcome run = reconciler_->ReconcileAll()[0];
  EXPECT_EQ(run.result, RunResult::kSuspended);
  EXPECT_EQ(run.Describe(), "Kustomization flux-system/web: suspended\n");
  EXPECT_FALSE(Live("Deployment", "web").has_value());
  EXPECT_TRUE(KsStatus("web").is_object() && KsStatus("web").empty()) << KsStatus("web");
}

TEST_F(ScenarioTest, HealthTimeoutMarksHealthCheckFailed) {
  // The fake API server runs no controllers: the Deployment never becomes available.
  Build(Config(KustomizationYaml("web", "./apps/web", "  wait: true\n  timeout: 1s\n")));
  Sync();
  RunOutcome run = reconciler_->ReconcileAll()[0];
  EXPECT_EQ(run.result, RunResult::kFailed);
  EXPECT_EQ(run.reason, "HealthCheckFailed");
  const std::string message =
      "Health check failed after 1s: timeout waiting for: [Deployment/shop/web status: "
      "'InProgress': Replicas: 0/2]";
  EXPECT_EQ(run.message, message);
  Json status = KsStatus("web");
  Json ready = Condition(status, "Ready");
  EXPECT_EQ(ready["status"], "False");
  EXPECT_EQ(ready["reason"], "HealthCheckFailed");
  EXPECT_EQ(ready["message"], message);
  EXPECT_EQ(Condition(status, "Healthy")["status"], "False");
  // Applied but not healthy: attempted, not (yet) the last applied revision.
  EXPECT_EQ(status["lastAttemptedRevision"], Rev(first_));
  EXPECT_EQ(status.value("lastAppliedRevision", ""), "");
  EXPECT_EQ(InventoryIds(status).size(), 2u);

  // Once the Deployment reports availability the next run is Ready and Healthy.
  Json d = *Live("Deployment", "web");
  core::WriteOptions status_write;
  status_write.subresource = "status";
  ASSERT_TRUE(client_
                  ->MergePatch(kDeploymentGvk, "shop", "web",
                               {{"status",
                                 {{"observedGeneration", d["metadata"]["generation"]},
                                  {"replicas", 2},
                                  {"updatedReplicas", 2},
                                  {"readyReplicas", 2},
                                  {"availableReplicas", 2},
                                  {"conditions",
                                   {{{"type", "Available"}, {"status", "True"}},
                                    {{"type", "Progressing"},
                                     {"status", "True"},
                                     {"reason", "NewReplicaSetAvailable"}}}}}}},
                               status_write)
                  .ok());
  RunOutcome healthy = reconciler_->ReconcileOne({"flux-system", "web"});
  EXPECT_EQ(healthy.result, RunResult::kSucceeded) << healthy.message;
  EXPECT_EQ(Condition(KsStatus("web"), "Healthy")["status"], "True");
  EXPECT_EQ(KsStatus("web")["lastAppliedRevision"], Rev(first_));
}

TEST_F(ScenarioTest, ImmutableFieldChangeIsRecreatedOnlyWithForce) {
  Build(Config(KustomizationYaml("web", "./apps/web")));
  Sync();
  ASSERT_EQ(reconciler_->ReconcileAll()[0].result, RunResult::kSucceeded);
  repo_->Write("apps/web/deployment.yaml", Deployment(2, "shop-web"));
  const std::string second = repo_->Commit("new selector");
  Sync();
  RunOutcome refused = reconciler_->ReconcileOne({"flux-system", "web"});
  EXPECT_EQ(refused.result, RunResult::kFailed);
  EXPECT_EQ(refused.reason, "ReconciliationFailed");
  EXPECT_NE(refused.message.find("field is immutable"), std::string::npos) << refused.message;
  EXPECT_EQ((*Live("Deployment", "web"))["spec"]["selector"]["matchLabels"]["app"], "web");

  // The same revision with spec.force: true deletes and recreates the Deployment.
  Build(Config(KustomizationYaml("web", "./apps/web", "  force: true\n")));
  Sync();
  RunOutcome forced = reconciler_->ReconcileOne({"flux-system", "web"});
  EXPECT_EQ(forced.Describe(), "Kustomization flux-system/web: applied " + Rev(second) +
                                   "\n  Deployment/shop/web recreated\n");
  EXPECT_EQ((*Live("Deployment", "web"))["spec"]["selector"]["matchLabels"]["app"], "shop-web");
}

TEST_F(ScenarioTest, DriftRepairerTakesOverAfterASuccessfulRun) {
  DriftRepairer repairer(client_.get(), events_.get(), nullptr, {});
  repairer.SetEnabled(true);
  Build(Config(KustomizationYaml("web", "./apps/web")), {}, &repairer);
  Sync();
  ASSERT_EQ(reconciler_->ReconcileAll()[0].result, RunResult::kSucceeded);

  Json d = *Live("Deployment", "web");
  d["spec"]["replicas"] = 5;
  api_->Put(d);  // a manual change by another manager
  std::vector<DriftRepair> repairs = repairer.Resync();
  ASSERT_EQ(repairs.size(), 1u);
  EXPECT_EQ(repairs[0].ref.ToString(), "Deployment/shop/web");
  EXPECT_EQ(repairs[0].fields, std::vector<std::string>{"spec.replicas"});
  EXPECT_TRUE(repairs[0].status.ok()) << repairs[0].status;
  EXPECT_EQ((*Live("Deployment", "web"))["spec"]["replicas"], 2);
}

TEST_F(ScenarioTest, ApiServerOutageMidRunPrunesNothingAndTheNextRunResumes) {
  repo_->Write("apps/web/service.yaml",
               "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  ports:\n"
               "    - port: 80\n");
  Build(Config(KustomizationYaml("web", "./apps/web", "  prune: true\n")));
  Sync();
  ASSERT_EQ(reconciler_->ReconcileAll()[0].result, RunResult::kSucceeded);

  // The next revision drops the ConfigMap, adds a Service and scales the Deployment.
  repo_->Write("apps/web/kustomization.yaml",
               "resources:\n  - deployment.yaml\n  - service.yaml\n");
  repo_->Remove("apps/web/configmap.yaml");
  repo_->Write("apps/web/deployment.yaml", Deployment(3));
  const std::string second = repo_->Commit("second");
  Sync();

  // Writes to Deployments fail with 503 (also the client's retries) while the rest goes through.
  api_->FailNext(100, 503, {.method = "PATCH", .path_substring = "/deployments/"});
  RunOutcome failed = reconciler_->ReconcileOne({"flux-system", "web"});
  EXPECT_EQ(failed.result, RunResult::kFailed);
  EXPECT_TRUE(failed.transient);
  EXPECT_EQ(failed.reason, "ReconciliationFailed");
  EXPECT_TRUE(Live("ConfigMap", "web-config").has_value()) << "pruned after a failed apply";
  EXPECT_EQ((*Live("Deployment", "web"))["spec"]["replicas"], 2);
  Json status = KsStatus("web");
  EXPECT_EQ(status["lastAppliedRevision"], Rev(first_));
  EXPECT_EQ(status["lastAttemptedRevision"], Rev(second));
  // Nothing is forgotten: the old entries stay, the new ones join.
  EXPECT_EQ(InventoryIds(status),
            (std::vector<std::string>{"shop_web-config__ConfigMap", "shop_web__Service",
                                      "shop_web_apps_Deployment"}));

  // A full outage: the run fails without writing anything.
  api_->ClearRequests();
  api_->Down();
  RunOutcome down = reconciler_->ReconcileOne({"flux-system", "web"});
  EXPECT_EQ(down.result, RunResult::kFailed);
  EXPECT_TRUE(down.transient);
  api_->Up();

  RunOutcome resumed;
  ASSERT_TRUE(Eventually([&] {
    resumed = reconciler_->ReconcileOne({"flux-system", "web"});
    return resumed.result == RunResult::kSucceeded;
  })) << resumed.message;
  EXPECT_FALSE(Live("ConfigMap", "web-config").has_value());
  EXPECT_EQ((*Live("Deployment", "web"))["spec"]["replicas"], 3);
  EXPECT_TRUE(Live("Service", "web").has_value());
  EXPECT_EQ(KsStatus("web")["lastAppliedRevision"], Rev(second));
  EXPECT_EQ(InventoryIds(KsStatus("web")),
            (std::vector<std::string>{"shop_web__Service", "shop_web_apps_Deployment"}));
}

TEST_F(ScenarioTest, GitOutageKeepsTheLastGoodRevisionAppliedAndSaysWhy) {
  Build(Config(KustomizationYaml("web", "./apps/web", "  prune: true\n")));
  Sync();
  ASSERT_EQ(reconciler_->ReconcileAll()[0].result, RunResult::kSucceeded);

  const std::filesystem::path moved = tmp_.path() / "moved";
  std::filesystem::rename(repo_->dir(), moved);
  EXPECT_FALSE(sync_->SyncOnce().ok());
  RunOutcome run = reconciler_->ReconcileOne({"flux-system", "web"});
  EXPECT_EQ(run.result, RunResult::kFailed);
  EXPECT_EQ(run.reason, "ArtifactFailed");
  EXPECT_EQ(run.message.rfind("GitRepository flux-system/shop: ", 0), 0u) << run.message;
  Json status = KsStatus("web");
  EXPECT_EQ(status["lastAppliedRevision"], Rev(first_));
  Json ready = Condition(status, "Ready");
  EXPECT_EQ(ready["status"], "False");
  EXPECT_EQ(ready["reason"], "ArtifactFailed");
  EXPECT_EQ(ready["message"], run.message);
  EXPECT_TRUE(Live("ConfigMap", "web-config").has_value());
  EXPECT_TRUE(Live("Deployment", "web").has_value());

  // Git is back with a new commit: it is applied. (A recovery at the same revision leaves
  // SourceSync's recorded error in place until the next revision.)
  std::filesystem::rename(moved, repo_->dir());
  repo_->Write("apps/web/deployment.yaml", Deployment(3));
  const std::string second = repo_->Commit("scale");
  Sync();
  RunOutcome recovered = reconciler_->ReconcileOne({"flux-system", "web"});
  EXPECT_EQ(recovered.result, RunResult::kSucceeded) << recovered.message;
  EXPECT_EQ(recovered.revision, Rev(second));
  EXPECT_EQ(Condition(KsStatus("web"), "Ready")["status"], "True");
}

TEST_F(ScenarioTest, BadContentStallsUntilANewRevision) {
  Build(Config(KustomizationYaml("web", "./apps/web")));
  Sync();
  ASSERT_EQ(reconciler_->ReconcileAll()[0].result, RunResult::kSucceeded);
  repo_->Write("apps/web/deployment.yaml", "kind: [unclosed\n");
  const std::string bad = repo_->Commit("broken");
  EXPECT_FALSE(sync_->SyncOnce().ok());
  RunOutcome run = reconciler_->ReconcileOne({"flux-system", "web"});
  EXPECT_EQ(run.result, RunResult::kStalled);
  EXPECT_EQ(run.reason, "BuildFailed");
  EXPECT_EQ(run.revision, Rev(bad));
  Json status = KsStatus("web");
  EXPECT_EQ(Condition(status, "Stalled")["status"], "True");
  EXPECT_EQ(status["lastAttemptedRevision"], Rev(bad));
  EXPECT_EQ(status["lastAppliedRevision"], Rev(first_));
  EXPECT_EQ((*Live("Deployment", "web"))["spec"]["replicas"], 2);
}

TEST_F(ScenarioTest, ConfigMapInventoryPrunesAcrossProcesses) {
  ReconcilerOptions options;
  options.status_sink = StatusSink::kConfigMap;
  const core::FluxConfig config =
      Config(KustomizationYaml("web", "./apps/web", "  prune: true\n"), /*seed=*/false);
  Build(config, options);
  Sync();
  ASSERT_EQ(reconciler_->ReconcileAll()[0].result, RunResult::kSucceeded);
  auto cm = api_->Object("v1", "ConfigMap", "flux-system", "driftguard-inventory-web");
  ASSERT_TRUE(cm.has_value());

  repo_->Write("apps/web/kustomization.yaml", "resources:\n  - deployment.yaml\n");
  const std::string second = repo_->Commit("drop the configmap");
  // A new reconciler (as a second `reconcile --once` process) knows only the ConfigMap.
  Build(config, options);
  Sync();
  RunOutcome run = reconciler_->ReconcileAll()[0];
  EXPECT_EQ(run.Describe(), "Kustomization flux-system/web: applied " + Rev(second) +
                                "\n  ConfigMap/shop/web-config deleted\n");
  EXPECT_FALSE(Live("ConfigMap", "web-config").has_value());
}

TEST_F(ScenarioTest, LoopRunsANewRevisionAtOnceAndHonoursRequestedAt) {
  Build(Config(KustomizationYaml("web", "./apps/web")));
  Sync();
  reconciler_->Start();
  ASSERT_TRUE(
      Eventually([&] { return KsStatus("web").value("lastAppliedRevision", "") == Rev(first_); }));
  // Interval 10m: only the revision change can make the loop run again this soon.
  repo_->Write("apps/web/deployment.yaml", Deployment(6));
  const std::string second = repo_->Commit("scale");
  Sync();
  ASSERT_TRUE(
      Eventually([&] { return KsStatus("web").value("lastAppliedRevision", "") == Rev(second); }));
  EXPECT_EQ((*Live("Deployment", "web"))["spec"]["replicas"], 6);

  // `flux reconcile`: the requestedAt annotation triggers a run and is echoed.
  core::FluxConfig requested = Config(KustomizationYaml("web", "./apps/web"), false);
  requested.kustomizations[0].object["metadata"]["annotations"] = {
      {"reconcile.fluxcd.io/requestedAt", "2026-01-02T03:04:05Z"}};
  reconciler_->SetConfig(requested);
  ASSERT_TRUE(Eventually([&] {
    return KsStatus("web").value("lastHandledReconcileAt", "") == "2026-01-02T03:04:05Z";
  }));
  reconciler_->Stop();
}

TEST_F(ScenarioTest, OneFailingKustomizationDoesNotBlockOthers) {
  repo_->Write("infra/kustomization.yaml", "resources:\n  - settings.yaml\n");
  repo_->Write("infra/settings.yaml",
               "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  a: b\n");
  repo_->Commit("infra");
  ReconcilerOptions options;
  options.workers = 1;
  // web waits on a Deployment that never becomes available; infra must still be applied.
  Build(Config(KustomizationYaml("web", "./apps/web", "  wait: true\n  timeout: 1s\n") +
               KustomizationYaml("infra", "./infra")),
        options);
  Sync();
  reconciler_->Start();
  ASSERT_TRUE(Eventually([&] {
    return Condition(KsStatus("infra"), "Ready").value("status", "") == "True" &&
           Condition(KsStatus("web"), "Ready").value("reason", "") == "HealthCheckFailed";
  }));
  reconciler_->Stop();
}

TEST_F(ScenarioTest, LeaderFailoverHandsWritesToTheOtherReplica) {
  const core::FluxConfig config = Config(KustomizationYaml("web", "./apps/web"));
  LeaderElectionOptions election;
  election.namespace_ = "kube-system";
  election.name = "driftguard";
  election.lease_duration = std::chrono::milliseconds(1500);
  election.renew_deadline = std::chrono::milliseconds(1000);
  election.retry_period = std::chrono::milliseconds(100);

  struct Replica {
    std::unique_ptr<core::KubeClient> client;
    core::DesiredStateStore store;
    std::unique_ptr<SourceSync> sync;
    std::unique_ptr<LeaderElector> elector;
    std::unique_ptr<Reconciler> reconciler;
  };
  auto make = [&](const std::string& identity) {
    auto r = std::make_unique<Replica>();
    r->client = NewClient();
    SourceSyncOptions sync_options;
    sync_options.cache_dir = tmp_.path() / ("cache-" + identity);
    r->sync = std::make_unique<SourceSync>(sync_options, config, &r->store, nullptr);
    LeaderElectionOptions o = election;
    o.identity = identity;
    r->elector = std::make_unique<LeaderElector>(r->client.get(), o, LeaderCallbacks{});
    ReconcilerOptions ro;
    ro.health_poll_interval = std::chrono::milliseconds(50);
    r->reconciler =
        std::make_unique<Reconciler>(r->client.get(), &r->store, config, ro, r->elector.get());
    EXPECT_TRUE(r->sync->SyncOnce().ok());
    return r;
  };
  auto a = make("replica-a");
  auto b = make("replica-b");
  a->elector->Start();
  ASSERT_TRUE(Eventually([&] { return a->elector->IsLeader(); }));
  b->elector->Start();
  a->reconciler->Start();
  b->reconciler->Start();
  ASSERT_TRUE(
      Eventually([&] { return KsStatus("web").value("lastAppliedRevision", "") == Rev(first_); }));
  ASSERT_TRUE(Eventually([&] { return !b->reconciler->History().empty(); }));
  for (const RunOutcome& o : b->reconciler->History()) {
    EXPECT_EQ(o.result, RunResult::kNotLeader) << "a follower wrote";
  }

  // The leader goes away (releasing the Lease); the follower takes over and applies the next
  // revision.
  a->reconciler->Stop();
  a->elector->Stop();
  ASSERT_TRUE(Eventually([&] { return b->elector->IsLeader(); }));
  repo_->Write("apps/web/deployment.yaml", Deployment(7));
  const std::string second = repo_->Commit("scale");
  ASSERT_TRUE(b->sync->SyncOnce().ok());
  ASSERT_TRUE(
      Eventually([&] { return KsStatus("web").value("lastAppliedRevision", "") == Rev(second); }));
  EXPECT_EQ((*Live("Deployment", "web"))["spec"]["replicas"], 7);
  bool b_applied = false;
  for (const RunOutcome& o : b->reconciler->History()) {
    b_applied = b_applied || o.result == RunResult::kSucceeded;
  }
  EXPECT_TRUE(b_applied);
  b->reconciler->Stop();
  b->elector->Stop();
}

TEST_F(ScenarioTest, ClusterFluxObjectsFollowsTheCluster) {
  Config(KustomizationYaml("web", "./apps/web"));  // seeds the CRs
  std::atomic<int> changes{0};
  ClusterFluxObjectsOptions options;
  options.check_interval = std::chrono::milliseconds(100);
  ClusterFluxObjects flux(client_.get(), options, [&](const core::FluxConfig&) { changes++; });
  ASSERT_TRUE(flux.Start().ok());
  EXPECT_EQ(flux.version(), 1u);
  core::FluxConfig cfg = flux.Current();
  ASSERT_EQ(cfg.repositories.size(), 1u);
  ASSERT_EQ(cfg.kustomizations.size(), 1u);
  EXPECT_EQ(cfg.kustomizations[0].name, "web");
  EXPECT_EQ(cfg.kustomizations[0].path, "./apps/web");

  // A status write is not a change; an annotation is.
  Json k = *api_->Object("kustomize.toolkit.fluxcd.io/v1", "Kustomization", "flux-system", "web");
  core::WriteOptions status_write;
  status_write.subresource = "status";
  ASSERT_TRUE(client_
                  ->MergePatch({"kustomize.toolkit.fluxcd.io", "v1", "Kustomization"},
                               "flux-system", "web", {{"status", {{"lastAppliedRevision", "x"}}}},
                               status_write)
                  .ok());
  k["metadata"]["annotations"] = {{"reconcile.fluxcd.io/requestedAt", "now"}};
  k.erase("status");
  api_->Put(k);
  ASSERT_TRUE(Eventually([&] { return flux.version() == 2u; }));
  EXPECT_EQ(flux.Current().kustomizations[0].object["metadata"]["annotations"]
                                                   ["reconcile.fluxcd.io/requestedAt"],
            "now");
  EXPECT_EQ(changes.load(), 2);

  // A Kustomization whose source does not exist is reported and left out.
  Json orphan = k;
  orphan["metadata"] = {{"name", "orphan"}, {"namespace", "flux-system"}};
  orphan["spec"]["sourceRef"]["name"] = "missing";
  api_->Put(orphan);
  ASSERT_TRUE(Eventually([&] { return flux.version() == 3u; }));
  EXPECT_EQ(flux.Current().kustomizations.size(), 1u);
  EXPECT_EQ(flux.Errors(),
            std::vector<std::string>{"Kustomization flux-system/orphan: source GitRepository "
                                     "flux-system/missing not found"});
  flux.Stop();
}

}  // namespace
}  // namespace driftguard::reconciler
