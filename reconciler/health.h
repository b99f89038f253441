// Health of applied objects, as Flux's `wait` and `healthChecks` judge it (kstatus rules).
//
// AssessHealth reads one live object:
//  - Deployment: Current when observedGeneration >= generation, updatedReplicas == replicas,
//    availableReplicas >= replicas and no old replicas remain; Failed when the Progressing
//    condition has reason ProgressDeadlineExceeded; InProgress otherwise, with a message such as
//    "Deployment does not have minimum availability" / "Available: 1/3".
//  - StatefulSet (readyReplicas, currentRevision == updateRevision for RollingUpdate),
//    DaemonSet (desired/updated/available numbers), Job (Complete condition → Current, Failed
//    condition → Failed), Namespace (phase Active), CustomResourceDefinition (Established),
//    PersistentVolumeClaim (Bound), Service of type LoadBalancer (an ingress address).
//  - anything else: a `Ready` condition decides (True → Current, False or Unknown →
//    InProgress with the condition's message; a Stalled=True condition → Failed), status.
//    observedGeneration older than metadata.generation is InProgress, and an object without
//    conditions is Current (kstatus' default).
// WaitForHealthy polls the objects until all are Current, one is Failed, the timeout passes or
// `cancelled` returns true.
//
//   core::Status s = WaitForHealthy(client, refs, {.timeout = 5min});
//   // s: DeadlineExceeded "timeout waiting for: [Deployment/apps/web status: 'InProgress':
//   //    Available: 1/3]" (Flux's wording), or FailedPrecondition for a failed object.
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
// fills a missing namespace. An entry without kind or name is an error naming its index.
core::StatusOr<std::vector<core::ObjectRef>> ParseHealthChecks(const core::Json& health_checks,
                                                               std::string_view default_ns);

}  // namespace driftguard::reconciler

#endif  // DRIFTGUARD_RECONCILER_HEALTH_H_
