// Kubernetes strategic merge patch (as `kubectl kustomize` applies patchesStrategicMerge) and
// RFC 6902 JSON Patch.
//
// Strategic merge, guided by the schema of the patched kind (core/schema.h):
//   - maps merge recursively; a null value deletes the key;
//   - lists whose field has patch strategy `merge` merge item by item: map items are matched by the
//     list's merge keys (the list-map keys when the list is a declared map — container ports match
//     by containerPort+protocol — otherwise the patch merge key); primitive items are unioned;
//     the result lists the patch's items first, in patch order, then the original items the patch
//     did not mention, in original order (what kustomize produces);
//   - every other list (no schema, no strategy, atomic) is replaced by the patch's list;
//   - directives: `$patch: delete` on a list item deletes the matching item, on a map deletes the
//     map (on the whole patch: the result is null, the object is deleted); `$patch: replace`
//     replaces the map, or the list when it appears as a list item `{$patch: replace}`; `$patch:
//     merge` is the default. A field with patch strategy `replace` is replaced.
//   - `$retainKeys`, `$deleteFromPrimitiveList/<field>`, `$setElementOrder/<field>`: kustomize
//     (kyaml) does not process them and copies them into its output as ordinary fields; with
//     `kustomize_compat` (the default) this function does the same. Without it, `$retainKeys` keeps
//     only the listed keys, `$deleteFromPrimitiveList/<f>` removes values from list <f> and
//     `$setElementOrder/<f>` is dropped (apimachinery semantics, order not enforced).
//
// Divergences from kustomize, by choice: a patch item without any of its list's merge keys is an
// error here (kustomize silently empties the list). Objects without schema (custom resources,
// schema == nullptr) merge maps and replace lists, exactly as kustomize does.
//
// Callers handling manifests: kustomize normalizes a patch's top-level `metadata.labels` and
// `metadata.annotations` before merging (null values become the string "null", a null map is
// dropped); that belongs to the renderer's loading of the patch, not to this function.
//
//   const SchemaNode* schema = Schema::ForApiVersionKind("apps/v1", "Deployment");
//   ASSIGN_OR_RETURN(Json merged, StrategicMergePatch(base, patch, schema));
//   ASSIGN_OR_RETURN(Json fixed, JsonPatch(live, revert_ops));
//
// Thread safety: pure functions. Never throw.
#ifndef DRIFTGUARD_CORE_STRATEGIC_MERGE_H_
#define DRIFTGUARD_CORE_STRATEGIC_MERGE_H_

#include "core/json.h"
#include "core/schema.h"
#include "core/status.h"

namespace driftguard::core {

struct StrategicMergeOptions {
  // Copy `$retainKeys`, `$deleteFromPrimitiveList/...`, `$setElementOrder/...` into the result
  // as ordinary fields and drop a patch item whose multi-key identity matches an original item's
  // only partially (one side omits a key field such as `protocol`), as kustomize v5 does.
  bool kustomize_compat = true;
};

// Applies `patch` to `original` (both JSON objects). `schema` is the node of the objects' kind
// (Schema::ForApiVersionKind) or nullptr. Errors name the JSON path of the offending patch value:
// "strategic merge patch: spec.template.spec.containers[0]: list item has no merge key \"name\"".
StatusOr<Json> StrategicMergePatch(const Json& original, const Json& patch,
                                   const SchemaNode* schema,
                                   const StrategicMergeOptions& options = {});

// RFC 6902: applies `ops` (a JSON array of operations: add, remove, replace, move, copy, test;
// "-" appends to an array) to a copy of `doc`. Either every operation applies or an error is
// returned: "json patch op 2 (replace /spec/replicas): path not found".
StatusOr<Json> JsonPatch(const Json& doc, const Json& ops);

}  // namespace driftguard::core

#endif  // DRIFTGUARD_CORE_STRATEGIC_MERGE_H_
