// Health of applied objects, as Flux's `wait` and `healthChecks` judge it (kstatus rules).
//
// AssessHealth reads one live object. First, for every kind: metadata.deletionTimestamp →
// InProgress "Resource scheduled for deletion"; status.observedGeneration older than
// metadata.generation → InProgress "<Kind> generation is 2, but latest observed generation is 1";
// a Stalled=True condition → Failed, a Reconciling=True condition → InProgress (their messages).
// Then, by kind (kstatus' messages):
//  - Deployment: Failed when the Progressing condition has reason ProgressDeadlineExceeded
//    ("Progress deadline exceeded"); InProgress while status.replicas < spec.replicas
//    ("Replicas: 1/3"), updatedReplicas < spec ("Updated: 1/3"), old replicas remain
//    ("Pending termination: 1"), availableReplicas < updatedReplicas ("Available: 1/3"),
//    readyReplicas < spec ("Ready: 2/3"), Progressing is not True/NewReplicaSetAvailable when
//    spec.progressDeadlineSeconds is set ("ReplicaSet not Available"), or Available is not True
//    (its message, e.g. "Deployment does not have minimum availability."); Current otherwise.
//  - StatefulSet: replicas, readyReplicas, partitioned rollouts (updatedReplicas >= replicas -
//    partition), currentReplicas, and currentRevision == updateRevision for RollingUpdate
//    ("Waiting for updated revision to match current"); OnDelete is always Current.
//  - DaemonSet: needs observedGeneration; desiredNumberScheduled vs current/updated/
//    available/ready numbers ("Available: 2/3").
//  - Job: Complete=True → Current, Failed=True → Failed ("Job Failed. failed: 3/1"),
//    Suspended=True → Current; otherwise InProgress ("Job not started", or "Job in progress.
//    succeeded: 0/1, active: 1, failed: 0") — `wait` waits for completion.
//  - Namespace: phase Active. CustomResourceDefinition: Established=True (Established=False
//    with a reason other than Installing, or NamesAccepted=False → Failed).
//    PersistentVolumeClaim: phase Bound. Service of type LoadBalancer: an ingress ip/hostname.
//  - anything else: a `Ready` condition decides (True → Current, False or Unknown →
//    InProgress with the condition's message); an object without one is Current (kstatus'
//    default).
// WaitForHealthy polls (GET) every object each poll_interval until all are Current at once, one
// is Failed, the timeout passes or `cancelled` returns true (checked between polls and at least
// every 50ms while sleeping). Transient GET errors keep the last observation; other errors end
// the wait. Results, in Flux's wording (fluxcd/pkg/ssa) plus kstatus' message:
//   OK
//   DeadlineExceeded "timeout waiting for: [Deployment/apps/web status: 'InProgress':
//       Available: 1/3, Job/apps/migrate status: 'NotFound']"
//       ("can't determine status for <ref>" when no GET ever answered)
//   FailedPrecondition "failed early due to stalled resources: [Job/apps/migrate status:
//       'Failed': Job Failed. failed: 1/1]"
//   Cancelled "health check cancelled"
//   the GET error, prefixed "health check of <ref>"
// Flux prefixes the Kustomization's error with "health check failed after <duration>: ";
// the Ready/Healthy conditions carry the bare message.
//
//   core::Status s = WaitForHealthy(client, refs, {.timeout = 5min});
//
// Kustomization usage (Flux semantics): with spec.wait = true every applied object is checked
// (spec.healthChecks is then ignored); otherwise only spec.healthChecks
// ([{apiVersion, kind, name, namespace}], see ParseHealthChecks); with neither, no check runs and
// the Healthy condition is removed. The timeout is spec.timeout (default: the interval). A
// Kustomization must not health-check itself (Flux skips such an entry).
//
// Thread safety: pure functions; WaitForHealthy only calls the (thread-safe) client.
#ifndef DRIFTGUARD_RECONCILER_HEALTH_H_
#define DRIFTGUARD_RECONCILER_HEALTH_H_

#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/json.h"
#include "core/kube_client.h"
#include "core/object_ref.h"
#include "core/status.h"

namespace driftguard::reconciler {

enum class HealthState { kCurrent, kInProgress, kFailed, kNotFound };
std::string_view HealthStateName(
    HealthState state);  // "Current", "InProgress", "Failed", "NotFound"

struct HealthResult {
  HealthState state = HealthState::kCurrent;
  std::string message;  // why not Current ("" when Current)
};

HealthResult AssessHealth(const core::Json& live);

struct HealthCheckOptions {
  std::chrono::milliseconds timeout{300'000};
  std::chrono::milliseconds poll_interval{1'000};
};

// `refs` are objects in the cluster (NotFound counts as not healthy yet).
core::Status WaitForHealthy(core::KubeClient* client, const std::vector<core::ObjectRef>& refs,
                            const HealthCheckOptions& options,
                            const std::function<bool()>& cancelled = nullptr);

// spec.healthChecks entries ({apiVersion, kind, name, namespace}) as references; `default_ns`
// fills a missing namespace (also of cluster-scoped kinds: WaitForHealthy drops the namespace of
// a kind the REST mapping says is cluster-scoped). An entry without kind or name is an error naming
// its index: "spec.healthChecks[2]: name is required". null = no entries.
core::StatusOr<std::vector<core::ObjectRef>> ParseHealthChecks(const core::Json& health_checks,
                                                               std::string_view default_ns);

}  // namespace driftguard::reconciler

#endif  // DRIFTGUARD_RECONCILER_HEALTH_H_
