// Reconciler: the controller loop that makes the cluster hold what each Kustomization renders.
//
// It does not fetch or render: SourceSync publishes rendered snapshots into a DesiredStateStore
// and the reconciler applies them. A run of one Kustomization reads as Flux's steps:
//   1. suspend        spec.suspend → skipped, nothing written;
//   2. source         the store's entry: no snapshot yet, or a failed fetch ("GitRepository ...")
//                     → not-ready (ArtifactFailed, requeue after retryInterval; the last applied
//                     revision stays applied); a failed render/build ("Kustomization ... at rev")
//                     → terminal (Stalled, BuildFailed; waits for a new revision);
//   3. dependsOn      each dependency Ready=True with lastAppliedRevision equal to its current
//                     snapshot revision, else not-ready (DependencyNotReady, retryInterval);
//   4. apply          Applier::Apply with spec.force (staged SSA);
//   5. prune          only when spec.prune and every apply succeeded;
//   6. health         spec.wait → every applied object, else spec.healthChecks, within
//                     spec.timeout (default: interval); failure → HealthCheckFailed;
//   7. status         written once, at the end: conditions, lastAppliedRevision (after health),
//                     lastAttemptedRevision, observedGeneration, lastHandledReconcileAt,
//                     inventory — to the Kustomization's status subresource, or with
//                     ReconcilerOptions::status_sink kConfigMap to InventoryConfigMapStore;
//   8. hand-over      an Event with ChangeSet::Summary() when something changed;
//                     DriftRepairer::SetDesired after a successful apply.
// Errors are sorted as Flux sorts them: transient (API unavailable, timeouts, 429, 5xx) →
// exponential backoff with jitter; not-ready → retryInterval; terminal → Stalled until the
// source changes. A failed apply keeps every previous inventory entry (and adds the new ones), so
// nothing is forgotten and the next successful run prunes correctly.
//
// Scheduling (Start): each Kustomization runs on its interval scaled by a random factor in
// [1 - jitter, 1 + jitter]; a change of its store entry (new revision or new error) runs it at
// once, so does a changed generation or `reconcile.fluxcd.io/requestedAt` annotation (SetConfig),
// and a successful run triggers its dependents. Runs of different Kustomizations proceed in
// parallel on `workers` threads, so one failing or slow Kustomization never blocks the others;
// one Kustomization never runs twice at once. Only the leader writes: with an elector, a run on a
// non-leader is skipped (result kNotLeader) and the drift repairer is disabled.
//
//   core::DesiredStateStore store;
//   SourceSync sync(sync_options, config, &store, nullptr);
//   Reconciler reconciler(client, &store, config, {.status_sink = StatusSink::kConfigMap});
//   RETURN_IF_ERROR(sync.SyncOnce());
//   for (const RunOutcome& o : reconciler.ReconcileAll()) std::cout << o.Describe();
//
// Thread safety: every public method may be called from any thread; ReconcileOne/ReconcileAll
// run on the calling thread. The client, store, elector, repairer, events and metrics passed in
// must outlive the reconciler.
#ifndef DRIFTGUARD_RECONCILER_CONTROLLER_H_
#define DRIFTGUARD_RECONCILER_CONTROLLER_H_

#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/desired_state.h"
#include "core/flux_api.h"
#include "core/flux_config.h"
#include "core/kube_client.h"
#include "core/metrics.h"
#include "core/status.h"
#include "reconciler/applier.h"
#include "reconciler/drift_repair.h"
#include "reconciler/flux_status.h"
#include "reconciler/inventory.h"
#include "reconciler/leader_election.h"

namespace driftguard::reconciler {

inline constexpr std::string_view kRequestedAtAnnotation = "reconcile.fluxcd.io/requestedAt";

// Where a run's status and inventory go.
enum class StatusSink {
  kKustomizationStatus,  // the Kustomization object's status subresource (objects in the cluster)
  kConfigMap,  // driftguard-inventory-<name> ConfigMaps (--config, objects not in cluster)
};

struct ReconcilerOptions {
  StatusSink status_sink = StatusSink::kKustomizationStatus;
  ApplierOptions applier;
  // Each interval is scaled by a random factor in [1 - jitter, 1 + jitter].
  double jitter = 0.1;
  // Transient errors: min_backoff doubling per consecutive failure up to max_backoff (jittered).
  std::chrono::milliseconds min_backoff{1'000};
  std::chrono::milliseconds max_backoff{300'000};
  // How often health checks poll.
  std::chrono::milliseconds health_poll_interval{1'000};
  // How often the loop looks at the store for new revisions.
  std::chrono::milliseconds store_poll_interval{100};
  // Runs in parallel (at least 1).
  size_t workers = 2;

  core::Status Validate() const;
};

enum class RunResult {
  kSucceeded,
  kFailed,     // transient or not-ready: retried
  kStalled,    // terminal: waits for a new revision
  kSuspended,  // spec.suspend
  kNotLeader,  // another replica writes
};
std::string_view RunResultName(RunResult result);  // "succeeded", "failed", ...

struct RunOutcome {
  core::KustomizationId id;
  RunResult result = RunResult::kSucceeded;
  std::string revision;    // the revision attempted ("" when none was available)
  std::string reason;      // Flux reason (ReconciliationSucceeded, HealthCheckFailed...)
  std::string message;     // the Ready condition's message
  ChangeSet changes;       // applied and pruned objects
  core::Status error;      // OK unless failed/stalled
  bool transient = false;  // the error is retried with exponential backoff
  // When the loop runs it next (relative to the end of this run): the interval, retryInterval
  // or the backoff, jittered.
  std::chrono::milliseconds requeue_after{0};

  // "Kustomization flux-system/web: applied main@sha1:<hex>\n  Deployment/shop/web created\n"
  // (or "  no changes"), "Kustomization ns/n: failed (Reason): message\n",
  // "Kustomization ns/n: suspended\n".
  std::string Describe() const;
};

class Reconciler {
 public:
  // `client` and `store` must outlive the reconciler. `elector` null: always writes (--once).
  // `repairer`, `events` and `metrics` may be null.
  Reconciler(core::KubeClient* client, core::DesiredStateStore* store, core::FluxConfig config,
             ReconcilerOptions options, LeaderElector* elector = nullptr,
             DriftRepairer* repairer = nullptr, EventRecorder* events = nullptr,
             core::MetricsRegistry* metrics = nullptr);
  ~Reconciler();  // Stop()
  Reconciler(const Reconciler&) = delete;
  Reconciler& operator=(const Reconciler&) = delete;

  // Replaces the set of Kustomizations (cluster mode: from ClusterFluxObjects). New ones, and
  // ones whose generation or requestedAt annotation changed, run at once; removed ones stop (and
  // leave the drift repairer).
  void SetConfig(core::FluxConfig config);

  // One run of `id`, now, on this thread (the scheduler's state is updated too).
  RunOutcome ReconcileOne(const core::KustomizationId& id);
  // One run of every Kustomization, dependencies first (the config has no cycles); for
  // `reconcile --once`.
  std::vector<RunOutcome> ReconcileAll();

  // Runs the loop on background threads until Stop(). Starts with every Kustomization due.
  void Start();
  void Stop();
  // Runs `id` as soon as a worker is free.
  void Trigger(const core::KustomizationId& id);

  // The status of the latest run of `id` (nullopt before the first), as written.
  std::optional<KustomizationStatus> LastStatus(const core::KustomizationId& id) const;
  // Every outcome so far (for tests and logs), oldest first; bounded to the last 1000.
  std::vector<RunOutcome> History() const;

 private:
  struct Item;
  RunOutcome Run(const core::Kustomization& k);
  core::StatusOr<KustomizationStatus> LoadStatus(const core::Kustomization& k);
  core::Status SaveStatus(const core::Kustomization& k, const KustomizationStatus& st);
  bool IsLeader() const;
  std::chrono::milliseconds Jittered(std::chrono::milliseconds d);  // REQUIRES: mu_ held
  std::chrono::milliseconds Backoff(int failures);                  // REQUIRES: mu_ held
  void Record(const RunOutcome& outcome, std::chrono::steady_clock::duration took);
  void SchedulerLoop();
  void WorkerLoop();
  void PollStore();  // REQUIRES: mu_ held
  // Schedules the next run of `id` after `outcome`; returns the wait chosen.
  std::chrono::milliseconds FinishItem(const core::KustomizationId& id, const RunOutcome& outcome);
  std::optional<core::Kustomization> FindKustomization(const core::KustomizationId& id) const;

  core::KubeClient* const client_;
  core::DesiredStateStore* const store_;
  const ReconcilerOptions options_;
  LeaderElector* const elector_;
  DriftRepairer* const repairer_;
  EventRecorder* const events_;
  Applier applier_;
  InventoryConfigMapStore configmaps_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  core::FluxConfig config_;                                        // guarded by mu_
  std::map<core::KustomizationId, std::unique_ptr<Item>> items_;   // guarded by mu_
  std::map<core::KustomizationId, KustomizationStatus> statuses_;  // guarded by mu_
  std::vector<RunOutcome> history_;                                // guarded by mu_
  std::mt19937_64 rng_;                                            // guarded by mu_
  bool running_ = false;
  bool stopping_ = false;
  bool repairer_enabled_ = false;  // guarded by mu_
  std::vector<std::thread> threads_;

  core::CounterFamily* runs_ = nullptr;
  core::HistogramFamily* duration_ = nullptr;
};

}  // namespace driftguard::reconciler

#endif  // DRIFTGUARD_RECONCILER_CONTROLLER_H_
