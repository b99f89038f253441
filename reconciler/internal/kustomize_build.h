// The kustomize build: loads a kustomization tree (resources, bases, components, generators) and
// runs its transformers in kustomize's order, then adds hash suffixes, fixes name references and
// resolves vars at the top level, and sorts the output.
#ifndef DRIFTGUARD_RECONCILER_INTERNAL_KUSTOMIZE_BUILD_H_
#define DRIFTGUARD_RECONCILER_INTERNAL_KUSTOMIZE_BUILD_H_

#include <filesystem>
#include <vector>

#include "core/status.h"
#include "reconciler/internal/kustomize_resource.h"
#include "reconciler/render.h"

namespace driftguard::reconciler::internal {

core::StatusOr<std::vector<Resource>> BuildKustomization(const std::filesystem::path& dir,
                                                         const RenderOptions& options);

}  // namespace driftguard::reconciler::internal

#endif  // DRIFTGUARD_RECONCILER_INTERNAL_KUSTOMIZE_BUILD_H_
