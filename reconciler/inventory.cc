#include "reconciler/inventory.h"

#include <algorithm>
#include <set>
#include <utility>

#include "core/rest_mapper.h"

namespace driftguard::reconciler {
namespace {

// Prune order classes (lower is deleted first): the reverse of the applier's stages. The
// inventory does not know scopes, so "namespaced" means "has a namespace in its id".
int PruneRank(const core::ObjectRef& ref) {
  if (ref.group == "apiextensions.k8s.io" && ref.kind == "CustomResourceDefinition") return 3;
  if (ref.group.empty() && ref.kind == "Namespace") return 2;
  if (ref.namespace_.empty()) return 1;
  return 0;
}

const core::Json* Member(const core::Json& object, const char* key) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

}  // namespace

Inventory Inventory::FromObjects(const std::vector<core::Json>& objects) {
  Inventory inv;
  std::set<std::string> seen;
  for (const core::Json& object : objects) {
    core::ObjectRef ref = core::ObjectRef::FromObject(object);
    std::string id = ref.InventoryId();
    if (!seen.insert(id).second) continue;
    inv.entries_.push_back({std::move(id), ref.version});
  }
  std::sort(inv.entries_.begin(), inv.entries_.end());
  return inv;
}

core::StatusOr<Inventory> Inventory::FromJson(const core::Json& inventory) {
  Inventory inv;
  if (inventory.is_null()) return inv;
  if (!inventory.is_object()) {
    return core::InvalidArgumentError("inventory: expected an object with \"entries\", got " +
                                      std::string(inventory.type_name()));
  }
  const core::Json* entries = Member(inventory, "entries");
  if (entries == nullptr || entries->is_null()) return inv;
  if (!entries->is_array()) {
    return core::InvalidArgumentError("inventory: \"entries\" is not a list");
  }
  std::set<std::string> seen;
  for (size_t i = 0; i < entries->size(); ++i) {
    const core::Json& e = (*entries)[i];
    const std::string where = "inventory entry " + std::to_string(i);
    const core::Json* id = Member(e, "id");
    if (id == nullptr || !id->is_string()) {
      return core::InvalidArgumentError(where + ": \"id\" is missing or not a string");
    }
    core::Status parsed = core::ObjectRef::ParseInventoryId(id->get<std::string>()).status();
    if (!parsed.ok()) return parsed.WithPrefix(where);
    const core::Json* v = Member(e, "v");
    if (v != nullptr && !v->is_string() && !v->is_null()) {
      return core::InvalidArgumentError(where + ": \"v\" is not a string");
    }
    std::string version = v != nullptr && v->is_string() ? v->get<std::string>() : "";
    if (!seen.insert(id->get<std::string>()).second) continue;
    inv.entries_.push_back({id->get<std::string>(), std::move(version)});
  }
  std::sort(inv.entries_.begin(), inv.entries_.end());
  return inv;
}

core::Json Inventory::ToJson() const {
  core::Json list = core::Json::array();
  for (const InventoryEntry& e : entries_) list.push_back({{"id", e.id}, {"v", e.version}});
  return {{"entries", std::move(list)}};
}

std::vector<core::ObjectRef> Inventory::Refs() const {
  std::vector<core::ObjectRef> out;
  out.reserve(entries_.size());
  for (const InventoryEntry& e : entries_) {
    auto ref = core::ObjectRef::ParseInventoryId(e.id);
    if (!ref.ok()) continue;  // only FromObjects of nameless objects produces such ids
    ref->version = e.version;
    out.push_back(*std::move(ref));
  }
  return out;
}

std::vector<core::ObjectRef> Inventory::Difference(const Inventory& newer) const {
  std::set<core::ObjectKey> keep;
  for (const core::ObjectRef& ref : newer.Refs()) keep.insert(core::ObjectKey::Of(ref));
  std::vector<core::ObjectRef> gone;
  for (core::ObjectRef& ref : Refs()) {
    if (!keep.contains(core::ObjectKey::Of(ref))) gone.push_back(std::move(ref));
  }
  // Refs() is in id order; keep it within a class so the result is deterministic.
  std::stable_sort(gone.begin(), gone.end(),
                   [](const core::ObjectRef& a, const core::ObjectRef& b) {
                     return PruneRank(a) < PruneRank(b);
                   });
  return gone;
}

InventoryConfigMapStore::InventoryConfigMapStore(core::KubeClient* client,
                                                 std::string field_manager)
    : client_(client), field_manager_(std::move(field_manager)) {}

std::string InventoryConfigMapStore::ConfigMapName(const core::KustomizationId& id) {
  return std::string(kInventoryConfigMapPrefix) + id.name;
}

core::StatusOr<std::optional<StoredKustomizationState>> InventoryConfigMapStore::Load(
    const core::KustomizationId& id) {
  const std::string name = ConfigMapName(id);
  const std::string where = "ConfigMap " + id.namespace_ + "/" + name;
  auto cm = client_->Get({"", "v1", "ConfigMap"}, id.namespace_, name);
  if (!cm.ok()) {
    if (core::IsNotFound(cm.status())) return std::optional<StoredKustomizationState>();
    return cm.status().WithPrefix("loading " + where);
  }
  StoredKustomizationState state;
  state.status = core::Json::object();
  const core::Json* data = core::FindPointer(*cm, "/data");
  if (data == nullptr || !data->is_object()) return std::optional(std::move(state));
  if (const core::Json* text = Member(*data, std::string(kInventoryDataKey).c_str());
      text != nullptr && text->is_string()) {
    auto parsed = core::ParseJson(text->get<std::string>(),
                                  where + " data." + std::string(kInventoryDataKey));
    if (!parsed.ok()) return parsed.status();
    auto inv = Inventory::FromJson(*parsed);
    if (!inv.ok()) return inv.status().WithPrefix(where);
    state.inventory = *std::move(inv);
  }
  if (const core::Json* text = Member(*data, std::string(kStatusDataKey).c_str());
      text != nullptr && text->is_string()) {
    auto parsed =
        core::ParseJson(text->get<std::string>(), where + " data." + std::string(kStatusDataKey));
    if (!parsed.ok()) return parsed.status();
    state.status = *std::move(parsed);
  }
  return std::optional(std::move(state));
}

core::Status InventoryConfigMapStore::Save(const core::KustomizationId& id,
                                           const StoredKustomizationState& state) {
  const std::string name = ConfigMapName(id);
  core::Json cm = {{"apiVersion", "v1"},
                   {"kind", "ConfigMap"},
                   {"metadata",
                    {{"name", name},
                     {"namespace", id.namespace_},
                     {"labels", {{"app.kubernetes.io/managed-by", "driftguard"}}}}},
                   {"data",
                    {{std::string(kInventoryDataKey), state.inventory.ToJson().dump()},
                     {std::string(kStatusDataKey),
                      (state.status.is_null() ? core::Json::object() : state.status).dump()}}}};
  core::ApplyOptions options;
  options.force = true;
  options.field_manager = field_manager_;
  auto applied = client_->Apply(cm, options);
  if (!applied.ok()) {
    return applied.status().WithPrefix("saving ConfigMap " + id.namespace_ + "/" + name);
  }
  return core::OkStatus();
}

}  // namespace driftguard::reconciler
