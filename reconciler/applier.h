// Applier: makes the cluster hold a rendered revision — staged server-side apply, then prune.
//
// Apply (Flux's semantics, field manager "driftguard"):
//  1. stage "definitions": the kinds CustomResourceDefinition and Namespace; then it waits until
//     every CRD is Established and every Namespace is Active (bounded by
//     ApplierOptions::wait_timeout) and refreshes discovery so the next stages can map the new
//     kinds;
//  2. stage "cluster": the remaining cluster-scoped objects (ClusterRoles, ...);
//  3. stage "namespaced": the rest.
// Each object is first applied with dryRun=All; when the dry-run result equals the live object
// (ignoring metadata.managedFields, resourceVersion, generation) it is not written ("unchanged").
// The `kustomize.toolkit.fluxcd.io/ssa` annotation on the rendered object changes that:
//   Override (default) apply as above;  Merge — apply without taking fields other managers own
//   (no force);  IfNotPresent — create when absent, never update;  Ignore — skip entirely.
// An apply that fails because an immutable field changed (HTTP 422 whose message contains
// "field is immutable", or "spec.selector" of a workload) is, when ApplyRequest::force is set
// or the object carries `kustomize.toolkit.fluxcd.io/force: enabled`, retried by deleting the
// object (foreground) and creating it again ("recreated"); otherwise it is reported.
// Every object of a stage is attempted even when one fails; a failed stage stops later stages.
//
// Prune deletes inventory entries that the new revision no longer declares (Inventory::
// Difference order), skipping objects whose live copy carries
// `kustomize.toolkit.fluxcd.io/prune: disabled` or is no longer labelled as owned by this
// Kustomization (kustomize.toolkit.fluxcd.io/name / namespace), and objects already gone. The
// caller prunes only after every apply of the revision succeeded.
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
