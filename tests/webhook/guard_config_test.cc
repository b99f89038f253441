#include "webhook/guard_config.h"

#include <gtest/gtest.h>

namespace driftguard::webhook {
namespace {

using core::Json;

Json Doc(const std::string& spec_json) {
  return Json::parse(R"({"apiVersion":"driftguard.io/v1alpha1","kind":"GuardConfig","spec":)" +
                     spec_json + "}");
}

TEST(GuardConfigTest, DefaultsWhenSpecIsEmpty) {
  auto cfg = ParseGuardConfig(Doc("{}"), "c.yaml: document 4");
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  EXPECT_EQ(cfg->default_mode, GuardMode::kEnforce);
  EXPECT_EQ(cfg->protect, ProtectLevel::kAll);
  EXPECT_TRUE(cfg->exempt_users.empty());
  EXPECT_EQ(cfg->own_service_account, "system:serviceaccount:driftguard-system:driftguard");
}

TEST(GuardConfigTest, ParsesEverySetting) {
  auto cfg = ParseGuardConfig(Doc(R"({
      "defaultMode": "revert", "protect": "declared",
      "exempt": {"users": ["alice"], "groups": ["platform-admins"],
                 "serviceAccounts": ["ci:deployer", "tools:*"]},
      "breakGlassGroups": ["platform:break-glass"],
      "excludedNamespaces": ["sandbox"],
      "serviceAccount": "system:serviceaccount:gitops:driftguard",
      "ignore": [{"paths": ["/spec/replicas"], "kustomization": "flux-system/web",
                  "kind": "Deployment"}]})"),
                              "");
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  EXPECT_EQ(cfg->default_mode, GuardMode::kRevert);
  EXPECT_EQ(cfg->protect, ProtectLevel::kDeclared);
  EXPECT_EQ(cfg->exempt_users, std::vector<std::string>{"alice"});
  EXPECT_EQ(cfg->exempt_groups, std::vector<std::string>{"platform-admins"});
  EXPECT_EQ(cfg->exempt_service_accounts, (std::vector<std::string>{"ci:deployer", "tools:*"}));
  EXPECT_EQ(cfg->break_glass_groups, std::vector<std::string>{"platform:break-glass"});
  EXPECT_EQ(cfg->excluded_namespaces, std::vector<std::string>{"sandbox"});
  EXPECT_EQ(cfg->own_service_account, "system:serviceaccount:gitops:driftguard");
  ASSERT_EQ(cfg->ignore.size(), 1u);
  EXPECT_EQ(cfg->ignore[0].paths, std::vector<std::string>{"/spec/replicas"});
  EXPECT_EQ(cfg->ignore[0].kustomization, "flux-system/web");
  EXPECT_EQ(cfg->ignore[0].kind, "Deployment");
}

TEST(GuardConfigTest, UnknownFieldsAreNamed) {
  EXPECT_EQ(
      ParseGuardConfig(Doc(R"({"defaultMod": "audit"})"), "c.yaml: document 4").status().message(),
      "c.yaml: document 4: GuardConfig: unknown field \"spec.defaultMod\"");
  EXPECT_EQ(ParseGuardConfig(Doc(R"({"exempt": {"user": ["x"]}})"), "").status().message(),
            "GuardConfig: unknown field \"spec.exempt.user\"");
  EXPECT_EQ(ParseGuardConfig(Doc(R"({"ignore": [{"paths": ["/a"], "knd": "X"}]})"), "")
                .status()
                .message(),
            "GuardConfig: unknown field \"spec.ignore[0].knd\"");
}

TEST(GuardConfigTest, InvalidValuesAreExplained) {
  EXPECT_EQ(
      ParseGuardConfig(Doc(R"({"defaultMode": "block"})"), "").status().message(),
      "GuardConfig: spec.defaultMode: unknown mode \"block\" (want enforce, revert or audit)");
  EXPECT_EQ(ParseGuardConfig(Doc(R"({"protect": "some"})"), "").status().message(),
            "GuardConfig: spec.protect: unknown level \"some\" (want all or declared)");
  EXPECT_EQ(ParseGuardConfig(Doc(R"({"exempt": {"serviceAccounts": ["deployer"]}})"), "")
                .status()
                .message(),
            "GuardConfig: spec.exempt.serviceAccounts: \"deployer\" must be <namespace>:<name> or "
            "<namespace>:*");
  EXPECT_EQ(
      ParseGuardConfig(Doc(R"({"ignore": [{"paths": ["spec.replicas"]}]})"), "").status().message(),
      "GuardConfig: spec.ignore[0].paths: \"spec.replicas\" is not a JSON pointer (it must start "
      "with '/', e.g. /spec/replicas)");
  EXPECT_EQ(ParseGuardConfig(Doc(R"({"breakGlassGroups": "ops"})"), "").status().message(),
            "GuardConfig: spec.breakGlassGroups must be a list of strings");
}

}  // namespace
}  // namespace driftguard::webhook
