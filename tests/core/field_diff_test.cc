#include "core/field_diff.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/yaml.h"

namespace driftguard::core {
namespace {

Json Y(const std::string& text) {
  auto parsed = ParseYaml(text, "test");
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  return parsed.ok() ? *parsed : Json();
}

// One line per change: "path | old_pointer -> new_pointer | old => new" (absent shown as "-").
std::vector<std::string> Describe(const std::vector<FieldChange>& changes) {
  std::vector<std::string> out;
  for (const FieldChange& c : changes) {
    out.push_back(c.path + " | " + c.old_pointer + " -> " + c.new_pointer + " | " +
                  (c.old_value ? c.old_value->dump() : "-") + " => " +
                  (c.new_value ? c.new_value->dump() : "-"));
  }
  return out;
}

std::vector<std::string> Diff(const std::string& a, const std::string& b,
                              const DiffOptions& options = {}) {
  Json ja = Y(a);
  const SchemaNode* schema =
      Schema::ForApiVersionKind(ja.value("apiVersion", ""), ja.value("kind", ""));
  return Describe(DiffObjects(ja, Y(b), schema, options));
}

const char kDeploy[] = R"(apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app.kubernetes.io/name: web, tier: front}
spec:
  replicas: 2
  template:
    spec:
      containers:
      - name: web
        image: web:1
        env:
        - {name: A, value: "1"}
        - {name: B, value: "2"}
        ports:
        - {containerPort: 80}
        - {containerPort: 53, protocol: UDP}
      - name: sidecar
        image: side:1
      tolerations:
      - {key: a}
status:
  replicas: 2
)";

std::string Edit(std::string s, const std::string& from, const std::string& to) {
  size_t at = s.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) s.replace(at, from.size(), to);
  return s;
}

TEST(FieldDiffTest, IdenticalAndReorderedContainersAreNoChange) {
  EXPECT_TRUE(Diff(kDeploy, kDeploy).empty());
  std::string reordered = Edit(kDeploy, "      - name: sidecar\n        image: side:1\n", "");
  reordered = Edit(reordered, "      containers:\n",
                   "      containers:\n      - name: sidecar\n        image: side:1\n");
  EXPECT_TRUE(Diff(kDeploy, reordered).empty());
}

TEST(FieldDiffTest, ImageEnvAndPortChangesByKey) {
  std::string b = Edit(kDeploy, "image: web:1", "image: web:2");
  b = Edit(b, "        - {name: A, value: \"1\"}\n", "");
  b = Edit(b, "        - {name: B, value: \"2\"}\n",
           "        - {name: B, value: \"2\"}\n        - {name: C, value: \"3\"}\n");
  b = Edit(b, "{containerPort: 53, protocol: UDP}", "{containerPort: 53, protocol: TCP}");
  EXPECT_EQ(Diff(kDeploy, b),
            (std::vector<std::string>{
                "spec.template.spec.containers[name=web].env[name=A] | "
                "/spec/template/spec/containers/0/env/0 -> /spec/template/spec/containers/0/env/- "
                "| {\"name\":\"A\",\"value\":\"1\"} => -",
                "spec.template.spec.containers[name=web].env[name=C] | "
                "/spec/template/spec/containers/0/env/- -> /spec/template/spec/containers/0/env/1 "
                "| - => {\"name\":\"C\",\"value\":\"3\"}",
                "spec.template.spec.containers[name=web].image | "
                "/spec/template/spec/containers/0/image -> /spec/template/spec/containers/0/image "
                "| \"web:1\" => \"web:2\"",
                "spec.template.spec.containers[name=web].ports[containerPort=53,protocol=UDP] | "
                "/spec/template/spec/containers/0/ports/1 -> "
                "/spec/template/spec/containers/0/ports/- | "
                "{\"containerPort\":53,\"protocol\":\"UDP\"} => -",
                "spec.template.spec.containers[name=web].ports[containerPort=53,protocol=TCP] | "
                "/spec/template/spec/containers/0/ports/- -> "
                "/spec/template/spec/containers/0/ports/1 | - => "
                "{\"containerPort\":53,\"protocol\":\"TCP\"}",
            }));
}

TEST(FieldDiffTest, DefaultedKeyFieldMatchesExplicitDefault) {
  // {containerPort: 80} and {containerPort: 80, protocol: TCP} are the same item.
  std::string b = Edit(kDeploy, "{containerPort: 80}", "{containerPort: 80, protocol: TCP}");
  EXPECT_EQ(Diff(kDeploy, b),
            (std::vector<std::string>{
                "spec.template.spec.containers[name=web].ports[containerPort=80,protocol=TCP]."
                "protocol | /spec/template/spec/containers/0/ports/0/protocol -> "
                "/spec/template/spec/containers/0/ports/0/protocol | - => \"TCP\""}));
}

TEST(FieldDiffTest, AtomicListsLabelsAndIgnoredPointers) {
  std::string b = Edit(kDeploy, "- {key: a}", "- {key: b}");
  b = Edit(b, "app.kubernetes.io/name: web", "app.kubernetes.io/name: web2");
  b = Edit(b, "status:\n  replicas: 2", "status:\n  replicas: 3");
  DiffOptions options;
  options.ignored_pointers = {"/status", "/metadata/managedFields"};
  EXPECT_EQ(Diff(kDeploy, b, options),
            (std::vector<std::string>{
                "metadata.labels[\"app.kubernetes.io/name\"] | "
                "/metadata/labels/app.kubernetes.io~1name -> "
                "/metadata/labels/app.kubernetes.io~1name | \"web\" => \"web2\"",
                "spec.template.spec.tolerations | /spec/template/spec/tolerations -> "
                "/spec/template/spec/tolerations | [{\"key\":\"a\"}] => [{\"key\":\"b\"}]"}));
  // Without the ignore rule, status counts.
  EXPECT_EQ(Diff(kDeploy, b).size(), 3u);
  // "/stat" does not cover "/status".
  options.ignored_pointers = {"/stat"};
  EXPECT_EQ(Diff(kDeploy, b, options).size(), 3u);
}

TEST(FieldDiffTest, ServicePortsByPortAndProtocol) {
  const char svc[] = R"(apiVersion: v1
kind: Service
metadata: {name: s}
spec:
  selector: {app: x}
  ports:
  - {port: 80, targetPort: 8080}
  - {port: 443, protocol: TCP, targetPort: 8443}
)";
  std::string b = Edit(svc, "{port: 80, targetPort: 8080}", "{port: 80, targetPort: http}");
  b = Edit(b, "selector: {app: x}", "selector: {app: y}");
  // ServiceSpec.selector is an atomic map in v1.28: compared whole.
  EXPECT_EQ(Diff(svc, b), (std::vector<std::string>{
                              "spec.ports[port=80,protocol=TCP].targetPort | "
                              "/spec/ports/0/targetPort -> /spec/ports/0/targetPort | 8080 => "
                              "\"http\"",
                              "spec.selector | /spec/selector -> /spec/selector | "
                              "{\"app\":\"x\"} => {\"app\":\"y\"}"}));
}

TEST(FieldDiffTest, ConfigMapDataAndEmptyVersusAbsent) {
  const char cm[] = R"(apiVersion: v1
kind: ConfigMap
metadata: {name: c}
data: {a: "1", b: "2"}
)";
  std::string b =
      Edit(cm, "data: {a: \"1\", b: \"2\"}", "data: {a: \"1\", c: \"3\"}\nbinaryData: {}");
  EXPECT_EQ(Diff(cm, b), (std::vector<std::string>{"data.b | /data/b -> /data/b | \"2\" => -",
                                                   "data.c | /data/c -> /data/c | - => \"3\""}));
  DiffOptions strict;
  strict.empty_equals_absent = false;
  EXPECT_EQ(Diff(cm, b, strict).size(), 3u);
  EXPECT_EQ(Diff(cm, b, strict)[2], "binaryData | /binaryData -> /binaryData | - => {}");
  // An empty map on one side and the key missing on the other is no change by default.
  EXPECT_TRUE(Diff("kind: ConfigMap\napiVersion: v1\nmetadata: {labels: {}}",
                   "kind: ConfigMap\napiVersion: v1\nmetadata: {}")
                  .empty());
}

TEST(FieldDiffTest, NumbersCompareByValue) {
  EXPECT_TRUE(Diff("apiVersion: apps/v1\nkind: Deployment\nspec: {replicas: 1}",
                   "apiVersion: apps/v1\nkind: Deployment\nspec: {replicas: 1.0}")
                  .empty());
  EXPECT_EQ(
      Diff("apiVersion: apps/v1\nkind: Deployment\nspec: {replicas: 1}",
           "apiVersion: apps/v1\nkind: Deployment\nspec: {replicas: \"1\"}"),
      (std::vector<std::string>{"spec.replicas | /spec/replicas -> /spec/replicas | 1 => \"1\""}));
}

TEST(FieldDiffTest, CustomResourceListsCompareWhole) {
  const char cr[] = R"(apiVersion: example.com/v1
kind: Widget
spec:
  items:
  - {name: a, v: 1}
  - {name: b, v: 2}
)";
  std::string reordered = Edit(cr, "  - {name: a, v: 1}\n  - {name: b, v: 2}",
                               "  - {name: b, v: 2}\n  - {name: a, v: 1}");
  EXPECT_EQ(Diff(cr, reordered),
            (std::vector<std::string>{"spec.items | /spec/items -> /spec/items | "
                                      "[{\"name\":\"a\",\"v\":1},{\"name\":\"b\",\"v\":2}] => "
                                      "[{\"name\":\"b\",\"v\":2},{\"name\":\"a\",\"v\":1}]"}));
}

TEST(FieldDiffTest, SetListsIgnoreOrder) {
  EXPECT_TRUE(Diff("apiVersion: v1\nkind: ConfigMap\nmetadata: {finalizers: [a, b]}",
                   "apiVersion: v1\nkind: ConfigMap\nmetadata: {finalizers: [b, a]}")
                  .empty());
  EXPECT_EQ(Diff("apiVersion: v1\nkind: ConfigMap\nmetadata: {finalizers: [a, b]}",
                 "apiVersion: v1\nkind: ConfigMap\nmetadata: {finalizers: [b]}"),
            (std::vector<std::string>{"metadata.finalizers | /metadata/finalizers -> "
                                      "/metadata/finalizers | [\"a\",\"b\"] => [\"b\"]"}));
}

TEST(FieldDiffTest, DuplicateKeysFallBackToWholeList) {
  std::string dup =
      Edit(kDeploy, "        - {name: B, value: \"2\"}\n", "        - {name: A, value: \"2\"}\n");
  std::string dup2 = Edit(dup, "{name: A, value: \"2\"}", "{name: A, value: \"3\"}");
  std::vector<std::string> d = Diff(dup, dup2);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].substr(0, d[0].find(" |")), "spec.template.spec.containers[name=web].env");
}

TEST(FieldDiffTest, EnumerateLeavesAndMapBack) {
  Json deploy = Y(kDeploy);
  const SchemaNode* schema = Schema::ForKind("apps", "v1", "Deployment");
  DiffOptions options;
  options.ignored_pointers = {"/status"};
  std::vector<std::string> leaves;
  for (const FieldPath& p : EnumerateLeaves(deploy, schema, options)) {
    leaves.push_back(p.path + " " + p.pointer);
    auto back = HumanPathToPointer(deploy, p.path, schema);
    ASSERT_TRUE(back.ok()) << p.path << ": " << back.status();
    EXPECT_EQ(*back, p.pointer) << p.path;
  }
  EXPECT_EQ(
      leaves,
      (std::vector<std::string>{
          "apiVersion /apiVersion",
          "kind /kind",
          "metadata.labels[\"app.kubernetes.io/name\"] /metadata/labels/app.kubernetes.io~1name",
          "metadata.labels.tier /metadata/labels/tier",
          "metadata.name /metadata/name",
          "spec.replicas /spec/replicas",
          "spec.template.spec.containers[name=web].env[name=A].name "
          "/spec/template/spec/containers/0/env/0/name",
          "spec.template.spec.containers[name=web].env[name=A].value "
          "/spec/template/spec/containers/0/env/0/value",
          "spec.template.spec.containers[name=web].env[name=B].name "
          "/spec/template/spec/containers/0/env/1/name",
          "spec.template.spec.containers[name=web].env[name=B].value "
          "/spec/template/spec/containers/0/env/1/value",
          "spec.template.spec.containers[name=web].image "
          "/spec/template/spec/containers/0/image",
          "spec.template.spec.containers[name=web].name /spec/template/spec/containers/0/name",
          "spec.template.spec.containers[name=web].ports[containerPort=80,protocol=TCP]."
          "containerPort /spec/template/spec/containers/0/ports/0/containerPort",
          "spec.template.spec.containers[name=web].ports[containerPort=53,protocol=UDP]."
          "containerPort /spec/template/spec/containers/0/ports/1/containerPort",
          "spec.template.spec.containers[name=web].ports[containerPort=53,protocol=UDP]."
          "protocol /spec/template/spec/containers/0/ports/1/protocol",
          "spec.template.spec.containers[name=sidecar].image "
          "/spec/template/spec/containers/1/image",
          "spec.template.spec.containers[name=sidecar].name "
          "/spec/template/spec/containers/1/name",
          "spec.template.spec.tolerations /spec/template/spec/tolerations",
      }));
}

TEST(FieldDiffTest, HumanPathErrorsAndIndexSelectors) {
  Json deploy = Y(kDeploy);
  const SchemaNode* schema = Schema::ForKind("apps", "v1", "Deployment");
  auto missing = HumanPathToPointer(deploy, "spec.template.spec.containers[name=db].image", schema);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().message(),
            "field path \"spec.template.spec.containers[name=db].image\": "
            "spec.template.spec.containers[name=db] not found");
  auto bad = HumanPathToPointer(deploy, "spec.template[", schema);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "invalid field path \"spec.template[\": unterminated [");
  auto by_index = HumanPathToPointer(deploy, "spec.template.spec.tolerations[0].key", schema);
  ASSERT_TRUE(by_index.ok());
  EXPECT_EQ(*by_index, "/spec/template/spec/tolerations/0/key");
  // Without schema, k=v selectors match item fields.
  auto crd = HumanPathToPointer(Y("spec: {items: [{name: a}, {name: b, v: 1}]}"),
                                "spec.items[name=b].v", nullptr);
  ASSERT_TRUE(crd.ok()) << crd.status();
  EXPECT_EQ(*crd, "/spec/items/1/v");
  EXPECT_EQ(HumanFieldSegment("app.kubernetes.io/name"), "[\"app.kubernetes.io/name\"]");
}

}  // namespace
}  // namespace driftguard::core
