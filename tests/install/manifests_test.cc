// manifests/ as an operator applies it (`kubectl kustomize`, the real kubectl on the machine),
// every object checked against the Kubernetes v1.28 OpenAPI documents, the safe defaults of the
// webhook configurations asserted value by value, and charts/driftguard kept in step with it.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "core/flux_config.h"
#include "core/json.h"
#include "core/openapi_validate.h"
#include "core/yaml.h"
#include "tests/support/test_util.h"
#include "webhook/guard_config.h"

namespace driftguard {
namespace {

namespace fs = std::filesystem;
using core::Json;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAreArray;

const fs::path kSource = DRIFTGUARD_SOURCE_DIR;
const fs::path kChart = kSource / "charts" / "driftguard";

std::string Id(const Json& o) {
  std::string id = o.value("kind", "") + "/";
  const Json& meta = o["metadata"];
  if (meta.contains("namespace")) id += meta["namespace"].get<std::string>() + "/";
  return id + meta.value("name", "");
}

std::vector<std::string> Messages(const std::vector<core::SchemaViolation>& violations) {
  std::vector<std::string> out;
  for (const auto& v : violations) out.push_back(v.ToString());
  return out;
}

std::vector<Json> ParseStream(const std::string& text, const std::string& source) {
  auto docs = core::ParseYamlStream(text, source);
  EXPECT_TRUE(docs.ok()) << docs.status().ToString();
  std::vector<Json> out;
  if (!docs.ok()) return out;
  for (auto& d : *docs) {
    if (!d.value.is_null()) out.push_back(std::move(d.value));
  }
  return out;
}

class InstallTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto loaded = core::OpenApiValidator::LoadDirectory(DRIFTGUARD_SHARED_DIR "/k8s-openapi");
    ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
    validator_ = new core::OpenApiValidator(std::move(*loaded));
    full_ = new std::vector<Json>(Kustomize("manifests"));
    guard_ = new std::vector<Json>(Kustomize("manifests/guard"));
    crds_ = new std::vector<Json>(Kustomize("manifests/crds"));
  }
  static void TearDownTestSuite() {
    delete validator_;
    delete full_;
    delete guard_;
    delete crds_;
  }

  static std::vector<Json> Kustomize(const std::string& dir) {
    auto r = testing::RunCommand("kubectl kustomize " + (kSource / dir).string());
    EXPECT_EQ(r.exit_code, 0) << "kubectl kustomize " << dir << ":\n" << r.output;
    return ParseStream(r.output, "kubectl kustomize " + dir);
  }

  static const Json& Find(const std::vector<Json>& objects, const std::string& id) {
    static const Json kNull;
    for (const Json& o : objects) {
      if (Id(o) == id) return o;
    }
    ADD_FAILURE() << id << " not rendered";
    return kNull;
  }

  static std::vector<std::string> Ids(const std::vector<Json>& objects) {
    std::vector<std::string> ids;
    for (const Json& o : objects) ids.push_back(Id(o));
    return ids;
  }

  static core::OpenApiValidator* validator_;
  static std::vector<Json>* full_;
  static std::vector<Json>* guard_;
  static std::vector<Json>* crds_;
};

core::OpenApiValidator* InstallTest::validator_ = nullptr;
std::vector<Json>* InstallTest::full_ = nullptr;
std::vector<Json>* InstallTest::guard_ = nullptr;
std::vector<Json>* InstallTest::crds_ = nullptr;

const std::vector<std::string> kBaseObjects = {
    "Namespace/driftguard-system",
    "ServiceAccount/driftguard-system/driftguard",
    "ClusterRole/driftguard-read",
    "ClusterRoleBinding/driftguard-read",
    "ClusterRole/driftguard-reconciler-apply",
    "ClusterRoleBinding/driftguard-reconciler-apply",
    "ClusterRole/driftguard-status",
    "ClusterRoleBinding/driftguard-status",
    "ClusterRole/driftguard-controller",
    "ClusterRoleBinding/driftguard-controller",
    "Role/driftguard-system/driftguard",
    "RoleBinding/driftguard-system/driftguard",
    "ConfigMap/driftguard-system/driftguard-config",
    "Deployment/driftguard-system/driftguard",
    "PodDisruptionBudget/driftguard-system/driftguard",
    "Service/driftguard-system/driftguard",
    "ValidatingWebhookConfiguration/driftguard-guard",
    "MutatingWebhookConfiguration/driftguard-revert",
};
const std::vector<std::string> kCrds = {
    "CustomResourceDefinition/gitrepositories.source.toolkit.fluxcd.io",
    "CustomResourceDefinition/kustomizations.kustomize.toolkit.fluxcd.io",
    "CustomResourceDefinition/canaries.flagger.app",
};

TEST_F(InstallTest, KustomizeRendersEveryObject) {
  std::vector<std::string> expected = kBaseObjects;
  expected.insert(expected.end(), kCrds.begin(), kCrds.end());
  EXPECT_THAT(Ids(*full_), UnorderedElementsAreArray(expected));
  EXPECT_THAT(Ids(*crds_), UnorderedElementsAreArray(kCrds));
}

TEST_F(InstallTest, EveryRenderedObjectValidatesAgainstOpenApi) {
  for (const auto* objects : {full_, guard_, crds_}) {
    core::OpenApiValidator v = *validator_;
    EXPECT_THAT(Messages(v.ValidateAll(*objects)), IsEmpty());
  }
  // The check walks these very objects: one wrong type in the Deployment is found and named.
  std::vector<Json> broken = *full_;
  for (Json& o : broken) {
    if (Id(o) == "Deployment/driftguard-system/driftguard") {
      o["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "x";
      o["spec"]["template"]["spec"]["securityContext"]["runAsNonRot"] = true;
    }
  }
  core::OpenApiValidator v = *validator_;
  EXPECT_THAT(Messages(v.ValidateAll(broken)),
              ElementsAre("Deployment/driftguard-system/driftguard: "
                          "spec.template.spec.containers[0].ports[0].containerPort: expected "
                          "integer, got string \"x\"",
                          "Deployment/driftguard-system/driftguard: "
                          "spec.template.spec.securityContext.runAsNonRot: unknown field"));
}

TEST_F(InstallTest, CrdsAcceptTheExamplesFluxObjects) {
  core::OpenApiValidator v = *validator_;
  for (const Json& crd : *crds_) ASSERT_TRUE(v.AddCustomResourceDefinition(crd).ok()) << Id(crd);
  auto text = testing::ReadFile(kSource / "examples/clusters/demo/driftguard.yaml");
  std::vector<Json> docs = ParseStream(text, "driftguard.yaml");
  ASSERT_EQ(docs.size(), 4u);
  std::vector<std::string> violations;
  for (const Json& d : docs) {
    for (const auto& m : Messages(v.Validate(d))) violations.push_back(m);
  }
  // Everything but the GuardConfig, which is a file format, not an API object.
  EXPECT_THAT(violations,
              ElementsAre("GuardConfig: metadata.name: required field is missing",
                          "GuardConfig: no schema for apiVersion \"driftguard.io/v1alpha1\" kind "
                          "\"GuardConfig\""));

  Json ks = docs[1];
  ks["spec"]["interval"] = "ten minutes";
  ks["spec"]["pth"] = "./apps";
  ks["spec"]["sourceRef"]["kind"] = "HelmRepository";
  ks["spec"].erase("prune");
  EXPECT_THAT(
      Messages(v.Validate(ks)),
      ElementsAre("Kustomization/flux-system/web: spec.interval: must match "
                  "\"^([0-9]+(\\\\.[0-9]+)?(ms|s|m|h))+$\", got \"ten minutes\"",
                  "Kustomization/flux-system/web: spec.pth: unknown field",
                  "Kustomization/flux-system/web: spec.sourceRef.kind: expected one of "
                  "\"OCIRepository\", \"GitRepository\", \"Bucket\", got \"HelmRepository\"",
                  "Kustomization/flux-system/web: spec.prune: required field is missing"));
  Json repo = docs[0];
  repo["spec"]["url"] = "ftp://git.example.com/x.git";
  repo["spec"]["ref"]["brnch"] = "main";
  EXPECT_THAT(Messages(v.Validate(repo)),
              ElementsAre("GitRepository/flux-system/shop: spec.ref.brnch: unknown field",
                          "GitRepository/flux-system/shop: spec.url: must match "
                          "\"^(http|https|ssh|git|file)://.*$\", got "
                          "\"ftp://git.example.com/x.git\""));
  // Status as driftguard writes it (DESIGN.md: conditions, revisions, inventory).
  Json with_status = docs[1];
  with_status["status"] = core::ParseYaml(R"(observedGeneration: 2
lastAppliedRevision: main@sha1:fc78132b
lastAttemptedRevision: main@sha1:fc78132b
conditions:
  - type: Ready
    status: "True"
    reason: ReconciliationSucceeded
    message: "Applied revision: main@sha1:fc78132b"
    lastTransitionTime: "2026-11-25T10:00:00Z"
    observedGeneration: 2
inventory:
  entries:
    - {id: shop_web_apps_Deployment, v: v1}
)",
                                          "status")
                              .value();
  EXPECT_THAT(Messages(v.Validate(with_status)), IsEmpty());
}

constexpr char kCanary[] = R"(apiVersion: flagger.app/v1beta1
kind: Canary
metadata:
  name: web
  namespace: shop
spec:
  provider: gatewayapi:v1
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  progressDeadlineSeconds: 600
  service:
    port: 80
    targetPort: http
    gatewayRefs: [{name: public, namespace: gateways}]
  analysis:
    interval: 1m
    threshold: 5
    maxWeight: 50
    stepWeight: 10
    match:
      - headers: {x-canary: {exact: "insider"}}
    metrics:
      - name: request-success-rate
        thresholdRange: {min: 99}
        interval: 1m
      - name: latency
        query: histogram_quantile(0.99, sum(rate(http_request_duration_seconds_bucket[1m])) by (le))
        thresholdRange: {max: 0.5}
    webhooks:
      - name: load-test
        type: rollout
        url: http://loadtester.test/
        timeout: 5s
        metadata: {cmd: "hey -z 1m http://web-canary.shop/"}
status:
  phase: Progressing
  canaryWeight: 20
  failedChecks: 0
  iterations: 0
  lastTransitionTime: "2026-11-25T10:00:00Z"
  conditions:
    - {type: Promoted, status: Unknown, reason: Progressing, message: New revision detected}
)";

TEST_F(InstallTest, CanaryCrdAcceptsFlaggerCanaries) {
  core::OpenApiValidator v = *validator_;
  for (const Json& crd : *crds_) ASSERT_TRUE(v.AddCustomResourceDefinition(crd).ok());
  Json canary = core::ParseYaml(kCanary, "canary.yaml").value();
  EXPECT_THAT(Messages(v.Validate(canary)), IsEmpty());
  canary["spec"]["analysis"]["webhooks"][0]["type"] = "pre-rolout";
  canary["spec"]["analysis"]["stepWeight"] = "10";
  canary["status"]["phase"] = "Done";
  canary["spec"].erase("targetRef");
  EXPECT_THAT(
      Messages(v.Validate(canary)),
      ElementsAre("Canary/shop/web: spec.analysis.stepWeight: expected integer, got string \"10\"",
                  "Canary/shop/web: spec.analysis.webhooks[0].type: expected one of \"\", "
                  "\"confirm-rollout\", \"pre-rollout\", \"rollout\", "
                  "\"confirm-traffic-increase\", \"confirm-promotion\", \"post-rollout\", "
                  "\"rollback\", \"event\", got \"pre-rolout\"",
                  "Canary/shop/web: spec.targetRef: required field is missing",
                  "Canary/shop/web: status.phase: expected one of \"\", \"Initializing\", "
                  "\"Initialized\", \"Waiting\", \"Progressing\", \"WaitingPromotion\", "
                  "\"Promoting\", \"Finalising\", \"Succeeded\", \"Failed\", \"Terminating\", "
                  "\"Terminated\", got \"Done\""));
}

TEST_F(InstallTest, CrdsServeStatusAndPrinterColumns) {
  for (const Json& crd : *crds_) {
    SCOPED_TRACE(Id(crd));
    ASSERT_EQ(crd["spec"]["versions"].size(), 1u);
    const Json& version = crd["spec"]["versions"][0];
    EXPECT_EQ(version["subresources"], Json::parse(R"({"status": {}})"));
    EXPECT_EQ(version["served"], true);
    EXPECT_EQ(version["storage"], true);
    EXPECT_EQ(crd["spec"]["scope"], "Namespaced");
    std::vector<std::string> columns;
    for (const Json& c : version["additionalPrinterColumns"]) {
      columns.push_back(c["name"].get<std::string>() + "=" + c["jsonPath"].get<std::string>());
    }
    const std::string group = crd["spec"]["group"];
    if (group == "flagger.app") {
      EXPECT_EQ(version["name"], "v1beta1");
      EXPECT_THAT(
          columns,
          ElementsAre("Status=.status.phase", "Weight=.status.canaryWeight",
                      "FailedChecks=.status.failedChecks", "Interval=.spec.analysis.interval",
                      "StepWeight=.spec.analysis.stepWeight", "MaxWeight=.spec.analysis.maxWeight",
                      "LastTransitionTime=.status.lastTransitionTime"));
      continue;
    }
    EXPECT_EQ(version["name"], "v1");
    std::vector<std::string> expected = {"Age=.metadata.creationTimestamp",
                                         "Ready=.status.conditions[?(@.type==\"Ready\")].status",
                                         "Status=.status.conditions[?(@.type==\"Ready\")].message"};
    if (group == "source.toolkit.fluxcd.io") expected.insert(expected.begin(), "URL=.spec.url");
    EXPECT_EQ(columns, expected);
  }
}

// The exact safe defaults of every webhook entry (issue 6, DESIGN.md).
void ExpectSafeDefaults(const Json& webhook, bool scale, const std::string& path) {
  SCOPED_TRACE(webhook.value("name", ""));
  EXPECT_EQ(webhook["clientConfig"], Json::parse(R"({"service": {"namespace": "driftguard-system",
      "name": "driftguard", "port": 443, "path": ")" +
                                                 path + R"("}})"));
  EXPECT_EQ(webhook["timeoutSeconds"], 3);
  EXPECT_EQ(webhook["sideEffects"], "NoneOnDryRun");
  EXPECT_EQ(webhook["matchPolicy"], "Equivalent");
  EXPECT_EQ(webhook["admissionReviewVersions"], Json::parse(R"(["v1", "v1beta1"])"));
  EXPECT_EQ(webhook["namespaceSelector"], Json::parse(R"({"matchExpressions": [{
      "key": "kubernetes.io/metadata.name", "operator": "NotIn",
      "values": ["kube-system", "driftguard-system"]}]})"));
  EXPECT_FALSE(webhook.contains("caBundle"));
  std::vector<std::string> conditions;
  for (const Json& c : webhook["matchConditions"]) {
    conditions.push_back(c["expression"].get<std::string>());
  }
  EXPECT_THAT(conditions,
              ElementsAre("request.userInfo.username != "
                          "'system:serviceaccount:driftguard-system:driftguard'",
                          "!(request.userInfo.username.startsWith('system:serviceaccount:flux-"
                          "system:') && request.userInfo.username.endsWith('-controller'))",
                          "!(request.userInfo.username.startsWith('system:serviceaccount:') && "
                          "request.userInfo.username.endsWith(':flagger'))",
                          "request.userInfo.username != 'system:kube-controller-manager'",
                          "!request.userInfo.username.startsWith('system:serviceaccount:kube-"
                          "system:')",
                          "!('system:nodes' in request.userInfo.groups)"));
  if (scale) {
    EXPECT_FALSE(webhook.contains("objectSelector"));  // Scale objects carry no labels
    EXPECT_EQ(webhook["failurePolicy"], "Ignore");
    EXPECT_EQ(webhook["rules"], Json::parse(R"([{"operations": ["UPDATE"], "apiGroups": ["*"],
        "apiVersions": ["*"], "resources": ["*/scale"], "scope": "*"}])"));
  } else {
    EXPECT_EQ(webhook["objectSelector"], Json::parse(R"({"matchExpressions": [{
        "key": "kustomize.toolkit.fluxcd.io/name", "operator": "Exists"}]})"));
    EXPECT_EQ(webhook["failurePolicy"], "Fail");
  }
}

TEST_F(InstallTest, WebhookConfigurationsCarryTheSafeDefaults) {
  const Json& guard = Find(*full_, "ValidatingWebhookConfiguration/driftguard-guard");
  ASSERT_EQ(guard["webhooks"].size(), 2u);
  EXPECT_EQ(guard["webhooks"][0]["name"], "validate.driftguard.io");
  ExpectSafeDefaults(guard["webhooks"][0], false, "/validate");
  EXPECT_EQ(guard["webhooks"][0]["rules"], Json::parse(R"([{"operations": ["UPDATE", "DELETE"],
      "apiGroups": ["*"], "apiVersions": ["*"], "resources": ["*"], "scope": "*"}])"));
  EXPECT_EQ(guard["webhooks"][1]["name"], "scale.validate.driftguard.io");
  ExpectSafeDefaults(guard["webhooks"][1], true, "/validate");

  const Json& revert = Find(*full_, "MutatingWebhookConfiguration/driftguard-revert");
  ASSERT_EQ(revert["webhooks"].size(), 2u);
  EXPECT_EQ(revert["webhooks"][0]["name"], "revert.driftguard.io");
  ExpectSafeDefaults(revert["webhooks"][0], false, "/mutate");
  EXPECT_EQ(revert["webhooks"][0]["rules"], Json::parse(R"([{"operations": ["UPDATE"],
      "apiGroups": ["*"], "apiVersions": ["*"], "resources": ["*"], "scope": "*"}])"));
  EXPECT_EQ(revert["webhooks"][0]["reinvocationPolicy"], "Never");
  EXPECT_EQ(revert["webhooks"][1]["name"], "scale.revert.driftguard.io");
  ExpectSafeDefaults(revert["webhooks"][1], true, "/mutate");
}

TEST_F(InstallTest, DeploymentIsHardenedAndRunsTheBinaryAsDocumented) {
  const Json& d = Find(*full_, "Deployment/driftguard-system/driftguard");
  EXPECT_EQ(d["spec"]["replicas"], 2);
  const Json& pod = d["spec"]["template"]["spec"];
  EXPECT_EQ(pod["serviceAccountName"], "driftguard");
  EXPECT_EQ(pod["securityContext"], Json::parse(R"({"runAsNonRoot": true, "runAsUser": 65532,
      "runAsGroup": 65532, "fsGroup": 65532, "seccompProfile": {"type": "RuntimeDefault"}})"));
  EXPECT_EQ(pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]
               ["podAffinityTerm"]["topologyKey"],
            "kubernetes.io/hostname");
  ASSERT_EQ(pod["containers"].size(), 1u);
  const Json& c = pod["containers"][0];
  EXPECT_EQ(c["image"],
            std::string("ghcr.io/driftguard/driftguard:") + DRIFTGUARD_EXPECTED_VERSION);
  EXPECT_EQ(c["args"], Json::parse(R"j(["run", "--config=/etc/driftguard/config.yaml",
      "--mode=full", "--namespace=$(POD_NAMESPACE)",
      "--manage-certificates", "--cert-dir=/run/driftguard/certs", "--secure-port=9443",
      "--metrics-bind-address=:8080", "--cache-dir=/var/cache/driftguard", "--log-format=json"])j"));
  EXPECT_EQ(c["securityContext"], Json::parse(R"({"allowPrivilegeEscalation": false,
      "readOnlyRootFilesystem": true, "runAsNonRoot": true, "capabilities": {"drop": ["ALL"]},
      "seccompProfile": {"type": "RuntimeDefault"}})"));
  EXPECT_EQ(c["livenessProbe"]["httpGet"],
            Json::parse(R"({"path": "/healthz", "port": "https", "scheme": "HTTPS"})"));
  EXPECT_EQ(c["readinessProbe"]["httpGet"],
            Json::parse(R"({"path": "/readyz", "port": "https", "scheme": "HTTPS"})"));
  EXPECT_EQ(c["ports"], Json::parse(R"([{"name": "https", "containerPort": 9443, "protocol": "TCP"},
      {"name": "metrics", "containerPort": 8080, "protocol": "TCP"}])"));
  EXPECT_TRUE(c["resources"]["requests"].contains("cpu"));
  EXPECT_TRUE(c["resources"]["limits"].contains("memory"));
  // Every path the binary writes is a volume: the root filesystem is read-only.
  std::set<std::string> mounts;
  for (const Json& m : c["volumeMounts"]) mounts.insert(m["mountPath"].get<std::string>());
  EXPECT_EQ(mounts, (std::set<std::string>{"/etc/driftguard", "/run/driftguard/certs",
                                           "/var/cache/driftguard", "/tmp"}));

  const Json& pdb = Find(*full_, "PodDisruptionBudget/driftguard-system/driftguard");
  EXPECT_EQ(pdb["spec"]["minAvailable"], 1);
  EXPECT_EQ(pdb["spec"]["selector"], d["spec"]["selector"]);
  const Json& svc = Find(*full_, "Service/driftguard-system/driftguard");
  EXPECT_EQ(svc["spec"]["selector"], d["spec"]["selector"]["matchLabels"]);
  EXPECT_EQ(svc["spec"]["ports"], Json::parse(R"([
      {"name": "https", "port": 443, "targetPort": "https", "protocol": "TCP"},
      {"name": "metrics", "port": 8080, "targetPort": "metrics", "protocol": "TCP"}])"));
  EXPECT_EQ(Find(*full_, "Namespace/driftguard-system")["metadata"]["labels"]
                                                       ["pod-security.kubernetes.io/enforce"],
            "restricted");
}

TEST_F(InstallTest, RbacIsSplitByPurpose) {
  EXPECT_EQ(Find(*full_, "ClusterRole/driftguard-read")["rules"],
            Json::parse(R"([{"apiGroups": ["*"], "resources": ["*"],
                "verbs": ["get", "list", "watch"]}])"));
  EXPECT_EQ(Find(*full_, "ClusterRole/driftguard-reconciler-apply")["rules"],
            Json::parse(R"([{"apiGroups": ["*"], "resources": ["*"],
                "verbs": ["create", "update", "patch", "delete"]}])"));
  // No write verb anywhere else covers more than named objects, status or events.
  for (const char* id : {"ClusterRole/driftguard-status", "ClusterRole/driftguard-controller",
                         "Role/driftguard-system/driftguard"}) {
    for (const Json& rule : Find(*full_, id)["rules"]) {
      SCOPED_TRACE(std::string(id) + " " + rule.dump());
      EXPECT_NE(rule["apiGroups"], Json::parse(R"(["*"])"));
      for (const Json& r : rule["resources"]) {
        const std::string res = r;
        EXPECT_TRUE(res.ends_with("/status") || res == "events" || rule.contains("resourceNames") ||
                    rule["verbs"] == Json::parse(R"(["create"])"));
      }
    }
  }
  const Json& role = Find(*full_, "Role/driftguard-system/driftguard");
  EXPECT_EQ(role["rules"][3], Json::parse(R"({"apiGroups": [""], "resources": ["secrets"],
      "resourceNames": ["driftguard-certs"], "verbs": ["get", "update", "patch"]})"));
  EXPECT_EQ(role["rules"][1]["resourceNames"], Json::parse(R"(["driftguard"])"));
  // Every binding names driftguard's service account.
  for (const Json& o : *full_) {
    const std::string kind = o["kind"];
    if (!kind.ends_with("Binding")) continue;
    EXPECT_EQ(o["subjects"], Json::parse(R"([{"kind": "ServiceAccount", "name": "driftguard",
        "namespace": "driftguard-system"}])"))
        << Id(o);
    EXPECT_EQ(o["roleRef"]["name"], o["metadata"]["name"]) << Id(o);
  }
}

TEST_F(InstallTest, GuardOverlayHasNoCrdsNoApplyRightsAndGuardMode) {
  std::vector<std::string> expected;
  for (const auto& id : kBaseObjects) {
    if (id.find("driftguard-reconciler-apply") == std::string::npos &&
        id.find("driftguard-status") == std::string::npos) {
      expected.push_back(id);
    }
  }
  EXPECT_THAT(Ids(*guard_), UnorderedElementsAreArray(expected));
  const Json& d = Find(*guard_, "Deployment/driftguard-system/driftguard");
  EXPECT_EQ(d["spec"]["template"]["spec"]["containers"][0]["args"][2], "--mode=guard");
}

TEST_F(InstallTest, ConfigMapHoldsAGuardConfigTheBinaryAccepts) {
  const Json& cm = Find(*full_, "ConfigMap/driftguard-system/driftguard-config");
  const std::string text = cm["data"]["config.yaml"];
  auto config = core::ParseFluxConfig(text, "config.yaml");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_TRUE(config->repositories.empty());
  ASSERT_TRUE(config->guard_config.has_value());
  auto guard = webhook::ParseGuardConfig(*config->guard_config, "config.yaml");
  ASSERT_TRUE(guard.ok()) << guard.status().ToString();
  EXPECT_EQ(guard->default_mode, webhook::GuardMode::kEnforce);
  EXPECT_EQ(guard->break_glass_groups, std::vector<std::string>{"driftguard:break-glass"});
  EXPECT_EQ(guard->own_service_account, "system:serviceaccount:driftguard-system:driftguard");
}

// ---------------------------------------------------------------------------------------------
// The chart. Helm is not available here, so these check what can be checked without rendering:
// the values parse, every manifests/ object has a template of the same kind and name, the CRDs
// are the same bytes, and the webhook and Deployment templates carry the same literal settings.

std::string TemplateText(const std::string& name) {
  return testing::ReadFile(kChart / "templates" / name);
}

TEST(ChartTest, ValuesAndChartMetadataParse) {
  auto values = core::ParseYaml(testing::ReadFile(kChart / "values.yaml"), "values.yaml");
  ASSERT_TRUE(values.ok()) << values.status().ToString();
  EXPECT_EQ((*values)["mode"], "full");
  EXPECT_EQ((*values)["replicas"], 2);
  EXPECT_EQ((*values)["guard"]["defaultMode"], "enforce");
  EXPECT_EQ((*values)["guard"]["protect"], "all");
  EXPECT_EQ((*values)["guard"]["breakGlassGroups"], Json::parse(R"(["driftguard:break-glass"])"));
  EXPECT_EQ((*values)["guard"]["exempt"],
            Json::parse(R"({"users": [], "groups": [], "serviceAccounts": []})"));
  EXPECT_EQ((*values)["webhook"]["failurePolicy"], "Fail");
  EXPECT_EQ((*values)["webhook"]["scaleFailurePolicy"], "Ignore");
  EXPECT_EQ((*values)["webhook"]["timeoutSeconds"], 3);
  EXPECT_EQ((*values)["certificates"]["source"], "builtin");
  EXPECT_EQ((*values)["certificates"]["secretName"], "driftguard-certs");
  EXPECT_EQ((*values)["crds"]["install"], true);
  EXPECT_EQ((*values)["serviceMonitor"]["enabled"], false);
  EXPECT_EQ((*values)["image"]["repository"], "ghcr.io/driftguard/driftguard");
  EXPECT_TRUE((*values)["resources"]["limits"].contains("memory"));

  auto chart = core::ParseYaml(testing::ReadFile(kChart / "Chart.yaml"), "Chart.yaml");
  ASSERT_TRUE(chart.ok()) << chart.status().ToString();
  EXPECT_EQ((*chart)["apiVersion"], "v2");
  EXPECT_EQ((*chart)["name"], "driftguard");
  EXPECT_EQ((*chart)["appVersion"], DRIFTGUARD_EXPECTED_VERSION);
  // The same default GuardConfig as manifests/base/config.yaml.
  const std::string config = TemplateText("config.yaml");
  EXPECT_NE(config.find("kind: GuardConfig"), std::string::npos);
  EXPECT_NE(config.find("defaultMode: {{ .Values.guard.defaultMode }}"), std::string::npos);
  EXPECT_NE(config.find("breakGlassGroups: {{ .Values.guard.breakGlassGroups | toJson }}"),
            std::string::npos);
}

// kind + name of every document of every template (the release namespace stands for
// driftguard-system).
std::set<std::string> TemplateObjects() {
  std::set<std::string> out;
  const std::regex kind_re("^kind: (\\S+)$");
  const std::regex name_re("^  name: (.+)$");
  for (const auto& entry : fs::recursive_directory_iterator(kChart / "templates")) {
    if (entry.path().extension() != ".yaml") continue;
    std::string text = testing::ReadFile(entry.path());
    std::string kind, name;
    std::istringstream in(text + "\n---\n");
    bool in_metadata = false;
    for (std::string line; std::getline(in, line);) {
      std::smatch m;
      if (line == "---") {
        if (!kind.empty()) out.insert(kind + "/" + name);
        kind.clear();
        name.clear();
      } else if (std::regex_match(line, m, kind_re)) {
        kind = m[1];
      } else if (line == "metadata:") {
        in_metadata = true;
        continue;
      } else if (in_metadata && name.empty() && std::regex_match(line, m, name_re)) {
        name = m[1];
        if (name == "{{ .Release.Namespace }}") name = "driftguard-system";
      }
      if (!line.starts_with("  ")) in_metadata = false;
    }
  }
  return out;
}

TEST(ChartTest, EveryManifestObjectHasATemplateOfTheSameKindAndName) {
  auto r = testing::RunCommand("kubectl kustomize " + (kSource / "manifests").string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::set<std::string> templates = TemplateObjects();
  for (const Json& o : ParseStream(r.output, "manifests")) {
    const std::string key =
        o["kind"].get<std::string>() + "/" + o["metadata"]["name"].get<std::string>();
    EXPECT_TRUE(templates.contains(key)) << key << " has no template in charts/driftguard";
  }
  // And the chart adds only the opt-in extras.
  for (const std::string& key : templates) {
    if (key == "Certificate/driftguard" || key == "Issuer/driftguard-selfsigned" ||
        key == "ServiceMonitor/driftguard") {
      continue;
    }
    const std::string kind = key.substr(0, key.find('/'));
    const std::string name = key.substr(key.find('/') + 1);
    bool found = false;
    for (const Json& o : ParseStream(r.output, "manifests")) {
      found = found || (o["kind"] == kind && o["metadata"]["name"] == name);
    }
    EXPECT_TRUE(found) << key << " is in the chart but not in manifests/";
  }
}

TEST(ChartTest, CrdTemplatesAreTheManifestsCrdsBehindCrdsInstall) {
  for (const char* name : {"gitrepositories.yaml", "kustomizations.yaml", "canaries.yaml"}) {
    EXPECT_EQ(TemplateText(std::string("crds/") + name),
              "{{- if .Values.crds.install }}\n" +
                  testing::ReadFile(kSource / "manifests/crds" / name) + "{{- end }}\n")
        << name;
  }
}

TEST(ChartTest, WebhookTemplateCarriesTheSameSettings) {
  const std::string t = TemplateText("webhooks.yaml");
  const std::string helpers = TemplateText("_helpers.tpl");
  auto count = [](const std::string& text, const std::string& what) {
    size_t n = 0;
    for (size_t p = text.find(what); p != std::string::npos; p = text.find(what, p + 1)) ++n;
    return n;
  };
  EXPECT_EQ(count(t, "    timeoutSeconds: {{ .Values.webhook.timeoutSeconds }}\n"), 4u);
  EXPECT_EQ(count(t, "    sideEffects: NoneOnDryRun\n"), 4u);
  EXPECT_EQ(count(t, "    matchPolicy: Equivalent\n"), 4u);
  EXPECT_EQ(count(t, "    admissionReviewVersions: [v1, v1beta1]\n"), 4u);
  EXPECT_EQ(count(t, "    failurePolicy: {{ .Values.webhook.failurePolicy }}\n"), 2u);
  EXPECT_EQ(count(t, "    failurePolicy: {{ .Values.webhook.scaleFailurePolicy }}\n"), 2u);
  EXPECT_EQ(count(t,
                  "        - key: kustomize.toolkit.fluxcd.io/name\n"
                  "          operator: Exists\n"),
            2u);
  EXPECT_EQ(count(t, "          values: [kube-system, {{ .Release.Namespace }}]\n"), 4u);
  EXPECT_EQ(count(t, "        resources: [\"*/scale\"]\n"), 2u);
  EXPECT_EQ(count(t, "{{- include \"driftguard.matchConditions\" . | nindent 4 }}"), 4u);
  EXPECT_EQ(count(helpers, "cert-manager.io/inject-ca-from: {{ .Release.Namespace }}/driftguard"),
            1u);
  // The CEL expressions are the manifests' ones, with the release namespace.
  const std::string manifests = testing::ReadFile(kSource / "manifests/base/webhooks.yaml");
  for (const char* line :
       {"expression: \"!(request.userInfo.username.startsWith('system:serviceaccount:flux-system:')"
        " && request.userInfo.username.endsWith('-controller'))\"",
        "expression: \"!('system:nodes' in request.userInfo.groups)\"",
        "expression: request.userInfo.username != 'system:kube-controller-manager'"}) {
    EXPECT_EQ(count(manifests, line), 4u) << line;
    EXPECT_EQ(count(helpers, line), 1u) << line;
  }
}

TEST(ChartTest, DeploymentTemplateRunsTheSameCommand) {
  const std::string t = TemplateText("deployment.yaml");
  const std::string m = testing::ReadFile(kSource / "manifests/base/deployment.yaml");
  auto args = [](const std::string& text) {
    const size_t begin = text.find("          args:\n");
    const size_t end = text.find("          env:\n");
    return text.substr(begin, end - begin);
  };
  std::string chart_args = args(t);
  chart_args.replace(chart_args.find("{{ .Values.mode }}"), 18, "full");
  // Render certificates.source=builtin by hand: keep the `if` branch, drop the `else` branch.
  const std::string if_line = "            {{- if eq .Values.certificates.source \"builtin\" }}\n";
  const std::string else_line = "            {{- else }}\n";
  const std::string end_line = "            {{- end }}\n";
  const size_t if_at = chart_args.find(if_line);
  ASSERT_NE(if_at, std::string::npos);
  chart_args.erase(if_at, if_line.size());
  const size_t else_at = chart_args.find(else_line);
  const size_t end_at = chart_args.find(end_line);
  ASSERT_NE(else_at, std::string::npos);
  ASSERT_NE(end_at, std::string::npos);
  chart_args.erase(else_at, end_at + end_line.size() - else_at);
  EXPECT_EQ(chart_args, args(m));
  for (const char* line :
       {"            readOnlyRootFilesystem: true\n",
        "            allowPrivilegeEscalation: false\n", "                - ALL\n",
        "              path: /healthz\n", "              path: /readyz\n",
        "        runAsUser: 65532\n", "  replicas: {{ .Values.replicas }}\n"}) {
    EXPECT_NE(t.find(line), std::string::npos) << line;
  }
  EXPECT_NE(TemplateText("certificate.yaml").find("kind: Certificate"), std::string::npos);
  EXPECT_NE(TemplateText("servicemonitor.yaml").find("{{- if .Values.serviceMonitor.enabled }}"),
            std::string::npos);
}

}  // namespace
}  // namespace driftguard
