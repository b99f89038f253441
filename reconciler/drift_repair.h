// DriftRepairer: between Git changes, puts live objects back to what Git declares.
//
// It holds, per Kustomization, the objects last applied (the rendered revision) and watches their
// kinds (one watch per kind, filtered by the label kustomize.toolkit.fluxcd.io/name). When a
// watched object changes — or on Resync() — it compares the live object with the desired one on
// the fields driftguard applies (every field the desired object sets; lists by their list-map
// keys; fields only other managers set are not drift) and, when they differ, re-applies the
// desired object with server-side apply (force). Each repair is logged, counted
// (driftguard_drift_repairs_total{kustomization}, successful repairs only) and recorded as an Event
// on the object naming the fields, each as (live value → desired value):
//   Normal DriftRepaired "Drift repaired: spec.replicas (5 → 3), metadata.labels.tier (absent →
//   web)" Normal DriftRepaired "Drift repaired: recreated the deleted object" Warning
//   DriftRepairFailed "Drift repair failed: spec.replicas: <error>"
// Values of Secrets are never shown ("(redacted)"). Objects deleted by hand are recreated.
//
// The desired objects must carry the label kustomize.toolkit.fluxcd.io/name (the applier stamps
// it); objects without it are still compared on Resync() but their live changes are not watched.
//
// Per object, repairs back off exponentially so driftguard never fights another controller in a
// tight loop: the first repair runs at once, the next no sooner than initial_backoff after it, then
// 2x, 4x ... up to max_backoff; once no repair was needed for max_backoff after the backoff ended,
// the object starts over. A repair due during its backoff runs when the backoff ends.
//
// Objects carrying kustomize.toolkit.fluxcd.io/reconcile: disabled (label or annotation, on the
// desired or the live object), or whose kustomize.toolkit.fluxcd.io/ssa annotation is Ignore, are
// never repaired; with ssa IfNotPresent a deleted object is recreated but a live one is left
// alone. While disabled (not the leader) it watches but never writes. Enabling triggers a resync
// on the worker thread (after Start()).
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
#include <functional>
#include <memory>
#include <optional>
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
  // The clock backoff is judged by (null = steady_clock::now); tests inject a fake one.
  std::function<std::chrono::steady_clock::time_point()> clock;
};

// One drifted field: where, what the cluster has, what Git declares.
struct FieldDrift {
  std::string path;                // human path, as core/field_diff.h spells it
  std::optional<core::Json> live;  // nullopt: absent on the live object
  core::Json desired;
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
  // Writes only while enabled (the leader); a new repairer starts disabled. Enabling triggers a
  // resync on the worker thread (after Start()).
  void SetEnabled(bool enabled);

  void Start();
  void Stop();

  // Compares every desired object with the cluster now and repairs what differs (synchronously,
  // honouring backoff). Returns the repairs made. Works without Start() (reconcile --once, tests).
  std::vector<DriftRepair> Resync();
  // Compare one live object (from a watch or a GET) with its desired object: the human paths
  // that differ. Exposed for the reconciler's `diff`.
  static std::vector<std::string> DriftedFields(const core::Json& desired, const core::Json& live);
  // The same comparison with values, in the same order.
  static std::vector<FieldDrift> DriftDetails(const core::Json& desired, const core::Json& live);
  // The Event message for a repair of `drift` (empty: the object was recreated); `redact` hides
  // values (Secrets). At most 1024 bytes.
  static std::string RepairMessage(const std::vector<FieldDrift>& drift, bool redact);

  // The current backoff delay of an object: zero before its first repair and after a quiet
  // period; otherwise how long after its last repair the next one may run.
  std::chrono::milliseconds BackoffOf(const core::ObjectRef& ref) const;

  // Repairs done since start (for tests and metrics).
  std::vector<DriftRepair> History() const;
  // Watch events received for desired objects (bookmarks excluded), enabled or not.
  size_t WatchEventsSeen() const;

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace driftguard::reconciler

#endif  // DRIFTGUARD_RECONCILER_DRIFT_REPAIR_H_
