// Applier: makes the cluster hold a rendered revision — staged server-side apply, then prune.
//
// Apply (Flux's semantics, field manager ApplierOptions::field_manager, "driftguard"):
//  1. stage "definitions": the kinds CustomResourceDefinition and Namespace; then it waits until
//     every CRD is Established and every Namespace Active (status.phase Active or unset), polling
//     every poll_interval up to ApplierOptions::wait_timeout, and refreshes discovery so the next
//     stages can map the new kinds;
//  2. stage "cluster": the remaining cluster-scoped objects (ClusterRoles, ...);
//  3. stage "namespaced": the rest.
// The scope comes from discovery (KubeClient::Mapping): a namespaced object without a namespace
// gets the client's default namespace, a cluster-scoped one loses metadata.namespace. A kind
// discovery does not know fails the "cluster" stage with
//   "Widget/default/x: no matches for kind \"Widget\" in version \"example.com/v1\"" (NotFound);
// in a dry run, kinds defined by a CRD of the same request are reported "created" instead.
// Each object is read (GET), then applied with dryRun=All; when the dry-run result equals the live
// object (ignoring metadata.managedFields, resourceVersion, generation, creationTimestamp, uid) it
// is not written ("unchanged"), else it is applied for real ("created" / "configured").
// Applies use force=true: the fields the manifest declares are always taken from other managers.
// The `kustomize.toolkit.fluxcd.io/ssa` annotation (values case-insensitive, unknown = Override):
//   Override (default) and Merge — apply as above; fields other managers added and the manifest
//     does not declare are kept (Flux's Override additionally strips kubectl's client-side
//     managers from managedFields; driftguard does not do that yet, so the two behave alike);
//   IfNotPresent — create when absent, never update ("skipped" when present);
//   Ignore — no request at all ("skipped").
// An apply that fails because an immutable field changed (HTTP 422 whose message contains
// "field is immutable", or "spec.selector" of a workload kind) is, when ApplyRequest::force is set
// or the object carries `kustomize.toolkit.fluxcd.io/force: enabled` (case-insensitive), retried
// by deleting the object (foreground), waiting until it is gone (wait_timeout) and applying it
// again ("recreated"); otherwise the 422 is reported as the object's failure.
// With ApplyRequest::dry_run nothing is written: the would-be actions are reported (no waiting).
// Every object of a stage is attempted (up to ApplierOptions::concurrency at once) even when one
// fails; a failed stage stops later stages. ChangeSet entries are in stage order, then input
// order; failed objects have no entry.
//
// Prune deletes inventory entries that the new revision no longer declares (Inventory::
// Difference order, one at a time, background propagation), skipping ("skipped") objects whose
// live copy carries `kustomize.toolkit.fluxcd.io/prune: disabled` or is no longer labelled as
// owned by this Kustomization (kustomize.toolkit.fluxcd.io/name / namespace); objects already
// gone and kinds no longer served are silently done. The delete carries the checked
// resourceVersion as precondition (re-checked on 409). The caller prunes only after every apply
// of the revision succeeded.
//
//   Applier applier(client, {});
//   ApplyResult r = applier.Apply({.objects = rendered, .force = ks.force});
//   if (!r.status.ok()) ... r.changes still lists what was written
//   ApplyResult p = applier.Prune(previous_inventory, Inventory::FromObjects(rendered), id);
//
// Thread safety: one Applier may be shared; calls run concurrently against the client.
#ifndef DRIFTGUARD_RECONCILER_APPLIER_H_
#define DRIFTGUARD_RECONCILER_APPLIER_H_

#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/desired_state.h"
#include "core/json.h"
#include "core/kube_client.h"
#include "core/object_ref.h"
#include "core/status.h"
#include "reconciler/inventory.h"

namespace driftguard::reconciler {

inline constexpr std::string_view kSsaAnnotation = "kustomize.toolkit.fluxcd.io/ssa";
inline constexpr std::string_view kPruneAnnotation = "kustomize.toolkit.fluxcd.io/prune";
inline constexpr std::string_view kForceAnnotation = "kustomize.toolkit.fluxcd.io/force";

// Flux's words in events and logs.
enum class ApplyAction { kCreated, kConfigured, kUnchanged, kSkipped, kRecreated, kDeleted };
std::string_view ApplyActionName(ApplyAction action);  // "created", "configured", ...

struct ObjectChange {
  core::ObjectRef ref;
  ApplyAction action = ApplyAction::kUnchanged;
};

struct ChangeSet {
  std::vector<ObjectChange> entries;
  // Entries other than unchanged/skipped.
  bool HasChanges() const;
  // One line per change other than unchanged/skipped, as Flux's events print them:
  //   "Deployment/default/web configured\nNamespace/apps created"
  std::string Summary() const;
};

struct ApplyResult {
  ChangeSet changes;  // what was done, also when `status` is an error
  // OK, or every failure, one per line: "Deployment/default/web: <message>". The code is the
  // first failure's (InvalidArgument for 422, Unavailable for transient API errors...).
  core::Status status;
};

struct ApplierOptions {
  std::string field_manager = "driftguard";
  // Bound on waiting for CRDs to be established and Namespaces to become active.
  std::chrono::milliseconds wait_timeout{30'000};
  std::chrono::milliseconds poll_interval{200};
  // Objects applied at once within a stage.
  size_t concurrency = 4;
};

struct ApplyRequest {
  std::vector<core::Json> objects;  // rendered, in any order
  bool force = false;               // Kustomization spec.force
  // Compute what would change (dry-run only) without writing: `diff` and tests.
  bool dry_run = false;
};

class Applier {
 public:
  // `client` must outlive the applier.
  Applier(core::KubeClient* client, ApplierOptions options);

  ApplyResult Apply(const ApplyRequest& request);
  // Deletes what `previous` holds and `current` does not (see above); `owner` is the
  // Kustomization whose labels the live objects must carry to be pruned.
  ApplyResult Prune(const Inventory& previous, const Inventory& current,
                    const core::KustomizationId& owner, bool dry_run = false);

 private:
  core::KubeClient* const client_;
  const ApplierOptions options_;
};

}  // namespace driftguard::reconciler

#endif  // DRIFTGUARD_RECONCILER_APPLIER_H_
