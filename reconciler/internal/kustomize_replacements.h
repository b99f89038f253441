// `replacements` (copy a field of one resource into fields of others), the deprecated `vars`
// ($(VAR) expansion in the varReference fields), patch/replacement target selectors, and `crds`
// (OpenAPI definitions whose x-kubernetes-object-ref-* annotations add name references).
#ifndef DRIFTGUARD_RECONCILER_INTERNAL_KUSTOMIZE_REPLACEMENTS_H_
#define DRIFTGUARD_RECONCILER_INTERNAL_KUSTOMIZE_REPLACEMENTS_H_

#include <string>
#include <vector>

#include "core/json.h"
#include "core/status.h"
#include "reconciler/internal/kustomize_resource.h"

namespace driftguard::reconciler::internal {

// Kustomize's resource selector (patch `target`, replacement `select`/`reject`/`source`). Name and
// namespace are anchored regular expressions matched against the original or the current id.
struct Selector {
  Gvk gvk;
  std::string name, ns, label_selector, annotation_selector;
  bool has_name = false, has_ns = false;
};
Selector ParseSelector(const core::Json& target);
core::StatusOr<bool> Selects(const Selector& s, const Resource& r);

// Applies one replacement. `where` prefixes errors; `origin` is recorded on every target field.
core::Status ApplyReplacement(std::vector<Resource>& res, const core::Json& replacement,
                              const FieldOrigin& origin, const std::string& where);

struct Var {
  std::string name;
  Gvk gvk;
  std::string obj_name, obj_ns;
  std::string field_path = "metadata.name";
  std::string where;
};
core::StatusOr<Var> ParseVar(const core::Json& v, const std::string& where);
// Replaces $(NAME) in the `var_reference` fields of every resource.
core::Status ResolveVars(std::vector<Resource>& res, const std::vector<Var>& vars,
                         const std::vector<FieldSpec>& var_reference);

// Transformer configuration (nameReference entries) derived from a `crds` file.
core::StatusOr<core::Json> ConfigFromCrdSchema(const core::Json& doc, const std::string& file);

// Splits a kustomize field path ("spec.containers.[name=app].image") into segments.
std::vector<std::string> SplitDottedPath(const std::string& path);

}  // namespace driftguard::reconciler::internal

#endif  // DRIFTGUARD_RECONCILER_INTERNAL_KUSTOMIZE_REPLACEMENTS_H_
