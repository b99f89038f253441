// Inventory: the set of objects a Kustomization applied, in Flux's form.
//
// Flux records it in the Kustomization's status as
//   inventory: {entries: [{id: "<ns>_<name>_<group>_<kind>", v: "<version>"}, ...]}
// and prunes what a new revision no longer declares. driftguard writes the same shape. When the
// Kustomization objects are not in the cluster (`reconcile --once --config FILE`), the inventory
// and the last status live in a ConfigMap `driftguard-inventory-<kustomization>` in the
// Kustomization's namespace, created on demand (InventoryConfigMapStore).
//
//   Inventory now = Inventory::FromObjects(rendered);
//   for (const core::ObjectRef& gone : previous.Difference(now)) ...   // prune candidates
//   status["inventory"] = now.ToJson();
//
// Thread safety: Inventory is a value type. InventoryConfigMapStore may be used from any thread.
#ifndef DRIFTGUARD_RECONCILER_INVENTORY_H_
#define DRIFTGUARD_RECONCILER_INVENTORY_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/desired_state.h"
#include "core/json.h"
#include "core/kube_client.h"
#include "core/object_ref.h"
#include "core/status.h"

namespace driftguard::reconciler {

struct InventoryEntry {
  std::string id;       // "<ns>_<name>_<group>_<kind>" (core::ObjectRef::InventoryId)
  std::string version;  // "v1", "v1beta2"...
  auto operator<=>(const InventoryEntry&) const = default;
};

class Inventory {
 public:
  Inventory() = default;
  // Entries of `objects` (apiVersion, kind, metadata), sorted by id as Flux sorts them.
  static Inventory FromObjects(const std::vector<core::Json>& objects);
  // Parses `{"entries": [{"id": ..., "v": ...}]}`; a null/absent value is an empty inventory.
  // Malformed ids are an error naming the entry: "inventory entry 1: inventory id 'x' is not of
  // the form <namespace>_<name>_<group>_<kind>". Duplicate ids are kept once.
  static core::StatusOr<Inventory> FromJson(const core::Json& inventory);

  core::Json ToJson() const;  // {"entries": [...]}, sorted by id
  const std::vector<InventoryEntry>& entries() const { return entries_; }
  bool empty() const { return entries_.empty(); }
  // The objects as references (version from `v`).
  std::vector<core::ObjectRef> Refs() const;
  // Objects in this inventory that `newer` does not hold (identity ignores the version), in the
  // order prune deletes them: the reverse of apply order (namespaced objects before Namespaces,
  // custom resources before CRDs). Classes, deleted in this order: objects with a namespace,
  // other cluster-scoped objects, Namespaces, CRDs; by id within a class.
  std::vector<core::ObjectRef> Difference(const Inventory& newer) const;

 private:
  std::vector<InventoryEntry> entries_;
};

// The ConfigMap InventoryConfigMapStore keeps: name prefix and data keys (each value is JSON text:
// `inventory` holds Inventory::ToJson(), `status` the Flux-shaped status object).
inline constexpr std::string_view kInventoryConfigMapPrefix = "driftguard-inventory-";
inline constexpr std::string_view kInventoryDataKey = "inventory";
inline constexpr std::string_view kStatusDataKey = "status";

// What `reconcile --once --config` keeps between runs for a Kustomization not in the cluster.
struct StoredKustomizationState {
  Inventory inventory;
  core::Json status;  // the Flux-shaped status of the last run (conditions, revisions)
};

class InventoryConfigMapStore {
 public:
  // `client` must outlive the store.
  explicit InventoryConfigMapStore(core::KubeClient* client,
                                   std::string field_manager = "driftguard");

  // "driftguard-inventory-<name>"
  static std::string ConfigMapName(const core::KustomizationId& id);

  // nullopt when the ConfigMap does not exist yet. A missing data key loads as an empty
  // inventory / empty status object; malformed JSON or ids are an error naming the ConfigMap.
  core::StatusOr<std::optional<StoredKustomizationState>> Load(const core::KustomizationId& id);
  // Creates or updates the ConfigMap (server-side apply with force, labelled
  // app.kubernetes.io/managed-by=driftguard); creates the ConfigMap only, never the namespace.
  core::Status Save(const core::KustomizationId& id, const StoredKustomizationState& state);

 private:
  core::KubeClient* const client_;
  const std::string field_manager_;
};

}  // namespace driftguard::reconciler

#endif  // DRIFTGUARD_RECONCILER_INVENTORY_H_
