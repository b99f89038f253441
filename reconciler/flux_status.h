// Flux-compatible status for Kustomization and GitRepository objects, and Kubernetes Events.
//
// Conditions follow Flux (fluxcd/pkg/apis/meta) — types Ready, Reconciling, Stalled, Healthy —
// with Flux's reasons. A condition keeps its lastTransitionTime while its status is unchanged.
// The status is written once per run through the status subresource (merge patch of `status`),
// with observedGeneration = the generation the run acted on.
//
//   KustomizationStatus st = KustomizationStatus::FromJson(ks.object.value("status", {}));
//   st.last_attempted_revision = revision;
//   MarkReady(st, generation, kReasonReconciliationSucceeded, "Applied revision: " + revision,
//   now); RETURN_IF_ERROR(WriteKustomizationStatus(client, ks, st));
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

struct Condition {
  std::string type;
  std::string status;  // "True", "False", "Unknown"
  std::string reason;
  std::string message;
  int64_t observed_generation = 0;
  std::string last_transition_time;  // RFC 3339, UTC, seconds ("2026-11-25T10:00:00Z")
};

// Sets (or replaces) the condition of `c.type`; keeps the old lastTransitionTime when the status
// did not change, stamps `now` otherwise.
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

// Flux's condition combinations for the outcomes of a run (all set observedGeneration):
// Ready=True (reason, message), Reconciling and Stalled removed; Healthy=True when `healthy`.
void MarkReady(KustomizationStatus& st, int64_t generation, std::string_view message,
               std::chrono::system_clock::time_point now, bool healthy);
// Ready=Unknown, Reconciling=True reason Progressing ("Reconciliation in progress").
void MarkReconciling(KustomizationStatus& st, int64_t generation, std::string_view message,
                     std::chrono::system_clock::time_point now);
// Ready=False with `reason`; `stalled` (terminal errors) also sets Stalled=True and removes
// Reconciling, otherwise Reconciling=True reason ProgressingWithRetry.
void MarkFailed(KustomizationStatus& st, int64_t generation, std::string_view reason,
                std::string_view message, bool stalled, std::chrono::system_clock::time_point now);
// Healthy=False reason HealthCheckFailed (also Ready=False as above, not stalled).
void MarkUnhealthy(KustomizationStatus& st, int64_t generation, std::string_view message,
                   std::chrono::system_clock::time_point now);

// Writes `status` to the Kustomization's status subresource (merge patch replacing
// conditions and inventory).
core::Status WriteKustomizationStatus(core::KubeClient* client, const core::Kustomization& k,
                                      const KustomizationStatus& status);
// GitRepository status: artifact.revision and Ready condition.
core::Status WriteGitRepositoryStatus(core::KubeClient* client, const core::GitRepository& repo,
                                      std::string_view revision, const core::Status& error,
                                      int64_t generation,
                                      std::chrono::system_clock::time_point now);

class EventRecorder {
 public:
  // `client` may be null: events are then only logged.
  explicit EventRecorder(core::KubeClient* client, std::string component = "driftguard");
  // `involved` needs apiVersion, kind, metadata.name (and namespace, uid when known).
  // Type "Normal" or "Warning". Failures to write are logged, never returned: events are
  // best-effort.
  void Record(const core::Json& involved, std::string_view type, std::string_view reason,
              std::string_view message);
  // Events written so far (for tests and `reconcile --once` output).
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
  mutable std::mutex mu_;
  std::map<std::string, Seen> seen_;  // guarded by mu_
  size_t recorded_ = 0;               // guarded by mu_
};

}  // namespace driftguard::reconciler

#endif  // DRIFTGUARD_RECONCILER_FLUX_STATUS_H_
