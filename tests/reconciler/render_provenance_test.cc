// Provenance: every field of a rendered object says which file and line declared it — the base
// resource, or the patch / transformer that last set it.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "reconciler/render.h"
#include "tests/support/test_util.h"

namespace driftguard::reconciler {
namespace {

using testing::TempDir;
using testing::WriteFile;

class RenderProvenanceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WriteFile(tmp_.path() / "base/deploy.yaml", R"(apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  template:
    spec:
      containers:
      - name: app
        image: nginx:1.25
        ports:
        - containerPort: 80
)");
    WriteFile(tmp_.path() / "base/kustomization.yaml", "resources: [deploy.yaml]\n");
    WriteFile(tmp_.path() / "ov/patch.yaml", R"(apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  template:
    spec:
      containers:
      - name: sidecar
        image: proxy:1
      - name: app
        env:
        - name: MODE
          value: prod
)");
    WriteFile(tmp_.path() / "ov/kustomization.yaml", R"(resources:
- ../base
namePrefix: prod-
commonLabels:
  team: blue
images:
- name: nginx
  newTag: "1.27"
replicas:
- name: web
  count: 3
patches:
- path: patch.yaml
- target: {kind: Deployment}
  patch: |-
    - op: add
      path: /spec/template/spec/dnsPolicy
      value: None
configMapGenerator:
- name: settings
  literals: [A=1]
)");
    RenderOptions opts;
    opts.root = tmp_.path();
    auto r = RenderKustomization("ov", opts);
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_EQ(r->size(), 2u);
    cm_ = r->at(0);
    deploy_ = r->at(1);
  }
  TempDir tmp_;
  RenderedObject cm_, deploy_;
};

TEST_F(RenderProvenanceTest, ResourceFieldsPointAtTheResourceFile) {
  EXPECT_EQ(deploy_.Origin("/apiVersion"), (FieldOrigin{"base/deploy.yaml", 1}));
  EXPECT_EQ(deploy_.Origin("/kind"), (FieldOrigin{"base/deploy.yaml", 2}));
  // The base container moved to index 1 (the patch prepended a sidecar); its fields kept their
  // origin.
  EXPECT_EQ(deploy_.object["spec"]["template"]["spec"]["containers"][1]["name"], "app");
  EXPECT_EQ(deploy_.Origin("/spec/template/spec/containers/1/ports/0/containerPort"),
            (FieldOrigin{"base/deploy.yaml", 13}));
  EXPECT_EQ(deploy_.Origin("/spec/template/spec/containers/1/name"),
            (FieldOrigin{"base/deploy.yaml", 10}));
}

TEST_F(RenderProvenanceTest, TransformersOwnTheFieldsTheySet) {
  EXPECT_EQ(deploy_.object["metadata"]["name"], "prod-web");
  EXPECT_EQ(deploy_.Origin("/metadata/name"), (FieldOrigin{"ov/kustomization.yaml", 3}));
  EXPECT_EQ(deploy_.Origin("/metadata/labels/team"), (FieldOrigin{"ov/kustomization.yaml", 5}));
  EXPECT_EQ(deploy_.Origin("/spec/selector/matchLabels/team"),
            (FieldOrigin{"ov/kustomization.yaml", 5}));
  EXPECT_EQ(deploy_.Origin("/spec/template/metadata/labels/team"),
            (FieldOrigin{"ov/kustomization.yaml", 5}));
  EXPECT_EQ(deploy_.object["spec"]["template"]["spec"]["containers"][1]["image"], "nginx:1.27");
  EXPECT_EQ(deploy_.Origin("/spec/template/spec/containers/1/image"),
            (FieldOrigin{"ov/kustomization.yaml", 7}));
  EXPECT_EQ(deploy_.object["spec"]["replicas"], 3);
  EXPECT_EQ(deploy_.Origin("/spec/replicas"), (FieldOrigin{"ov/kustomization.yaml", 11}));
}

TEST_F(RenderProvenanceTest, PatchedFieldsPointAtThePatchLine) {
  EXPECT_EQ(deploy_.Origin("/spec/template/spec/containers/0/name"),
            (FieldOrigin{"ov/patch.yaml", 8}));
  EXPECT_EQ(deploy_.Origin("/spec/template/spec/containers/0/image"),
            (FieldOrigin{"ov/patch.yaml", 9}));
  EXPECT_EQ(deploy_.Origin("/spec/template/spec/containers/1/env/0/value"),
            (FieldOrigin{"ov/patch.yaml", 13}));
  // An inline JSON 6902 patch: the line inside kustomization.yaml.
  EXPECT_EQ(deploy_.Origin("/spec/template/spec/dnsPolicy"),
            (FieldOrigin{"ov/kustomization.yaml", 18}));
}

TEST_F(RenderProvenanceTest, GeneratedObjectsPointAtTheGenerator) {
  EXPECT_EQ(cm_.object["kind"], "ConfigMap");
  EXPECT_EQ(cm_.Origin("/data/A"), (FieldOrigin{"ov/kustomization.yaml", 20}));
  EXPECT_EQ(cm_.Origin("/metadata/labels/team"), (FieldOrigin{"ov/kustomization.yaml", 5}));
}

TEST_F(RenderProvenanceTest, LookupWalksUpToTheNearestRecordedPrefix) {
  RenderedObject o;
  o.origins["/spec"] = FieldOrigin{"a.yaml", 4};
  o.origins["/spec/x"] = FieldOrigin{"b.yaml", 9};
  EXPECT_EQ(o.Origin("/spec/x/y/z"), (FieldOrigin{"b.yaml", 9}));
  EXPECT_EQ(o.Origin("/spec/w"), (FieldOrigin{"a.yaml", 4}));
  EXPECT_EQ(o.Origin("/status"), FieldOrigin{});
}

// Origins naming one file share a single string (FileName), however many fields they cover;
// the values still compare by content.
TEST_F(RenderProvenanceTest, OriginsShareOneFileNamePerFile) {
  const FieldOrigin api = deploy_.Origin("/apiVersion");
  const FieldOrigin port = deploy_.Origin("/spec/template/spec/containers/1/ports/0/containerPort");
  ASSERT_EQ(api.file, "base/deploy.yaml");
  EXPECT_EQ(&api.file.str(), &port.file.str());
  const FieldOrigin name = deploy_.Origin("/metadata/name");
  const FieldOrigin replicas = deploy_.Origin("/spec/replicas");
  ASSERT_EQ(name.file, "ov/kustomization.yaml");
  EXPECT_EQ(&name.file.str(), &replicas.file.str());
  // Every origin of the Deployment names one of three files: three strings in all.
  std::set<const std::string*> strings;
  for (const auto& [pointer, origin] : deploy_.origins) strings.insert(&origin.file.str());
  EXPECT_EQ(strings.size(), 3u);
  EXPECT_EQ((FieldOrigin{"base/deploy.yaml", 1}), api);
  EXPECT_TRUE(FieldOrigin{}.file.empty());
}

TEST_F(RenderProvenanceTest, TrackOriginsOffRecordsNothing) {
  RenderOptions opts;
  opts.root = tmp_.path();
  opts.track_origins = false;
  auto r = RenderKustomization("ov", opts);
  ASSERT_TRUE(r.ok()) << r.status();
  for (const RenderedObject& o : *r) EXPECT_TRUE(o.origins.empty());
}

}  // namespace
}  // namespace driftguard::reconciler
