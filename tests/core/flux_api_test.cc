#include "core/flux_api.h"

#include <gtest/gtest.h>

namespace driftguard::core {
namespace {

using std::chrono::milliseconds;

TEST(DurationTest, ParsesGoDurations) {
  EXPECT_EQ(*ParseDuration("1m"), milliseconds(60'000));
  EXPECT_EQ(*ParseDuration("1h2m3s"), milliseconds(3'723'000));
  EXPECT_EQ(*ParseDuration("1.5h"), milliseconds(5'400'000));
  EXPECT_EQ(*ParseDuration("300ms"), milliseconds(300));
  EXPECT_EQ(*ParseDuration("2m0s"), milliseconds(120'000));
  EXPECT_EQ(*ParseDuration("0"), milliseconds(0));
  EXPECT_EQ(*ParseDuration("1500us"), milliseconds(2));
}

TEST(DurationTest, RejectsMalformedDurations) {
  EXPECT_EQ(ParseDuration("10").status().message(),
            "invalid duration \"10\": missing unit (use ns, us, ms, s, m or h)");
  EXPECT_EQ(ParseDuration("5d").status().message(), "invalid duration \"5d\": unknown unit \"d\"");
  EXPECT_EQ(ParseDuration("").status().message(), "invalid duration \"\": empty");
  EXPECT_EQ(ParseDuration("m").status().message(),
            "invalid duration \"m\": expected a number at position 0");
}

TEST(DurationTest, FormatsLikeGo) {
  EXPECT_EQ(FormatDuration(milliseconds(0)), "0s");
  EXPECT_EQ(FormatDuration(milliseconds(90'000)), "1m30s");
  EXPECT_EQ(FormatDuration(milliseconds(3'600'000)), "1h0m0s");
  EXPECT_EQ(FormatDuration(milliseconds(250)), "250ms");
  EXPECT_EQ(FormatDuration(milliseconds(1500)), "1.5s");
}

Json GitRepo() {
  return Json::parse(R"({
    "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
    "metadata": {"name": "shop", "namespace": "flux-system"},
    "spec": {"interval": "1m", "url": "ssh://git@example.com/shop.git",
             "ref": {"semver": ">=1.0.0 <2.0.0"}, "secretRef": {"name": "shop-auth"},
             "ignore": "/docs\n*.md\n"}})");
}

TEST(GitRepositoryTest, ParsesFluxObject) {
  auto repo = ParseGitRepository(GitRepo());
  ASSERT_TRUE(repo.ok()) << repo.status();
  EXPECT_EQ(repo->namespace_, "flux-system");
  EXPECT_EQ(repo->name, "shop");
  EXPECT_EQ(repo->url, "ssh://git@example.com/shop.git");
  EXPECT_EQ(repo->ref.semver, ">=1.0.0 <2.0.0");
  EXPECT_EQ(repo->secret_ref, "shop-auth");
  EXPECT_EQ(repo->interval, milliseconds(60'000));
  EXPECT_EQ(repo->timeout, milliseconds(60'000));
  ASSERT_TRUE(repo->ignore.has_value());
  EXPECT_EQ(*repo->ignore, "/docs\n*.md\n");
}

TEST(GitRepositoryTest, UnknownFieldIsNamed) {
  Json obj = GitRepo();
  obj["spec"]["ref"]["brnach"] = "main";
  EXPECT_EQ(ParseGitRepository(obj, "config.yaml: document 1").status().message(),
            "config.yaml: document 1: flux-system/shop: GitRepository: unknown field "
            "\"spec.ref.brnach\"");
}

TEST(GitRepositoryTest, MissingUrlAndBadInterval) {
  Json obj = GitRepo();
  obj["spec"].erase("url");
  EXPECT_EQ(ParseGitRepository(obj).status().message(),
            "flux-system/shop: GitRepository: spec.url is required");
  obj = GitRepo();
  obj["spec"]["interval"] = "soon";
  EXPECT_EQ(ParseGitRepository(obj).status().message(),
            "flux-system/shop: GitRepository: spec.interval: invalid duration \"soon\": expected "
            "a number at position 0");
}

Json Ks() {
  return Json::parse(R"({
    "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
    "metadata": {"name": "web"},
    "spec": {"interval": "10m", "path": "./apps/web", "prune": true, "wait": true,
             "sourceRef": {"kind": "GitRepository", "name": "shop"},
             "dependsOn": [{"name": "infra"}, {"name": "crds", "namespace": "platform"}],
             "postBuild": {"substitute": {"cluster": "prod"}}}})");
}

TEST(KustomizationTest, ParsesWithDefaults) {
  auto k = ParseKustomization(Ks());
  ASSERT_TRUE(k.ok()) << k.status();
  EXPECT_EQ(k->namespace_, "flux-system");
  EXPECT_EQ(k->path, "./apps/web");
  EXPECT_TRUE(k->prune);
  EXPECT_TRUE(k->wait);
  EXPECT_FALSE(k->suspend);
  EXPECT_EQ(k->interval, milliseconds(600'000));
  EXPECT_EQ(k->retry_interval, milliseconds(600'000));
  EXPECT_EQ(k->timeout, milliseconds(600'000));
  EXPECT_EQ(k->source_ref.namespace_, "flux-system");
  ASSERT_EQ(k->depends_on.size(), 2u);
  EXPECT_EQ(k->depends_on[0].namespace_, "flux-system");
  EXPECT_EQ(k->depends_on[1].namespace_, "platform");
  EXPECT_EQ(k->spec()["postBuild"]["substitute"]["cluster"], "prod");
}

TEST(KustomizationTest, Errors) {
  Json obj = Ks();
  obj["spec"]["pth"] = "x";
  EXPECT_EQ(ParseKustomization(obj).status().message(),
            "flux-system/web: Kustomization: unknown field \"spec.pth\"");
  obj = Ks();
  obj["spec"]["sourceRef"]["kind"] = "OCIRepository";
  EXPECT_EQ(ParseKustomization(obj).status().message(),
            "flux-system/web: Kustomization: spec.sourceRef.kind \"OCIRepository\" is not "
            "supported (driftguard reads GitRepository sources)");
  obj = Ks();
  obj["apiVersion"] = "kustomize.toolkit.fluxcd.io/v1beta1";
  EXPECT_EQ(ParseKustomization(obj, "f.yaml").status().message(),
            "f.yaml: Kustomization: apiVersion must be kustomize.toolkit.fluxcd.io/v1, got "
            "\"kustomize.toolkit.fluxcd.io/v1beta1\"");
  obj = Ks();
  obj["spec"]["prune"] = "yes";
  EXPECT_EQ(ParseKustomization(obj).status().message(),
            "flux-system/web: Kustomization: \"spec.prune\" must be a boolean");
}

}  // namespace
}  // namespace driftguard::core
