#include "core/strategic_merge.h"

#include <gtest/gtest.h>

#include <string>

#include "core/yaml.h"
#include "tests/support/test_util.h"

namespace driftguard::core {
namespace {

Json Y(const std::string& text) {
  auto parsed = ParseYaml(text, "test");
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  return parsed.ok() ? *parsed : Json();
}

// Runs `kubectl kustomize` on a tree with `base` as resource and `patch` in
// patchesStrategicMerge; returns the single rendered object.
Json KustomizeOracle(const std::string& base, const std::string& patch) {
  testing::TempDir dir;
  testing::WriteFile(dir.path() / "base.yaml", base);
  testing::WriteFile(dir.path() / "patch.yaml", patch);
  testing::WriteFile(dir.path() / "kustomization.yaml",
                     "resources:\n- base.yaml\npatchesStrategicMerge:\n- patch.yaml\n");
  testing::CommandResult r = testing::RunCommand("kubectl kustomize " + dir.str() + " 2>/dev/null");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  auto docs = ParseYamlStream(r.output, "kubectl kustomize output");
  EXPECT_TRUE(docs.ok()) << docs.status();
  if (!docs.ok() || docs->size() != 1) {
    ADD_FAILURE() << "expected one document from kustomize:\n" << r.output;
    return Json();
  }
  return (*docs)[0].value;
}

Json Merge(const std::string& base, const std::string& patch, StrategicMergeOptions options = {}) {
  Json b = Y(base);
  const SchemaNode* schema =
      Schema::ForApiVersionKind(b.value("apiVersion", ""), b.value("kind", ""));
  auto merged = StrategicMergePatch(b, Y(patch), schema, options);
  EXPECT_TRUE(merged.ok()) << merged.status();
  return merged.ok() ? *merged : Json();
}

// Asserts our merge equals both the expected object and kubectl kustomize's output.
void ExpectMerge(const std::string& base, const std::string& patch, const std::string& expected) {
  Json ours = Merge(base, patch);
  EXPECT_EQ(ours, Y(expected)) << "ours:\n" << EmitYaml(ours);
  Json oracle = KustomizeOracle(base, patch);
  EXPECT_EQ(ours, oracle) << "ours:\n"
                          << EmitYaml(ours) << "\nkubectl kustomize:\n"
                          << EmitYaml(oracle);
}

const char kDeployment[] = R"(apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    spec:
)";

TEST(StrategicMergeTest, ContainersEnvAndPortsMergeByKeyPatchItemsFirst) {
  ExpectMerge(std::string(kDeployment) + R"(      containers:
      - name: a
        image: a:1
        env:
        - {name: X, value: "1"}
        - {name: "Y", value: "2"}
        ports:
        - containerPort: 80
        - {containerPort: 53, protocol: UDP}
      - {name: b, image: b:1}
      tolerations:
      - key: k1
)",
              std::string(kDeployment) + R"(      containers:
      - {name: c, image: c:1}
      - {name: b, image: b:2}
      - name: a
        env:
        - {name: Z, value: "3"}
        - {name: X, $patch: delete}
        ports:
        - {containerPort: 53, protocol: TCP}
      tolerations:
      - key: k3
)",
              std::string(kDeployment) + R"(      containers:
      - {name: c, image: c:1}
      - {name: b, image: b:2}
      - name: a
        image: a:1
        env:
        - {name: Z, value: "3"}
        - {name: "Y", value: "2"}
        ports:
        - {containerPort: 53, protocol: TCP}
        - containerPort: 80
        - {containerPort: 53, protocol: UDP}
      tolerations:
      - key: k3
)");
}

TEST(StrategicMergeTest, UnmentionedItemsFollowInOriginalOrderAndDeleteRemoves) {
  std::string base = std::string(kDeployment) + R"(      containers:
      - {name: a, image: a}
      - {name: b, image: b}
      - {name: c, image: c}
      volumes:
      - {name: v1, configMap: {name: x}}
      - {name: v2, emptyDir: {}}
)";
  ExpectMerge(base, std::string(kDeployment) + R"(      containers:
      - {name: b, image: b2}
      - {name: d, image: d}
      volumes:
      - {name: v1, secret: {secretName: s}}
)",
              std::string(kDeployment) + R"(      containers:
      - {name: b, image: b2}
      - {name: d, image: d}
      - {name: a, image: a}
      - {name: c, image: c}
      volumes:
      - {name: v1, configMap: {name: x}, secret: {secretName: s}}
      - {name: v2, emptyDir: {}}
)");
  ExpectMerge(base, std::string(kDeployment) + R"(      containers:
      - {name: d, image: d}
      - {name: c, $patch: delete}
      - {name: e, image: e}
)",
              std::string(kDeployment) + R"(      containers:
      - {name: d, image: d}
      - {name: e, image: e}
      - {name: a, image: a}
      - {name: b, image: b}
      volumes:
      - {name: v1, configMap: {name: x}}
      - {name: v2, emptyDir: {}}
)");
}

TEST(StrategicMergeTest, NullDeletesAndMapDirectives) {
  ExpectMerge(R"(apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 3
  paused: true
  selector:
    matchLabels: {app: x, tier: web}
  template:
    metadata:
      labels: {app: x, keep: "1"}
    spec:
      containers:
      - {name: a, image: a, args: [x]}
      nodeSelector: {disk: ssd}
)",
              R"(apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: null
  paused: ~
  selector:
    $patch: replace
    matchLabels: {app: y}
  template:
    metadata:
      labels: {app: null}
    spec:
      containers:
      - {name: a, args: null}
      nodeSelector:
        $patch: delete
)",
              R"(apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  selector:
    matchLabels: {app: y}
  template:
    metadata:
      labels: {keep: "1"}
    spec:
      containers:
      - {name: a, image: a}
)");
}

TEST(StrategicMergeTest, ListReplaceDirectiveEmptiedListsAndPrimitiveUnion) {
  ExpectMerge(R"(apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  finalizers: [f1, f2]
spec:
  template:
    spec:
      containers:
      - name: a
        env:
        - {name: X, value: "1"}
        volumeMounts:
        - {name: v, mountPath: /a}
        - {name: w, mountPath: /b}
)",
              R"(apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  finalizers: [f3, f1]
spec:
  template:
    spec:
      containers:
      - name: a
        env:
        - {name: X, $patch: delete}
        volumeMounts:
        - $patch: replace
        - {name: w, mountPath: /w}
)",
              R"(apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  finalizers: [f3, f1, f2]
spec:
  template:
    spec:
      containers:
      - name: a
        env: []
        volumeMounts:
        - {name: w, mountPath: /w}
)");
}

TEST(StrategicMergeTest, MultiKeyPortsFollowKustomizeOnPartialKeys) {
  auto ports = [](const std::string& list) {
    return std::string(kDeployment) + "      containers:\n      - name: a\n        ports: " + list +
           "\n";
  };
  // Same containerPort, protocol given on one side only: kustomize keeps the original item and
  // drops the patch item.
  ExpectMerge(ports("[{containerPort: 80}]"),
              ports("[{containerPort: 80, protocol: TCP, name: h}]"),
              ports("[{containerPort: 80}]"));
  ExpectMerge(ports("[{containerPort: 80, protocol: UDP}]"),
              ports("[{containerPort: 80, name: h}]"),
              ports("[{containerPort: 80, protocol: UDP}]"));
  ExpectMerge(ports("[{containerPort: 80}]"), ports("[{containerPort: 80, name: h}]"),
              ports("[{containerPort: 80, name: h}]"));
  ExpectMerge(ports("[{containerPort: 80}, {containerPort: 81}]"),
              ports("[{containerPort: 82, name: h}]"),
              ports("[{containerPort: 82, name: h}, {containerPort: 80}, {containerPort: 81}]"));
  ExpectMerge(ports("[{containerPort: 80, protocol: UDP}]"),
              ports("[{containerPort: 80, protocol: TCP}]"),
              ports("[{containerPort: 80, protocol: TCP}, {containerPort: 80, protocol: UDP}]"));
}

TEST(StrategicMergeTest, ServicePortsAndCustomResourcesWithoutSchema) {
  ExpectMerge(R"(apiVersion: v1
kind: Service
metadata:
  name: s
spec:
  selector: {app: x}
  ports:
  - {port: 80, protocol: TCP, targetPort: 8080}
  - {port: 443, protocol: TCP, targetPort: 8443}
)",
              R"(apiVersion: v1
kind: Service
metadata:
  name: s
spec:
  ports:
  - {port: 443, protocol: TCP, targetPort: https}
)",
              R"(apiVersion: v1
kind: Service
metadata:
  name: s
spec:
  selector: {app: x}
  ports:
  - {port: 80, protocol: TCP, targetPort: 8080}
  - {port: 443, protocol: TCP, targetPort: https}
)");
  // Lists merged by several keys, every patch item carrying all keys: new items first, then the
  // original items in place.
  auto svc = [](const std::string& ports) {
    return "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec:\n  ports: " + ports + "\n";
  };
  ExpectMerge(svc("[{port: 80, protocol: TCP}, {port: 443, protocol: TCP}]"),
              svc("[{port: 8080, protocol: TCP}, {port: 443, protocol: TCP, name: x}, "
                  "{port: 9, protocol: TCP}]"),
              svc("[{port: 8080, protocol: TCP}, {port: 9, protocol: TCP}, {port: 80, protocol: "
                  "TCP}, {port: 443, protocol: TCP, name: x}]"));
  ExpectMerge(svc("[{port: 80, protocol: TCP}, {port: 443, protocol: TCP}, {port: 1, protocol: "
                  "TCP}]"),
              svc("[{port: 1, protocol: TCP, name: x}, {port: 80, protocol: TCP, $patch: delete}]"),
              svc("[{port: 443, protocol: TCP}, {port: 1, protocol: TCP, name: x}]"));
  // Patch items without the second key: patch order first, as for single-key lists.
  ExpectMerge(svc("[{port: 80}, {port: 443}]"), svc("[{port: 443, name: x}, {port: 8080}]"),
              svc("[{port: 443, name: x}, {port: 8080}, {port: 80}]"));
  // Without schema every list is replaced, even lists of named items; maps still merge.
  ExpectMerge(R"(apiVersion: example.com/v1
kind: Widget
metadata:
  name: w
spec:
  items:
  - {name: a, v: 1}
  - {name: b, v: 2}
  plain: [1, 2]
  settings: {x: 1, y: 2}
)",
              R"(apiVersion: example.com/v1
kind: Widget
metadata:
  name: w
spec:
  items:
  - {name: b, v: 3}
  plain: [3]
  settings: {y: null, z: 3}
)",
              R"(apiVersion: example.com/v1
kind: Widget
metadata:
  name: w
spec:
  items:
  - {name: b, v: 3}
  plain: [3]
  settings: {x: 1, z: 3}
)");
}

TEST(StrategicMergeTest, KustomizeCopiesUnprocessedDirectives) {
  ExpectMerge(R"(apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  finalizers: [f1, f2]
spec:
  strategy:
    type: RollingUpdate
    rollingUpdate: {maxSurge: 1}
)",
              R"(apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  $deleteFromPrimitiveList/finalizers: [f2]
  $setElementOrder/finalizers: [f2, f1]
spec:
  strategy:
    $retainKeys: [type]
    type: Recreate
)",
              R"(apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  finalizers: [f1, f2]
  $deleteFromPrimitiveList/finalizers: [f2]
  $setElementOrder/finalizers: [f2, f1]
spec:
  strategy:
    $retainKeys: [type]
    type: Recreate
    rollingUpdate: {maxSurge: 1}
)");
}

TEST(StrategicMergeTest, ApiServerDirectivesWithoutCompat) {
  StrategicMergeOptions options;
  options.kustomize_compat = false;
  Json merged = Merge(R"(apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  finalizers: [f1, f2, f3]
spec:
  strategy:
    type: RollingUpdate
    rollingUpdate: {maxSurge: 1}
)",
                      R"(apiVersion: apps/v1
kind: Deployment
metadata:
  $deleteFromPrimitiveList/finalizers: [f2]
  $setElementOrder/finalizers: [f3, f1]
spec:
  strategy:
    $retainKeys: [type]
    type: Recreate
)",
                      options);
  EXPECT_EQ(merged, Y(R"(apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  finalizers: [f1, f3]
spec:
  strategy:
    type: Recreate
)"));
}

TEST(StrategicMergeTest, Errors) {
  Json base = Y(std::string(kDeployment) + "      containers:\n      - {name: a, image: a}\n");
  const SchemaNode* schema = Schema::ForKind("apps", "v1", "Deployment");
  auto no_key = StrategicMergePatch(
      base, Y(std::string(kDeployment) + "      containers:\n      - {image: x}\n"), schema);
  ASSERT_FALSE(no_key.ok());
  EXPECT_EQ(no_key.status().message(),
            "strategic merge patch: spec.template.spec.containers[0]: list item has no merge key "
            "\"name\"");
  auto bad_directive = StrategicMergePatch(base, Y("spec: {$patch: remove}"), schema);
  ASSERT_FALSE(bad_directive.ok());
  EXPECT_EQ(bad_directive.status().message(),
            "strategic merge patch: spec: unknown $patch directive \"remove\"");
  auto not_map = StrategicMergePatch(
      base, Y(std::string(kDeployment) + "      containers:\n      - web\n"), schema);
  ASSERT_FALSE(not_map.ok());
  EXPECT_EQ(not_map.status().message(),
            "strategic merge patch: spec.template.spec.containers[0]: list item is not a map but "
            "the list merges by key \"name\"");
  EXPECT_FALSE(StrategicMergePatch(base, Json::array(), schema).ok());
  StrategicMergeOptions strict;
  strict.kustomize_compat = false;
  auto bad_retain = StrategicMergePatch(base, Y("spec: {$retainKeys: x}"), schema, strict);
  ASSERT_FALSE(bad_retain.ok());
  EXPECT_EQ(bad_retain.status().message(),
            "strategic merge patch: spec: $retainKeys must be a list of strings");
}

TEST(StrategicMergeTest, TopLevelDeleteYieldsNull) {
  auto merged = StrategicMergePatch(Y("kind: ConfigMap\ndata: {a: b}"),
                                    Y("kind: ConfigMap\n$patch: delete"), nullptr);
  ASSERT_TRUE(merged.ok());
  EXPECT_TRUE(merged->is_null());
}

TEST(JsonPatchTest, AllOperations) {
  Json doc = Y(R"(spec:
  replicas: 1
  list: [a, b]
  m: {"x/y": 1, "t~": 2}
)");
  Json ops = Json::parse(R"([
    {"op": "replace", "path": "/spec/replicas", "value": 3},
    {"op": "add", "path": "/spec/list/-", "value": "c"},
    {"op": "add", "path": "/spec/list/0", "value": "z"},
    {"op": "remove", "path": "/spec/list/1"},
    {"op": "copy", "from": "/spec/m/x~1y", "path": "/spec/copied"},
    {"op": "move", "from": "/spec/m/t~0", "path": "/spec/moved"},
    {"op": "test", "path": "/spec/replicas", "value": 3.0},
    {"op": "add", "path": "/spec/new", "value": {"k": true}}
  ])");
  auto out = JsonPatch(doc, ops);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, Y(R"(spec:
  replicas: 3
  list: [z, b, c]
  m: {"x/y": 1}
  copied: 1
  moved: 2
  new: {k: true}
)"));
  auto whole = JsonPatch(doc, Json::parse(R"([{"op": "add", "path": "", "value": [1]}])"));
  ASSERT_TRUE(whole.ok());
  EXPECT_EQ(*whole, Json::parse("[1]"));
}

TEST(JsonPatchTest, ErrorsNameOpIndexAndPath) {
  Json doc = Y("spec: {replicas: 1, list: [a]}");
  auto err = [&doc](const char* ops) {
    auto r = JsonPatch(doc, Json::parse(ops));
    EXPECT_FALSE(r.ok());
    return r.ok() ? std::string() : r.status().message();
  };
  EXPECT_EQ(err(R"([{"op": "test", "path": "/spec/replicas", "value": 1},
                    {"op": "replace", "path": "/spec/missing", "value": 3}])"),
            "json patch op 1 (replace /spec/missing): path not found");
  EXPECT_EQ(err(R"([{"op": "remove", "path": "/spec/list/1"}])"),
            "json patch op 0 (remove /spec/list/1): path not found");
  EXPECT_EQ(err(R"([{"op": "add", "path": "/spec/list/2", "value": 1}])"),
            "json patch op 0 (add /spec/list/2): array index 2 out of range");
  EXPECT_EQ(err(R"([{"op": "add", "path": "/spec/list/01", "value": 1}])"),
            "json patch op 0 (add /spec/list/01): invalid array index \"01\"");
  EXPECT_EQ(err(R"([{"op": "add", "path": "/nope/x", "value": 1}])"),
            "json patch op 0 (add /nope/x): parent path not found");
  EXPECT_EQ(err(R"([{"op": "test", "path": "/spec/replicas", "value": 2}])"),
            "json patch op 0 (test /spec/replicas): test failed: value is 1, expected 2");
  EXPECT_EQ(err(R"([{"op": "move", "from": "/spec", "path": "/spec/x"}])"),
            "json patch op 0 (move /spec/x): cannot move a value into itself");
  EXPECT_EQ(err(R"([{"op": "frob", "path": "/spec"}])"),
            "json patch op 0 (frob /spec): unknown op \"frob\"");
  EXPECT_EQ(err(R"([{"op": "add", "path": "spec"}])"),
            "json patch op 0 (add spec): pointer must start with '/'");
  EXPECT_EQ(err(R"([{"op": "add", "path": "/spec/x"}])"),
            "json patch op 0 (add /spec/x): missing \"value\"");
  EXPECT_EQ(err(R"({"op": "add"})"), "json patch: operations must be a JSON array");
  // Nothing partial: the document is unchanged when a later op fails.
  EXPECT_EQ(doc, Y("spec: {replicas: 1, list: [a]}"));
}

}  // namespace
}  // namespace driftguard::core
