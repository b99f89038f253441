// The in-memory resource of the kustomize engine: an object, where its fields came from, and the
// identities it had before transformers renamed it (for name-reference fix-ups and patch targets).
// Internal to the renderer; not thread-safe (each render owns its resources).
#ifndef DRIFTGUARD_RECONCILER_INTERNAL_KUSTOMIZE_RESOURCE_H_
#define DRIFTGUARD_RECONCILER_INTERNAL_KUSTOMIZE_RESOURCE_H_

#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/json.h"
#include "core/status.h"
#include "core/yaml.h"
#include "reconciler/render.h"

namespace driftguard::reconciler::internal {

using Origins = core::FieldOrigins;

struct Gvk {
  std::string group, version, kind;
};

// A resource identity. `ns` empty means "default" for namespaced kinds (kustomize's EffectiveNs).
struct ResId {
  Gvk gvk;
  std::string name, ns;
  // Kustomize's spelling, used in errors: "Deployment.v1.apps/web.[noNs]".
  std::string ToString() const;
  bool NsEquals(const ResId& other) const;
  bool Equals(const ResId& other) const;
};

struct Resource {
  core::Json obj;
  Origins origins;
  std::vector<ResId> prev_ids;  // oldest first; empty when never renamed
  std::vector<std::string> prefixes, suffixes;
  bool needs_hash = false;  // generated ConfigMap/Secret whose name gets the content hash
  bool is_generated = false;

  Gvk GetGvk() const;
  std::string Name() const;
  std::string Namespace() const;
  ResId CurId() const;
  ResId OrgId() const { return prev_ids.empty() ? CurId() : prev_ids.front(); }
  // Every id this resource had, current last.
  std::vector<ResId> AllIds() const;
  // Records the current id as previous, then sets name/namespace.
  void SetName(const std::string& name);
  void SetNamespace(const std::string& ns);
};

Gvk ParseGvk(const core::Json& obj);
bool IsClusterScoped(const Gvk& gvk);

// A kustomize field spec: "spec/template/metadata/labels" applying to resources of a GVK
// (empty members match anything). Sequences along the path are walked implicitly; "[]" suffixes
// are accepted and "\/" escapes a slash inside a key.
struct FieldSpec {
  Gvk gvk;
  std::string path;
  bool create = false;
  bool Matches(const Gvk& gvk) const;
};
std::vector<std::string> SplitFieldPath(std::string_view path);

// Calls `fn(node, pointer)` for every node `spec.path` reaches in `obj`. With `create`, missing
// maps along the path (and the final node, created as `create_value`) are added.
void VisitFieldSpec(core::Json& obj, const FieldSpec& spec, const core::Json& create_value,
                    const std::function<void(core::Json&, const std::string&)>& fn);

// Label/annotation selector in Kubernetes syntax ("a=b,c!=d,e in (x,y),!f,g").
core::StatusOr<bool> MatchesSelector(const core::Json& labels, std::string_view selector);

// Records `origin` for `pointer`, dropping stale entries below it.
void SetOrigin(Origins& origins, const std::string& pointer, const FieldOrigin& origin);
// Records `origin` for every leaf of `value` (placed at `pointer`).
void SetOriginTree(Origins& origins, const core::Json& value, const std::string& pointer,
                   const FieldOrigin& origin);

std::string JoinPointer(const std::string& base, std::string_view token);

}  // namespace driftguard::reconciler::internal

#endif  // DRIFTGUARD_RECONCILER_INTERNAL_KUSTOMIZE_RESOURCE_H_
