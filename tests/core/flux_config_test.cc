#include "core/flux_config.h"

#include <gtest/gtest.h>

#include "tests/support/test_util.h"

namespace driftguard::core {
namespace {

constexpr char kRepo[] = R"(apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: shop
  namespace: flux-system
spec:
  interval: 1m
  url: https://git.example.com/shop.git
  ref:
    branch: main
)";

std::string Ks(const std::string& name, const std::string& extra = "") {
  return "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: " +
         name +
         "\n  namespace: flux-system\nspec:\n  interval: 10m\n  path: ./apps\n  sourceRef:\n"
         "    kind: GitRepository\n    name: shop\n" +
         extra;
}

TEST(FluxConfigTest, LoadsTheExamplesConfig) {
  auto cfg = LoadFluxConfig(std::string(DRIFTGUARD_SOURCE_DIR) +
                            "/examples/clusters/demo/driftguard.yaml");
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  ASSERT_EQ(cfg->repositories.size(), 1u);
  EXPECT_EQ(cfg->repositories[0].ref.branch, "main");
  ASSERT_EQ(cfg->kustomizations.size(), 2u);
  EXPECT_EQ(cfg->kustomizations[0].name, "web");
  EXPECT_EQ(cfg->kustomizations[1].path, "./infrastructure/redis");
  ASSERT_TRUE(cfg->guard_config.has_value());
  EXPECT_EQ((*cfg->guard_config)["spec"]["defaultMode"], "enforce");
  EXPECT_EQ(cfg->guard_config_where, std::string(DRIFTGUARD_SOURCE_DIR) +
                                         "/examples/clusters/demo/driftguard.yaml: document 4");
}

TEST(FluxConfigTest, RejectsUnsupportedKinds) {
  auto cfg = ParseFluxConfig(
      std::string(kRepo) + "---\napiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\n",
      "c.yaml");
  EXPECT_EQ(cfg.status().message(),
            "c.yaml: document 2: unsupported object helm.toolkit.fluxcd.io/v2 HelmRelease "
            "(expected source.toolkit.fluxcd.io/v1 GitRepository, kustomize.toolkit.fluxcd.io/v1 "
            "Kustomization or driftguard.io/v1alpha1 GuardConfig)");
}

TEST(FluxConfigTest, RejectsDanglingReferencesAndCycles) {
  auto missing_source =
      ParseFluxConfig(Ks("web").replace(Ks("web").find("name: shop"), 10, "name: nope"), "c.yaml");
  EXPECT_EQ(missing_source.status().message(),
            "c.yaml: Kustomization flux-system/web: sourceRef GitRepository flux-system/nope is "
            "not defined in this file");

  auto missing_dep = ParseFluxConfig(
      std::string(kRepo) + "---\n" + Ks("web", "  dependsOn:\n    - name: infra\n"), "c.yaml");
  EXPECT_EQ(missing_dep.status().message(),
            "c.yaml: Kustomization flux-system/web: dependsOn flux-system/infra is not defined "
            "in this file");

  auto cycle =
      ParseFluxConfig(std::string(kRepo) + "---\n" + Ks("a", "  dependsOn:\n    - name: b\n") +
                          "---\n" + Ks("b", "  dependsOn:\n    - name: a\n"),
                      "c.yaml");
  EXPECT_EQ(cycle.status().message(),
            "c.yaml: dependsOn cycle: flux-system/a -> flux-system/b -> flux-system/a");
}

TEST(FluxConfigTest, RejectsDuplicatesAndSecondGuardConfig) {
  auto dup = ParseFluxConfig(std::string(kRepo) + "---\n" + kRepo, "c.yaml");
  EXPECT_EQ(dup.status().message(),
            "c.yaml: document 2: GitRepository flux-system/shop is defined twice");
  const std::string guard = "apiVersion: driftguard.io/v1alpha1\nkind: GuardConfig\nspec: {}\n";
  auto two = ParseFluxConfig(guard + "---\n" + guard, "c.yaml");
  EXPECT_EQ(two.status().message(),
            "c.yaml: document 2: a second GuardConfig (the first is in c.yaml: document 1); at "
            "most one is allowed");
}

TEST(FluxConfigTest, YamlErrorsCarryThrough) {
  auto bad = ParseFluxConfig("kind: [unclosed\n", "c.yaml");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message().rfind("c.yaml: document 1, line ", 0), 0u)
      << bad.status().message();
  EXPECT_EQ(LoadFluxConfig("/nonexistent/cfg.yaml").status().message(),
            "cannot read config file /nonexistent/cfg.yaml");
}

}  // namespace
}  // namespace driftguard::core
