#include "core/desired_state.h"

#include <utility>

namespace driftguard::core {

const FieldOrigin* DesiredObject::Origin(std::string_view pointer) const {
  return FindOrigin(origins, pointer);
}

StatusOr<std::shared_ptr<const DesiredSnapshot>> DesiredSnapshot::Build(
    KustomizationId id, SnapshotInfo info, std::vector<DesiredObject> objects) {
  std::shared_ptr<DesiredSnapshot> snap(new DesiredSnapshot());
  snap->id_ = std::move(id);
  snap->info_ = std::move(info);
  snap->objects_ = std::move(objects);
  snap->index_.reserve(snap->objects_.size());
  for (size_t i = 0; i < snap->objects_.size(); ++i) {
    const ObjectRef& ref = snap->objects_[i].ref;
    auto [it, inserted] = snap->index_.emplace(ObjectKey::Of(ref), i);
    if (!inserted) {
      return InvalidArgumentError("Kustomization " + snap->id_.ToString() + " declares " +
                                  ref.ToString() + " twice (" + ref.InventoryId() + ")");
    }
  }
  return std::shared_ptr<const DesiredSnapshot>(std::move(snap));
}

const DesiredObject* DesiredSnapshot::Find(const ObjectKey& key) const {
  auto it = index_.find(key);
  return it == index_.end() ? nullptr : &objects_[it->second];
}

const KustomizationEntry* DesiredStateView::Find(const KustomizationId& id) const {
  auto it = entries_.find(id);
  return it == entries_.end() ? nullptr : &it->second;
}

std::optional<DesiredStateView::ObjectHit> DesiredStateView::FindObject(
    const ObjectKey& key) const {
  auto it = object_index_.find(key);
  if (it == object_index_.end()) return std::nullopt;
  return it->second;
}

bool DesiredStateView::Ready(std::string* reason) const {
  std::string pending;
  for (const auto& [id, entry] : entries_) {
    if (entry.settled) continue;
    if (!pending.empty()) pending += ", ";
    pending += id.ToString();
  }
  if (pending.empty()) return true;
  if (reason != nullptr) *reason = "desired state not loaded yet for Kustomization " + pending;
  return false;
}

DesiredStateStore::DesiredStateStore() : view_(std::make_shared<const DesiredStateView>()) {}

void DesiredStateStore::Register(const KustomizationId& id) {
  std::lock_guard lock(write_mu_);
  auto entries = view_.load()->entries_;
  if (entries.contains(id)) return;
  entries[id].id = id;
  Swap(std::move(entries));
}

void DesiredStateStore::Remove(const KustomizationId& id) {
  std::lock_guard lock(write_mu_);
  auto entries = view_.load()->entries_;
  if (entries.erase(id) == 0) return;
  Swap(std::move(entries));
}

void DesiredStateStore::Publish(std::shared_ptr<const DesiredSnapshot> snapshot) {
  std::lock_guard lock(write_mu_);
  auto entries = view_.load()->entries_;
  KustomizationEntry& e = entries[snapshot->id()];
  e.id = snapshot->id();
  e.last_attempt = snapshot->info().built_at;
  e.snapshot = std::move(snapshot);
  e.last_error = OkStatus();
  e.settled = true;
  Swap(std::move(entries));
}

void DesiredStateStore::RecordFailure(const KustomizationId& id, Status error, bool definitive) {
  std::lock_guard lock(write_mu_);
  auto entries = view_.load()->entries_;
  KustomizationEntry& e = entries[id];
  e.id = id;
  e.last_error = std::move(error);
  e.last_attempt = std::chrono::system_clock::now();
  e.settled = e.settled || definitive || e.snapshot != nullptr;
  Swap(std::move(entries));
}

// REQUIRES: write_mu_ held.
void DesiredStateStore::Swap(std::map<KustomizationId, KustomizationEntry> entries) {
  auto view = std::make_shared<DesiredStateView>();
  view->entries_ = std::move(entries);
  size_t total = 0;
  for (const auto& [id, e] : view->entries_) {
    if (e.snapshot) total += e.snapshot->objects().size();
  }
  view->object_index_.reserve(total);
  for (const auto& [id, e] : view->entries_) {
    if (!e.snapshot) continue;
    for (const DesiredObject& obj : e.snapshot->objects()) {
      // First Kustomization (by namespace/name order) wins when two declare the same object; Flux
      // would report the conflict, and the owner labels on the live object decide in the guard.
      view->object_index_.try_emplace(ObjectKey::Of(obj.ref),
                                      DesiredStateView::ObjectHit{e.snapshot.get(), &obj});
    }
  }
  view_.store(std::shared_ptr<const DesiredStateView>(std::move(view)));
}

}  // namespace driftguard::core
