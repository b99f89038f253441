// Schema knowledge of the built-in Kubernetes kinds: which fields are lists, how lists are keyed,
// how strategic merge treats them, which maps are atomic and what scalar type a field has.
//
// The data is a type graph generated from the Kubernetes v1.28 OpenAPI v3 documents
// (../shared/k8s-openapi) into core/internal/schema_table.cc by tools/gen_schema_table. A kind
// maps to the node of its top-level type; nodes reach their fields' nodes, list items and map
// values. Named types (PodSpec, Container, ...) are shared by every kind that embeds them, so the
// graph stays small; a field whose own annotations differ from its type's (for example
// `DeploymentSpec.strategy` with patch strategy `retainKeys`) points to its own copy of the type's
// node carrying those annotations.
//
//   const SchemaNode* deploy = Schema::ForKind("apps", "v1", "Deployment");
//   const SchemaNode* containers = deploy->Child("spec")->Child("template")->Child("spec")
//                                      ->Child("containers");
//   containers->list()->keys;              // {"name"}
//   containers->list()->patch_merge_key;   // "name"
//   containers->Items()->Child("ports")->list()->keys;  // {"containerPort", "protocol"}
//
// Kinds absent from the table (custom resources) have no schema: ForKind returns nullptr and
// callers treat every list as atomic (compared and replaced whole) and every map as granular.
//
// Thread safety: the table is immutable static data (constant-initialized); all functions are
// safe to call concurrently and never allocate.
#ifndef DRIFTGUARD_CORE_SCHEMA_H_
#define DRIFTGUARD_CORE_SCHEMA_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace driftguard::core {

// x-kubernetes-list-type.
enum class ListType : uint8_t { kAtomic, kSet, kMap };

// x-kubernetes-patch-strategy as bit flags ("merge,retainKeys" = kMerge | kRetainKeys).
enum PatchStrategyBits : uint8_t {
  kPatchStrategyNone = 0,
  kPatchStrategyMerge = 1,
  kPatchStrategyReplace = 2,
  kPatchStrategyRetainKeys = 4,
};

struct ListInfo {
  // x-kubernetes-list-type as declared; kAtomic when the list has no list-type annotation.
  ListType declared_type = ListType::kAtomic;
  bool has_declared_type = false;
  // x-kubernetes-list-map-keys (empty unless declared_type is kMap).
  std::span<const std::string_view> keys;
  // x-kubernetes-patch-strategy bits and x-kubernetes-patch-merge-key ("" when absent).
  uint8_t patch_strategy = kPatchStrategyNone;
  std::string_view patch_merge_key;

  // How the list is compared field by field, derived as the API server's structured-merge-diff
  // does: a declared list-type wins; otherwise patch strategy `merge` with a merge key makes an
  // associative list keyed by that key, `merge` without a key makes a set, anything else is atomic.
  ListType compare_type = ListType::kAtomic;
  std::span<const std::string_view> compare_keys;
  // The schema default of each compare key, as JSON text (`"TCP"`, `0`), "" when the key field has
  // no default. Parallel to compare_keys. An item lacking a key field is keyed by this default.
  std::span<const std::string_view> compare_key_defaults;

  // The keys strategic merge matches items by (kustomize behaviour): the list-map keys when the
  // list is a declared map, otherwise the patch merge key. Empty unless patch_strategy has kMerge.
  std::span<const std::string_view> merge_keys;
};

enum class SchemaKind : uint8_t {
  kAny,     // no structure known (RawExtension, JSON, FieldsV1): compared as a whole value
  kObject,  // fixed properties
  kMap,     // additionalProperties: string keys -> one value schema
  kList,    // array
  kScalar,  // string / number / boolean, see ScalarType
};

enum class ScalarType : uint8_t {
  kNone,  // not a scalar
  kString,
  kInteger,
  kNumber,
  kBoolean,
  kIntOrString,  // intstr.IntOrString
  kQuantity,     // resource.Quantity: string or number
  kBytes,        // string, format byte (base64)
  kDateTime,     // string, format date-time
};

// One node of the type graph. Nodes live in the static table; pointers to them stay valid for
// the life of the program. Construct only in the generated table.
class SchemaNode {
 public:
  static constexpr uint32_t kNoNode = 0xffffffffu;
  static constexpr uint16_t kNoList = 0xffffu;

  constexpr SchemaNode(SchemaKind kind, ScalarType scalar, bool atomic_map, uint8_t patch_strategy,
                       std::string_view type_name, uint32_t fields_begin, uint32_t fields_count,
                       uint32_t element, uint16_t list_index)
      : kind_(kind),
        scalar_(scalar),
        atomic_map_(atomic_map),
        patch_strategy_(patch_strategy),
        list_index_(list_index),
        fields_count_(fields_count),
        fields_begin_(fields_begin),
        element_(element),
        type_name_(type_name) {}

  SchemaKind kind() const { return kind_; }
  ScalarType scalar_type() const { return scalar_; }
  // The OpenAPI type name ("io.k8s.api.core.v1.PodSpec"); "" for anonymous list/map/scalar nodes.
  std::string_view type_name() const { return type_name_; }

  // kObject: the node of property `field`, nullptr when the type has no such property.
  // kMap: the value node for any key. Other kinds: nullptr.
  const SchemaNode* Child(std::string_view field) const;
  // kList: the item node; kMap: the value node; otherwise nullptr.
  const SchemaNode* Items() const;
  // kList: its annotations; otherwise nullptr.
  const ListInfo* list() const;

  // x-kubernetes-map-type: atomic on this object or map (or on the field that leads here).
  bool atomic_map() const { return atomic_map_; }
  // Patch strategy bits of the field that leads here (kPatchStrategyRetainKeys on
  // `DeploymentSpec.strategy`, kPatchStrategyReplace on `PodDisruptionBudgetSpec.selector`).
  uint8_t patch_strategy() const { return patch_strategy_; }

  // kObject: the number of properties and the i-th (sorted by name).
  size_t field_count() const { return kind_ == SchemaKind::kObject ? fields_count_ : 0; }
  std::string_view field_name(size_t i) const;
  const SchemaNode* field_node(size_t i) const;

 private:
  SchemaKind kind_;
  ScalarType scalar_;
  bool atomic_map_;
  uint8_t patch_strategy_;
  uint16_t list_index_;
  uint32_t fields_count_;
  uint32_t fields_begin_;
  uint32_t element_;
  std::string_view type_name_;
};

class Schema {
 public:
  // The node of a built-in kind's top-level type, nullptr when unknown. `group` is "" for the core
  // group ("v1" Pods, Services, ConfigMaps). Allocation-free; O(log kinds).
  static const SchemaNode* ForKind(std::string_view group, std::string_view version,
                                   std::string_view kind);
  // Same, from an object's apiVersion ("apps/v1", "v1").
  static const SchemaNode* ForApiVersionKind(std::string_view api_version, std::string_view kind);

  // Number of (group, version, kind) entries and node count, for tests and diagnostics.
  static size_t KindCount();
  static size_t NodeCount();
};

}  // namespace driftguard::core

#endif  // DRIFTGUARD_CORE_SCHEMA_H_
