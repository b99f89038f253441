// What Flux's kustomize-controller does to a kustomize build before applying it, driven by the
// `spec` of a `kustomize.toolkit.fluxcd.io/v1 Kustomization`:
//
//   patches (strategic merge or JSON 6902, with targets), targetNamespace, namePrefix/nameSuffix
//   (with name-reference fix-ups), images, commonMetadata (labels/annotations on metadata only),
//   postBuild.substitute / substituteFrom variable substitution, and the owner labels
//   kustomize.toolkit.fluxcd.io/name and kustomize.toolkit.fluxcd.io/namespace on every object.
//
// Substitution works as Flux's does: on each object's YAML text, only when at least one variable
// is defined; `${var}`, `${var:=default}`, `${var:-default}`, `${var=default}`, `${var-default}`
// (a bare `$var` is text, left as it is, as drone/envsubst which Flux runs does);
// `$${...}` / `$$var` escape to a literal `$`; an undefined variable without
// default becomes "" (or an error with postBuild strict mode:
// `FluxBuildOptions::strict_substitution`); inline `substitute` values win over `substituteFrom`
// ones; objects labelled or annotated `kustomize.toolkit.fluxcd.io/substitute: disabled` are left
// alone. Variable names must match
// ^[_[:alpha:]][_[:alpha:][:digit:]]*$.
//
//   FluxBuildOptions flux{.name = "apps", .namespace_ = "flux-system", .spec = ks["spec"]};
//   RETURN_IF_ERROR(ApplyFluxPostBuild(objects, flux));
//
// Fields set here get `FluxBuildOptions::origin` as provenance. On error `objects` is unchanged.
#ifndef DRIFTGUARD_RECONCILER_FLUX_POSTBUILD_H_
#define DRIFTGUARD_RECONCILER_FLUX_POSTBUILD_H_

#include <map>
#include <string>
#include <vector>

#include "core/json.h"
#include "core/status.h"
#include "reconciler/render.h"

namespace driftguard::reconciler {

struct FluxBuildOptions {
  std::string name, namespace_;  // the Flux Kustomization's metadata
  core::Json spec;               // the Flux Kustomization spec
  // Values of postBuild.substituteFrom, already read from the referenced ConfigMaps/Secrets (in
  // order; later refs win) by the caller.
  std::map<std::string, std::string> substitutions_from_refs;
  // Fail on variables without value or default (kustomize-controller's strict substitution).
  bool strict_substitution = false;
  // Provenance for fields the Flux Kustomization sets (e.g. its file in the config repo).
  FieldOrigin origin;
};

core::Status ApplyFluxPostBuild(std::vector<RenderedObject>& objects,
                                const FluxBuildOptions& options);

// Flux's variable substitution on one text (exposed for tests and the CLI).
core::StatusOr<std::string> SubstituteVariables(std::string_view text,
                                                const std::map<std::string, std::string>& vars,
                                                bool strict);

}  // namespace driftguard::reconciler

#endif  // DRIFTGUARD_RECONCILER_FLUX_POSTBUILD_H_
