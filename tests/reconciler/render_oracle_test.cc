// Unit tests of the renderer's pieces, each checked against `kubectl kustomize` (the oracle) on a
// small tree written in a temp dir, plus exact expectations for the behaviour they pin down.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/yaml.h"
#include "reconciler/render.h"
#include "tests/support/test_util.h"

namespace driftguard::reconciler {
namespace {

namespace fs = std::filesystem;
using core::Json;
using testing::TempDir;
using testing::WriteFile;

std::vector<Json> Oracle(const fs::path& dir) {
  auto run = testing::RunCommand("kubectl kustomize '" + dir.string() + "' 2>/dev/null");
  EXPECT_EQ(run.exit_code, 0) << "kubectl kustomize failed for " << dir;
  auto docs = core::ParseYamlStream(run.output, "kubectl");
  EXPECT_TRUE(docs.ok()) << docs.status();
  std::vector<Json> out;
  if (!docs.ok()) return out;
  for (auto& d : *docs) {
    if (!d.value.is_null()) out.push_back(d.value);
  }
  return out;
}

std::vector<Json> Render(const fs::path& root, const fs::path& dir) {
  RenderOptions opts;
  opts.root = root;
  auto r = RenderKustomization(dir, opts);
  EXPECT_TRUE(r.ok()) << r.status();
  std::vector<Json> out;
  if (!r.ok()) return out;
  for (auto& o : *r) out.push_back(o.object);
  return out;
}

// Renders `dir` both ways and requires the same objects in the same order.
void ExpectMatchesOracle(const fs::path& root, const fs::path& dir) {
  std::vector<Json> want = Oracle(root / dir);
  std::vector<Json> got = Render(root, dir);
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(got[i], want[i]) << "object " << i << "\nwant:\n"
                               << core::EmitYaml(want[i]) << "got:\n"
                               << core::EmitYaml(got[i]);
  }
}

const char* kDeployment = R"Y(apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      serviceAccountName: runner
      imagePullSecrets: [{name: pull}]
      containers:
      - name: app
        image: nginx:1.25
        envFrom: [{configMapRef: {name: settings}}]
        env:
        - name: PASSWORD
          valueFrom: {secretKeyRef: {name: creds, key: password}}
      - name: sidecar
        image: registry.local:5000/tools/proxy@sha256:abc
      initContainers:
      - name: init
        image: busybox
      volumes:
      - name: cfg
        configMap: {name: settings}
      - name: data
        persistentVolumeClaim: {claimName: data}
      - name: proj
        projected:
          sources:
          - secret: {name: creds}
          - configMap: {name: settings}
)Y";

const char* kSupport = R"Y(apiVersion: v1
kind: ServiceAccount
metadata: {name: runner}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web}
spec:
  tls: [{hosts: [a.example.com], secretName: tls}]
  rules:
  - host: a.example.com
    http:
      paths:
      - path: /
        pathType: Prefix
        backend: {service: {name: web, port: {number: 80}}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: reader}
rules: [{apiGroups: [""], resources: [configmaps], verbs: [get]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: reader}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: reader}
subjects: [{kind: ServiceAccount, name: runner}]
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 1
  maxReplicas: 3
)Y";

class RenderOracleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WriteFile(tmp_.path() / "base/deploy.yaml", kDeployment);
    WriteFile(tmp_.path() / "base/support.yaml", kSupport);
    WriteFile(tmp_.path() / "base/kustomization.yaml", R"Y(resources:
- deploy.yaml
- support.yaml
configMapGenerator:
- name: settings
  literals: [MODE=base, LEVEL=1]
secretGenerator:
- name: creds
  literals: [password=s3cret]
- name: tls
  type: kubernetes.io/tls
  literals: [tls.crt=CERT, tls.key=KEY]
- name: pull
  literals:
  - .dockerconfigjson={}
  type: kubernetes.io/dockerconfigjson
)Y");
  }
  TempDir tmp_;
};

TEST_F(RenderOracleTest, BaseWithGeneratorsAndDefaultOrder) {
  ExpectMatchesOracle(tmp_.path(), "base");
}

TEST_F(RenderOracleTest, PrefixSuffixNamespaceRewriteEveryReference) {
  WriteFile(tmp_.path() / "prod/kustomization.yaml", R"Y(resources: [../base]
namespace: prod
namePrefix: prod-
nameSuffix: -v1
)Y");
  ExpectMatchesOracle(tmp_.path(), "prod");
  std::vector<Json> got = Render(tmp_.path(), "prod");
  for (const Json& o : got) {
    if (o["kind"] != "Deployment") continue;
    const Json& pod = o["spec"]["template"]["spec"];
    EXPECT_EQ(pod["serviceAccountName"], "prod-runner-v1");
    EXPECT_EQ(pod["volumes"][1]["persistentVolumeClaim"]["claimName"], "prod-data-v1");
    std::string cm = pod["volumes"][0]["configMap"]["name"];
    EXPECT_TRUE(cm.starts_with("prod-settings-v1-")) << cm;
  }
}

TEST_F(RenderOracleTest, LabelsAnnotationsImagesReplicas) {
  WriteFile(tmp_.path() / "ov/kustomization.yaml", R"Y(resources: [../base]
commonLabels: {team: blue}
labels:
- pairs: {tier: front}
  includeTemplates: true
- pairs: {sel: "yes"}
  includeSelectors: true
commonAnnotations: {owner: ops}
images:
- name: nginx
  newTag: "1.27"
- name: registry.local:5000/tools/proxy
  newName: ghcr.io/tools/proxy
  digest: sha256:def
- name: busybox
  newName: alpine
  newTag: "3.20"
replicas:
- name: web
  count: 4
)Y");
  ExpectMatchesOracle(tmp_.path(), "ov");
}

TEST_F(RenderOracleTest, PatchesOfEveryKind) {
  WriteFile(tmp_.path() / "ov/patch-smp.yaml", R"Y(apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  template:
    spec:
      containers:
      - name: app
        resources: {limits: {cpu: 500m}}
        env:
        - name: EXTRA
          value: "1"
      - name: sidecar
        $patch: delete
      - name: added
        image: added:1
)Y");
  WriteFile(tmp_.path() / "ov/kustomization.yaml", R"Y(resources: [../base]
namePrefix: x-
patches:
- path: patch-smp.yaml
- target: {kind: Service, name: "w.*"}
  patch: |-
    - op: replace
      path: /spec/ports/0/port
      value: 8080
    - op: add
      path: /metadata/annotations
      value: {patched: "true"}
- target: {kind: Deployment, labelSelector: "app=web"}
  patch: |-
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: ignored}
    spec:
      template:
        spec:
          volumes:
          - name: data
            $patch: delete
patchesStrategicMerge:
- |-
  apiVersion: v1
  kind: ServiceAccount
  metadata: {name: runner}
  automountServiceAccountToken: false
patchesJson6902:
- target: {group: rbac.authorization.k8s.io, version: v1, kind: Role, name: reader}
  patch: |-
    - op: add
      path: /rules/-
      value: {apiGroups: [""], resources: [secrets], verbs: [list]}
)Y");
  ExpectMatchesOracle(tmp_.path(), "ov");
}

TEST_F(RenderOracleTest, GeneratorsMergedAndReplacedAcrossOverlays) {
  WriteFile(tmp_.path() / "mid/kustomization.yaml", R"Y(resources: [../base]
configMapGenerator:
- name: settings
  behavior: merge
  literals: [MODE=mid, EXTRA=x]
generatorOptions:
  labels: {gen: mid}
)Y");
  WriteFile(tmp_.path() / "top/extra.env", "A=1\n# comment\nB=two words\n");
  WriteFile(tmp_.path() / "top/file.txt", "line1\nline2\n");
  WriteFile(tmp_.path() / "top/kustomization.yaml", R"Y(resources: [../mid]
namePrefix: top-
secretGenerator:
- name: creds
  behavior: replace
  envs: [extra.env]
configMapGenerator:
- name: fresh
  files: [file.txt, renamed=file.txt]
  options:
    disableNameSuffixHash: true
    annotations: {a: b}
)Y");
  ExpectMatchesOracle(tmp_.path(), "top");
}

TEST_F(RenderOracleTest, ComponentsAndThreeDeepOverlay) {
  WriteFile(tmp_.path() / "comp/kustomization.yaml",
            R"Y(apiVersion: kustomize.config.k8s.io/v1alpha1
kind: Component
resources: [extra.yaml]
patches:
- target: {kind: Deployment}
  patch: |-
    - op: add
      path: /spec/template/spec/containers/0/args
      value: [--feature]
)Y");
  WriteFile(tmp_.path() / "comp/extra.yaml", R"Y(apiVersion: v1
kind: ConfigMap
metadata: {name: feature}
data: {on: "true"}
)Y");
  WriteFile(tmp_.path() / "l1/kustomization.yaml",
            "resources: [../base]\nnamePrefix: a-\ncomponents: [../comp]\n");
  WriteFile(tmp_.path() / "l2/kustomization.yaml",
            "resources: [../l1]\nnamePrefix: b-\nnamespace: two\n");
  WriteFile(tmp_.path() / "l3/kustomization.yml",
            "bases: [../l2]\nnameSuffix: -c\ncommonLabels: {depth: \"3\"}\n");
  ExpectMatchesOracle(tmp_.path(), "l3");
}

TEST_F(RenderOracleTest, NamespaceObjectAndClusterScopedKinds) {
  WriteFile(tmp_.path() / "ns/r.yaml", R"Y(apiVersion: v1
kind: Namespace
metadata: {name: whatever}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: cr}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: crb}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cr}
subjects:
- {kind: ServiceAccount, name: default, namespace: elsewhere}
- {kind: ServiceAccount, name: sa}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: sa}
---
apiVersion: example.com/v1
kind: Widget
metadata: {name: w}
spec:
  template:
    containers: [{name: a, image: nginx}]
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {name: vwc}
webhooks: []
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
)Y");
  WriteFile(tmp_.path() / "ns/Kustomization",
            "resources: [r.yaml]\nnamespace: target\nnamePrefix: p-\nimages: [{name: nginx, "
            "newTag: \"2\"}]\n");
  ExpectMatchesOracle(tmp_.path(), "ns");
}

TEST_F(RenderOracleTest, ReplacementsVarsAndFifoOrder) {
  WriteFile(tmp_.path() / "rep/kustomization.yaml", R"Y(resources: [../base]
namePrefix: r-
sortOptions: {order: fifo}
replacements:
- source: {kind: Service, name: web, fieldPath: metadata.name}
  targets:
  - select: {kind: Deployment}
    fieldPaths:
    - spec.template.spec.containers.[name=app].env.[name=PASSWORD].valueFrom.secretKeyRef.key
  - select: {kind: Ingress}
    fieldPaths:
    - spec.rules.0.host
    options: {delimiter: ".", index: 0}
vars:
- name: SVC
  objref: {kind: Service, name: web, apiVersion: v1}
patches:
- target: {kind: Deployment}
  patch: |-
    - op: add
      path: /spec/template/spec/containers/0/args
      value: ["--svc=$(SVC)"]
)Y");
  ExpectMatchesOracle(tmp_.path(), "rep");
}

TEST_F(RenderOracleTest, BuiltinTransformerAndGeneratorConfigs) {
  WriteFile(tmp_.path() / "tr/prefix.yaml", R"Y(apiVersion: builtin
kind: PrefixSuffixTransformer
metadata: {name: p}
prefix: t-
fieldSpecs: [{path: metadata/name}]
---
apiVersion: builtin
kind: LabelTransformer
metadata: {name: l}
labels: {via: plugin}
fieldSpecs: [{path: metadata/labels, create: true}]
)Y");
  WriteFile(tmp_.path() / "tr/images.yaml", R"Y(apiVersion: builtin
kind: ImageTagTransformer
metadata: {name: i}
imageTag: {name: nginx, newTag: "9"}
)Y");
  WriteFile(tmp_.path() / "tr/gen.yaml", R"Y(apiVersion: builtin
kind: ConfigMapGenerator
metadata: {name: plugin-cm}
literals: [K=V]
)Y");
  WriteFile(tmp_.path() / "tr/kustomization.yaml", R"Y(resources: [../base]
transformers: [prefix.yaml, images.yaml]
generators: [gen.yaml]
)Y");
  ExpectMatchesOracle(tmp_.path(), "tr");
}

TEST(RenderSubjectsTest, SubjectNamespacesFollowKustomize) {
  TempDir tmp;
  WriteFile(tmp.path() / "base/r.yaml", R"Y(apiVersion: v1
kind: ServiceAccount
metadata: {name: sa}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: crb}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
subjects:
- {kind: ServiceAccount, name: sa, namespace: app}
- {kind: ServiceAccount, name: sa, namespace: default}
- {kind: ServiceAccount, name: sa, namespace: elsewhere}
- {kind: ServiceAccount, name: sa}
- {kind: ServiceAccount, name: missing, namespace: default}
- {kind: Group, name: default}
)Y");
  WriteFile(tmp.path() / "base/kustomization.yaml", "namespace: app\nresources: [r.yaml]\n");
  WriteFile(tmp.path() / "ov/kustomization.yaml",
            "namePrefix: p-\nnamespace: prod\nresources: [../base]\n");
  ExpectMatchesOracle(tmp.path(), "ov");
  ExpectMatchesOracle(tmp.path(), "base");
}

TEST(RenderFluxTreeTest, DirectoryWithoutKustomizationRendersEveryYamlFile) {
  TempDir tmp;
  WriteFile(tmp.path() / "apps/a.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n");
  WriteFile(tmp.path() / "apps/sub/b.yml",
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: b}\n---\n");
  WriteFile(tmp.path() / "apps/notes.txt", "not yaml: [");
  WriteFile(tmp.path() / "apps/kbase/kustomization.yaml", "resources: [c.yaml]\nnamePrefix: k-\n");
  WriteFile(tmp.path() / "apps/kbase/c.yaml",
            "apiVersion: v1\nkind: Secret\nmetadata: {name: c}\n");
  std::vector<Json> got = Render(tmp.path(), "apps");
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0]["metadata"]["name"], "b");  // Namespace first (legacy order)
  EXPECT_EQ(got[1]["metadata"]["name"], "a");
  EXPECT_EQ(got[2]["metadata"]["name"], "k-c");
}

}  // namespace
}  // namespace driftguard::reconciler
