// The `--config FILE` document: Flux GitRepository and Kustomization objects exactly as users write
// them for Flux, plus at most one `driftguard.io/v1alpha1 GuardConfig` (validated by the webhook,
// which owns its schema).
//
//   ASSIGN_OR_RETURN(FluxConfig cfg, LoadFluxConfig("clusters/demo/driftguard.yaml"));
//   for (const Kustomization& k : cfg.kustomizations) ...
//
// Cross-object checks happen here, so a config that loads is coherent: names are unique per kind,
// every Kustomization's sourceRef and dependsOn resolve, and dependsOn has no cycle.
#ifndef DRIFTGUARD_CORE_FLUX_CONFIG_H_
#define DRIFTGUARD_CORE_FLUX_CONFIG_H_

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/flux_api.h"
#include "core/json.h"
#include "core/status.h"

namespace driftguard::core {

inline constexpr std::string_view kGuardConfigApiVersion = "driftguard.io/v1alpha1";

struct FluxConfig {
  std::vector<GitRepository> repositories;
  std::vector<Kustomization> kustomizations;
  // The GuardConfig document, if any, and where it came from ("config.yaml: document 4").
  std::optional<Json> guard_config;
  std::string guard_config_where;

  const GitRepository* FindRepository(std::string_view ns, std::string_view name) const;
};

StatusOr<FluxConfig> ParseFluxConfig(std::string_view text, std::string_view source);
StatusOr<FluxConfig> LoadFluxConfig(const std::filesystem::path& path);

}  // namespace driftguard::core

#endif  // DRIFTGUARD_CORE_FLUX_CONFIG_H_
