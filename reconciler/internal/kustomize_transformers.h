// Kustomize's built-in transformers over a list of resources, with their field-spec configuration
// (kustomize's documented defaults, extendable through `configurations` and `crds`), and the
// name-reference fix-up that runs once after all transformers and hash suffixes.
#ifndef DRIFTGUARD_RECONCILER_INTERNAL_KUSTOMIZE_TRANSFORMERS_H_
#define DRIFTGUARD_RECONCILER_INTERNAL_KUSTOMIZE_TRANSFORMERS_H_

#include <map>
#include <string>
#include <vector>

#include "core/json.h"
#include "core/status.h"
#include "reconciler/internal/kustomize_resource.h"

namespace driftguard::reconciler::internal {

struct NameRefEntry {
  Gvk referral;                      // the kind whose name is referenced
  std::vector<FieldSpec> referrers;  // where references to it live
};

struct TransformerConfig {
  std::vector<FieldSpec> common_labels;    // commonLabels / labels.includeSelectors
  std::vector<FieldSpec> template_labels;  // labels.includeTemplates
  std::vector<FieldSpec> common_annotations;
  std::vector<FieldSpec> images;  // in addition to every containers/initContainers list
  std::vector<FieldSpec> replicas;
  std::vector<FieldSpec> var_reference;
  std::vector<NameRefEntry> name_reference;
  // Fields besides metadata/name that namePrefix / nameSuffix also change (`configurations`).
  std::vector<FieldSpec> name_prefix, name_suffix;
  // Fields besides metadata/namespace that `namespace` sets (Namespace names, APIService and CRD
  // conversion webhook services by default, plus `configurations`).
  std::vector<FieldSpec> namespace_;

  static TransformerConfig Defaults();
  // Adds the entries of a kustomize transformer configuration document (`configurations` file):
  // keys nameReference, commonLabels, commonAnnotations, images, replicas, varReference,
  // namePrefix, nameSuffix, namespace. Unknown keys are an error naming `file`.
  core::Status Merge(const core::Json& doc, const std::string& file);
};

core::StatusOr<std::vector<FieldSpec>> ParseFieldSpecs(const core::Json& list,
                                                       const std::string& file);

// Which RoleBinding / ClusterRoleBinding subjects get the namespace (NamespaceTransformer's
// setRoleBindingSubjects): none, those named "default" (the kustomization `namespace` field), or
// every ServiceAccount subject.
enum class SubjectMode { kNone, kDefaultOnly, kAllServiceAccounts };

// metadata/namespace of namespaced objects is always set (kustomize does so whatever the field
// specs say); `extra` lists further fields, where "metadata/name" on kind Namespace renames
// Namespace objects (the kustomization `namespace` field does, a NamespaceTransformer config only
// when its fieldSpecs say so).
struct NamespaceOptions {
  SubjectMode subjects = SubjectMode::kDefaultOnly;
  bool unset_only = false;       // only where no namespace is set yet (missing or "")
  std::vector<FieldSpec> extra;  // further fields holding a namespace
};

void ApplyNamespace(std::vector<Resource>& res, const std::string& ns, const FieldOrigin& origin,
                    const NamespaceOptions& options = {});
// Renames resources (metadata/name, unless `rename` is false) and prefixes / suffixes the string
// fields `prefix_specs` / `suffix_specs` reach (created as "" first where a spec says create).
void ApplyPrefixSuffix(std::vector<Resource>& res, const std::string& prefix,
                       const std::string& suffix, const FieldOrigin& origin,
                       const std::vector<FieldSpec>& prefix_specs = {},
                       const std::vector<FieldSpec>& suffix_specs = {}, bool rename = true);
// `origins` gives, per key, where the key was declared.
void ApplyLabels(std::vector<Resource>& res, const std::map<std::string, std::string>& labels,
                 const std::vector<FieldSpec>& specs,
                 const std::map<std::string, FieldOrigin>& origins);

struct ImageRule {
  std::string name, new_name, new_tag, digest;
  FieldOrigin origin;
};
void ApplyImages(std::vector<Resource>& res, const std::vector<ImageRule>& rules,
                 const std::vector<FieldSpec>& specs);

struct ReplicaRule {
  std::string name;
  long long count = 0;
  FieldOrigin origin;
};
core::Status ApplyReplicas(std::vector<Resource>& res, const std::vector<ReplicaRule>& rules,
                           const std::vector<FieldSpec>& specs);

// Rewrites references (ConfigMap names in volumes, roleRef, subjects...) to the current names of
// the resources they pointed to before prefixes, suffixes, hashes and namespaces were applied.
core::Status FixNameReferences(std::vector<Resource>& res, const TransformerConfig& config);

}  // namespace driftguard::reconciler::internal

#endif  // DRIFTGUARD_RECONCILER_INTERNAL_KUSTOMIZE_TRANSFORMERS_H_
