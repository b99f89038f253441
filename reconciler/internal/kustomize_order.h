// Kustomize's "legacy" output order (the default of `kubectl kustomize`): namespaces, CRDs, RBAC,
// config, services and workloads first, webhook configurations last, the rest in between; ties
// broken by group/version/kind, then namespace, then name.
#ifndef DRIFTGUARD_RECONCILER_INTERNAL_KUSTOMIZE_ORDER_H_
#define DRIFTGUARD_RECONCILER_INTERNAL_KUSTOMIZE_ORDER_H_

#include <string>
#include <vector>

#include "reconciler/internal/kustomize_resource.h"

namespace driftguard::reconciler::internal {

// Stable-sorts `res` in legacy order. `order_first` / `order_last` override the kind lists
// (sortOptions.legacySortOptions); empty means kustomize's defaults.
void SortLegacy(std::vector<Resource>& res, const std::vector<std::string>& order_first = {},
                const std::vector<std::string>& order_last = {});

}  // namespace driftguard::reconciler::internal

#endif  // DRIFTGUARD_RECONCILER_INTERNAL_KUSTOMIZE_ORDER_H_
