// DesiredState: what Git declares, as immutable per-Kustomization snapshots.
//
// Source sync renders a Kustomization at a revision into a DesiredSnapshot (objects + where each
// field was declared) off to the side, then publishes it into the DesiredStateStore. Publishing
// swaps an immutable DesiredStateView atomically: readers (the webhook's request path) load the
// current view without taking a lock and never wait for Git or a render; a view they hold stays
// valid while they use it, whatever is published meanwhile.
//
//   // writer (source sync)
//   ASSIGN_OR_RETURN(auto snap, DesiredSnapshot::Build(id, info, std::move(objects)));
//   store.Publish(std::move(snap));
//   // reader (webhook)
//   auto view = store.Current();
//   if (auto hit = view->FindObject(ObjectKey::Of(ref))) Use(hit->snapshot, hit->object);
#ifndef DRIFTGUARD_CORE_DESIRED_STATE_H_
#define DRIFTGUARD_CORE_DESIRED_STATE_H_

#include <atomic>
#include <chrono>
#include <compare>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/field_origin.h"
#include "core/json.h"
#include "core/object_ref.h"
#include "core/status.h"

namespace driftguard::core {

// "<namespace>/<name>" of a Flux Kustomization.
struct KustomizationId {
  std::string namespace_;
  std::string name;
  std::string ToString() const { return namespace_ + "/" + name; }
  auto operator<=>(const KustomizationId&) const = default;
};

struct DesiredObject {
  ObjectRef ref;
  Json object;
  // JSON pointer into `object` -> where it was declared. Entries may be leaves or whole subtrees;
  // Origin() walks up to the nearest recorded ancestor. Origins naming one file share its name
  // (FileName), so an entry costs its pointer string plus 24 bytes.
  FieldOrigins origins;

  // Origin of the field at `pointer`, or nullptr when nothing at or above it was recorded.
  const FieldOrigin* Origin(std::string_view pointer) const;
};

// Everything about one render that is not the objects themselves.
struct SnapshotInfo {
  std::string revision;  // Flux form: "main@sha1:<40 hex>"
  std::string commit;    // 40 hex digits ("" when unknown)
  std::chrono::system_clock::time_point built_at;
  // The Flux Kustomization object the render came from (metadata + spec); the guard reads its
  // annotations (driftguard.io/mode, reconcile: disabled) and spec.suspend from here.
  Json kustomization;
};

class DesiredSnapshot {
 public:
  // Indexes `objects`. Two objects with the same identity (group, kind, namespace, name) are an
  // error naming both, as kustomize reports "may not add resource with an already registered id".
  static StatusOr<std::shared_ptr<const DesiredSnapshot>> Build(KustomizationId id,
                                                                SnapshotInfo info,
                                                                std::vector<DesiredObject> objects);

  const KustomizationId& id() const { return id_; }
  const SnapshotInfo& info() const { return info_; }
  // First 7 hex digits of the commit, as Git and Flux print it ("" when unknown).
  std::string ShortCommit() const { return info_.commit.substr(0, 7); }
  const std::vector<DesiredObject>& objects() const { return objects_; }
  // O(1). nullptr when the snapshot does not declare the object.
  const DesiredObject* Find(const ObjectKey& key) const;

 private:
  DesiredSnapshot() = default;
  KustomizationId id_;
  SnapshotInfo info_;
  std::vector<DesiredObject> objects_;
  std::unordered_map<ObjectKey, size_t, ObjectKeyHash> index_;
};

// What the store knows about one Kustomization.
struct KustomizationEntry {
  KustomizationId id;
  std::shared_ptr<const DesiredSnapshot> snapshot;  // last good render; null until the first one
  Status last_error;  // OK, or why the latest fetch/render failed (the snapshot stays in place)
  // True once the Kustomization has either a snapshot or a failure that is not going to resolve by
  // waiting (readiness counts it as settled).
  bool settled = false;
  std::chrono::system_clock::time_point last_attempt;
};

// An immutable picture of every Kustomization's desired state. Cheap to hold; thread-safe to read.
class DesiredStateView {
 public:
  struct ObjectHit {
    const DesiredSnapshot* snapshot;
    const DesiredObject* object;
  };

  const std::map<KustomizationId, KustomizationEntry>& entries() const { return entries_; }
  const KustomizationEntry* Find(const KustomizationId& id) const;
  // Finds the object in whichever Kustomization declares it. Used where the request carries no
  // ownership labels (the scale subresource).
  std::optional<ObjectHit> FindObject(const ObjectKey& key) const;
  // True when every registered Kustomization is settled; otherwise `reason` lists the ones pending.
  bool Ready(std::string* reason) const;
  size_t object_count() const { return object_index_.size(); }

 private:
  friend class DesiredStateStore;
  std::map<KustomizationId, KustomizationEntry> entries_;
  std::unordered_map<ObjectKey, ObjectHit, ObjectKeyHash> object_index_;
};

// Thread-safe. Writers are serialized by a mutex and rebuild the view (copy-on-write); readers only
// load an atomic shared_ptr.
class DesiredStateStore {
 public:
  DesiredStateStore();

  std::shared_ptr<const DesiredStateView> Current() const { return view_.load(); }

  // Declares a Kustomization the store should expect (for readiness). No-op if already known.
  void Register(const KustomizationId& id);
  // Removes a Kustomization and its snapshot.
  void Remove(const KustomizationId& id);
  // Installs a new snapshot for its Kustomization; clears its error and marks it settled.
  void Publish(std::shared_ptr<const DesiredSnapshot> snapshot);
  // Records a failed fetch/render; the previous snapshot stays. `definitive` marks it settled for
  // readiness (e.g. bad content that only a new commit can fix, or a first fetch that failed).
  void RecordFailure(const KustomizationId& id, Status error, bool definitive);

 private:
  void Swap(std::map<KustomizationId, KustomizationEntry> entries);

  std::mutex write_mu_;
  std::atomic<std::shared_ptr<const DesiredStateView>> view_;
};

}  // namespace driftguard::core

#endif  // DRIFTGUARD_CORE_DESIRED_STATE_H_
