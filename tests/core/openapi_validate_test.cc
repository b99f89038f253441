#include "core/openapi_validate.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "core/yaml.h"
#include "tests/support/test_util.h"

namespace driftguard::core {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

Json Yaml(const std::string& text) {
  auto doc = ParseYaml(text, "test.yaml");
  EXPECT_TRUE(doc.ok()) << doc.status().ToString();
  return doc.ok() ? *doc : Json();
}

std::vector<std::string> Messages(const std::vector<SchemaViolation>& violations) {
  std::vector<std::string> out;
  for (const auto& v : violations) out.push_back(v.ToString());
  return out;
}

constexpr char kDeployment[] = R"(apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
  labels:
    app.kubernetes.io/name: web
spec:
  replicas: 2
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
        - name: web
          image: ghcr.io/example/web:1.0
          imagePullPolicy: IfNotPresent
          ports:
            - containerPort: 8080
          resources:
            limits:
              memory: 256Mi
              cpu: 1
)";

class OpenApiValidateTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto loaded = OpenApiValidator::LoadDirectory(DRIFTGUARD_SHARED_DIR "/k8s-openapi");
    ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
    validator_ = new OpenApiValidator(std::move(*loaded));
  }
  static void TearDownTestSuite() {
    delete validator_;
    validator_ = nullptr;
  }

  // The Deployment above with `edit` applied at a JSON pointer.
  static Json DeploymentWith(const std::string& pointer, const Json& value) {
    Json d = Yaml(kDeployment);
    d[Json::json_pointer(pointer)] = value;
    return d;
  }

  static OpenApiValidator* validator_;
};

OpenApiValidator* OpenApiValidateTest::validator_ = nullptr;

TEST_F(OpenApiValidateTest, LoadsEveryBuiltInKindOfTheDocuments) {
  EXPECT_TRUE(validator_->HasSchema("apps/v1", "Deployment"));
  EXPECT_TRUE(validator_->HasSchema("v1", "ConfigMap"));
  EXPECT_TRUE(
      validator_->HasSchema("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration"));
  EXPECT_TRUE(validator_->HasSchema("apiextensions.k8s.io/v1", "CustomResourceDefinition"));
  EXPECT_FALSE(validator_->HasSchema("apps/v1", "DeleteOptions"));
  EXPECT_FALSE(validator_->HasSchema("kustomize.toolkit.fluxcd.io/v1", "Kustomization"));
  EXPECT_GT(validator_->SchemaCount(), 400u);
  EXPECT_GT(validator_->KindCount(), 80u);
}

TEST_F(OpenApiValidateTest, ValidObjectHasNoViolations) {
  EXPECT_THAT(validator_->Validate(Yaml(kDeployment)), IsEmpty());
}

TEST_F(OpenApiValidateTest, WrongScalarTypeNamesPathAndValue) {
  auto v = validator_->Validate(
      DeploymentWith("/spec/template/spec/containers/0/ports/0/containerPort", "x"));
  EXPECT_THAT(Messages(v), ElementsAre("Deployment/shop/web: "
                                       "spec.template.spec.containers[0].ports[0].containerPort: "
                                       "expected integer, got string \"x\""));
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].object, "Deployment/shop/web");
  EXPECT_EQ(v[0].path, "spec.template.spec.containers[0].ports[0].containerPort");
}

TEST_F(OpenApiValidateTest, IntegerRejectsFractionsAndBooleans) {
  EXPECT_THAT(Messages(validator_->Validate(DeploymentWith("/spec/replicas", 1.5))),
              ElementsAre("Deployment/shop/web: spec.replicas: expected integer, got number 1.5"));
  EXPECT_THAT(Messages(validator_->Validate(DeploymentWith("/spec/replicas", true))),
              ElementsAre("Deployment/shop/web: spec.replicas: expected integer, got boolean "
                          "true"));
}

TEST_F(OpenApiValidateTest, UnknownFieldOfBuiltInKind) {
  auto v = validator_->Validate(
      DeploymentWith("/spec/template/spec/containers/0/imagePullPolcy", "Always"));
  EXPECT_THAT(Messages(v),
              ElementsAre("Deployment/shop/web: spec.template.spec.containers[0].imagePullPolcy: "
                          "unknown field"));
}

TEST_F(OpenApiValidateTest, MissingRequiredField) {
  Json d = Yaml(kDeployment);
  d["spec"]["template"]["spec"]["containers"][0].erase("name");
  EXPECT_THAT(Messages(validator_->Validate(d)),
              ElementsAre("Deployment/shop/web: spec.template.spec.containers[0].name: required "
                          "field is missing"));
  // null is absent, as the API server reads it.
  EXPECT_THAT(Messages(validator_->Validate(DeploymentWith("/spec/selector", nullptr))),
              ElementsAre("Deployment/shop/web: spec.selector: required field is missing"));
}

TEST_F(OpenApiValidateTest, EnumListsAllowedValues) {
  auto v = validator_->Validate(
      DeploymentWith("/spec/template/spec/containers/0/imagePullPolicy", "Sometimes"));
  EXPECT_THAT(Messages(v), ElementsAre("Deployment/shop/web: "
                                       "spec.template.spec.containers[0].imagePullPolicy: expected "
                                       "one of \"Always\", \"IfNotPresent\", \"Never\", got "
                                       "\"Sometimes\""));
}

TEST_F(OpenApiValidateTest, IntOrStringAndQuantity) {
  Json svc = Yaml(R"(apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  ports:
    - port: 80
      targetPort: http
    - port: 81
      targetPort: 8081
    - port: 82
      targetPort: true
)");
  EXPECT_THAT(Messages(validator_->Validate(svc)),
              ElementsAre("Service/web: spec.ports[2].targetPort: expected integer or string, got "
                          "boolean true"));
  EXPECT_THAT(
      Messages(validator_->Validate(DeploymentWith(
          "/spec/template/spec/containers/0/resources/limits/memory", Json::array()))),
      ElementsAre("Deployment/shop/web: spec.template.spec.containers[0].resources.limits.memory: "
                  "expected string or number, got array"));
}

TEST_F(OpenApiValidateTest, MapKeysWithDotsAreQuoted) {
  auto v = validator_->Validate(DeploymentWith("/metadata/labels/app.kubernetes.io~1part-of", 5));
  EXPECT_THAT(Messages(v), ElementsAre("Deployment/shop/web: "
                                       "metadata.labels[\"app.kubernetes.io/part-of\"]: expected "
                                       "string, got integer 5"));
  auto simple = validator_->Validate(DeploymentWith("/metadata/annotations/owner", false));
  EXPECT_THAT(Messages(simple), ElementsAre("Deployment/shop/web: metadata.annotations.owner: "
                                            "expected string, got boolean false"));
}

TEST_F(OpenApiValidateTest, WrongContainerType) {
  auto v = validator_->Validate(DeploymentWith("/spec/template/spec/containers", "web"));
  EXPECT_THAT(Messages(v), ElementsAre("Deployment/shop/web: spec.template.spec.containers: "
                                       "expected array, got string \"web\""));
}

TEST_F(OpenApiValidateTest, SeveralViolationsInDocumentOrder) {
  Json d = Yaml(kDeployment);
  d["spec"]["paused"] = "yes";
  d["spec"]["replicas"] = "3";
  d["spec"]["template"]["spec"]["containers"][0].erase("name");
  EXPECT_THAT(Messages(validator_->Validate(d)),
              ElementsAre("Deployment/shop/web: spec.paused: expected boolean, got string \"yes\"",
                          "Deployment/shop/web: spec.replicas: expected integer, got string \"3\"",
                          "Deployment/shop/web: spec.template.spec.containers[0].name: required "
                          "field is missing"));
}

TEST_F(OpenApiValidateTest, IdentityFields) {
  EXPECT_THAT(Messages(validator_->Validate(Yaml("kind: ConfigMap\nmetadata: {name: a}\n"))),
              ElementsAre("ConfigMap/a: apiVersion: required field is missing"));
  EXPECT_THAT(Messages(validator_->Validate(Yaml("apiVersion: v1\nkind: ConfigMap\n"))),
              ElementsAre("ConfigMap: metadata.name: required field is missing"));
  EXPECT_THAT(Messages(validator_->Validate(
                  Yaml("apiVersion: v1\nkind: ConfigMap\nmetadata: {generateName: cfg-}\n"))),
              IsEmpty());
  EXPECT_THAT(Messages(validator_->Validate(Yaml("apiVersion: v1\nkind: 7\n"))),
              ElementsAre("<no kind>: kind: expected string, got integer 7"));
  EXPECT_THAT(Messages(validator_->Validate(Json::array())),
              ElementsAre("<document>: expected object, got array"));
}

TEST_F(OpenApiValidateTest, UnknownKind) {
  const Json hr = Yaml(
      "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata: {name: x, namespace: "
      "a}\n");
  EXPECT_THAT(Messages(validator_->Validate(hr)),
              ElementsAre("HelmRelease/a/x: no schema for apiVersion \"helm.toolkit.fluxcd.io/v2\" "
                          "kind \"HelmRelease\""));
  auto lenient = OpenApiValidator::LoadDirectory(DRIFTGUARD_SHARED_DIR "/k8s-openapi/v3",
                                                 {.ignore_missing_schemas = true});
  ASSERT_TRUE(lenient.ok()) << lenient.status().ToString();
  EXPECT_THAT(lenient->Validate(hr), IsEmpty());
}

constexpr char kWidgetCrd[] = R"(apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  names: {kind: Widget, plural: widgets, singular: widget, listKind: WidgetList}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              required: [interval]
              properties:
                interval:
                  type: string
                  pattern: ^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$
                replicas:
                  type: integer
                  minimum: 1
                  maximum: 5
                name:
                  type: string
                  maxLength: 3
                tags:
                  type: array
                  maxItems: 1
                  items: {type: string}
                port:
                  x-kubernetes-int-or-string: true
                extra:
                  type: object
                  x-kubernetes-preserve-unknown-fields: true
)";

TEST_F(OpenApiValidateTest, CustomResourcesAgainstTheirCrd) {
  OpenApiValidator v = *validator_;
  const Json crd = Yaml(kWidgetCrd);
  EXPECT_THAT(v.Validate(crd), IsEmpty());
  ASSERT_TRUE(v.AddCustomResourceDefinition(crd).ok());
  EXPECT_FALSE(validator_->HasSchema("example.com/v1", "Widget"));  // copies are independent
  EXPECT_TRUE(v.HasSchema("example.com/v1", "Widget"));
  EXPECT_THAT(v.Validate(Yaml(R"(apiVersion: example.com/v1
kind: Widget
metadata: {name: w, namespace: ns, labels: {a: b}}
spec: {interval: 1m30s, replicas: 3, name: abc, tags: [x], port: http, extra: {any: [1]}}
)")),
              IsEmpty());
  EXPECT_THAT(Messages(v.Validate(Yaml(R"(apiVersion: example.com/v1
kind: Widget
metadata: {name: w, namespace: ns, labels: {a: 1}}
spec: {replicas: 9, name: abcd, tags: [x, y], port: 1.5, size: 2}
)"))),
              ElementsAre("Widget/ns/w: metadata.labels.a: expected string, got integer 1",
                          "Widget/ns/w: spec.name: must be at most 3 characters long, got \"abcd\"",
                          "Widget/ns/w: spec.port: expected integer or string, got number 1.5",
                          "Widget/ns/w: spec.replicas: must be at most 5, got 9",
                          "Widget/ns/w: spec.size: unknown field",
                          "Widget/ns/w: spec.tags: must have at most 1 items, got 2",
                          "Widget/ns/w: spec.interval: required field is missing"));
  EXPECT_THAT(
      Messages(v.Validate(Yaml("apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n"
                               "spec: {interval: 10 minutes, replicas: 0}\n"))),
      ElementsAre("Widget/w: spec.interval: must match \"^([0-9]+(\\\\.[0-9]+)?(ms|s|m|h))+$\", "
                  "got \"10 minutes\"",
                  "Widget/w: spec.replicas: must be at least 1, got 0"));
}

TEST_F(OpenApiValidateTest, ValidateAllRegistersCrdsOfTheStream) {
  OpenApiValidator v = *validator_;
  std::vector<Json> objects = {
      Yaml("apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\nspec: {}\n"),
      Yaml(kWidgetCrd), Yaml("just text")};
  EXPECT_THAT(Messages(v.ValidateAll(objects)),
              ElementsAre("Widget/w: spec.interval: required field is missing",
                          "document 3: expected object, got string \"just text\""));
}

TEST_F(OpenApiValidateTest, BadCrdIsReportedNotRegistered) {
  OpenApiValidator v = *validator_;
  Json crd = Yaml(kWidgetCrd);
  crd["spec"]["versions"][0]["served"] = "yes";
  EXPECT_THAT(Messages(v.ValidateAll({crd})),
              ElementsAre("CustomResourceDefinition/widgets.example.com: spec.versions[0].served: "
                          "expected boolean, got string \"yes\""));
  EXPECT_FALSE(v.HasSchema("example.com/v1", "Widget"));
  Json no_schema = Yaml(kWidgetCrd);
  no_schema["spec"]["versions"][0].erase("schema");
  EXPECT_EQ(v.AddCustomResourceDefinition(no_schema).message(),
            "CustomResourceDefinition/widgets.example.com: "
            "spec.versions[0].schema.openAPIV3Schema is missing");
}

TEST(OpenApiValidateLoadTest, MissingOrEmptyDirectory) {
  auto missing = OpenApiValidator::LoadDirectory("/nonexistent/openapi");
  EXPECT_EQ(missing.status().message(), "OpenAPI directory /nonexistent/openapi does not exist");
  testing::TempDir dir;
  testing::WriteFile(dir.path() / "other.json", "{\"paths\": {}}");
  auto empty = OpenApiValidator::LoadDirectory(dir.path());
  EXPECT_EQ(empty.status().message(),
            "no OpenAPI v3 document with components.schemas in " + dir.str());
  testing::WriteFile(dir.path() / "broken.json", "{");
  EXPECT_FALSE(OpenApiValidator::LoadDirectory(dir.path()).ok());
}

TEST(OpenApiValidateLoadTest, SmallHandWrittenDocument) {
  auto doc = ParseJson(R"({"components": {"schemas": {
    "example.v1.Thing": {
      "type": "object",
      "x-kubernetes-group-version-kind": [{"group": "example.com", "version": "v1", "kind": "Thing"}],
      "properties": {"apiVersion": {"type": "string"}, "kind": {"type": "string"},
                     "metadata": {"type": "object"},
                     "size": {"allOf": [{"$ref": "#/components/schemas/example.v1.Size"}]},
                     "broken": {"$ref": "#/components/schemas/example.v1.Missing"}}},
    "example.v1.Size": {"type": "string", "enum": ["S", "M"]}}}})");
  ASSERT_TRUE(doc.ok());
  auto v = OpenApiValidator::FromDocuments({*doc});
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->KindCount(), 1u);
  EXPECT_THAT(Messages(v->Validate(
                  Yaml("apiVersion: example.com/v1\nkind: Thing\nmetadata: {name: t}\nsize: L\n"
                       "broken: 1\n"))),
              ElementsAre("Thing/t: broken: schema reference "
                          "\"#/components/schemas/example.v1.Missing\" not found",
                          "Thing/t: size: expected one of \"S\", \"M\", got \"L\""));
}

}  // namespace
}  // namespace driftguard::core
