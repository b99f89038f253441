// Bad input: every failure names the file (and line) the way kustomize phrases it, and nothing
// partial is returned.
#include <gtest/gtest.h>

#include <string>

#include "reconciler/render.h"
#include "tests/support/test_util.h"

namespace driftguard::reconciler {
namespace {

using testing::TempDir;
using testing::WriteFile;

const char* kDeploy = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n";

class RenderErrorsTest : public ::testing::Test {
 protected:
  core::Status RenderError(const std::string& dir) {
    RenderOptions opts;
    opts.root = tmp_.path() / "repo";
    auto r = RenderKustomization(dir, opts);
    if (r.ok()) return core::InternalError("rendered " + std::to_string(r->size()) + " objects");
    return r.status();
  }
  void Write(const std::string& rel, const std::string& text) {
    WriteFile(tmp_.path() / "repo" / rel, text);
  }
  TempDir tmp_;
};

TEST_F(RenderErrorsTest, MissingResource) {
  Write("k/kustomization.yaml", "resources:\n- nope.yaml\n");
  core::Status s = RenderError("k");
  EXPECT_EQ(s.code(), core::StatusCode::kNotFound);
  EXPECT_EQ(s.message(),
            "k/kustomization.yaml:2: accumulating resources from 'nope.yaml': 'k/nope.yaml' does "
            "not exist");
}

TEST_F(RenderErrorsTest, CycleBetweenKustomizations) {
  Write("a/kustomization.yaml", "resources: [../b]\n");
  Write("b/kustomization.yaml", "resources: [../a]\n");
  EXPECT_EQ(RenderError("a").message(),
            "a/kustomization.yaml:1: accumulating resources from '../b': b/kustomization.yaml:1: "
            "accumulating resources from '../a': cycle detected: 'a' -> 'b' -> 'a'");
}

TEST_F(RenderErrorsTest, UnknownFieldInKustomization) {
  Write("k/kustomization.yaml", "resources: []\nresorces: [a.yaml]\n");
  core::Status s = RenderError("k");
  EXPECT_EQ(s.code(), core::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(),
            "k/kustomization.yaml:2: invalid Kustomization: json: unknown field \"resorces\"");
}

TEST_F(RenderErrorsTest, PatchesStrategicMergeWithoutMatch) {
  Write("k/d.yaml", kDeploy);
  Write("k/kustomization.yaml",
        "resources: [d.yaml]\npatchesStrategicMerge:\n- |-\n  apiVersion: apps/v1\n  kind: "
        "Deployment\n  metadata: {name: other}\n");
  EXPECT_EQ(RenderError("k").message(),
            "k/kustomization.yaml:3: no matches for Id Deployment.v1.apps/other.[noNs]; failed to "
            "find unique target for patch Deployment.v1.apps/other.[noNs]");
}

TEST_F(RenderErrorsTest, PatchWithTargetMatchingNothingIsNotAnError) {
  // kustomize v5.5 accepts a `patches` entry whose target selects nothing.
  Write("k/d.yaml", kDeploy);
  Write("k/kustomization.yaml",
        "resources: [d.yaml]\npatches:\n- target: {kind: Service}\n  patch: |-\n    - op: add\n"
        "      path: /x\n      value: 1\n");
  RenderOptions opts;
  opts.root = tmp_.path() / "repo";
  auto r = RenderKustomization("k", opts);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->size(), 1u);
  EXPECT_FALSE(r->at(0).object.contains("x"));
}

TEST_F(RenderErrorsTest, InvalidYamlNamesFileAndLine) {
  Write("k/d.yaml", kDeploy);
  Write("k/bad.yaml", "a: [1\nb: 2\n");
  Write("k/kustomization.yaml", "resources:\n- d.yaml\n- bad.yaml\n");
  core::Status s = RenderError("k");
  EXPECT_EQ(s.code(), core::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(),
            "k/kustomization.yaml:3: accumulating resources from 'bad.yaml': k/bad.yaml: document "
            "1, line 3, column 1: did not find expected ',' or ']'");
}

TEST_F(RenderErrorsTest, PathEscapingTheRoot) {
  WriteFile(tmp_.path() / "outside.yaml", kDeploy);
  Write("k/kustomization.yaml", "resources: [../../outside.yaml]\n");
  core::Status s = RenderError("k");
  EXPECT_EQ(s.code(), core::StatusCode::kPermissionDenied);
  EXPECT_EQ(s.message(),
            "k/kustomization.yaml:1: accumulating resources from '../../outside.yaml': security; "
            "'../../outside.yaml' resolves outside the root '" +
                (tmp_.path() / "repo").string() + "'");
}

TEST_F(RenderErrorsTest, SymlinkEscapingTheRoot) {
  WriteFile(tmp_.path() / "outside.yaml", kDeploy);
  Write("k/kustomization.yaml", "resources: [link.yaml]\n");
  std::filesystem::create_symlink(tmp_.path() / "outside.yaml", tmp_.path() / "repo/k/link.yaml");
  EXPECT_EQ(RenderError("k").message(),
            "k/kustomization.yaml:1: accumulating resources from 'link.yaml': security; "
            "'link.yaml' resolves outside the root '" +
                (tmp_.path() / "repo").string() + "'");
}

TEST_F(RenderErrorsTest, FileOutsideTheKustomizationDirectory) {
  Write("shared.yaml", kDeploy);
  Write("k/kustomization.yaml", "resources: [../shared.yaml]\n");
  EXPECT_EQ(RenderError("k").message(),
            "k/kustomization.yaml:1: accumulating resources from '../shared.yaml': security; file "
            "'shared.yaml' is not in or below 'k'");
}

TEST_F(RenderErrorsTest, RemoteBase) {
  Write("k/kustomization.yaml", "resources:\n- github.com/foo/bar//base?ref=v1\n");
  core::Status s = RenderError("k");
  EXPECT_EQ(s.code(), core::StatusCode::kUnimplemented);
  EXPECT_EQ(
      s.message(),
      "k/kustomization.yaml:2: accumulating resources from 'github.com/foo/bar//base?ref=v1': "
      "remote resources are not supported (driftguard renders only the checked-out source)");
}

TEST_F(RenderErrorsTest, HelmCharts) {
  Write("k/kustomization.yaml", "resources: []\nhelmCharts:\n- name: x\n");
  EXPECT_EQ(RenderError("k").message(),
            "k/kustomization.yaml:2: helmCharts are not supported: kustomize needs --enable-helm "
            "and driftguard never runs helm");
}

TEST_F(RenderErrorsTest, ExecPluginTransformer) {
  Write("k/d.yaml", kDeploy);
  Write("k/plugin.yaml", "apiVersion: someteam.example.com/v1\nkind: ChartInflator\n");
  Write("k/kustomization.yaml", "resources: [d.yaml]\ntransformers: [plugin.yaml]\n");
  EXPECT_EQ(RenderError("k").message(),
            "k/plugin.yaml:1: plugin someteam.example.com/v1/ChartInflator is not a builtin; exec "
            "and Go plugins are not supported");
}

TEST_F(RenderErrorsTest, DuplicateResourceId) {
  Write("k/d.yaml", kDeploy);
  Write("k/kustomization.yaml", "resources: [d.yaml, d.yaml]\n");
  EXPECT_EQ(RenderError("k").message(),
            "k/kustomization.yaml:1: accumulating resources from 'd.yaml': may not add resource "
            "with an already registered id: Deployment.v1.apps/web.[noNs]");
}

TEST_F(RenderErrorsTest, ComponentListedAsResource) {
  Write("c/kustomization.yaml", "kind: Component\n");
  Write("k/kustomization.yaml", "resources: [../c]\n");
  EXPECT_EQ(RenderError("k").message(),
            "k/kustomization.yaml:1: accumulating resources from '../c': c/kustomization.yaml: "
            "expected kind != 'Component' for path 'c'");
}

TEST_F(RenderErrorsTest, GeneratorMergeWithoutBase) {
  Write("k/kustomization.yaml",
        "configMapGenerator:\n- name: cfg\n  behavior: merge\n  literals: [a=b]\n");
  EXPECT_EQ(RenderError("k").message(),
            "k/kustomization.yaml:2: id ConfigMap.v1.[noGrp]/cfg.[noNs] does not exist; cannot "
            "merge or replace");
}

TEST_F(RenderErrorsTest, DirectoryResourceWithoutKustomization) {
  Write("k/kustomization.yaml", "resources: [plain]\n");
  Write("k/plain/a.yaml", kDeploy);
  EXPECT_EQ(RenderError("k").message(),
            "k/kustomization.yaml:1: accumulating resources from 'plain': unable to find one of "
            "'kustomization.yaml', 'kustomization.yml' or 'Kustomization' in directory 'k/plain'");
}

TEST_F(RenderErrorsTest, MultipleKustomizationFiles) {
  Write("k/kustomization.yaml", "resources: []\n");
  Write("k/Kustomization", "resources: []\n");
  EXPECT_EQ(RenderError("k").message(), "Found multiple kustomization files under: k");
}

}  // namespace
}  // namespace driftguard::reconciler
