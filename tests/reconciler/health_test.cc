// Health assessment (kstatus rules) on status documents as the API server returns them, and
// WaitForHealthy against the in-process FakeApiServer.
#include "reconciler/health.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "core/json.h"
#include "core/kube_client.h"
#include "tests/support/fake_apiserver.h"

namespace driftguard::reconciler {
namespace {

using core::Json;
using ::driftguard::testing::FakeApiServer;

Json Parse(std::string_view text) {
  core::StatusOr<Json> j = core::ParseJson(text);
  EXPECT_TRUE(j.ok()) << j.status();
  return j.ok() ? j.value() : Json();
}

void ExpectHealth(const Json& live, HealthState state, const std::string& message) {
  HealthResult r = AssessHealth(live);
  EXPECT_EQ(HealthStateName(r.state), HealthStateName(state)) << live.dump();
  EXPECT_EQ(r.message, message) << live.dump();
}

// A Deployment as `kubectl get -o json` shows it after a finished rollout of 3 replicas.
Json HealthyDeployment() {
  return Parse(R"({
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "default", "generation": 4,
                 "annotations": {"deployment.kubernetes.io/revision": "3"}},
    "spec": {"replicas": 3, "progressDeadlineSeconds": 600,
             "selector": {"matchLabels": {"app": "web"}},
             "strategy": {"type": "RollingUpdate",
                          "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
             "template": {"metadata": {"labels": {"app": "web"}},
                          "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}},
    "status": {
      "observedGeneration": 4, "replicas": 3, "updatedReplicas": 3, "readyReplicas": 3,
      "availableReplicas": 3,
      "conditions": [
        {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable",
         "message": "Deployment has minimum availability.",
         "lastUpdateTime": "2024-05-01T10:00:00Z", "lastTransitionTime": "2024-05-01T10:00:00Z"},
        {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable",
         "message": "ReplicaSet \"web-7d4b9c8f5d\" has successfully progressed.",
         "lastUpdateTime": "2024-05-01T10:02:00Z", "lastTransitionTime": "2024-05-01T09:59:00Z"}
      ]}})");
}

// Mid-rollout: all 3 pods updated, 1 available, Available=False.
Json RollingDeployment() {
  Json d = HealthyDeployment();
  d["status"]["readyReplicas"] = 1;
  d["status"]["availableReplicas"] = 1;
  d["status"]["unavailableReplicas"] = 2;
  d["status"]["conditions"] = Parse(R"([
    {"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable",
     "message": "Deployment does not have minimum availability.",
     "lastUpdateTime": "2024-05-01T10:00:00Z", "lastTransitionTime": "2024-05-01T10:00:00Z"},
    {"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated",
     "message": "ReplicaSet \"web-7d4b9c8f5d\" is progressing.",
     "lastUpdateTime": "2024-05-01T10:02:00Z", "lastTransitionTime": "2024-05-01T09:59:00Z"}])");
  return d;
}

TEST(AssessHealthTest, StateNames) {
  EXPECT_EQ(HealthStateName(HealthState::kCurrent), "Current");
  EXPECT_EQ(HealthStateName(HealthState::kInProgress), "InProgress");
  EXPECT_EQ(HealthStateName(HealthState::kFailed), "Failed");
  EXPECT_EQ(HealthStateName(HealthState::kNotFound), "NotFound");
}

TEST(AssessHealthTest, DeploymentRolloutComplete) {
  ExpectHealth(HealthyDeployment(), HealthState::kCurrent, "");
}

TEST(AssessHealthTest, DeploymentEveryInProgressStage) {
  Json d = HealthyDeployment();
  d["metadata"]["generation"] = 5;
  ExpectHealth(d, HealthState::kInProgress,
               "Deployment generation is 5, but latest observed generation is 4");

  d = HealthyDeployment();
  d["status"]["replicas"] = 1;
  ExpectHealth(d, HealthState::kInProgress, "Replicas: 1/3");

  d = HealthyDeployment();
  d["status"]["replicas"] = 4;
  d["status"]["updatedReplicas"] = 1;
  ExpectHealth(d, HealthState::kInProgress, "Updated: 1/3");

  d = HealthyDeployment();
  d["status"]["replicas"] = 4;  // an old pod is still terminating
  ExpectHealth(d, HealthState::kInProgress, "Pending termination: 1");

  ExpectHealth(RollingDeployment(), HealthState::kInProgress, "Available: 1/3");

  d = HealthyDeployment();
  d["status"]["readyReplicas"] = 2;
  ExpectHealth(d, HealthState::kInProgress, "Ready: 2/3");

  d = HealthyDeployment();
  d["status"]["conditions"][1]["reason"] = "ReplicaSetUpdated";
  ExpectHealth(d, HealthState::kInProgress, "ReplicaSet not Available");

  d = HealthyDeployment();
  d["status"]["conditions"][0] = Parse(R"({"type": "Available", "status": "False",
      "reason": "MinimumReplicasUnavailable",
      "message": "Deployment does not have minimum availability."})");
  ExpectHealth(d, HealthState::kInProgress, "Deployment does not have minimum availability.");
}

TEST(AssessHealthTest, DeploymentWithoutProgressDeadlineNeedsOnlyAvailable) {
  Json d = HealthyDeployment();
  d["spec"].erase("progressDeadlineSeconds");
  d["status"]["conditions"].erase(1);  // the controller sets no Progressing condition then
  ExpectHealth(d, HealthState::kCurrent, "");
}

TEST(AssessHealthTest, DeploymentProgressDeadlineExceededFails) {
  Json d = RollingDeployment();
  d["status"]["conditions"][1] = Parse(R"({"type": "Progressing", "status": "False",
      "reason": "ProgressDeadlineExceeded",
      "message": "ReplicaSet \"web-7d4b9c8f5d\" has timed out progressing."})");
  ExpectHealth(d, HealthState::kFailed, "Progress deadline exceeded");
}

TEST(AssessHealthTest, DeploymentBeingDeleted) {
  Json d = HealthyDeployment();
  d["metadata"]["deletionTimestamp"] = "2024-05-01T11:00:00Z";
  ExpectHealth(d, HealthState::kInProgress, "Resource scheduled for deletion");
}

Json StatefulSet() {
  return Parse(R"({
    "apiVersion": "apps/v1", "kind": "StatefulSet",
    "metadata": {"name": "db", "namespace": "default", "generation": 2},
    "spec": {"replicas": 3, "serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
             "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
             "template": {"metadata": {"labels": {"app": "db"}},
                          "spec": {"containers": [{"name": "db", "image": "postgres:16"}]}}},
    "status": {"observedGeneration": 2, "replicas": 3, "readyReplicas": 3,
               "currentReplicas": 3, "updatedReplicas": 3, "availableReplicas": 3,
               "currentRevision": "db-6c8d9f7b54", "updateRevision": "db-6c8d9f7b54",
               "collisionCount": 0}})");
}

TEST(AssessHealthTest, StatefulSetStates) {
  ExpectHealth(StatefulSet(), HealthState::kCurrent, "");

  Json s = StatefulSet();
  s["status"]["replicas"] = 2;
  ExpectHealth(s, HealthState::kInProgress, "Replicas: 2/3");

  s = StatefulSet();
  s["status"]["readyReplicas"] = 1;
  ExpectHealth(s, HealthState::kInProgress, "Ready: 1/3");

  s = StatefulSet();  // rolling update under way: pods ready, revisions differ
  s["status"]["updateRevision"] = "db-84f5c6d7b9";
  s["status"]["currentReplicas"] = 2;
  s["status"]["updatedReplicas"] = 1;
  ExpectHealth(s, HealthState::kInProgress, "Current: 2/3");
  s["status"]["currentReplicas"] = 3;
  ExpectHealth(s, HealthState::kInProgress, "Waiting for updated revision to match current");

  s = StatefulSet();  // partition 2: only ordinal 2 is updated, by design
  s["spec"]["updateStrategy"]["rollingUpdate"]["partition"] = 2;
  s["status"]["updateRevision"] = "db-84f5c6d7b9";
  s["status"]["updatedReplicas"] = 0;
  ExpectHealth(s, HealthState::kInProgress, "Updated: 0/1");
  s["status"]["updatedReplicas"] = 1;
  ExpectHealth(s, HealthState::kCurrent, "");

  s = StatefulSet();
  s["spec"]["updateStrategy"] = Parse(R"({"type": "OnDelete"})");
  s["status"]["readyReplicas"] = 0;
  ExpectHealth(s, HealthState::kCurrent, "");
}

Json DaemonSet() {
  return Parse(R"({
    "apiVersion": "apps/v1", "kind": "DaemonSet",
    "metadata": {"name": "agent", "namespace": "kube-system", "generation": 1},
    "spec": {"selector": {"matchLabels": {"app": "agent"}},
             "template": {"metadata": {"labels": {"app": "agent"}},
                          "spec": {"containers": [{"name": "a", "image": "agent:2"}]}}},
    "status": {"observedGeneration": 1, "desiredNumberScheduled": 3,
               "currentNumberScheduled": 3, "updatedNumberScheduled": 3,
               "numberAvailable": 3, "numberReady": 3, "numberMisscheduled": 0}})");
}

TEST(AssessHealthTest, DaemonSetStates) {
  ExpectHealth(DaemonSet(), HealthState::kCurrent, "");

  Json d = DaemonSet();
  d["status"].erase("observedGeneration");
  ExpectHealth(d, HealthState::kInProgress, "DaemonSet status.observedGeneration not found");

  d = DaemonSet();
  d["status"].erase("desiredNumberScheduled");
  ExpectHealth(d, HealthState::kInProgress, "Missing .status.desiredNumberScheduled");

  d = DaemonSet();
  d["status"]["currentNumberScheduled"] = 2;
  ExpectHealth(d, HealthState::kInProgress, "Current: 2/3");

  d = DaemonSet();
  d["status"]["updatedNumberScheduled"] = 1;
  ExpectHealth(d, HealthState::kInProgress, "Updated: 1/3");

  d = DaemonSet();
  d["status"]["numberAvailable"] = 2;
  ExpectHealth(d, HealthState::kInProgress, "Available: 2/3");

  d = DaemonSet();
  d["status"]["numberReady"] = 0;
  ExpectHealth(d, HealthState::kInProgress, "Ready: 0/3");
}

Json Job() {
  return Parse(R"({
    "apiVersion": "batch/v1", "kind": "Job",
    "metadata": {"name": "migrate", "namespace": "default", "generation": 1},
    "spec": {"completions": 1, "parallelism": 1, "backoffLimit": 2,
             "template": {"spec": {"restartPolicy": "Never",
                                   "containers": [{"name": "m", "image": "migrate:1"}]}}},
    "status": {}})");
}

TEST(AssessHealthTest, JobStates) {
  ExpectHealth(Job(), HealthState::kInProgress, "Job not started");

  Json j = Job();
  j["status"] = Parse(R"({"startTime": "2024-05-01T10:00:00Z", "active": 1, "ready": 0})");
  ExpectHealth(j, HealthState::kInProgress,
               "Job in progress. succeeded: 0/1, active: 1, failed: 0");

  j["status"] = Parse(R"({"startTime": "2024-05-01T10:00:00Z",
      "completionTime": "2024-05-01T10:00:09Z", "succeeded": 1,
      "conditions": [{"type": "Complete", "status": "True",
                      "lastProbeTime": "2024-05-01T10:00:09Z",
                      "lastTransitionTime": "2024-05-01T10:00:09Z"}]})");
  ExpectHealth(j, HealthState::kCurrent, "");

  j["status"] = Parse(R"({"startTime": "2024-05-01T10:00:00Z", "failed": 3,
      "conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                      "message": "Job has reached the specified backoff limit",
                      "lastTransitionTime": "2024-05-01T10:03:00Z"}]})");
  ExpectHealth(j, HealthState::kFailed, "Job Failed. failed: 3/1");

  j["status"] = Parse(R"({"conditions": [{"type": "Suspended", "status": "True",
      "reason": "JobSuspended", "message": "Job suspended"}]})");
  ExpectHealth(j, HealthState::kCurrent, "");
}

Json Crd() {
  return Parse(R"({
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.com", "generation": 1},
    "spec": {"group": "example.com", "scope": "Namespaced",
             "names": {"kind": "Widget", "plural": "widgets", "singular": "widget"},
             "versions": [{"name": "v1", "served": true, "storage": true}]},
    "status": {"acceptedNames": {"kind": "Widget", "plural": "widgets"},
               "storedVersions": ["v1"],
               "conditions": [
      {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
       "message": "no conflicts found", "lastTransitionTime": "2024-05-01T10:00:00Z"},
      {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
       "message": "the initial names have been accepted",
       "lastTransitionTime": "2024-05-01T10:00:00Z"}]}})");
}

TEST(AssessHealthTest, CustomResourceDefinitionStates) {
  ExpectHealth(Crd(), HealthState::kCurrent, "");

  Json c = Crd();
  c["status"]["conditions"][1] = Parse(R"({"type": "Established", "status": "False",
      "reason": "Installing", "message": "the initial names have not been accepted yet"})");
  ExpectHealth(c, HealthState::kInProgress, "Install in progress");

  c = Crd();
  c["status"].erase("conditions");
  ExpectHealth(c, HealthState::kInProgress, "Install in progress");

  c = Crd();
  c["status"]["conditions"][0] = Parse(R"({"type": "NamesAccepted", "status": "False",
      "reason": "PluralConflict", "message": "\"widgets\" is already in use"})");
  ExpectHealth(c, HealthState::kFailed, "\"widgets\" is already in use");
}

TEST(AssessHealthTest, NamespacePvcAndServiceStates) {
  Json ns = Parse(R"({"apiVersion": "v1", "kind": "Namespace",
      "metadata": {"name": "prod"}, "spec": {"finalizers": ["kubernetes"]},
      "status": {"phase": "Active"}})");
  ExpectHealth(ns, HealthState::kCurrent, "");
  ns["status"]["phase"] = "Terminating";
  ExpectHealth(ns, HealthState::kInProgress, "Namespace is not Active. phase: Terminating");
  ns.erase("status");
  ExpectHealth(ns, HealthState::kInProgress, "Namespace is not Active. phase: unknown");

  Json pvc = Parse(R"({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
      "metadata": {"name": "data", "namespace": "default"},
      "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
      "status": {"phase": "Pending"}})");
  ExpectHealth(pvc, HealthState::kInProgress, "PVC is not Bound. phase: Pending");
  pvc["status"] = Parse(R"({"phase": "Bound", "capacity": {"storage": "1Gi"}})");
  ExpectHealth(pvc, HealthState::kCurrent, "");

  Json svc = Parse(R"({"apiVersion": "v1", "kind": "Service",
      "metadata": {"name": "web", "namespace": "default"},
      "spec": {"type": "LoadBalancer", "clusterIP": "10.96.12.7",
               "ports": [{"port": 80, "targetPort": 8080}]},
      "status": {"loadBalancer": {}}})");
  ExpectHealth(svc, HealthState::kInProgress, "LoadBalancer ingress address not assigned");
  svc["status"]["loadBalancer"]["ingress"] = Parse(R"([{"ip": "203.0.113.10"}])");
  ExpectHealth(svc, HealthState::kCurrent, "");
  svc["spec"]["type"] = "ClusterIP";
  svc["status"] = Json::object();
  ExpectHealth(svc, HealthState::kCurrent, "");
}

// A Flux Kustomization stands for any custom resource with kstatus conditions.
Json CustomResource() {
  return Parse(R"({
    "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
    "metadata": {"name": "apps", "namespace": "flux-system", "generation": 3},
    "spec": {"interval": "10m", "path": "./apps", "prune": true,
             "sourceRef": {"kind": "GitRepository", "name": "flux-system"}},
    "status": {"observedGeneration": 3,
               "lastAppliedRevision": "main@sha1:0a1b2c3d4e5f60718293a4b5c6d7e8f901234567",
               "conditions": [
      {"type": "Ready", "status": "True", "reason": "ReconciliationSucceeded",
       "message": "Applied revision: main@sha1:0a1b2c3d4e5f60718293a4b5c6d7e8f901234567",
       "observedGeneration": 3, "lastTransitionTime": "2024-05-01T10:00:00Z"}]}})");
}

TEST(AssessHealthTest, CustomResourceReadyConditionDecides) {
  ExpectHealth(CustomResource(), HealthState::kCurrent, "");

  Json cr = CustomResource();
  cr["status"]["conditions"][0]["status"] = "False";
  cr["status"]["conditions"][0]["reason"] = "BuildFailed";
  cr["status"]["conditions"][0]["message"] = "kustomization path not found";
  ExpectHealth(cr, HealthState::kInProgress, "kustomization path not found");

  cr["status"]["conditions"][0]["status"] = "Unknown";
  cr["status"]["conditions"][0]["message"] = "Reconciliation in progress";
  ExpectHealth(cr, HealthState::kInProgress, "Reconciliation in progress");

  cr["status"]["conditions"][0].erase("message");
  ExpectHealth(cr, HealthState::kInProgress, "Ready condition is Unknown");

  cr = CustomResource();
  cr["metadata"]["generation"] = 4;
  ExpectHealth(cr, HealthState::kInProgress,
               "Kustomization generation is 4, but latest observed generation is 3");

  cr = CustomResource();
  cr["status"]["conditions"].push_back(Parse(R"({"type": "Stalled", "status": "True",
      "reason": "InvalidSpec", "message": "spec.path: must be relative"})"));
  ExpectHealth(cr, HealthState::kFailed, "spec.path: must be relative");

  cr = CustomResource();
  cr["status"]["conditions"].push_back(Parse(R"({"type": "Reconciling", "status": "True",
      "reason": "Progressing", "message": "Building manifests for revision main@sha1:0a1b"})"));
  ExpectHealth(cr, HealthState::kInProgress, "Building manifests for revision main@sha1:0a1b");

  // Without conditions (a ConfigMap, a CR whose controller sets none): Current.
  ExpectHealth(Parse(R"({"apiVersion": "example.com/v1", "kind": "Widget",
      "metadata": {"name": "w", "namespace": "default", "generation": 1},
      "spec": {"size": 3}})"),
               HealthState::kCurrent, "");
  ExpectHealth(Parse(R"({"apiVersion": "v1", "kind": "ConfigMap",
      "metadata": {"name": "c", "namespace": "default"}, "data": {"k": "v"}})"),
               HealthState::kCurrent, "");
}

TEST(ParseHealthChecksTest, ReferencesWithDefaultNamespace) {
  core::StatusOr<std::vector<core::ObjectRef>> refs = ParseHealthChecks(Parse(R"([
      {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "namespace": "apps"},
      {"apiVersion": "v1", "kind": "Service", "name": "web"},
      {"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease", "name": "redis"}])"),
                                                                        "flux-system");
  ASSERT_TRUE(refs.ok()) << refs.status();
  ASSERT_EQ(refs.value().size(), 3u);
  EXPECT_EQ(refs.value()[0].InventoryId(), "apps_web_apps_Deployment");
  EXPECT_EQ(refs.value()[0].version, "v1");
  EXPECT_EQ(refs.value()[1].InventoryId(), "flux-system_web__Service");
  EXPECT_EQ(refs.value()[2].InventoryId(), "flux-system_redis_helm.toolkit.fluxcd.io_HelmRelease");
  EXPECT_EQ(refs.value()[2].version, "v2");

  refs = ParseHealthChecks(Json(), "flux-system");
  ASSERT_TRUE(refs.ok());
  EXPECT_TRUE(refs.value().empty());
}

TEST(ParseHealthChecksTest, ErrorsNameTheEntry) {
  auto error = [](std::string_view text) {
    return ParseHealthChecks(Parse(text), "ns").status().message();
  };
  EXPECT_EQ(error(R"([{"apiVersion": "v1", "kind": "Service", "name": "a"},
                      {"apiVersion": "v1", "kind": "Service"}])"),
            "spec.healthChecks[1]: name is required");
  EXPECT_EQ(error(R"([{"apiVersion": "v1", "name": "a"}])"),
            "spec.healthChecks[0]: kind is required");
  EXPECT_EQ(error(R"([{"apiVersion": "v1", "kind": "Service", "name": 7}])"),
            "spec.healthChecks[0].name: must be a string");
  EXPECT_EQ(error(R"(["web"])"), "spec.healthChecks[0]: must be an object");
  EXPECT_EQ(error(R"({"kind": "Service"})"), "spec.healthChecks: must be a list");
  EXPECT_EQ(ParseHealthChecks(Parse("[{}]"), "ns").status().code(),
            core::StatusCode::kInvalidArgument);
}

// WaitForHealthy against the fake API server. Status documents are written with PutStatus, as
// the Deployment or Job controller would.
class WaitForHealthyTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { api_ = new FakeApiServer(); }
  static void TearDownTestSuite() {
    delete api_;
    api_ = nullptr;
  }
  void SetUp() override {
    auto client = core::HttpKubeClient::Create(api_->Config());
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = std::move(client).value();
  }

  // Stores `object` (spec) and then `status`, with observedGeneration = the stored generation.
  static Json Store(Json object, Json status) {
    Json stored = api_->Put(object);
    status["observedGeneration"] = stored["metadata"]["generation"];
    object["status"] = std::move(status);
    return api_->PutStatus(object);
  }

  static Json DeploymentSpec(const std::string& name) {
    Json d = HealthyDeployment();
    d["metadata"] = {{"name", name}, {"namespace", "default"}};
    d.erase("status");
    return d;
  }

  // How many GETs of `path_suffix` the fake has served.
  static int Gets(const std::string& path_suffix) {
    int n = 0;
    for (const auto& r : api_->Requests()) {
      if (r.method == "GET" && r.path.ends_with(path_suffix)) ++n;
    }
    return n;
  }

  static FakeApiServer* api_;
  std::unique_ptr<core::HttpKubeClient> client_;
};

FakeApiServer* WaitForHealthyTest::api_ = nullptr;

core::ObjectRef Ref(std::string group, std::string version, std::string kind, std::string ns,
                    std::string name) {
  return core::ObjectRef{std::move(group), std::move(version), std::move(kind), std::move(ns),
                         std::move(name)};
}

TEST_F(WaitForHealthyTest, BecomesHealthyWhileWaiting) {
  Store(DeploymentSpec("becomes"), RollingDeployment()["status"]);
  const std::string path = "/deployments/becomes";
  const int before = Gets(path);
  // The rollout finishes once the waiter has seen it in progress at least once.
  std::thread controller([&] {
    while (Gets(path) <= before) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    Store(DeploymentSpec("becomes"), HealthyDeployment()["status"]);
  });
  core::Status s = WaitForHealthy(
      client_.get(), {Ref("apps", "v1", "Deployment", "default", "becomes")},
      {.timeout = std::chrono::seconds(30), .poll_interval = std::chrono::milliseconds(20)});
  controller.join();
  EXPECT_TRUE(s.ok()) << s;
  EXPECT_GE(Gets(path) - before, 2);  // it polled again after the first, unhealthy answer
}

TEST_F(WaitForHealthyTest, StaysProgressingTimesOutWithFluxMessage) {
  Store(DeploymentSpec("stuck"), RollingDeployment()["status"]);
  core::Status s = WaitForHealthy(
      client_.get(), {Ref("apps", "v1", "Deployment", "default", "stuck")},
      {.timeout = std::chrono::milliseconds(300), .poll_interval = std::chrono::milliseconds(50)});
  EXPECT_EQ(s.code(), core::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(s.message(),
            "timeout waiting for: [Deployment/default/stuck status: 'InProgress': Available: 1/3]");
}

TEST_F(WaitForHealthyTest, FailedJobEndsTheWaitEarly) {
  Json job = Job();
  job["metadata"] = {{"name", "migrate-failed"}, {"namespace", "default"}};
  job.erase("status");
  Store(job, Parse(R"({"startTime": "2024-05-01T10:00:00Z", "failed": 1,
      "conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                      "message": "Job has reached the specified backoff limit"}]})"));
  Store(DeploymentSpec("fine"), HealthyDeployment()["status"]);
  // A timeout far beyond the test's life: only the early failure can end this wait.
  core::Status s = WaitForHealthy(client_.get(),
                                  {Ref("apps", "v1", "Deployment", "default", "fine"),
                                   Ref("batch", "v1", "Job", "default", "migrate-failed")},
                                  {.timeout = std::chrono::hours(1)});
  EXPECT_EQ(s.code(), core::StatusCode::kFailedPrecondition);
  EXPECT_EQ(s.message(),
            "failed early due to stalled resources: [Job/default/migrate-failed status: 'Failed': "
            "Job Failed. failed: 1/1]");
}

TEST_F(WaitForHealthyTest, MissingObjectIsNotFoundUntilTheTimeout) {
  Store(Parse(R"({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "health-ns"}})"),
        Parse(R"({"phase": "Active"})"));
  // The Namespace reference carries a namespace, as ParseHealthChecks' default gives it; the
  // REST mapping says Namespaces are cluster-scoped, so it is dropped.
  core::Status s = WaitForHealthy(
      client_.get(),
      {Ref("", "v1", "Namespace", "flux-system", "health-ns"),
       Ref("", "v1", "ConfigMap", "default", "absent")},
      {.timeout = std::chrono::milliseconds(200), .poll_interval = std::chrono::milliseconds(50)});
  EXPECT_EQ(s.code(), core::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(s.message(), "timeout waiting for: [ConfigMap/default/absent status: 'NotFound']");
}

TEST_F(WaitForHealthyTest, NoObjectsIsHealthyAtOnce) {
  const size_t before = api_->Requests().size();
  EXPECT_TRUE(WaitForHealthy(client_.get(), {}, {.timeout = std::chrono::hours(1)}).ok());
  EXPECT_EQ(api_->Requests().size(), before);
}

TEST_F(WaitForHealthyTest, CancelledEndsTheWait) {
  Store(DeploymentSpec("cancelled"), RollingDeployment()["status"]);
  std::atomic<int> asked{0};
  core::Status s = WaitForHealthy(
      client_.get(), {Ref("apps", "v1", "Deployment", "default", "cancelled")},
      {.timeout = std::chrono::hours(1), .poll_interval = std::chrono::milliseconds(10)},
      [&] { return ++asked >= 3; });
  EXPECT_EQ(s.code(), core::StatusCode::kCancelled);
  EXPECT_EQ(s.message(), "health check cancelled");
  EXPECT_EQ(asked.load(), 3);
}

TEST_F(WaitForHealthyTest, PermanentApiErrorEndsTheWait) {
  Store(DeploymentSpec("forbidden"), HealthyDeployment()["status"]);
  api_->FailNext(1, 403, {.method = "GET", .path_substring = "/deployments/forbidden"});
  core::Status s =
      WaitForHealthy(client_.get(), {Ref("apps", "v1", "Deployment", "default", "forbidden")},
                     {.timeout = std::chrono::hours(1)});
  EXPECT_EQ(s.code(), core::StatusCode::kPermissionDenied);
  EXPECT_THAT(s.message(), ::testing::StartsWith("health check of Deployment/default/forbidden: "));
}

}  // namespace
}  // namespace driftguard::reconciler
