// Flux-compatible conditions and status, written to the fake API server's Flux CRDs, and the
// Kubernetes Event recorder.
#include "reconciler/flux_status.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "core/flux_api.h"
#include "core/json.h"
#include "core/kube_client.h"
#include "tests/support/fake_apiserver.h"

namespace driftguard::reconciler {
namespace {

using core::Json;
using ::driftguard::testing::FakeApiServer;
using std::chrono::system_clock;
using ::testing::StartsWith;

constexpr char kRevision[] = "main@sha1:0a1b2c3d4e5f60718293a4b5c6d7e8f901234567";

Json Parse(std::string_view text) {
  core::StatusOr<Json> j = core::ParseJson(text);
  EXPECT_TRUE(j.ok()) << j.status();
  return j.ok() ? j.value() : Json();
}

// 2024-05-01T10:00:00Z plus `seconds`.
system_clock::time_point At(int seconds) {
  return system_clock::time_point(std::chrono::seconds(1714557600 + seconds));
}

// "type=status/reason: message" for each condition, in order.
std::vector<std::string> Summary(const std::vector<Condition>& conditions) {
  std::vector<std::string> out;
  for (const Condition& c : conditions) {
    out.push_back(c.type + "=" + c.status + "/" + c.reason + ": " + c.message + " (gen " +
                  std::to_string(c.observed_generation) + ")");
  }
  return out;
}

TEST(ConditionsTest, Rfc3339IsUtcSeconds) {
  EXPECT_EQ(Rfc3339(At(0)), "2024-05-01T10:00:00Z");
  EXPECT_EQ(Rfc3339(At(0) + std::chrono::milliseconds(999)), "2024-05-01T10:00:00Z");
  EXPECT_EQ(Rfc3339(At(86399)), "2024-05-02T09:59:59Z");
}

TEST(ConditionsTest, TransitionTimeChangesOnlyWithStatus) {
  std::vector<Condition> conditions;
  SetCondition(conditions, {"Ready", "False", "BuildFailed", "bad", 1, "ignored"}, At(0));
  ASSERT_EQ(conditions.size(), 1u);
  EXPECT_EQ(conditions[0].last_transition_time, "2024-05-01T10:00:00Z");

  // Same status, new reason and message: the transition time stays.
  SetCondition(conditions, {"Ready", "False", "HealthCheckFailed", "worse", 2, ""}, At(60));
  ASSERT_EQ(conditions.size(), 1u);
  EXPECT_EQ(conditions[0].reason, "HealthCheckFailed");
  EXPECT_EQ(conditions[0].message, "worse");
  EXPECT_EQ(conditions[0].observed_generation, 2);
  EXPECT_EQ(conditions[0].last_transition_time, "2024-05-01T10:00:00Z");

  SetCondition(conditions, {"Ready", "True", "ReconciliationSucceeded", "ok", 2, ""}, At(120));
  EXPECT_EQ(conditions[0].last_transition_time, "2024-05-01T10:02:00Z");

  // Other types are appended and kept in order.
  SetCondition(conditions, {"Healthy", "True", "Succeeded", "fine", 2, ""}, At(180));
  SetCondition(conditions, {"Ready", "True", "ReconciliationSucceeded", "ok again", 2, ""},
               At(240));
  ASSERT_EQ(conditions.size(), 2u);
  EXPECT_EQ(conditions[0].type, "Ready");
  EXPECT_EQ(conditions[0].last_transition_time, "2024-05-01T10:02:00Z");
  EXPECT_EQ(conditions[1].type, "Healthy");
  EXPECT_EQ(conditions[1].last_transition_time, "2024-05-01T10:03:00Z");

  ASSERT_NE(FindCondition(conditions, "Healthy"), nullptr);
  EXPECT_EQ(FindCondition(conditions, "Healthy")->message, "fine");
  EXPECT_EQ(FindCondition(conditions, "Stalled"), nullptr);
  RemoveCondition(conditions, "Healthy");
  RemoveCondition(conditions, "Stalled");  // absent: no-op
  EXPECT_EQ(conditions.size(), 1u);
  EXPECT_EQ(FindCondition(conditions, "Healthy"), nullptr);
}

TEST(MarkTest, ReconcilingThenReady) {
  KustomizationStatus st;
  st.observed_generation = 1;
  MarkReconciling(st, 2, "Building manifests for revision main@sha1:0a1b with a timeout of 5m0s",
                  At(0));
  EXPECT_THAT(Summary(st.conditions),
              ::testing::ElementsAre(
                  "Ready=Unknown/Progressing: Reconciliation in progress (gen 2)",
                  "Reconciling=True/Progressing: Building manifests for revision main@sha1:0a1b "
                  "with a timeout of 5m0s (gen 2)"));
  EXPECT_EQ(st.observed_generation, 1);  // not finished with generation 2 yet

  MarkReady(st, 2, AppliedRevisionMessage(kRevision), At(10), /*healthy=*/false);
  EXPECT_THAT(Summary(st.conditions),
              ::testing::ElementsAre("Ready=True/ReconciliationSucceeded: Applied revision: "
                                     "main@sha1:0a1b2c3d4e5f60718293a4b5c6d7e8f901234567 (gen 2)"));
  EXPECT_EQ(st.conditions[0].last_transition_time, "2024-05-01T10:00:10Z");
  EXPECT_EQ(st.observed_generation, 2);

  // The next run: Ready goes Unknown then True again, each a transition.
  MarkReconciling(st, 2, "", At(100));
  EXPECT_EQ(FindCondition(st.conditions, "Reconciling")->message, "Reconciliation in progress");
  EXPECT_EQ(FindCondition(st.conditions, "Ready")->last_transition_time, "2024-05-01T10:01:40Z");
}

TEST(MarkTest, ReadyKeepsTransitionTimeAcrossRuns) {
  KustomizationStatus st;
  MarkReady(st, 1, AppliedRevisionMessage("main@sha1:1111"), At(0), false);
  MarkReady(st, 1, AppliedRevisionMessage("main@sha1:2222"), At(600), false);
  ASSERT_EQ(st.conditions.size(), 1u);
  EXPECT_EQ(st.conditions[0].message, "Applied revision: main@sha1:2222");
  EXPECT_EQ(st.conditions[0].last_transition_time, "2024-05-01T10:00:00Z");
}

TEST(MarkTest, RetryableFailureKeepsReconcilingWithRetry) {
  KustomizationStatus st;
  st.observed_generation = 3;
  MarkReconciling(st, 4, "Detecting drift for revision main@sha1:0a1b with a timeout of 5m0s",
                  At(0));
  MarkFailed(st, 4, kReasonReconciliationFailed,
             "Deployment/default/web dry-run failed (HTTP 503 ServiceUnavailable)",
             /*stalled=*/false, At(5));
  EXPECT_THAT(
      Summary(st.conditions),
      ::testing::ElementsAre("Ready=False/ReconciliationFailed: Deployment/default/web dry-run "
                             "failed (HTTP 503 ServiceUnavailable) (gen 4)",
                             "Reconciling=True/ProgressingWithRetry: Detecting drift for revision "
                             "main@sha1:0a1b with a timeout of 5m0s (gen 4)"));
  EXPECT_EQ(st.observed_generation, 3);
  // Reconciling stayed True: its transition time is from MarkReconciling.
  EXPECT_EQ(FindCondition(st.conditions, "Reconciling")->last_transition_time,
            "2024-05-01T10:00:00Z");

  // Without a Reconciling condition before, the failure message is used.
  KustomizationStatus fresh;
  MarkFailed(fresh, 1, kReasonDependencyNotReady, "dependency 'flux-system/infra' is not ready",
             false, At(0));
  EXPECT_THAT(Summary(fresh.conditions),
              ::testing::ElementsAre(
                  "Ready=False/DependencyNotReady: dependency 'flux-system/infra' is not ready "
                  "(gen 1)",
                  "Reconciling=True/ProgressingWithRetry: dependency 'flux-system/infra' is not "
                  "ready (gen 1)"));
}

TEST(MarkTest, TerminalFailureStallsUntilTheNextRun) {
  KustomizationStatus st;
  MarkReconciling(st, 2, "Building manifests", At(0));
  MarkFailed(st, 2, kReasonBuildFailed, "kustomization path not found: ./apps", /*stalled=*/true,
             At(1));
  EXPECT_THAT(Summary(st.conditions),
              ::testing::ElementsAre(
                  "Ready=False/BuildFailed: kustomization path not found: ./apps (gen 2)",
                  "Stalled=True/BuildFailed: kustomization path not found: ./apps (gen 2)"));
  EXPECT_EQ(st.observed_generation, 2);

  // A new revision: the run starts again, Stalled goes away.
  MarkReconciling(st, 2, "Building manifests", At(60));
  EXPECT_EQ(FindCondition(st.conditions, "Stalled"), nullptr);
  MarkReady(st, 2, AppliedRevisionMessage(kRevision), At(70), false);
  EXPECT_EQ(st.conditions.size(), 1u);
}

TEST(MarkTest, HealthCheckFlow) {
  KustomizationStatus st;
  MarkReconciling(st, 1, "Detecting drift", At(0));
  const std::string running =
      HealthCheckRunningMessage(kRevision, std::chrono::milliseconds(300'000));
  EXPECT_EQ(running,
            "Running health checks for revision "
            "main@sha1:0a1b2c3d4e5f60718293a4b5c6d7e8f901234567 with a timeout of 5m0s");
  MarkHealthChecking(st, 1, running, At(1));
  EXPECT_EQ(FindCondition(st.conditions, "Healthy")->status, "Unknown");
  EXPECT_EQ(FindCondition(st.conditions, "Healthy")->reason, "Progressing");
  EXPECT_EQ(FindCondition(st.conditions, "Reconciling")->message, running);

  const std::string timeout =
      "timeout waiting for: [Deployment/default/web status: 'InProgress': Available: 1/3]";
  MarkUnhealthy(st, 1, timeout, At(301));
  EXPECT_THAT(
      Summary(st.conditions),
      ::testing::ElementsAre("Ready=False/HealthCheckFailed: " + timeout + " (gen 1)",
                             "Reconciling=True/ProgressingWithRetry: " + running + " (gen 1)",
                             "Healthy=False/HealthCheckFailed: " + timeout + " (gen 1)"));

  // The retry passes.
  MarkHealthChecking(st, 1, running, At(400));
  MarkHealthy(st, 1, HealthCheckPassedMessage(std::chrono::milliseconds(2500)), At(402));
  MarkReady(st, 1, AppliedRevisionMessage(kRevision), At(402), /*healthy=*/true);
  EXPECT_THAT(
      Summary(st.conditions),
      ::testing::ElementsAre("Ready=True/ReconciliationSucceeded: Applied revision: "
                             "main@sha1:0a1b2c3d4e5f60718293a4b5c6d7e8f901234567 (gen 1)",
                             "Healthy=True/Succeeded: Health check passed in 2.5s (gen 1)"));
  EXPECT_EQ(FindCondition(st.conditions, "Healthy")->last_transition_time, "2024-05-01T10:06:42Z");

  // MarkReady(healthy) without MarkHealthy: Flux's default text; !healthy removes Healthy.
  KustomizationStatus other;
  MarkReady(other, 1, "Applied revision: x", At(0), true);
  EXPECT_EQ(FindCondition(other.conditions, "Healthy")->message, "Health check passed");
  MarkReady(other, 1, "Applied revision: x", At(1), false);
  EXPECT_EQ(FindCondition(other.conditions, "Healthy"), nullptr);
}

TEST(MarkTest, LongMessagesAreTrimmedToFluxLimit) {
  KustomizationStatus st;
  MarkFailed(st, 1, kReasonBuildFailed, std::string(30000, 'x'), true, At(0));
  EXPECT_EQ(FindCondition(st.conditions, "Ready")->message.size(), 20000u);
  // A multi-byte character straddling the limit is dropped whole.
  MarkFailed(st, 1, kReasonBuildFailed, std::string(19999, 'x') + "\xC3\xA9" + "tail", true, At(0));
  EXPECT_EQ(FindCondition(st.conditions, "Ready")->message, std::string(19999, 'x'));
}

constexpr char kFluxStatus[] = R"({
  "observedGeneration": 7,
  "lastAppliedRevision": "main@sha1:0a1b2c3d4e5f60718293a4b5c6d7e8f901234567",
  "lastAttemptedRevision": "main@sha1:89abcdef0123456789abcdef0123456789abcdef",
  "lastHandledReconcileAt": "2024-05-01T09:59:00.123456789Z",
  "inventory": {"entries": [
    {"id": "_apps__Namespace", "v": "v1"},
    {"id": "apps_web_apps_Deployment", "v": "v1"}]},
  "conditions": [
    {"type": "Ready", "status": "False", "reason": "HealthCheckFailed",
     "message": "timeout waiting for: [Deployment/apps/web status: 'InProgress']",
     "observedGeneration": 7, "lastTransitionTime": "2024-05-01T10:00:00Z"},
    {"type": "Healthy", "status": "False", "reason": "HealthCheckFailed",
     "message": "timeout waiting for: [Deployment/apps/web status: 'InProgress']",
     "observedGeneration": 7, "lastTransitionTime": "2024-05-01T10:00:00Z"}]})";

TEST(KustomizationStatusTest, JsonRoundTrip) {
  const Json in = Parse(kFluxStatus);
  KustomizationStatus st = KustomizationStatus::FromJson(in);
  EXPECT_EQ(st.observed_generation, 7);
  EXPECT_EQ(st.last_applied_revision, "main@sha1:0a1b2c3d4e5f60718293a4b5c6d7e8f901234567");
  EXPECT_EQ(st.last_attempted_revision, "main@sha1:89abcdef0123456789abcdef0123456789abcdef");
  EXPECT_EQ(st.last_handled_reconcile_at, "2024-05-01T09:59:00.123456789Z");
  ASSERT_EQ(st.inventory.entries().size(), 2u);
  EXPECT_EQ(st.inventory.entries()[1].id, "apps_web_apps_Deployment");
  ASSERT_EQ(st.conditions.size(), 2u);
  EXPECT_EQ(st.conditions[1].type, "Healthy");
  EXPECT_EQ(st.conditions[1].last_transition_time, "2024-05-01T10:00:00Z");
  EXPECT_EQ(st.ToJson(), in) << st.ToJson().dump(2);
}

TEST(KustomizationStatusTest, FromJsonIsLenient) {
  KustomizationStatus empty = KustomizationStatus::FromJson(Json());
  EXPECT_EQ(empty.observed_generation, 0);
  EXPECT_TRUE(empty.conditions.empty());
  EXPECT_EQ(empty.ToJson(), Parse(R"({"observedGeneration": 0, "inventory": {"entries": []},
                                      "conditions": []})"));

  KustomizationStatus st = KustomizationStatus::FromJson(Parse(R"({
      "observedGeneration": "seven", "lastAppliedRevision": 12,
      "inventory": {"entries": [{"id": "not-an-id", "v": "v1"}]},
      "conditions": [{"status": "True"}, "junk",
                     {"type": "Ready", "status": "True", "reason": "ReconciliationSucceeded"}]})"));
  EXPECT_EQ(st.observed_generation, 0);
  EXPECT_EQ(st.last_applied_revision, "");
  EXPECT_TRUE(st.inventory.empty());
  ASSERT_EQ(st.conditions.size(), 1u);
  EXPECT_EQ(st.conditions[0].type, "Ready");
  EXPECT_EQ(st.conditions[0].message, "");
}

class FluxStatusApiTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    FakeApiServer::Options options;
    options.namespaces = {"default", "flux-system"};
    api_ = new FakeApiServer(options);
  }
  static void TearDownTestSuite() {
    delete api_;
    api_ = nullptr;
  }
  void SetUp() override {
    auto client = core::HttpKubeClient::Create(api_->Config());
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = std::move(client).value();
  }

  static core::Kustomization StoreKustomization(const std::string& name) {
    Json stored = api_->Put(Parse(R"({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "metadata": {"name": ")" + name +
                                  R"(", "namespace": "flux-system"},
        "spec": {"interval": "10m", "path": "./apps", "prune": true, "timeout": "2m",
                 "sourceRef": {"kind": "GitRepository", "name": "flux-system"}}})"));
    core::StatusOr<core::Kustomization> k = core::ParseKustomization(stored);
    EXPECT_TRUE(k.ok()) << k.status();
    return k.ok() ? k.value() : core::Kustomization{};
  }

  static Json Live(const std::string& api_version, const std::string& kind, const std::string& ns,
                   const std::string& name) {
    std::optional<Json> o = api_->Object(api_version, kind, ns, name);
    EXPECT_TRUE(o.has_value()) << kind << " " << ns << "/" << name;
    return o.value_or(Json());
  }

  // Events about `involved_name`, oldest first (the fake lists by name; names end in the
  // hex nanoseconds of the recorder's clock).
  std::vector<Json> Events(const std::string& ns, const std::string& involved_name) {
    core::StatusOr<core::ObjectList> list = client_->List({"", "v1", "Event"}, ns);
    EXPECT_TRUE(list.ok()) << list.status();
    std::vector<Json> out;
    if (!list.ok()) return out;
    for (const Json& e : list.value().items) {
      if (e["involvedObject"].value("name", "") == involved_name) out.push_back(e);
    }
    return out;
  }

  static FakeApiServer* api_;
  std::unique_ptr<core::HttpKubeClient> client_;
};

FakeApiServer* FluxStatusApiTest::api_ = nullptr;

TEST_F(FluxStatusApiTest, KustomizationStatusWrittenThroughStatusSubresource) {
  core::Kustomization k = StoreKustomization("apps");
  const Json before =
      Live("kustomize.toolkit.fluxcd.io/v1", "Kustomization", "flux-system", "apps");
  api_->ClearRequests();

  KustomizationStatus st;
  st.last_attempted_revision = kRevision;
  st.last_applied_revision = kRevision;
  st.inventory = Inventory::FromObjects({Parse(R"({"apiVersion": "apps/v1",
      "kind": "Deployment", "metadata": {"name": "web", "namespace": "apps"}})")});
  MarkFailed(st, 1, kReasonHealthCheckFailed, "first", /*stalled=*/true, At(0));
  ASSERT_TRUE(WriteKustomizationStatus(client_.get(), k, st).ok());

  std::vector<testing::RecordedRequest> requests;
  for (const auto& r : api_->Requests()) {
    if (r.method != "GET") requests.push_back(r);  // discovery may add GETs
  }
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].method, "PATCH");
  EXPECT_EQ(requests[0].path,
            "/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/flux-system/kustomizations/apps/"
            "status");
  EXPECT_EQ(requests[0].content_type, "application/merge-patch+json");

  Json live = Live("kustomize.toolkit.fluxcd.io/v1", "Kustomization", "flux-system", "apps");
  EXPECT_EQ(live["status"], st.ToJson());
  EXPECT_EQ(live["spec"], before["spec"]);
  EXPECT_EQ(live["metadata"]["generation"], before["metadata"]["generation"]);

  // The next write replaces the condition list: Stalled is gone, not merged.
  MarkReady(st, 1, AppliedRevisionMessage(kRevision), At(60), false);
  ASSERT_TRUE(WriteKustomizationStatus(client_.get(), k, st).ok());
  live = Live("kustomize.toolkit.fluxcd.io/v1", "Kustomization", "flux-system", "apps");
  EXPECT_EQ(live["status"], st.ToJson());
  ASSERT_EQ(live["status"]["conditions"].size(), 1u);
  EXPECT_EQ(live["status"]["conditions"][0]["reason"], "ReconciliationSucceeded");
  EXPECT_EQ(live["status"]["conditions"][0]["lastTransitionTime"], "2024-05-01T10:01:00Z");

  // Reading it back gives the same status.
  EXPECT_EQ(KustomizationStatus::FromJson(live["status"]).ToJson(), st.ToJson());
}

TEST_F(FluxStatusApiTest, KustomizationStatusOfMissingObjectFails) {
  core::Kustomization k;
  k.namespace_ = "flux-system";
  k.name = "absent";
  core::Status s = WriteKustomizationStatus(client_.get(), k, KustomizationStatus{});
  EXPECT_EQ(s.code(), core::StatusCode::kNotFound);
  EXPECT_THAT(s.message(), StartsWith("writing status of Kustomization flux-system/absent: "));
}

TEST_F(FluxStatusApiTest, GitRepositoryStatusSuccessThenFailure) {
  Json stored = api_->Put(Parse(R"({
      "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
      "metadata": {"name": "flux-system", "namespace": "flux-system"},
      "spec": {"interval": "1m", "url": "https://git.example.com/org/fleet.git",
               "ref": {"branch": "main"}}})"));
  core::StatusOr<core::GitRepository> repo = core::ParseGitRepository(stored);
  ASSERT_TRUE(repo.ok()) << repo.status();

  ASSERT_TRUE(
      WriteGitRepositoryStatus(client_.get(), repo.value(), kRevision, core::OkStatus(), 1, At(0))
          .ok());
  Json status =
      Live("source.toolkit.fluxcd.io/v1", "GitRepository", "flux-system", "flux-system")["status"];
  EXPECT_EQ(status, Parse(R"({
      "observedGeneration": 1,
      "artifact": {"revision": "main@sha1:0a1b2c3d4e5f60718293a4b5c6d7e8f901234567",
                   "lastUpdateTime": "2024-05-01T10:00:00Z", "path": "", "url": ""},
      "conditions": [{"type": "Ready", "status": "True", "reason": "Succeeded",
        "message": "stored artifact for revision 'main@sha1:0a1b2c3d4e5f60718293a4b5c6d7e8f901234567'",
        "observedGeneration": 1, "lastTransitionTime": "2024-05-01T10:00:00Z"}]})"))
      << status.dump(2);

  // A fetch failure keeps the last good revision and its update time.
  core::Status error = core::UnavailableError("unable to clone: connection refused");
  ASSERT_TRUE(
      WriteGitRepositoryStatus(client_.get(), repo.value(), kRevision, error, 1, At(60)).ok());
  status =
      Live("source.toolkit.fluxcd.io/v1", "GitRepository", "flux-system", "flux-system")["status"];
  EXPECT_EQ(status["artifact"]["revision"], kRevision);
  EXPECT_EQ(status["artifact"]["lastUpdateTime"], "2024-05-01T10:00:00Z");
  EXPECT_EQ(status["observedGeneration"], 1);
  EXPECT_EQ(status["conditions"], Parse(R"([
      {"type": "Ready", "status": "False", "reason": "GitOperationFailed",
       "message": "unable to clone: connection refused", "observedGeneration": 1,
       "lastTransitionTime": "2024-05-01T10:01:00Z"},
      {"type": "FetchFailed", "status": "True", "reason": "GitOperationFailed",
       "message": "unable to clone: connection refused", "observedGeneration": 1,
       "lastTransitionTime": "2024-05-01T10:01:00Z"}])"));

  // Recovery with a new revision: FetchFailed removed, a new artifact time.
  ASSERT_TRUE(WriteGitRepositoryStatus(client_.get(), repo.value(), "main@sha1:ffff",
                                       core::OkStatus(), 2, At(120))
                  .ok());
  status =
      Live("source.toolkit.fluxcd.io/v1", "GitRepository", "flux-system", "flux-system")["status"];
  EXPECT_EQ(status["artifact"]["lastUpdateTime"], "2024-05-01T10:02:00Z");
  EXPECT_EQ(status["observedGeneration"], 2);
  ASSERT_EQ(status["conditions"].size(), 1u);
  EXPECT_EQ(status["conditions"][0]["message"], "stored artifact for revision 'main@sha1:ffff'");
}

Json InvolvedDeployment() {
  return Parse(R"({"apiVersion": "apps/v1", "kind": "Deployment",
      "metadata": {"name": "web", "namespace": "default", "uid": "5f1e-42",
                   "resourceVersion": "812"}})");
}

TEST_F(FluxStatusApiTest, EventRecorderCreatesThenCountsRepeats) {
  system_clock::time_point now = At(0);
  EventRecorder recorder(client_.get(), "driftguard", [&] { return now; });
  const size_t before = Events("default", "web").size();

  recorder.Record(InvolvedDeployment(), "Normal", "DriftRepaired",
                  "repaired spec.replicas (2 -> 3)");
  std::vector<Json> events = Events("default", "web");
  ASSERT_EQ(events.size(), before + 1);
  Json event = events.back();
  EXPECT_THAT(event["metadata"]["name"].get<std::string>(), StartsWith("web."));
  EXPECT_EQ(event["involvedObject"], Parse(R"({"apiVersion": "apps/v1", "kind": "Deployment",
      "name": "web", "namespace": "default", "uid": "5f1e-42", "resourceVersion": "812"})"));
  EXPECT_EQ(event["type"], "Normal");
  EXPECT_EQ(event["reason"], "DriftRepaired");
  EXPECT_EQ(event["message"], "repaired spec.replicas (2 -> 3)");
  EXPECT_EQ(event["source"], Parse(R"({"component": "driftguard"})"));
  EXPECT_EQ(event["reportingComponent"], "driftguard");
  EXPECT_EQ(event["firstTimestamp"], "2024-05-01T10:00:00Z");
  EXPECT_EQ(event["lastTimestamp"], "2024-05-01T10:00:00Z");
  EXPECT_EQ(event["count"], 1);
  EXPECT_EQ(recorder.recorded(), 1u);

  // The same event 5 minutes later: one Event, count 2.
  now = At(300);
  recorder.Record(InvolvedDeployment(), "Normal", "DriftRepaired",
                  "repaired spec.replicas (2 -> 3)");
  events = Events("default", "web");
  ASSERT_EQ(events.size(), before + 1);
  EXPECT_EQ(events.back()["metadata"]["name"], event["metadata"]["name"]);
  EXPECT_EQ(events.back()["count"], 2);
  EXPECT_EQ(events.back()["firstTimestamp"], "2024-05-01T10:00:00Z");
  EXPECT_EQ(events.back()["lastTimestamp"], "2024-05-01T10:05:00Z");
  EXPECT_EQ(recorder.recorded(), 2u);

  // A different message is another Event.
  recorder.Record(InvolvedDeployment(), "Normal", "DriftRepaired",
                  "repaired spec.template.spec.containers");
  EXPECT_EQ(Events("default", "web").size(), before + 2);

  // More than 10 minutes after the last repeat: a new Event.
  now = At(300 + 601);
  recorder.Record(InvolvedDeployment(), "Normal", "DriftRepaired",
                  "repaired spec.replicas (2 -> 3)");
  events = Events("default", "web");
  ASSERT_EQ(events.size(), before + 3);
  EXPECT_EQ(events.back()["count"], 1);
  EXPECT_NE(events.back()["metadata"]["name"], event["metadata"]["name"]);
  EXPECT_EQ(recorder.recorded(), 4u);
}

TEST_F(FluxStatusApiTest, EventAboutClusterScopedObjectLivesInDefault) {
  EventRecorder recorder(client_.get(), "driftguard-test");
  const size_t before = Events("default", "prod").size();
  recorder.Record(Parse(R"({"apiVersion": "v1", "kind": "Namespace",
                           "metadata": {"name": "prod"}})"),
                  "Warning", "PruneFailed", "namespaces \"prod\" is forbidden");
  std::vector<Json> events = Events("default", "prod");
  ASSERT_EQ(events.size(), before + 1);
  EXPECT_THAT(events.back()["metadata"]["name"].get<std::string>(), StartsWith("prod."));
  EXPECT_FALSE(events.back()["involvedObject"].contains("namespace"));
  EXPECT_EQ(events.back()["type"], "Warning");
  EXPECT_EQ(events.back()["source"]["component"], "driftguard-test");
}

TEST_F(FluxStatusApiTest, EventRecorderWithFailingServerOnlyLogs) {
  EventRecorder recorder(client_.get());
  const size_t before = Events("default", "web").size();
  api_->FailNext(1, 500, {.method = "POST", .path_substring = "/events"});
  recorder.Record(InvolvedDeployment(), "Warning", "ReconciliationFailed", "apply failed");
  EXPECT_EQ(recorder.recorded(), 0u);
  EXPECT_EQ(Events("default", "web").size(), before);

  // It recovers: the next one is written, and a failed count update is not counted.
  recorder.Record(InvolvedDeployment(), "Warning", "ReconciliationFailed", "apply failed");
  EXPECT_EQ(recorder.recorded(), 1u);
  api_->FailNext(1, 500, {.method = "PATCH", .path_substring = "/events"});
  recorder.Record(InvolvedDeployment(), "Warning", "ReconciliationFailed", "apply failed");
  EXPECT_EQ(recorder.recorded(), 1u);
  EXPECT_EQ(Events("default", "web").back()["count"], 1);

  // Server down: still no error and no exception.
  api_->Down();
  recorder.Record(InvolvedDeployment(), "Warning", "ReconciliationFailed", "while down");
  api_->Up();
  EXPECT_EQ(recorder.recorded(), 1u);
}

TEST_F(FluxStatusApiTest, DeletedEventIsRecreated) {
  system_clock::time_point now = At(0);
  EventRecorder recorder(client_.get(), "driftguard", [&] { return now; });
  Json involved = InvolvedDeployment();
  involved["metadata"]["name"] = "gone";
  recorder.Record(involved, "Normal", "Applied", "Deployment/default/gone configured");
  std::vector<Json> events = Events("default", "gone");
  std::string name = events.back()["metadata"]["name"];
  ASSERT_THAT(name, StartsWith("gone."));
  ASSERT_TRUE(client_->Delete({"", "v1", "Event"}, "default", name).ok());
  now = At(30);
  recorder.Record(involved, "Normal", "Applied", "Deployment/default/gone configured");
  events = Events("default", "gone");
  EXPECT_THAT(events.back()["metadata"]["name"].get<std::string>(), StartsWith("gone."));
  EXPECT_NE(events.back()["metadata"]["name"], name);
  EXPECT_EQ(events.back()["count"], 1);
  EXPECT_EQ(recorder.recorded(), 2u);
}

TEST(EventRecorderTest, NullClientOnlyLogs) {
  EventRecorder recorder(nullptr);
  recorder.Record(InvolvedDeployment(), "Normal", "Applied", "created");
  recorder.Record(InvolvedDeployment(), "Normal", "Applied", "created");
  EXPECT_EQ(recorder.recorded(), 2u);
}

}  // namespace
}  // namespace driftguard::reconciler
