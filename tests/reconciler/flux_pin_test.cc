#include <gtest/gtest.h>

#include <string>

#include "core/flux_config.h"
#include "reconciler/flux_objects.h"

namespace driftguard::reconciler {
namespace {

constexpr char kCommitA[] = "1111111111111111111111111111111111111111";
constexpr char kCommitB[] = "2222222222222222222222222222222222222222";

core::FluxConfig Parse(const std::string& text) {
  auto config = core::ParseFluxConfig(text, "flux.yaml");
  EXPECT_TRUE(config.ok()) << config.status();
  return config.ok() ? *config : core::FluxConfig{};
}

std::string Repo() {
  return R"(apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: fleet, namespace: flux-system}
spec:
  url: https://git.example.com/fleet.git
  interval: 1m
  ref: {tag: v1.2.0}
)";
}

std::string Ks(const std::string& name, const std::string& revision) {
  std::string doc =
      "---\napiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\n"
      "metadata: {name: " +
      name +
      ", namespace: flux-system}\n"
      "spec:\n  interval: 5m\n  path: ./" +
      name + "\n  prune: true\n  sourceRef: {kind: GitRepository, name: fleet}\n";
  if (!revision.empty()) doc += "status:\n  lastAppliedRevision: " + revision + "\n";
  return doc;
}

TEST(PinToLastAppliedRevisionsTest, OneCommitPinsTheRepositoryInPlace) {
  core::FluxConfig pinned =
      PinToLastAppliedRevisions(Parse(Repo() + Ks("apps", std::string("v1.2.0@sha1:") + kCommitA) +
                                      Ks("infra", std::string("sha1:") + kCommitA)));
  ASSERT_EQ(pinned.repositories.size(), 1u);
  const core::GitRepository& repo = pinned.repositories[0];
  EXPECT_EQ(repo.name, "fleet");
  EXPECT_EQ(repo.ref.commit, kCommitA);
  EXPECT_EQ(repo.ref.tag, "");
  EXPECT_EQ(repo.object["spec"]["ref"].dump(), std::string("{\"commit\":\"") + kCommitA + "\"}");
  EXPECT_EQ(pinned.kustomizations[0].source_ref.name, "fleet");
  EXPECT_EQ(pinned.kustomizations[1].source_ref.name, "fleet");
}

TEST(PinToLastAppliedRevisionsTest, NothingAppliedYetLeavesTheRepositoryAsDeclared) {
  core::FluxConfig pinned = PinToLastAppliedRevisions(Parse(Repo() + Ks("apps", "")));
  ASSERT_EQ(pinned.repositories.size(), 1u);
  EXPECT_EQ(pinned.repositories[0].ref.tag, "v1.2.0");
  EXPECT_EQ(pinned.repositories[0].ref.commit, "");
}

TEST(PinToLastAppliedRevisionsTest, DifferentCommitsGetOnePinnedCopyEach) {
  core::FluxConfig pinned = PinToLastAppliedRevisions(
      Parse(Repo() + Ks("apps", std::string("main@sha1:") + kCommitA) +
            Ks("infra", std::string("main/") + kCommitB) + Ks("new", "")));
  ASSERT_EQ(pinned.repositories.size(), 3u);
  EXPECT_EQ(pinned.repositories[0].name, "fleet");  // for "new", not applied yet
  EXPECT_EQ(pinned.repositories[0].ref.tag, "v1.2.0");
  EXPECT_EQ(pinned.repositories[1].name, "fleet@111111111111");
  EXPECT_EQ(pinned.repositories[1].ref.commit, kCommitA);
  EXPECT_EQ(pinned.repositories[2].name, "fleet@222222222222");
  EXPECT_EQ(pinned.repositories[2].ref.commit, kCommitB);
  EXPECT_EQ(pinned.kustomizations[0].source_ref.name, "fleet@111111111111");
  EXPECT_EQ(pinned.kustomizations[1].source_ref.name, "fleet@222222222222");
  EXPECT_EQ(pinned.kustomizations[2].source_ref.name, "fleet");
}

TEST(PinToLastAppliedRevisionsTest, MalformedRevisionIsTreatedAsNotApplied) {
  core::FluxConfig pinned =
      PinToLastAppliedRevisions(Parse(Repo() + Ks("apps", "main@sha1:nothex")));
  ASSERT_EQ(pinned.repositories.size(), 1u);
  EXPECT_EQ(pinned.repositories[0].ref.commit, "");
  EXPECT_EQ(pinned.repositories[0].ref.tag, "v1.2.0");
}

}  // namespace
}  // namespace driftguard::reconciler
