// Flux-compatible status for Kustomization and GitRepository objects, and Kubernetes Events.
//
// Conditions follow Flux (fluxcd/pkg/apis/meta) — types Ready, Reconciling, Stalled, Healthy —
// with Flux's reasons. A condition keeps its lastTransitionTime while its status is unchanged.
// The status is written once per run through the status subresource (merge patch of `status`).
// Every condition a Mark* function sets carries observedGeneration = the generation the run acted
// on; status.observedGeneration follows Flux: set by MarkReady and by a stalled MarkFailed (the
// run finished with that generation), left alone while reconciling or retrying (kstatus readers
// then report InProgress, as they do for Flux).
//
//   KustomizationStatus st = KustomizationStatus::FromJson(ks.object.value("status", {}));
//   st.last_attempted_revision = revision;
//   ... apply, prune; with health checks:
//   Status h = WaitForHealthy(client, refs, {.timeout = ks.timeout});
//   if (!h.ok()) MarkUnhealthy(st, generation, h.message(), now);
//   else {
//     MarkHealthy(st, generation, HealthCheckPassedMessage(took), now);
//     st.last_applied_revision = revision;
//     MarkReady(st, generation, AppliedRevisionMessage(revision), now, /*healthy=*/true);
//   }
//   RETURN_IF_ERROR(WriteKustomizationStatus(client, ks, st));
//
// Flux's condition table (kustomize-controller), which the Mark* functions produce:
//   in progress   Ready=Unknown/Progressing "Reconciliation in progress",
//                 Reconciling=True/Progressing "<stage message>"
//   succeeded     Ready=True/ReconciliationSucceeded "Applied revision: main@sha1:<hex>",
//                 Healthy=True/Succeeded "Health check passed in 2s" (only with wait/healthChecks)
//   retrying      Ready=False/<reason> "<error>", Reconciling=True/ProgressingWithRetry
//   terminal      Ready=False/<reason>, Stalled=True/<reason> (no Reconciling)
//   unhealthy     Ready=False/HealthCheckFailed and Healthy=False/HealthCheckFailed
//                 "timeout waiting for: [Deployment/default/web status: 'InProgress']"
//
// EventRecorder creates core/v1 Events (reportingController "driftguard") about an object;
// repeats of the same (object, type, reason, message) within 10 minutes update the existing
// Event's count and lastTimestamp instead of creating another.
//
// Thread safety: the status functions are pure or only call the client; EventRecorder may be
// used from any thread.
#ifndef DRIFTGUARD_RECONCILER_FLUX_STATUS_H_
#define DRIFTGUARD_RECONCILER_FLUX_STATUS_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/flux_api.h"
#include "core/json.h"
#include "core/kube_client.h"
#include "core/object_ref.h"
#include "core/status.h"
#include "reconciler/inventory.h"

namespace driftguard::reconciler {

// Condition types.
inline constexpr std::string_view kConditionReady = "Ready";
inline constexpr std::string_view kConditionReconciling = "Reconciling";
inline constexpr std::string_view kConditionStalled = "Stalled";
inline constexpr std::string_view kConditionHealthy = "Healthy";
// Flux's reasons.
inline constexpr std::string_view kReasonReconciliationSucceeded = "ReconciliationSucceeded";
inline constexpr std::string_view kReasonReconciliationFailed = "ReconciliationFailed";
inline constexpr std::string_view kReasonProgressing = "Progressing";
inline constexpr std::string_view kReasonProgressingWithRetry = "ProgressingWithRetry";
inline constexpr std::string_view kReasonArtifactFailed = "ArtifactFailed";
inline constexpr std::string_view kReasonBuildFailed = "BuildFailed";
inline constexpr std::string_view kReasonHealthCheckFailed = "HealthCheckFailed";
inline constexpr std::string_view kReasonDependencyNotReady = "DependencyNotReady";
inline constexpr std::string_view kReasonPruneFailed = "PruneFailed";
inline constexpr std::string_view kReasonSucceeded = "Succeeded";
inline constexpr std::string_view kReasonInvalidSpec = "InvalidSpec";
inline constexpr std::string_view kReasonGitOperationFailed = "GitOperationFailed";
// Flux's messages.
inline constexpr std::string_view kMessageReconciliationInProgress = "Reconciliation in progress";
// "Applied revision: main@sha1:<hex>"
std::string AppliedRevisionMessage(std::string_view revision);
// "Running health checks for revision <rev> with a timeout of 5m0s"
std::string HealthCheckRunningMessage(std::string_view revision, std::chrono::milliseconds timeout);
// "Health check passed in 1.5s"
std::string HealthCheckPassedMessage(std::chrono::milliseconds took);

struct Condition {
  std::string type;
  std::string status;  // "True", "False", "Unknown"
  std::string reason;
  std::string message;
  int64_t observed_generation = 0;
  std::string last_transition_time;  // RFC 3339, UTC, seconds ("2026-11-25T10:00:00Z")
};

// Sets (or replaces, in place) the condition of `c.type`; keeps the old lastTransitionTime when
// the status did not change, stamps `now` otherwise (c.last_transition_time is ignored).
void SetCondition(std::vector<Condition>& conditions, Condition c,
                  std::chrono::system_clock::time_point now);
const Condition* FindCondition(const std::vector<Condition>& conditions, std::string_view type);
void RemoveCondition(std::vector<Condition>& conditions, std::string_view type);
std::string Rfc3339(std::chrono::system_clock::time_point t);

struct KustomizationStatus {
  int64_t observed_generation = 0;
  std::string last_applied_revision;
  std::string last_attempted_revision;
  std::string last_handled_reconcile_at;  // echo of reconcile.fluxcd.io/requestedAt
  Inventory inventory;
  std::vector<Condition> conditions;

  static KustomizationStatus FromJson(const core::Json& status);  // lenient: bad parts dropped
  core::Json ToJson() const;
};

// Flux's condition combinations for the outcomes of a run (see the table above). Condition
// messages longer than Flux's limit (20000 bytes) are trimmed.
// Ready=True reason ReconciliationSucceeded with `message` (AppliedRevisionMessage), Reconciling
// and Stalled removed, status.observedGeneration = generation. `healthy` (health checks ran and
// passed): Healthy=True reason Succeeded, keeping a Healthy=True set by MarkHealthy (its message),
// otherwise "Health check passed"; !healthy (no wait/healthChecks): Healthy removed, as Flux does.
void MarkReady(KustomizationStatus& st, int64_t generation, std::string_view message,
               std::chrono::system_clock::time_point now, bool healthy);
// Ready=Unknown reason Progressing "Reconciliation in progress"; Reconciling=True reason
// Progressing with `message` (the stage, e.g. "Building manifests for revision ..."; "" = the
// same text as Ready); Stalled removed.
void MarkReconciling(KustomizationStatus& st, int64_t generation, std::string_view message,
                     std::chrono::system_clock::time_point now);
// Ready=False with `reason`; `stalled` (terminal errors) also sets Stalled=True (same reason and
// message), removes Reconciling and sets status.observedGeneration; otherwise Reconciling=True
// reason ProgressingWithRetry (keeping the stage message of an existing Reconciling, else
// `message`) and Stalled removed.
void MarkFailed(KustomizationStatus& st, int64_t generation, std::string_view reason,
                std::string_view message, bool stalled, std::chrono::system_clock::time_point now);
// Healthy=False reason HealthCheckFailed (also Ready=False as above, not stalled).
void MarkUnhealthy(KustomizationStatus& st, int64_t generation, std::string_view message,
                   std::chrono::system_clock::time_point now);
// Before WaitForHealthy: Reconciling=True and Healthy=Unknown, both reason Progressing with
// `message` (HealthCheckRunningMessage).
void MarkHealthChecking(KustomizationStatus& st, int64_t generation, std::string_view message,
                        std::chrono::system_clock::time_point now);
// After a passed health check: Healthy=True reason Succeeded with `message`
// (HealthCheckPassedMessage). Ready is MarkReady's job.
void MarkHealthy(KustomizationStatus& st, int64_t generation, std::string_view message,
                 std::chrono::system_clock::time_point now);

// Writes `status` to the Kustomization's status subresource (merge patch replacing
// conditions and inventory; empty revisions are left out, so they keep their stored value).
// Errors are prefixed "writing status of Kustomization <ns>/<name>".
core::Status WriteKustomizationStatus(core::KubeClient* client, const core::Kustomization& k,
                                      const KustomizationStatus& status);
// GitRepository status, as source-controller writes it. Reads the live object (for transition
// times), then patches the status subresource. OK `error`: Ready=True reason Succeeded
// "stored artifact for revision '<revision>'", FetchFailed/Reconciling/Stalled removed,
// observedGeneration = generation. Failed `error`: Ready=False and FetchFailed=True, reason
// GitOperationFailed, message error.message(). A non-empty `revision` (on failure: the last good
// one) is written to artifact.revision with lastUpdateTime (kept while the revision is unchanged);
// artifact.path and url stay as they were ("" : driftguard serves no artifact files).
core::Status WriteGitRepositoryStatus(core::KubeClient* client, const core::GitRepository& repo,
                                      std::string_view revision, const core::Status& error,
                                      int64_t generation,
                                      std::chrono::system_clock::time_point now);

// Events: namespace = the involved object's ("default" for cluster-scoped objects), name
// "<object name>.<hex nanoseconds>" (as client-go names them), source.component,
// reportingComponent and reportingInstance = `component`, count and first/lastTimestamp.
class EventRecorder {
 public:
  using Clock = std::function<std::chrono::system_clock::time_point()>;
  // `client` may be null: events are then only logged (at info) and counted by recorded().
  // `clock` (tests) defaults to the system clock. `client` must outlive the recorder.
  explicit EventRecorder(core::KubeClient* client, std::string component = "driftguard",
                         Clock clock = nullptr);
  // `involved` needs apiVersion, kind, metadata.name (and namespace, uid when known).
  // Type "Normal" or "Warning". Failures to write are logged, never returned: events are
  // best-effort.
  void Record(const core::Json& involved, std::string_view type, std::string_view reason,
              std::string_view message);
  // Events written so far, creates and count updates (for tests and `reconcile --once`
  // output); with a null client, events logged.
  size_t recorded() const;

 private:
  struct Seen {
    std::string event_name;
    std::string event_namespace;
    int64_t count = 0;
    std::chrono::system_clock::time_point last;
  };
  core::KubeClient* const client_;
  const std::string component_;
  const Clock clock_;
  mutable std::mutex mu_;
  std::map<std::string, Seen> seen_;  // guarded by mu_
  size_t recorded_ = 0;               // guarded by mu_
  int64_t last_suffix_ = 0;           // guarded by mu_: the last event name suffix
};

}  // namespace driftguard::reconciler

#endif  // DRIFTGUARD_RECONCILER_FLUX_STATUS_H_
