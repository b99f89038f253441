// GuardConfig: the guard's settings, from the `driftguard.io/v1alpha1 GuardConfig` document of the
// config file (at most one), with the defaults of DESIGN.md when absent.
//
//   apiVersion: driftguard.io/v1alpha1
//   kind: GuardConfig
//   spec:
//     defaultMode: enforce            # enforce | revert | audit
//     protect: all                    # all | declared
//     exempt:
//       users: [alice]
//       groups: [platform-admins]
//       serviceAccounts: [ci:deployer]    # <namespace>:<name>, or <namespace>:* for a namespace
//     breakGlassGroups: [platform:break-glass]
//     excludedNamespaces: [sandbox]
//     ignore:                         # JSON pointers that never count as drift
//       - paths: [/spec/replicas]
//         kustomization: flux-system/web  # optional: only objects of this Kustomization
//         kind: Deployment                # optional: only this kind (and group, name, namespace)
//
// Per Kustomization, the annotation `driftguard.io/mode` overrides defaultMode and
// `driftguard.io/ignore` adds comma-separated JSON pointers to ignore.
//
// Unknown fields are an error that names the field.
#ifndef DRIFTGUARD_WEBHOOK_GUARD_CONFIG_H_
#define DRIFTGUARD_WEBHOOK_GUARD_CONFIG_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/json.h"
#include "core/status.h"

namespace driftguard::webhook {

enum class GuardMode { kEnforce, kRevert, kAudit };
enum class ProtectLevel { kAll, kDeclared };

std::string_view GuardModeName(GuardMode mode);  // "enforce", "revert", "audit"
core::StatusOr<GuardMode> ParseGuardMode(std::string_view text);
std::string_view ProtectLevelName(ProtectLevel level);  // "all", "declared"

inline constexpr std::string_view kModeAnnotation = "driftguard.io/mode";
inline constexpr std::string_view kIgnoreAnnotation = "driftguard.io/ignore";

struct IgnoreRule {
  std::vector<std::string> paths;  // JSON pointers; a pointer also covers everything below it
  std::string kustomization;       // "<ns>/<name>"; "" = any
  std::string group;               // "" = any (the core group cannot be singled out)
  std::string kind;                // "" = any
  std::string namespace_;          // "" = any
  std::string name;                // "" = any
};

struct GuardConfig {
  GuardMode default_mode = GuardMode::kEnforce;
  ProtectLevel protect = ProtectLevel::kAll;
  std::vector<std::string> exempt_users;
  std::vector<std::string> exempt_groups;
  // "<namespace>:<name>" or "<namespace>:*".
  std::vector<std::string> exempt_service_accounts;
  std::vector<std::string> break_glass_groups;
  std::vector<std::string> excluded_namespaces;
  std::vector<IgnoreRule> ignore;
  // driftguard's own service account (always exempt), "system:serviceaccount:<ns>:<name>".
  std::string own_service_account = "system:serviceaccount:driftguard-system:driftguard";

  core::Status Validate() const;
};

// Parses a GuardConfig document (the whole object: apiVersion, kind, spec). `where` prefixes
// errors ("config.yaml: document 4").
core::StatusOr<GuardConfig> ParseGuardConfig(const core::Json& document, std::string_view where);

}  // namespace driftguard::webhook

#endif  // DRIFTGUARD_WEBHOOK_GUARD_CONFIG_H_
