// Applier against the in-process FakeApiServer (real HTTPS client, real SSA semantics of the fake).
#include "reconciler/applier.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/flux_api.h"
#include "core/kube_client.h"
#include "reconciler/inventory.h"
#include "tests/support/fake_apiserver.h"

namespace driftguard::reconciler {
namespace {

using core::Json;
using ::testing::ElementsAre;
using testing::FakeApiServer;
using testing::RecordedRequest;

Json Namespace(const std::string& name) {
  return {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", name}}}};
}

Json ConfigMap(const std::string& ns, const std::string& name, Json data,
               Json annotations = Json::object(), Json labels = Json::object()) {
  Json meta = {{"name", name}, {"namespace", ns}};
  if (!annotations.empty()) meta["annotations"] = annotations;
  if (!labels.empty()) meta["labels"] = labels;
  return {{"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"metadata", meta}, {"data", data}};
}

Json Deployment(const std::string& ns, const std::string& name, const std::string& app,
                Json annotations = Json::object()) {
  Json meta = {{"name", name}, {"namespace", ns}};
  if (!annotations.empty()) meta["annotations"] = annotations;
  return {{"apiVersion", "apps/v1"},
          {"kind", "Deployment"},
          {"metadata", meta},
          {"spec",
           {{"replicas", 1},
            {"selector", {{"matchLabels", {{"app", app}}}}},
            {"template",
             {{"metadata", {{"labels", {{"app", app}}}}},
              {"spec", {{"containers", {{{"name", "app"}, {"image", "nginx:1.25"}}}}}}}}}}};
}

Json WebhookConfig(const std::string& name) {
  return {{"apiVersion", "admissionregistration.k8s.io/v1"},
          {"kind", "ValidatingWebhookConfiguration"},
          {"metadata", {{"name", name}}},
          {"webhooks", Json::array()}};
}

Json WidgetCrd() {
  return {{"apiVersion", "apiextensions.k8s.io/v1"},
          {"kind", "CustomResourceDefinition"},
          {"metadata", {{"name", "widgets.example.com"}}},
          {"spec",
           {{"group", "example.com"},
            {"scope", "Namespaced"},
            {"names", {{"kind", "Widget"}, {"plural", "widgets"}, {"singular", "widget"}}},
            {"versions",
             {{{"name", "v1"},
               {"served", true},
               {"storage", true},
               {"schema", {{"openAPIV3Schema", {{"type", "object"}}}}}}}}}}};
}

Json Widget(const std::string& ns, const std::string& name) {
  return {{"apiVersion", "example.com/v1"},
          {"kind", "Widget"},
          {"metadata", {{"name", name}, {"namespace", ns}}},
          {"spec", {{"size", 3}}}};
}

std::unique_ptr<core::HttpKubeClient> MustClient(const core::KubeConfig& config) {
  auto client = core::HttpKubeClient::Create(config);
  EXPECT_TRUE(client.ok()) << client.status();
  return client.ok() ? std::move(client).value() : nullptr;
}

bool IsDryRun(const RecordedRequest& r) { return r.query.find("dryRun=All") != std::string::npos; }

// Index of the first request matching, or -1.
int FirstIndex(const std::vector<RecordedRequest>& log, const std::string& method,
               const std::string& path, bool dry_run) {
  for (size_t i = 0; i < log.size(); ++i) {
    if (log[i].method == method && log[i].path == path && IsDryRun(log[i]) == dry_run) {
      return static_cast<int>(i);
    }
  }
  return -1;
}

int CountWrites(const std::vector<RecordedRequest>& log) {
  int n = 0;
  for (const RecordedRequest& r : log) {
    if (r.method != "GET" && !IsDryRun(r)) ++n;
  }
  return n;
}

std::vector<std::string> Actions(const ChangeSet& changes) {
  std::vector<std::string> out;
  for (const ObjectChange& c : changes.entries) {
    out.push_back(c.ref.ToString() + " " + std::string(ApplyActionName(c.action)));
  }
  return out;
}

class ApplierTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { api_ = new FakeApiServer(); }
  static void TearDownTestSuite() {
    delete api_;
    api_ = nullptr;
  }
  void SetUp() override {
    client_ = MustClient(api_->Config());
    ASSERT_NE(client_, nullptr);
    ApplierOptions options;
    options.poll_interval = std::chrono::milliseconds(10);
    applier_ = std::make_unique<Applier>(client_.get(), options);
  }
  // A fresh namespace per test keeps the shared server's state apart.
  std::string NewNamespace(const std::string& name) {
    ApplyResult r = applier_->Apply({.objects = {Namespace(name)}});
    EXPECT_TRUE(r.status.ok()) << r.status;
    api_->ClearRequests();
    return name;
  }

  static FakeApiServer* api_;
  std::unique_ptr<core::HttpKubeClient> client_;
  std::unique_ptr<Applier> applier_;
};
FakeApiServer* ApplierTest::api_ = nullptr;

TEST_F(ApplierTest, FirstApplyCreatesInStageOrder) {
  api_->ClearRequests();
  // Deliberately in reverse order: the applier stages them.
  ApplyResult r = applier_->Apply(
      {.objects = {ConfigMap("first", "cfg", {{"k", "v"}}), Deployment("first", "web", "web"),
                   WebhookConfig("first-hook"), Namespace("first")}});
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_THAT(
      Actions(r.changes),
      ElementsAre("Namespace/first created", "ValidatingWebhookConfiguration/first-hook created",
                  "ConfigMap/first/cfg created", "Deployment/first/web created"));
  EXPECT_EQ(r.changes.Summary(),
            "Namespace/first created\nValidatingWebhookConfiguration/first-hook created\n"
            "ConfigMap/first/cfg created\nDeployment/first/web created");
  EXPECT_TRUE(r.changes.HasChanges());

  std::vector<RecordedRequest> log = api_->Requests();
  int ns = FirstIndex(log, "PATCH", "/api/v1/namespaces/first", false);
  int hook = FirstIndex(
      log, "PATCH",
      "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/first-hook", false);
  int cm = FirstIndex(log, "PATCH", "/api/v1/namespaces/first/configmaps/cfg", false);
  int cm_dry = FirstIndex(log, "PATCH", "/api/v1/namespaces/first/configmaps/cfg", true);
  int deploy = FirstIndex(log, "PATCH", "/apis/apps/v1/namespaces/first/deployments/web", false);
  ASSERT_GE(ns, 0);
  ASSERT_GE(hook, 0);
  ASSERT_GE(cm, 0);
  ASSERT_GE(deploy, 0);
  EXPECT_LT(ns, hook);
  EXPECT_LT(hook, cm_dry);
  EXPECT_LT(hook, deploy);
  EXPECT_LT(cm_dry, cm);  // dry run first
  EXPECT_EQ(CountWrites(log), 4);
  auto live = api_->Object("v1", "ConfigMap", "first", "cfg");
  ASSERT_TRUE(live.has_value());
  EXPECT_EQ((*live)["data"], Json({{"k", "v"}}));
  EXPECT_EQ((*live)["metadata"]["managedFields"][0]["manager"], "driftguard");
}

TEST_F(ApplierTest, SecondApplyOfSameObjectsWritesNothing) {
  NewNamespace("second");
  std::vector<Json> objects = {Namespace("second"), ConfigMap("second", "a", {{"k", "v"}}),
                               Deployment("second", "web", "web"), WebhookConfig("second-hook")};
  ApplyResult first = applier_->Apply({.objects = objects});
  ASSERT_TRUE(first.status.ok()) << first.status;
  const int64_t version = api_->resource_version();
  api_->ClearRequests();

  ApplyResult again = applier_->Apply({.objects = objects});
  ASSERT_TRUE(again.status.ok()) << again.status;
  EXPECT_THAT(Actions(again.changes),
              ElementsAre("Namespace/second unchanged",
                          "ValidatingWebhookConfiguration/second-hook unchanged",
                          "ConfigMap/second/a unchanged", "Deployment/second/web unchanged"));
  EXPECT_FALSE(again.changes.HasChanges());
  EXPECT_EQ(again.changes.Summary(), "");
  std::vector<RecordedRequest> log = api_->Requests();
  EXPECT_EQ(CountWrites(log), 0);
  int patches = 0;
  for (const RecordedRequest& r : log) {
    if (r.method == "PATCH") {
      ++patches;
      EXPECT_TRUE(IsDryRun(r)) << r.path << "?" << r.query;
    }
  }
  EXPECT_EQ(patches, 4);
  EXPECT_EQ(api_->resource_version(), version);
}

TEST_F(ApplierTest, ChangedFieldIsConfigured) {
  NewNamespace("changed");
  ASSERT_TRUE(applier_
                  ->Apply({.objects = {ConfigMap("changed", "a", {{"k", "v"}}),
                                       ConfigMap("changed", "b", {{"k", "v"}})}})
                  .status.ok());
  api_->ClearRequests();
  ApplyResult r = applier_->Apply({.objects = {ConfigMap("changed", "a", {{"k", "v"}}),
                                               ConfigMap("changed", "b", {{"k", "v2"}})}});
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_THAT(Actions(r.changes),
              ElementsAre("ConfigMap/changed/a unchanged", "ConfigMap/changed/b configured"));
  EXPECT_EQ(r.changes.Summary(), "ConfigMap/changed/b configured");
  EXPECT_EQ(CountWrites(api_->Requests()), 1);
  EXPECT_EQ((*api_->Object("v1", "ConfigMap", "changed", "b"))["data"]["k"], "v2");
}

TEST_F(ApplierTest, DryRunRequestReportsWithoutWriting) {
  NewNamespace("dry");
  ASSERT_TRUE(applier_->Apply({.objects = {ConfigMap("dry", "a", {{"k", "v"}})}}).status.ok());
  api_->ClearRequests();
  ApplyResult r = applier_->Apply(
      {.objects = {ConfigMap("dry", "a", {{"k", "changed"}}), ConfigMap("dry", "b", {{"k", "v"}})},
       .dry_run = true});
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_THAT(Actions(r.changes),
              ElementsAre("ConfigMap/dry/a configured", "ConfigMap/dry/b created"));
  EXPECT_EQ(CountWrites(api_->Requests()), 0);
  EXPECT_FALSE(api_->Object("v1", "ConfigMap", "dry", "b").has_value());
  EXPECT_EQ((*api_->Object("v1", "ConfigMap", "dry", "a"))["data"]["k"], "v");
}

TEST_F(ApplierTest, SsaIgnoreSendsNoRequest) {
  NewNamespace("ignore");
  ApplyResult r = applier_->Apply({.objects = {ConfigMap("ignore", "skip", {{"k", "v"}},
                                                         {{std::string(kSsaAnnotation), "Ignore"}}),
                                               ConfigMap("ignore", "keep", {{"k", "v"}})}});
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_THAT(Actions(r.changes),
              ElementsAre("ConfigMap/ignore/skip skipped", "ConfigMap/ignore/keep created"));
  for (const RecordedRequest& req : api_->Requests()) {
    EXPECT_EQ(req.path.find("/skip"), std::string::npos) << req.path;
  }
  EXPECT_FALSE(api_->Object("v1", "ConfigMap", "ignore", "skip").has_value());
}

TEST_F(ApplierTest, SsaIfNotPresentCreatesButNeverUpdates) {
  NewNamespace("ifnp");
  Json annotations = {{std::string(kSsaAnnotation), "IfNotPresent"}};
  ApplyResult created =
      applier_->Apply({.objects = {ConfigMap("ifnp", "seed", {{"k", "v1"}}, annotations)}});
  ASSERT_TRUE(created.status.ok()) << created.status;
  EXPECT_THAT(Actions(created.changes), ElementsAre("ConfigMap/ifnp/seed created"));
  api_->ClearRequests();
  ApplyResult again =
      applier_->Apply({.objects = {ConfigMap("ifnp", "seed", {{"k", "v2"}}, annotations)}});
  ASSERT_TRUE(again.status.ok()) << again.status;
  EXPECT_THAT(Actions(again.changes), ElementsAre("ConfigMap/ifnp/seed skipped"));
  EXPECT_EQ((*api_->Object("v1", "ConfigMap", "ifnp", "seed"))["data"]["k"], "v1");
  for (const RecordedRequest& req : api_->Requests()) EXPECT_EQ(req.method, "GET");
}

TEST_F(ApplierTest, SsaMergeKeepsFieldsOfOtherManagers) {
  NewNamespace("merge");
  Json annotations = {{std::string(kSsaAnnotation), "Merge"}};
  ASSERT_TRUE(applier_->Apply({.objects = {ConfigMap("merge", "m", {{"k", "v1"}}, annotations)}})
                  .status.ok());
  // Another tool adds a field the manifest does not declare.
  core::ApplyOptions other;
  other.field_manager = "kubectl";
  ASSERT_TRUE(client_
                  ->Apply({{"apiVersion", "v1"},
                           {"kind", "ConfigMap"},
                           {"metadata", {{"name", "m"}, {"namespace", "merge"}}},
                           {"data", {{"extra", "theirs"}}}},
                          other)
                  .ok());
  ApplyResult r =
      applier_->Apply({.objects = {ConfigMap("merge", "m", {{"k", "v2"}}, annotations)}});
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_THAT(Actions(r.changes), ElementsAre("ConfigMap/merge/m configured"));
  EXPECT_EQ((*api_->Object("v1", "ConfigMap", "merge", "m"))["data"],
            Json({{"k", "v2"}, {"extra", "theirs"}}));
}

TEST_F(ApplierTest, SsaOverrideTakesConflictingFieldsFromOtherManagers) {
  NewNamespace("override");
  ASSERT_TRUE(
      applier_->Apply({.objects = {ConfigMap("override", "o", {{"k", "ours"}})}}).status.ok());
  core::ApplyOptions other;
  other.field_manager = "other-tool";
  other.force = true;  // takes data.k from driftguard
  ASSERT_TRUE(client_
                  ->Apply({{"apiVersion", "v1"},
                           {"kind", "ConfigMap"},
                           {"metadata", {{"name", "o"}, {"namespace", "override"}}},
                           {"data", {{"k", "theirs"}}}},
                          other)
                  .ok());
  // Without force the same apply is a conflict: the applier must force.
  core::ApplyOptions plain;
  auto conflict = client_->Apply(ConfigMap("override", "o", {{"k", "ours"}}), plain);
  ASSERT_TRUE(core::IsConflict(conflict.status())) << conflict.status();

  ApplyResult r =
      applier_->Apply({.objects = {ConfigMap("override", "o", {{"k", "ours"}},
                                             {{std::string(kSsaAnnotation), "Override"}})}});
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_THAT(Actions(r.changes), ElementsAre("ConfigMap/override/o configured"));
  EXPECT_EQ((*api_->Object("v1", "ConfigMap", "override", "o"))["data"]["k"], "ours");
}

TEST_F(ApplierTest, ImmutableFieldWithoutForceIsReported) {
  NewNamespace("immutable");
  ASSERT_TRUE(applier_->Apply({.objects = {Deployment("immutable", "web", "a")}}).status.ok());
  const std::string uid =
      (*api_->Object("apps/v1", "Deployment", "immutable", "web"))["metadata"]["uid"];
  ApplyResult r = applier_->Apply({.objects = {Deployment("immutable", "web", "b"),
                                               ConfigMap("immutable", "other", {{"k", "v"}})}});
  EXPECT_EQ(r.status.code(), core::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status.message(),
            "Deployment/immutable/web: Deployment.apps \"web\" is invalid: spec.selector: "
            "Invalid value: {\"matchLabels\":{\"app\":\"b\"}}: field is immutable (HTTP 422 "
            "Invalid)");
  // The other object of the stage was still applied.
  EXPECT_THAT(Actions(r.changes), ElementsAre("ConfigMap/immutable/other created"));
  Json live = *api_->Object("apps/v1", "Deployment", "immutable", "web");
  EXPECT_EQ(live["spec"]["selector"]["matchLabels"]["app"], "a");
  EXPECT_EQ(live["metadata"]["uid"], uid);
}

TEST_F(ApplierTest, ImmutableFieldWithForceRecreates) {
  NewNamespace("force");
  ASSERT_TRUE(applier_
                  ->Apply({.objects = {Deployment("force", "spec-force", "a"),
                                       Deployment("force", "annotated", "a")}})
                  .status.ok());
  const std::string uid =
      (*api_->Object("apps/v1", "Deployment", "force", "spec-force"))["metadata"]["uid"];

  ApplyResult by_spec =
      applier_->Apply({.objects = {Deployment("force", "spec-force", "b")}, .force = true});
  ASSERT_TRUE(by_spec.status.ok()) << by_spec.status;
  EXPECT_THAT(Actions(by_spec.changes), ElementsAre("Deployment/force/spec-force recreated"));
  Json live = *api_->Object("apps/v1", "Deployment", "force", "spec-force");
  EXPECT_EQ(live["spec"]["selector"]["matchLabels"]["app"], "b");
  EXPECT_NE(live["metadata"]["uid"], uid);

  ApplyResult by_annotation =
      applier_->Apply({.objects = {Deployment("force", "annotated", "b",
                                              {{std::string(kForceAnnotation), "enabled"}})}});
  ASSERT_TRUE(by_annotation.status.ok()) << by_annotation.status;
  EXPECT_THAT(Actions(by_annotation.changes), ElementsAre("Deployment/force/annotated recreated"));
  EXPECT_EQ((*api_->Object("apps/v1", "Deployment", "force", "annotated"))["spec"]["selector"],
            Json({{"matchLabels", {{"app", "b"}}}}));
}

TEST_F(ApplierTest, InjectedFailureOnOneObjectStillAppliesTheOthers) {
  NewNamespace("partial");
  api_->FailNext(1, 422, {.method = "PATCH", .path_substring = "/configmaps/bad"});
  ApplyResult r = applier_->Apply({.objects = {ConfigMap("partial", "good1", {{"k", "v"}}),
                                               ConfigMap("partial", "bad", {{"k", "v"}}),
                                               ConfigMap("partial", "good2", {{"k", "v"}})}});
  EXPECT_EQ(r.status.code(), core::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status.message(),
            "ConfigMap/partial/bad: injected fault (HTTP 422) (HTTP 422 Invalid)");
  EXPECT_THAT(Actions(r.changes),
              ElementsAre("ConfigMap/partial/good1 created", "ConfigMap/partial/good2 created"));
  EXPECT_FALSE(api_->Object("v1", "ConfigMap", "partial", "bad").has_value());
}

TEST_F(ApplierTest, EveryFailureIsListedOnItsOwnLine) {
  NewNamespace("multi");
  api_->FailNext(1, 422, {.method = "PATCH", .path_substring = "/configmaps/x1"});
  api_->FailNext(1, 403, {.method = "PATCH", .path_substring = "/configmaps/x2"});
  ApplierOptions sequential;
  sequential.concurrency = 1;  // the first failure (and so the code) is deterministic
  Applier applier(client_.get(), sequential);
  ApplyResult r = applier.Apply({.objects = {ConfigMap("multi", "x1", {{"k", "v"}}),
                                             ConfigMap("multi", "x2", {{"k", "v"}})}});
  EXPECT_EQ(r.status.code(), core::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status.message(),
            "ConfigMap/multi/x1: injected fault (HTTP 422) (HTTP 422 Invalid)\n"
            "ConfigMap/multi/x2: injected fault (HTTP 403) (HTTP 403 Forbidden)");
}

TEST_F(ApplierTest, UnknownKindFailsAndStopsNamespacedStage) {
  NewNamespace("unknown");
  ApplyResult r = applier_->Apply(
      {.objects = {Widget("unknown", "x"), ConfigMap("unknown", "after", {{"k", "v"}}),
                   WebhookConfig("unknown-hook")}});
  EXPECT_EQ(r.status.code(), core::StatusCode::kNotFound);
  EXPECT_EQ(r.status.message(),
            "Widget/unknown/x: no matches for kind \"Widget\" in version \"example.com/v1\"");
  // The cluster-scoped stage ran; the namespaced one did not.
  EXPECT_THAT(Actions(r.changes),
              ElementsAre("ValidatingWebhookConfiguration/unknown-hook created"));
  for (const RecordedRequest& req : api_->Requests()) {
    EXPECT_EQ(req.path.find("/configmaps/after"), std::string::npos) << req.path;
  }
}

TEST_F(ApplierTest, ObjectWithoutNameIsRejectedBeforeAnyRequest) {
  api_->ClearRequests();
  Json nameless = ConfigMap("default", "", {{"k", "v"}});
  ApplyResult r = applier_->Apply({.objects = {nameless}});
  EXPECT_EQ(r.status,
            core::InvalidArgumentError(
                "ConfigMap/default/: apiVersion, kind and metadata.name are required in applied "
                "objects"));
  EXPECT_TRUE(api_->Requests().empty());
}

// ---------------------------------------------------------------- CRDs (own servers)

FakeApiServer::Options SlowCrdOptions() {
  FakeApiServer::Options options;
  options.establish_crds = false;
  return options;
}

TEST(ApplierCrdTest, CrdAndCustomResourceInOneApplyWaitForEstablishment) {
  FakeApiServer api(SlowCrdOptions());
  auto client = MustClient(api.Config());
  ApplierOptions options;
  options.poll_interval = std::chrono::milliseconds(10);
  Applier applier(client.get(), options);
  // Establishes the CRD once it exists, as the API server's controller would.
  std::atomic<bool> stop{false};
  std::atomic<bool> established{false};
  std::thread controller([&] {
    while (!stop) {
      if (api.Object("apiextensions.k8s.io/v1", "CustomResourceDefinition", "",
                     "widgets.example.com")) {
        api.EstablishCrd("widgets.example.com");
        established = true;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });
  ApplyResult r = applier.Apply({.objects = {Widget("default", "w1"), WidgetCrd()}});
  stop = true;
  controller.join();
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_TRUE(established);
  EXPECT_THAT(Actions(r.changes),
              ElementsAre("CustomResourceDefinition/widgets.example.com created",
                          "Widget/default/w1 created"));
  auto live = api.Object("example.com/v1", "Widget", "default", "w1");
  ASSERT_TRUE(live.has_value());
  EXPECT_EQ((*live)["spec"]["size"], 3);
}

TEST(ApplierCrdTest, CrdNeverEstablishedFailsStageOneAndStopsLaterStages) {
  FakeApiServer api(SlowCrdOptions());
  auto client = MustClient(api.Config());
  ApplierOptions options;
  options.poll_interval = std::chrono::milliseconds(10);
  options.wait_timeout = std::chrono::milliseconds(300);
  Applier applier(client.get(), options);
  ApplyResult r = applier.Apply({.objects = {ConfigMap("default", "later", {{"k", "v"}}),
                                             WebhookConfig("later-hook"), WidgetCrd()}});
  EXPECT_EQ(r.status, core::DeadlineExceededError(
                          "CustomResourceDefinition/widgets.example.com: not established within "
                          "300ms"));
  EXPECT_THAT(Actions(r.changes),
              ElementsAre("CustomResourceDefinition/widgets.example.com created"));
  for (const RecordedRequest& req : api.Requests()) {
    EXPECT_EQ(req.path.find("/configmaps/later"), std::string::npos) << req.path;
    EXPECT_EQ(req.path.find("/later-hook"), std::string::npos) << req.path;
  }
}

TEST(ApplierCrdTest, FailedNamespaceInStageOneStopsLaterStages) {
  FakeApiServer api;
  auto client = MustClient(api.Config());
  Applier applier(client.get(), {});
  api.FailNext(1, 422, {.method = "PATCH", .path_substring = "/api/v1/namespaces/broken"});
  ApplyResult r = applier.Apply(
      {.objects = {Namespace("broken"), Namespace("fine"), ConfigMap("fine", "cm", {{"k", "v"}})}});
  EXPECT_EQ(r.status, core::InvalidArgumentError(
                          "Namespace/broken: injected fault (HTTP 422) (HTTP 422 Invalid)"));
  EXPECT_THAT(Actions(r.changes), ElementsAre("Namespace/fine created"));
  EXPECT_FALSE(api.Object("v1", "ConfigMap", "fine", "cm").has_value());
}

TEST(ApplierCrdTest, DryRunReportsCustomResourcesOfNewCrds) {
  FakeApiServer api;
  auto client = MustClient(api.Config());
  Applier applier(client.get(), {});
  ApplyResult r =
      applier.Apply({.objects = {WidgetCrd(), Widget("default", "w1")}, .dry_run = true});
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_THAT(Actions(r.changes),
              ElementsAre("CustomResourceDefinition/widgets.example.com created",
                          "Widget/default/w1 created"));
  EXPECT_FALSE(
      api.Object("apiextensions.k8s.io/v1", "CustomResourceDefinition", "", "widgets.example.com")
          .has_value());
}

// ---------------------------------------------------------------- prune

class PruneTest : public ApplierTest {
 protected:
  const core::KustomizationId owner_{"flux-system", "apps"};
  Json Owned(Json object) {
    object["metadata"]["labels"][std::string(core::kOwnerNameLabel)] = owner_.name;
    object["metadata"]["labels"][std::string(core::kOwnerNamespaceLabel)] = owner_.namespace_;
    return object;
  }
};

TEST_F(PruneTest, DeletesEntriesThatLeftTheSource) {
  NewNamespace("prune");
  std::vector<Json> v1 = {Owned(ConfigMap("prune", "stay", {{"k", "v"}})),
                          Owned(ConfigMap("prune", "gone", {{"k", "v"}}))};
  ASSERT_TRUE(applier_->Apply({.objects = v1}).status.ok());
  std::vector<Json> v2 = {v1[0]};
  ApplyResult r = applier_->Prune(Inventory::FromObjects(v1), Inventory::FromObjects(v2), owner_);
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_THAT(Actions(r.changes), ElementsAre("ConfigMap/prune/gone deleted"));
  EXPECT_FALSE(api_->Object("v1", "ConfigMap", "prune", "gone").has_value());
  EXPECT_TRUE(api_->Object("v1", "ConfigMap", "prune", "stay").has_value());
}

TEST_F(PruneTest, SkipsDisabledForeignAndMissingObjects) {
  NewNamespace("keep");
  Json disabled = Owned(
      ConfigMap("keep", "disabled", {{"k", "v"}}, {{std::string(kPruneAnnotation), "disabled"}}));
  Json foreign = ConfigMap("keep", "foreign", {{"k", "v"}}, Json::object(),
                           {{std::string(core::kOwnerNameLabel), "other"},
                            {std::string(core::kOwnerNamespaceLabel), "flux-system"}});
  Json unlabelled = ConfigMap("keep", "unlabelled", {{"k", "v"}});
  Json missing = Owned(ConfigMap("keep", "never-applied", {{"k", "v"}}));
  ASSERT_TRUE(applier_->Apply({.objects = {disabled, foreign, unlabelled}}).status.ok());
  api_->ClearRequests();
  ApplyResult r = applier_->Prune(Inventory::FromObjects({disabled, foreign, unlabelled, missing}),
                                  Inventory(), owner_);
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_THAT(Actions(r.changes),
              ElementsAre("ConfigMap/keep/disabled skipped", "ConfigMap/keep/foreign skipped",
                          "ConfigMap/keep/unlabelled skipped"));
  EXPECT_FALSE(r.changes.HasChanges());
  for (const RecordedRequest& req : api_->Requests()) EXPECT_EQ(req.method, "GET");
  EXPECT_TRUE(api_->Object("v1", "ConfigMap", "keep", "disabled").has_value());
  EXPECT_TRUE(api_->Object("v1", "ConfigMap", "keep", "foreign").has_value());
  EXPECT_TRUE(api_->Object("v1", "ConfigMap", "keep", "unlabelled").has_value());
}

TEST_F(PruneTest, DeletesInReverseApplyOrder) {
  std::vector<Json> v1 = {Owned(Namespace("rev")), Owned(ConfigMap("rev", "cm", {{"k", "v"}})),
                          Owned(WebhookConfig("rev-hook"))};
  ASSERT_TRUE(applier_->Apply({.objects = v1}).status.ok());
  api_->ClearRequests();
  ApplyResult r = applier_->Prune(Inventory::FromObjects(v1), Inventory(), owner_);
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_THAT(Actions(r.changes), ElementsAre("ConfigMap/rev/cm deleted",
                                              "ValidatingWebhookConfiguration/rev-hook deleted",
                                              "Namespace/rev deleted"));
  std::vector<std::string> deletes;
  for (const RecordedRequest& req : api_->Requests()) {
    if (req.method == "DELETE") deletes.push_back(req.path);
  }
  EXPECT_THAT(deletes,
              ElementsAre("/api/v1/namespaces/rev/configmaps/cm",
                          "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/"
                          "rev-hook",
                          "/api/v1/namespaces/rev"));
  EXPECT_FALSE(api_->Object("v1", "Namespace", "", "rev").has_value());
}

TEST_F(PruneTest, DryRunDeletesNothing) {
  NewNamespace("prune-dry");
  std::vector<Json> v1 = {Owned(ConfigMap("prune-dry", "cm", {{"k", "v"}}))};
  ASSERT_TRUE(applier_->Apply({.objects = v1}).status.ok());
  ApplyResult r = applier_->Prune(Inventory::FromObjects(v1), Inventory(), owner_, true);
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_THAT(Actions(r.changes), ElementsAre("ConfigMap/prune-dry/cm deleted"));
  EXPECT_TRUE(api_->Object("v1", "ConfigMap", "prune-dry", "cm").has_value());
}

TEST_F(PruneTest, DeleteFailureIsReportedAndOthersContinue) {
  NewNamespace("prune-fail");
  std::vector<Json> v1 = {Owned(ConfigMap("prune-fail", "a", {{"k", "v"}})),
                          Owned(ConfigMap("prune-fail", "b", {{"k", "v"}}))};
  ASSERT_TRUE(applier_->Apply({.objects = v1}).status.ok());
  api_->FailNext(1, 403, {.method = "DELETE", .path_substring = "/configmaps/a"});
  ApplyResult r = applier_->Prune(Inventory::FromObjects(v1), Inventory(), owner_);
  EXPECT_EQ(r.status,
            core::PermissionDeniedError(
                "ConfigMap/prune-fail/a: injected fault (HTTP 403) (HTTP 403 Forbidden)"));
  EXPECT_THAT(Actions(r.changes), ElementsAre("ConfigMap/prune-fail/b deleted"));
  EXPECT_TRUE(api_->Object("v1", "ConfigMap", "prune-fail", "a").has_value());
}

}  // namespace
}  // namespace driftguard::reconciler
