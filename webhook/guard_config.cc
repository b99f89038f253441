#include "webhook/guard_config.h"

#include <set>

namespace driftguard::webhook {
namespace {

using core::InvalidArgumentError;
using core::Json;
using core::Status;
using core::StatusOr;

Status CheckFields(const Json& obj, const std::set<std::string_view>& known,
                   const std::string& path, const std::string& prefix) {
  if (!obj.is_object()) return InvalidArgumentError(prefix + path + " must be a mapping");
  for (const auto& [key, value] : obj.items()) {
    if (!known.contains(key)) {
      return InvalidArgumentError(prefix + "unknown field \"" + path + "." + key + "\"");
    }
  }
  return core::OkStatus();
}

StatusOr<std::vector<std::string>> StringList(const Json& obj, const char* key,
                                              const std::string& path, const std::string& prefix) {
  std::vector<std::string> out;
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return out;
  if (!it->is_array()) {
    return InvalidArgumentError(prefix + path + "." + key + " must be a list of strings");
  }
  for (const Json& v : *it) {
    if (!v.is_string()) {
      return InvalidArgumentError(prefix + path + "." + key + " must be a list of strings");
    }
    out.push_back(v.get<std::string>());
  }
  return out;
}

StatusOr<std::string> String(const Json& obj, const char* key, const std::string& path,
                             const std::string& prefix) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return std::string();
  if (!it->is_string())
    return InvalidArgumentError(prefix + path + "." + key + " must be a string");
  return it->get<std::string>();
}

Status CheckPointer(const std::string& pointer, const std::string& where) {
  if (!pointer.empty() && pointer.front() == '/') return core::OkStatus();
  return InvalidArgumentError(where + ": \"" + pointer +
                              "\" is not a JSON pointer (it must start with '/', e.g. "
                              "/spec/replicas)");
}

}  // namespace

std::string_view GuardModeName(GuardMode mode) {
  switch (mode) {
    case GuardMode::kEnforce:
      return "enforce";
    case GuardMode::kRevert:
      return "revert";
    case GuardMode::kAudit:
      return "audit";
  }
  return "enforce";
}

StatusOr<GuardMode> ParseGuardMode(std::string_view text) {
  if (text == "enforce") return GuardMode::kEnforce;
  if (text == "revert") return GuardMode::kRevert;
  if (text == "audit") return GuardMode::kAudit;
  return InvalidArgumentError("unknown mode \"" + std::string(text) +
                              "\" (want enforce, revert or audit)");
}

std::string_view ProtectLevelName(ProtectLevel level) {
  return level == ProtectLevel::kAll ? "all" : "declared";
}

Status GuardConfig::Validate() const {
  for (const std::string& sa : exempt_service_accounts) {
    size_t colon = sa.find(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == sa.size() ||
        sa.find(':', colon + 1) != std::string::npos) {
      return InvalidArgumentError("exempt.serviceAccounts: \"" + sa +
                                  "\" must be <namespace>:<name> or <namespace>:*");
    }
  }
  for (size_t i = 0; i < ignore.size(); ++i) {
    const std::string where = "ignore[" + std::to_string(i) + "].paths";
    if (ignore[i].paths.empty()) return InvalidArgumentError(where + " must not be empty");
    for (const std::string& p : ignore[i].paths) RETURN_IF_ERROR(CheckPointer(p, where));
    const std::string& k = ignore[i].kustomization;
    if (!k.empty() && (k.find('/') == std::string::npos || k.front() == '/' || k.back() == '/')) {
      return InvalidArgumentError("ignore[" + std::to_string(i) + "].kustomization: \"" + k +
                                  "\" must be <namespace>/<name>");
    }
  }
  if (own_service_account.rfind("system:serviceaccount:", 0) != 0) {
    return InvalidArgumentError("serviceAccount: \"" + own_service_account +
                                "\" must be system:serviceaccount:<namespace>:<name>");
  }
  return core::OkStatus();
}

StatusOr<GuardConfig> ParseGuardConfig(const Json& document, std::string_view where) {
  const std::string prefix =
      where.empty() ? "GuardConfig: " : std::string(where) + ": GuardConfig: ";
  RETURN_IF_ERROR(CheckFields(document, {"apiVersion", "kind", "metadata", "spec"}, "", prefix));
  GuardConfig cfg;
  if (!document.contains("spec") || document["spec"].is_null()) return cfg;
  const Json& spec = document["spec"];
  RETURN_IF_ERROR(CheckFields(spec,
                              {"defaultMode", "protect", "exempt", "breakGlassGroups",
                               "excludedNamespaces", "ignore", "serviceAccount"},
                              "spec", prefix));
  ASSIGN_OR_RETURN(std::string mode, String(spec, "defaultMode", "spec", prefix));
  if (!mode.empty()) {
    auto parsed = ParseGuardMode(mode);
    if (!parsed.ok())
      return InvalidArgumentError(prefix + "spec.defaultMode: " + parsed.status().message());
    cfg.default_mode = *parsed;
  }
  ASSIGN_OR_RETURN(std::string protect, String(spec, "protect", "spec", prefix));
  if (protect == "declared") {
    cfg.protect = ProtectLevel::kDeclared;
  } else if (!protect.empty() && protect != "all") {
    return InvalidArgumentError(prefix + "spec.protect: unknown level \"" + protect +
                                "\" (want all or declared)");
  }
  if (spec.contains("exempt")) {
    const Json& ex = spec["exempt"];
    RETURN_IF_ERROR(CheckFields(ex, {"users", "groups", "serviceAccounts"}, "spec.exempt", prefix));
    ASSIGN_OR_RETURN(cfg.exempt_users, StringList(ex, "users", "spec.exempt", prefix));
    ASSIGN_OR_RETURN(cfg.exempt_groups, StringList(ex, "groups", "spec.exempt", prefix));
    ASSIGN_OR_RETURN(cfg.exempt_service_accounts,
                     StringList(ex, "serviceAccounts", "spec.exempt", prefix));
  }
  ASSIGN_OR_RETURN(cfg.break_glass_groups, StringList(spec, "breakGlassGroups", "spec", prefix));
  ASSIGN_OR_RETURN(cfg.excluded_namespaces, StringList(spec, "excludedNamespaces", "spec", prefix));
  ASSIGN_OR_RETURN(std::string own, String(spec, "serviceAccount", "spec", prefix));
  if (!own.empty()) cfg.own_service_account = own;
  if (spec.contains("ignore")) {
    const Json& rules = spec["ignore"];
    if (!rules.is_array()) return InvalidArgumentError(prefix + "spec.ignore must be a list");
    for (size_t i = 0; i < rules.size(); ++i) {
      const std::string path = "spec.ignore[" + std::to_string(i) + "]";
      RETURN_IF_ERROR(CheckFields(rules[i],
                                  {"paths", "kustomization", "group", "kind", "namespace", "name"},
                                  path, prefix));
      IgnoreRule rule;
      ASSIGN_OR_RETURN(rule.paths, StringList(rules[i], "paths", path, prefix));
      ASSIGN_OR_RETURN(rule.kustomization, String(rules[i], "kustomization", path, prefix));
      ASSIGN_OR_RETURN(rule.group, String(rules[i], "group", path, prefix));
      ASSIGN_OR_RETURN(rule.kind, String(rules[i], "kind", path, prefix));
      ASSIGN_OR_RETURN(rule.namespace_, String(rules[i], "namespace", path, prefix));
      ASSIGN_OR_RETURN(rule.name, String(rules[i], "name", path, prefix));
      cfg.ignore.push_back(std::move(rule));
    }
  }
  Status valid = cfg.Validate();
  if (!valid.ok()) return InvalidArgumentError(prefix + "spec." + valid.message());
  return cfg;
}

}  // namespace driftguard::webhook
