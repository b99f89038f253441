// DriftRepairer: between Git changes, puts live objects back to what Git declares.
//
// It holds, per Kustomization, the objects last applied (the rendered revision) and watches their
// kinds (one watch per kind, filtered by the label kustomize.toolkit.fluxcd.io/name). When a
// watched object changes — or on Resync() — it compares the live object with the desired one on
// the fields driftguard applies (every field the desired object sets; lists by their list-map
// keys; fields only other managers set are not drift) and, when they differ, re-applies the
// desired object with server-side apply (force). Each repair is logged, counted
// (driftguard_drift_repairs_total{kustomization}) and recorded as an Event on the object naming
// the fields ("Drift repaired: spec.replicas (3 → 5)"). Objects deleted by hand are recreated.
//
// Per object, repairs back off exponentially (initial_backoff doubling up to max_backoff, reset
// after a quiet period of max_backoff) so driftguard never fights another controller in a tight
// loop; a repair due during its backoff runs when the backoff ends.
//
// Objects carrying kustomize.toolkit.fluxcd.io/reconcile: disabled, or whose ssa annotation is
// IfNotPresent/Ignore, are never repaired. While disabled (not the leader) it watches but never
// writes.
//
//   DriftRepairer repairer(client, &events, metrics, {});
//   repairer.SetDesired(id, snapshot_objects);   // after each successful apply
//   repairer.Start();
//   repairer.SetEnabled(elector.IsLeader());
//
// Thread safety: all methods from any thread; repairs run on the repairer's worker thread.
#ifndef DRIFTGUARD_RECONCILER_DRIFT_REPAIR_H_
#define DRIFTGUARD_RECONCILER_DRIFT_REPAIR_H_

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "core/desired_state.h"
#include "core/json.h"
#include "core/kube_client.h"
#include "core/metrics.h"
#include "core/object_ref.h"
#include "core/status.h"
#include "reconciler/flux_status.h"

namespace driftguard::reconciler {

struct DriftRepairOptions {
  std::string field_manager = "driftguard";
  std::chrono::milliseconds initial_backoff{1'000};
  std::chrono::milliseconds max_backoff{300'000};
  // A full comparison of every desired object this often, besides watch events (0 = never).
  std::chrono::milliseconds resync_interval{600'000};
};

// One repaired (or attempted) object.
struct DriftRepair {
  core::KustomizationId owner;
  core::ObjectRef ref;
  std::vector<std::string> fields;  // human paths that differed ("spec.replicas"); empty: recreated
  core::Status status;              // of the re-apply
};

class DriftRepairer {
 public:
  // `client` and `events` must outlive the repairer; `events` and `metrics` may be null.
  DriftRepairer(core::KubeClient* client, EventRecorder* events, core::MetricsRegistry* metrics,
                DriftRepairOptions options);
  ~DriftRepairer();  // Stop()
  DriftRepairer(const DriftRepairer&) = delete;
  DriftRepairer& operator=(const DriftRepairer&) = delete;

  // Replaces the objects watched for `owner` (rendered objects, as applied).
  void SetDesired(const core::KustomizationId& owner, std::vector<core::Json> objects);
  void Remove(const core::KustomizationId& owner);
  // Writes only while enabled (the leader). Enabling triggers a resync.
  void SetEnabled(bool enabled);

  void Start();
  void Stop();

  // Compares every desired object with the cluster now and repairs what differs (synchronously,
  // honouring backoff). Returns the repairs made. Works without Start() (reconcile --once, tests).
  std::vector<DriftRepair> Resync();
  // Compare one live object (from a watch or a GET) with its desired object: the human paths
  // that differ. Exposed for the reconciler's `diff`.
  static std::vector<std::string> DriftedFields(const core::Json& desired, const core::Json& live);

  // Repairs done since start (for tests and metrics).
  std::vector<DriftRepair> History() const;

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace driftguard::reconciler

#endif  // DRIFTGUARD_RECONCILER_DRIFT_REPAIR_H_
