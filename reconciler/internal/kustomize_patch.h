// Strategic merge patches (kustomize semantics, merge keys from core/schema.h) and JSON 6902
// patches applied to a resource, keeping its field origins current: fields a patch sets get the
// patch's file and line, list items that move keep theirs, removed fields lose theirs.
#ifndef DRIFTGUARD_RECONCILER_INTERNAL_KUSTOMIZE_PATCH_H_
#define DRIFTGUARD_RECONCILER_INTERNAL_KUSTOMIZE_PATCH_H_

#include <string>
#include <unordered_map>

#include "core/json.h"
#include "core/status.h"
#include "core/yaml.h"
#include "reconciler/internal/kustomize_resource.h"

namespace driftguard::reconciler::internal {

// Where a patch's text lives: `file` (relative to the root) and, for each JSON pointer into the
// patch document, its line (`line_offset` added: inline patches sit inside kustomization.yaml).
struct PatchSource {
  core::FileName file;  // shared by every origin the patch records
  int line = 0;         // fallback line (where the patch starts)
  int line_offset = 0;
  const std::unordered_map<std::string, core::SourcePosition>* positions = nullptr;
  FieldOrigin At(const std::string& patch_pointer) const;
};

// Applies a strategic merge patch to `res` (object, origins). Sets `*deleted` when the patch
// deletes the whole object (`$patch: delete` at the top). `openapi` (a kustomization's `openapi`
// document,
// {"definitions": {...}}) supplies merge keys for kinds the built-in schema does not know.
core::Status ApplyStrategicMerge(Resource& res, const core::Json& patch, const PatchSource& src,
                                 bool* deleted, const core::Json* openapi = nullptr);

// Applies a JSON 6902 operation list. Errors read like kustomize's ("... unable to find ...").
core::Status ApplyJsonPatch(Resource& res, const core::Json& ops, const PatchSource& src);

// True when `doc` looks like a JSON 6902 operation list rather than an object.
inline bool IsJsonPatch(const core::Json& doc) { return doc.is_array(); }

}  // namespace driftguard::reconciler::internal

#endif  // DRIFTGUARD_RECONCILER_INTERNAL_KUSTOMIZE_PATCH_H_
