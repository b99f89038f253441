#include "webhook/guard.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "core/strategic_merge.h"
#include "tests/support/test_util.h"

namespace driftguard::webhook {
namespace {

using core::Json;

constexpr char kCommit[] = "0123456789abcdef0123456789abcdef01234567";

Json FluxLabels(const std::string& ks) {
  return {{"kustomize.toolkit.fluxcd.io/name", ks},
          {"kustomize.toolkit.fluxcd.io/namespace", "flux-system"}};
}

// The web Deployment as Git declares it (after render + Flux post-build).
Json DesiredDeployment() {
  return Json::parse(R"({
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "shop",
                 "labels": {"app": "web", "kustomize.toolkit.fluxcd.io/name": "web",
                            "kustomize.toolkit.fluxcd.io/namespace": "flux-system"}},
    "spec": {"replicas": 3,
             "selector": {"matchLabels": {"app": "web"}},
             "template": {"metadata": {"labels": {"app": "web"}},
                          "spec": {"containers": [
                            {"name": "web", "image": "ghcr.io/example/web:1.5.2",
                             "ports": [{"containerPort": 8080, "protocol": "TCP"}]},
                            {"name": "sidecar", "image": "ghcr.io/example/agent:0.9"}]}}}})");
}

// The same Deployment as the API server holds it: defaults and server fields added.
Json LiveDeployment() {
  Json live = DesiredDeployment();
  live["metadata"]["uid"] = "4a7f0c1e-5d2b-4c59-9a53-2f8f3b0d1e11";
  live["metadata"]["resourceVersion"] = "81723";
  live["metadata"]["generation"] = 4;
  live["metadata"]["creationTimestamp"] = "2026-11-20T09:14:02Z";
  live["metadata"]["managedFields"] = Json::array(
      {{{"manager", "kustomize-controller"}, {"operation", "Apply"}, {"apiVersion", "apps/v1"}}});
  live["spec"]["template"]["spec"]["restartPolicy"] = "Always";
  live["spec"]["template"]["spec"]["containers"][0]["terminationMessagePath"] =
      "/dev/termination-log";
  live["spec"]["strategy"] = {{"type", "RollingUpdate"}};
  live["status"] = {{"replicas", 3}, {"readyReplicas", 3}};
  return live;
}

core::DesiredObject Desired(Json obj, core::FieldOrigins origins) {
  core::DesiredObject d;
  d.ref = core::ObjectRef::FromObject(obj);
  d.object = std::move(obj);
  d.origins = std::move(origins);
  return d;
}

Json KustomizationObject(const std::string& name, Json annotations = Json::object(),
                         bool suspend = false) {
  return {
      {"apiVersion", "kustomize.toolkit.fluxcd.io/v1"},
      {"kind", "Kustomization"},
      {"metadata", {{"name", name}, {"namespace", "flux-system"}, {"annotations", annotations}}},
      {"spec", {{"interval", "10m"}, {"path", "./apps/" + name}, {"suspend", suspend}}}};
}

void Publish(core::DesiredStateStore& store, const std::string& name, Json ks,
             std::vector<core::DesiredObject> objects) {
  core::SnapshotInfo info;
  info.commit = kCommit;
  info.revision = std::string("main@sha1:") + kCommit;
  info.built_at = std::chrono::system_clock::now();
  info.kustomization = std::move(ks);
  auto snap = core::DesiredSnapshot::Build({"flux-system", name}, info, std::move(objects));
  ASSERT_TRUE(snap.ok()) << snap.status();
  store.Publish(*snap);
}

// Builds an AdmissionReview exactly as kube-apiserver sends it and decodes it with the real codec.
AdmissionRequest Review(const std::string& operation, const Json& old_obj, const Json& new_obj,
                        const std::string& user = "jane@example.com",
                        std::vector<std::string> groups = {"developers", "system:authenticated"},
                        const std::string& api_version = "admission.k8s.io/v1",
                        const std::string& sub_resource = "", bool dry_run = false) {
  const Json& any = new_obj.is_null() ? old_obj : new_obj;
  core::GroupVersion gv = core::GroupVersion::Parse(any.value("apiVersion", ""));
  std::string kind = any.value("kind", "");
  std::string resource = kind;
  for (char& c : resource) c = static_cast<char>(std::tolower(c));
  resource += "s";
  const Json& meta = any["metadata"];
  Json request = {
      {"uid", "705ab4f5-6393-11e8-b7cc-42010a800002"},
      {"kind", {{"group", gv.group}, {"version", gv.version}, {"kind", kind}}},
      {"resource", {{"group", gv.group}, {"version", gv.version}, {"resource", resource}}},
      {"name", meta.value("name", "")},
      {"operation", operation},
      {"userInfo", {{"username", user}, {"groups", groups}}},
      {"dryRun", dry_run}};
  if (meta.contains("namespace")) request["namespace"] = meta["namespace"];
  if (!sub_resource.empty()) request["subResource"] = sub_resource;
  if (!new_obj.is_null()) request["object"] = new_obj;
  if (!old_obj.is_null()) request["oldObject"] = old_obj;
  Json review = {{"apiVersion", api_version}, {"kind", "AdmissionReview"}, {"request", request}};
  auto decoded = DecodeAdmissionReview(review.dump());
  EXPECT_TRUE(decoded.ok()) << decoded.status();
  return *decoded;
}

AdmissionRequest ScaleReview(int old_replicas, int new_replicas, const std::string& user,
                             std::vector<std::string> groups = {"system:authenticated"}) {
  auto scale = [old_replicas](int replicas) {
    return Json{
        {"apiVersion", "autoscaling/v1"},
        {"kind", "Scale"},
        {"metadata", {{"name", "web"}, {"namespace", "shop"}, {"resourceVersion", "81723"}}},
        {"spec", {{"replicas", replicas}}},
        {"status", {{"replicas", old_replicas}, {"selector", "app=web"}}}};
  };
  Json request = {{"uid", "b1c9a2f0-0000-4000-8000-000000000001"},
                  {"kind", {{"group", "autoscaling"}, {"version", "v1"}, {"kind", "Scale"}}},
                  {"resource", {{"group", "apps"}, {"version", "v1"}, {"resource", "deployments"}}},
                  {"subResource", "scale"},
                  {"name", "web"},
                  {"namespace", "shop"},
                  {"operation", "UPDATE"},
                  {"userInfo", {{"username", user}, {"groups", groups}}},
                  {"object", scale(new_replicas)},
                  {"oldObject", scale(old_replicas)},
                  {"dryRun", false}};
  Json review = {
      {"apiVersion", "admission.k8s.io/v1"}, {"kind", "AdmissionReview"}, {"request", request}};
  return *DecodeAdmissionReview(review.dump());
}

class GuardTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_.break_glass_groups = {"platform:break-glass"};
    config_.exempt_service_accounts = {"ci:deployer"};
    config_.excluded_namespaces = {"sandbox"};

    Json cm = {{"apiVersion", "v1"},
               {"kind", "ConfigMap"},
               {"metadata",
                {{"name", "cm-edit"}, {"namespace", "default"}, {"labels", FluxLabels("web")}}},
               {"data", {{"a", "1"}}}};
    Json svc = Json::parse(R"({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"selector": {"app": "web"},
                 "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}]}})");
    svc["metadata"]["labels"] = FluxLabels("web");
    Json widget = Json::parse(R"({"apiVersion": "example.com/v1", "kind": "Widget",
        "metadata": {"name": "w1", "namespace": "shop"},
        "spec": {"color": "blue", "sizes": [1, 2, 3]}})");
    widget["metadata"]["labels"] = FluxLabels("web");
    Json flux_ks = KustomizationObject("apps");
    flux_ks["metadata"]["labels"] = FluxLabels("web");
    flux_ks["metadata"].erase("annotations");
    std::vector<core::DesiredObject> web;
    web.push_back(Desired(DesiredDeployment(),
                          {{"", {"apps/web/base/deployment.yaml", 1}},
                           {"/spec/replicas", {"apps/web/production/kustomization.yaml", 7}},
                           {"/spec/template/spec/containers/0/image",
                            {"apps/web/production/kustomization.yaml", 10}}}));
    web.push_back(Desired(
        cm, {{"", {"apps/web/base/cm.yaml", 1}}, {"/data/a", {"apps/web/base/cm.yaml", 7}}}));
    web.push_back(Desired(svc, {{"", {"apps/web/base/service.yaml", 1}}}));
    web.push_back(Desired(widget, {{"", {"apps/web/base/widget.yaml", 1}},
                                   {"/spec/sizes", {"apps/web/base/widget.yaml", 8}}}));
    web.push_back(Desired(flux_ks, {{"", {"clusters/prod/apps.yaml", 1}}}));
    Publish(store_, "web", KustomizationObject("web"), std::move(web));

    Json redis_cm = {
        {"apiVersion", "v1"},
        {"kind", "ConfigMap"},
        {"metadata", {{"name", "redis"}, {"namespace", "cache"}, {"labels", FluxLabels("redis")}}},
        {"data", {{"maxmemory", "256mb"}}}};
    std::vector<core::DesiredObject> redis;
    redis.push_back(Desired(redis_cm, {{"/data/maxmemory", {"infra/redis/cm.yaml", 6}}}));
    Publish(store_, "redis", KustomizationObject("redis", {{"driftguard.io/mode", "revert"}}),
            std::move(redis));

    Json audit_cm = {
        {"apiVersion", "v1"},
        {"kind", "ConfigMap"},
        {"metadata", {{"name", "flags"}, {"namespace", "shop"}, {"labels", FluxLabels("audited")}}},
        {"data", {{"beta", "off"}}}};
    std::vector<core::DesiredObject> audited;
    audited.push_back(Desired(audit_cm, {{"/data/beta", {"apps/flags/cm.yaml", 5}}}));
    Publish(store_, "audited", KustomizationObject("audited", {{"driftguard.io/mode", "audit"}}),
            std::move(audited));

    Json legacy_cm = {
        {"apiVersion", "v1"},
        {"kind", "ConfigMap"},
        {"metadata", {{"name", "old"}, {"namespace", "legacy"}, {"labels", FluxLabels("legacy")}}},
        {"data", {{"k", "v"}}}};
    std::vector<core::DesiredObject> legacy;
    legacy.push_back(Desired(legacy_cm, {}));
    Publish(store_, "legacy", KustomizationObject("legacy", Json::object(), /*suspend=*/true),
            std::move(legacy));
  }

  Guard MakeGuard() { return Guard(config_, &store_, nullptr); }

  // A guard counting into registry_, owned by the fixture.
  Guard& MeteredGuard() {
    auto metrics = GuardMetrics::Register(registry_, &store_);
    EXPECT_TRUE(metrics.ok()) << metrics.status();
    if (metrics.ok()) metrics_ = std::move(metrics).value();
    metered_ = std::make_unique<Guard>(config_, &store_, metrics_.get());
    return *metered_;
  }

  GuardConfig config_;
  core::DesiredStateStore store_;
  core::MetricsRegistry registry_;
  std::unique_ptr<GuardMetrics> metrics_;
  std::unique_ptr<Guard> metered_;
};

TEST_F(GuardTest, DeniesImageChangeNamingGitFileLineAndCommit) {
  Json old_obj = LiveDeployment();
  Json new_obj = old_obj;
  new_obj["spec"]["template"]["spec"]["containers"][0]["image"] = "ghcr.io/example/web:1.6.0-rc1";
  Guard guard = MakeGuard();
  GuardDecision d = guard.Decide(Review("UPDATE", old_obj, new_obj), Endpoint::kValidate);
  EXPECT_EQ(d.decision, "deny");
  EXPECT_FALSE(d.response.allowed);
  ASSERT_TRUE(d.response.status.has_value());
  EXPECT_EQ(d.response.status->code, 403);
  EXPECT_EQ(d.response.status->reason, "Forbidden");
  EXPECT_EQ(d.response.status->message,
            "driftguard: Deployment shop/web is managed by Git through Kustomization "
            "flux-system/web (revision main@sha1:0123456789abcdef0123456789abcdef01234567), so "
            "this change was denied:\n"
            "  spec.template.spec.containers[name=web].image: \"ghcr.io/example/web:1.5.2\" → "
            "\"ghcr.io/example/web:1.6.0-rc1\" (git: \"ghcr.io/example/web:1.5.2\", declared in "
            "apps/web/production/kustomization.yaml:10 @ 0123456)\n"
            "To change it, edit Git and let Kustomization flux-system/web apply the change, or "
            "first run `flux suspend kustomization web -n flux-system` (or use the break-glass "
            "group platform:break-glass).");
  // The mutating endpoint leaves enforce mode to /validate.
  GuardDecision m = guard.Decide(Review("UPDATE", old_obj, new_obj), Endpoint::kMutate);
  EXPECT_TRUE(m.response.allowed);
  EXPECT_TRUE(m.response.patch.is_null());
}

TEST_F(GuardTest, ListsEveryDriftedFieldIncludingUndeclaredOnes) {
  Json old_obj = LiveDeployment();
  Json new_obj = old_obj;
  new_obj["spec"]["replicas"] = 5;
  new_obj["metadata"]["labels"]["owner"] = "jane";
  GuardDecision d = MakeGuard().Decide(Review("UPDATE", old_obj, new_obj), Endpoint::kValidate);
  ASSERT_EQ(d.drift.size(), 2u);
  EXPECT_EQ(d.response.status->message,
            "driftguard: Deployment shop/web is managed by Git through Kustomization "
            "flux-system/web (revision main@sha1:0123456789abcdef0123456789abcdef01234567), so "
            "this change was denied:\n"
            "  metadata.labels.owner: <none> → \"jane\" (not declared in Git)\n"
            "  spec.replicas: 3 → 5 (git: 3, declared in apps/web/production/kustomization.yaml:7 "
            "@ 0123456)\n"
            "To change them, edit Git and let Kustomization flux-system/web apply the change, or "
            "first run `flux suspend kustomization web -n flux-system` (or use the break-glass "
            "group platform:break-glass).");
}

TEST_F(GuardTest, ProtectDeclaredOnlyCountsFieldsGitDeclares) {
  config_.protect = ProtectLevel::kDeclared;
  Json old_obj = LiveDeployment();
  Json new_obj = old_obj;
  new_obj["metadata"]["labels"]["owner"] = "jane";
  new_obj["spec"]["template"]["spec"]["containers"][0]["resources"] = {{"limits", {{"cpu", "1"}}}};
  GuardDecision d = MakeGuard().Decide(Review("UPDATE", old_obj, new_obj), Endpoint::kValidate);
  EXPECT_EQ(d.decision, "allow");
  EXPECT_TRUE(d.response.allowed);
  new_obj["spec"]["replicas"] = 1;
  d = MakeGuard().Decide(Review("UPDATE", old_obj, new_obj), Endpoint::kValidate);
  EXPECT_EQ(d.decision, "deny");
  ASSERT_EQ(d.drift.size(), 1u);
  EXPECT_EQ(d.drift[0].path, "spec.replicas");
}

TEST_F(GuardTest, RepairTowardGitIsAllowed) {
  Json old_obj = LiveDeployment();
  old_obj["spec"]["replicas"] = 7;  // drifted earlier (e.g. while suspended)
  Json new_obj = old_obj;
  new_obj["spec"]["replicas"] = 3;
  GuardDecision d = MakeGuard().Decide(Review("UPDATE", old_obj, new_obj), Endpoint::kValidate);
  EXPECT_EQ(d.decision, "allow");
  EXPECT_TRUE(d.response.allowed);
  EXPECT_EQ(d.reason, "changes are repairs or not protected");
}

TEST_F(GuardTest, ReorderedContainersRolloutRestartAndServerFieldsAreNotDrift) {
  Json old_obj = LiveDeployment();
  Json new_obj = old_obj;
  auto& containers = new_obj["spec"]["template"]["spec"]["containers"];
  std::swap(containers[0], containers[1]);
  new_obj["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"] =
      "2026-11-25T10:00:00Z";
  new_obj["metadata"]["resourceVersion"] = "81800";
  new_obj["metadata"]["generation"] = 5;
  new_obj["metadata"]["managedFields"].push_back({{"manager", "kubectl-rollout"}});
  new_obj["status"]["readyReplicas"] = 2;
  GuardDecision d = MakeGuard().Decide(Review("UPDATE", old_obj, new_obj), Endpoint::kValidate);
  EXPECT_EQ(d.decision, "allow");
  EXPECT_EQ(d.reason, "no change") << (d.drift.empty() ? "" : d.drift[0].path);
}

TEST_F(GuardTest, ObjectsWithoutFluxLabelsAreNotJudged) {
  Json old_obj = LiveDeployment();
  old_obj["metadata"]["labels"].erase("kustomize.toolkit.fluxcd.io/name");
  Json new_obj = old_obj;
  new_obj["spec"]["replicas"] = 10;
  GuardDecision d = MakeGuard().Decide(Review("UPDATE", old_obj, new_obj), Endpoint::kValidate);
  EXPECT_EQ(d.decision, "unmanaged");
  EXPECT_TRUE(d.response.allowed);
}

TEST_F(GuardTest, RemovingTheOwnerLabelIsDrift) {
  Json old_obj = LiveDeployment();
  Json new_obj = old_obj;
  new_obj["metadata"]["labels"].erase("kustomize.toolkit.fluxcd.io/name");
  GuardDecision d = MakeGuard().Decide(Review("UPDATE", old_obj, new_obj), Endpoint::kValidate);
  EXPECT_EQ(d.decision, "deny");
  ASSERT_EQ(d.drift.size(), 1u);
  EXPECT_EQ(d.drift[0].path, "metadata.labels[\"kustomize.toolkit.fluxcd.io/name\"]");
}

TEST_F(GuardTest, ExemptIdentitiesPassUntouched) {
  Json old_obj = LiveDeployment();
  Json new_obj = old_obj;
  new_obj["spec"]["replicas"] = 9;
  const std::vector<std::pair<std::string, std::vector<std::string>>> exempt = {
      {"system:serviceaccount:flux-system:kustomize-controller", {}},
      {"system:serviceaccount:driftguard-system:driftguard", {}},
      {"system:serviceaccount:flagger-system:flagger", {}},
      {"system:kube-controller-manager", {}},
      {"system:serviceaccount:kube-system:deployment-controller", {}},
      {"system:node:worker-1", {"system:nodes"}},
      {"system:serviceaccount:ci:deployer", {}},
  };
  Guard guard = MakeGuard();
  for (const auto& [user, groups] : exempt) {
    GuardDecision d =
        guard.Decide(Review("UPDATE", old_obj, new_obj, user, groups), Endpoint::kValidate);
    EXPECT_EQ(d.decision, "exempt") << user;
    EXPECT_TRUE(d.response.allowed) << user;
    EXPECT_TRUE(d.response.warnings.empty()) << user;
  }
  GuardDecision other = guard.Decide(
      Review("UPDATE", old_obj, new_obj, "system:serviceaccount:ci:other"), Endpoint::kValidate);
  EXPECT_EQ(other.decision, "deny");
  EXPECT_EQ(guard
                .Decide(Review("UPDATE", old_obj, new_obj,
                               "system:serviceaccount:flux-system:notification-controller"),
                        Endpoint::kValidate)
                .reason,
            "system:serviceaccount:flux-system:notification-controller is exempt (Flux "
            "controller)");
}

TEST_F(GuardTest, BreakGlassPassesWithWarningsAndIsCounted) {
  Guard& guard = MeteredGuard();
  Json old_obj = LiveDeployment();
  Json new_obj = old_obj;
  new_obj["spec"]["replicas"] = 0;
  AdmissionResponse r = guard.Validate(
      Review("UPDATE", old_obj, new_obj, "oncall@example.com", {"platform:break-glass"}));
  EXPECT_TRUE(r.allowed);
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_EQ(r.warnings[0],
            "driftguard: break-glass (platform:break-glass): spec.replicas: 3 → 0 (git: 3, "
            "declared in apps/web/production/kustomization.yaml:7 @ 0123456)");
  std::string text = registry_.Render();
  EXPECT_NE(text.find("driftguard_break_glass_total{kustomization=\"flux-system/web\"} 1\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("driftguard_admission_requests_total{operation=\"UPDATE\",decision=\"break-"
                      "glass\",mode=\"enforce\"} 1\n"),
            std::string::npos)
      << text;
}

// The guard resolves each requests{operation,decision,mode} child once and reuses it; every
// request must still land in its own series (deny, allow, unmanaged and exempt; UPDATE and
// DELETE; modes enforce and "none").
TEST_F(GuardTest, RequestsAreCountedByOperationDecisionAndMode) {
  Guard& guard = MeteredGuard();
  Json old_obj = LiveDeployment();
  Json new_obj = old_obj;
  new_obj["spec"]["replicas"] = 0;
  Json unlabelled = old_obj;
  unlabelled["metadata"].erase("labels");
  for (int i = 0; i < 2; ++i) {
    EXPECT_FALSE(guard.Validate(Review("UPDATE", old_obj, new_obj, "dev@example.com")).allowed);
    EXPECT_TRUE(guard.Validate(Review("UPDATE", old_obj, old_obj, "dev@example.com")).allowed);
    EXPECT_TRUE(
        guard.Validate(Review("UPDATE", unlabelled, unlabelled, "dev@example.com")).allowed);
    EXPECT_TRUE(
        guard.Validate(Review("DELETE", old_obj, Json(), "system:serviceaccount:kube-system:gc"))
            .allowed);
  }
  EXPECT_FALSE(guard.Validate(Review("DELETE", old_obj, Json(), "dev@example.com")).allowed);
  const std::string text = registry_.Render();
  for (
      const char* series : {
          R"(driftguard_admission_requests_total{operation="UPDATE",decision="deny",mode="enforce"} 2)",
          R"(driftguard_admission_requests_total{operation="UPDATE",decision="allow",mode="enforce"} 2)",
          R"(driftguard_admission_requests_total{operation="UPDATE",decision="unmanaged",mode="none"} 2)",
          R"(driftguard_admission_requests_total{operation="DELETE",decision="exempt",mode="none"} 2)",
          R"(driftguard_admission_requests_total{operation="DELETE",decision="deny",mode="enforce"} 1)",
      }) {
    EXPECT_NE(text.find(std::string(series) + "\n"), std::string::npos) << series << "\n" << text;
  }
  EXPECT_NE(text.find("driftguard_admission_decision_duration_seconds_count 9\n"),
            std::string::npos)
      << text;
}

TEST_F(GuardTest, NotGuardedObjectsNamespacesAndSuspendedKustomizations) {
  Guard guard = MakeGuard();
  Json old_obj = LiveDeployment();
  old_obj["metadata"]["annotations"]["kustomize.toolkit.fluxcd.io/reconcile"] = "disabled";
  Json new_obj = old_obj;
  new_obj["spec"]["replicas"] = 1;
  EXPECT_EQ(guard.Decide(Review("UPDATE", old_obj, new_obj), Endpoint::kValidate).reason,
            "object has kustomize.toolkit.fluxcd.io/reconcile: disabled");

  Json legacy = {
      {"apiVersion", "v1"},
      {"kind", "ConfigMap"},
      {"metadata", {{"name", "old"}, {"namespace", "legacy"}, {"labels", FluxLabels("legacy")}}},
      {"data", {{"k", "v"}}}};
  Json legacy_new = legacy;
  legacy_new["data"]["k"] = "changed";
  EXPECT_EQ(guard.Decide(Review("UPDATE", legacy, legacy_new), Endpoint::kValidate).reason,
            "Kustomization flux-system/legacy is suspended");

  Json sandbox = legacy;
  sandbox["metadata"]["namespace"] = "sandbox";
  sandbox["metadata"]["labels"] = FluxLabels("web");
  Json sandbox_new = sandbox;
  sandbox_new["data"]["k"] = "x";
  GuardDecision d = guard.Decide(Review("UPDATE", sandbox, sandbox_new), Endpoint::kValidate);
  EXPECT_EQ(d.decision, "unguarded");
  EXPECT_EQ(d.reason, "namespace sandbox is excluded");
}

// The captured kube-apiserver samples (kubectl patch configmap), with Flux labels added.
TEST_F(GuardTest, CapturedConfigMapReviewsV1AndV1beta1) {
  Guard guard = MakeGuard();
  for (const char* file : {"configmap-update-v1.json", "configmap-update-v1beta1.json"}) {
    Json review = Json::parse(
        testing::ReadFile(std::string(DRIFTGUARD_SHARED_DIR) + "/admission-samples/" + file));
    review["request"]["object"]["metadata"]["labels"] = FluxLabels("web");
    review["request"]["oldObject"]["metadata"]["labels"] = FluxLabels("web");
    auto request = DecodeAdmissionReview(review.dump());
    ASSERT_TRUE(request.ok()) << request.status();
    GuardDecision d = guard.Decide(*request, Endpoint::kValidate);
    EXPECT_EQ(d.decision, "deny") << file;
    const std::string drift_line = std::string(file) == "configmap-update-v1.json"
                                       ? "  data.a: \"1\" → \"9\" (git: \"1\", declared in "
                                         "apps/web/base/cm.yaml:7 @ 0123456)\n"
                                       : "  data.q: <none> → \"1\" (not declared in Git)\n";
    EXPECT_EQ(d.response.status->message,
              "driftguard: ConfigMap default/cm-edit is managed by Git through Kustomization "
              "flux-system/web (revision main@sha1:0123456789abcdef0123456789abcdef01234567), so "
              "this change was denied:\n" +
                  drift_line +
                  "To change it, edit Git and let Kustomization flux-system/web apply the change, "
                  "or first run `flux suspend kustomization web -n flux-system` (or use the "
                  "break-glass group platform:break-glass).")
        << file;
    auto encoded = EncodeAdmissionReview(*request, d.response);
    ASSERT_TRUE(encoded.ok());
    Json out = Json::parse(*encoded);
    EXPECT_EQ(out["apiVersion"], review["apiVersion"]);
    EXPECT_EQ(out["response"]["uid"], review["request"]["uid"]);
    EXPECT_EQ(out["response"]["allowed"], false);
  }
}

TEST_F(GuardTest, RevertModePatchesBackAndIsIdempotent) {
  Guard guard = MakeGuard();
  Json old_obj = {{"apiVersion", "v1"},
                  {"kind", "ConfigMap"},
                  {"metadata",
                   {{"name", "redis"},
                    {"namespace", "cache"},
                    {"labels", FluxLabels("redis")},
                    {"resourceVersion", "12"}}},
                  {"data", {{"maxmemory", "256mb"}, {"note", "keep"}}}};
  Json new_obj = old_obj;
  new_obj["data"]["maxmemory"] = "1gb";
  new_obj["data"].erase("note");
  new_obj["data"]["debug"] = "true";
  AdmissionRequest request = Review("UPDATE", old_obj, new_obj);
  GuardDecision m = guard.Decide(request, Endpoint::kMutate);
  EXPECT_EQ(m.decision, "revert");
  EXPECT_TRUE(m.response.allowed);
  EXPECT_EQ(m.response.patch, Json::parse(R"([
      {"op": "replace", "path": "/data/maxmemory", "value": "256mb"},
      {"op": "add", "path": "/data/note", "value": "keep"},
      {"op": "remove", "path": "/data/debug"}])"));
  EXPECT_EQ(m.response.warnings,
            (std::vector<std::string>{
                "driftguard: reverted data.maxmemory to \"256mb\" (Git: infra/redis/cm.yaml:6 @ "
                "0123456); ConfigMap cache/redis is managed by Git through Kustomization "
                "flux-system/redis",
                "driftguard: reverted data.note to \"keep\" (live value); ConfigMap cache/redis "
                "is managed by Git through Kustomization flux-system/redis",
                "driftguard: reverted data.debug to <none> (live value); ConfigMap cache/redis is "
                "managed by Git through Kustomization flux-system/redis"}));
  auto patched = core::JsonPatch(new_obj, m.response.patch);
  ASSERT_TRUE(patched.ok()) << patched.status();
  EXPECT_EQ(*patched, old_obj);
  // Reinvocation (reinvocationPolicy: IfNeeded) with our own patch applied changes nothing, and
  // the validating webhook lets the reverted object through.
  AdmissionRequest again = Review("UPDATE", old_obj, *patched);
  GuardDecision m2 = guard.Decide(again, Endpoint::kMutate);
  EXPECT_EQ(m2.decision, "allow");
  EXPECT_TRUE(m2.response.patch.is_null());
  EXPECT_TRUE(m2.response.warnings.empty());
  EXPECT_TRUE(guard.Decide(again, Endpoint::kValidate).response.allowed);
  // Drift that survives to /validate in revert mode is denied.
  EXPECT_EQ(guard.Decide(request, Endpoint::kValidate).decision, "deny");
}

TEST_F(GuardTest, RevertRemovesAddedListItemsFromTheHighestIndexDown) {
  store_.Publish([&] {
    std::vector<core::DesiredObject> objects;
    objects.push_back(Desired(DesiredDeployment(), {}));
    core::SnapshotInfo info;
    info.commit = kCommit;
    info.kustomization = KustomizationObject("web", {{"driftguard.io/mode", "revert"}});
    return *core::DesiredSnapshot::Build({"flux-system", "web"}, info, std::move(objects));
  }());
  Json old_obj = LiveDeployment();
  Json new_obj = old_obj;
  auto& containers = new_obj["spec"]["template"]["spec"]["containers"];
  containers.push_back({{"name", "debug-1"}, {"image", "busybox"}});
  containers.push_back({{"name", "debug-2"}, {"image", "busybox"}});
  containers[0]["image"] = "evil:latest";
  GuardDecision m = MakeGuard().Decide(Review("UPDATE", old_obj, new_obj), Endpoint::kMutate);
  ASSERT_EQ(m.decision, "revert");
  auto patched = core::JsonPatch(new_obj, m.response.patch);
  ASSERT_TRUE(patched.ok()) << patched.status() << m.response.patch.dump();
  EXPECT_EQ(*patched, old_obj) << m.response.patch.dump();
}

TEST_F(GuardTest, AuditModeWarnsAndAllows) {
  Guard& guard = MeteredGuard();
  Json old_obj = {
      {"apiVersion", "v1"},
      {"kind", "ConfigMap"},
      {"metadata", {{"name", "flags"}, {"namespace", "shop"}, {"labels", FluxLabels("audited")}}},
      {"data", {{"beta", "off"}}}};
  Json new_obj = old_obj;
  new_obj["data"]["beta"] = "on";
  AdmissionResponse r = guard.Validate(Review("UPDATE", old_obj, new_obj));
  EXPECT_TRUE(r.allowed);
  EXPECT_EQ(r.warnings, std::vector<std::string>{
                            "driftguard audit: data.beta: \"off\" → \"on\" drifts from Git (git: "
                            "\"off\", declared in apps/flags/cm.yaml:5 @ 0123456)"});
  EXPECT_TRUE(guard.Mutate(Review("UPDATE", old_obj, new_obj)).warnings.empty());
  std::string text = registry_.Render();
  EXPECT_NE(text.find("driftguard_drift_attempts_total{kustomization=\"flux-system/audited\"} 1\n"),
            std::string::npos)
      << text;
}

TEST_F(GuardTest, DeleteIsDeniedInEnforceAndRevertAndWarnedInAudit) {
  Guard guard = MakeGuard();
  GuardDecision d = guard.Decide(Review("DELETE", LiveDeployment(), Json()), Endpoint::kValidate);
  EXPECT_FALSE(d.response.allowed);
  EXPECT_EQ(d.response.status->message,
            "driftguard: Deployment shop/web is managed by Git through Kustomization "
            "flux-system/web, so it cannot be deleted by hand. Remove it from Git and let the "
            "Kustomization prune it, or first run `flux suspend kustomization web -n "
            "flux-system`, or use the break-glass group platform:break-glass.");
  Json redis = {
      {"apiVersion", "v1"},
      {"kind", "ConfigMap"},
      {"metadata", {{"name", "redis"}, {"namespace", "cache"}, {"labels", FluxLabels("redis")}}}};
  EXPECT_EQ(guard.Decide(Review("DELETE", redis, Json()), Endpoint::kValidate).decision, "deny");
  EXPECT_TRUE(guard.Decide(Review("DELETE", redis, Json()), Endpoint::kMutate).response.allowed);
  Json flags = {
      {"apiVersion", "v1"},
      {"kind", "ConfigMap"},
      {"metadata", {{"name", "flags"}, {"namespace", "shop"}, {"labels", FluxLabels("audited")}}}};
  GuardDecision a = guard.Decide(Review("DELETE", flags, Json()), Endpoint::kValidate);
  EXPECT_TRUE(a.response.allowed);
  EXPECT_EQ(a.response.warnings,
            std::vector<std::string>{"driftguard audit: deleting ConfigMap shop/flags is managed "
                                     "by Git through Kustomization flux-system/audited drifts "
                                     "from Git (Flux recreates it)"});
}

TEST_F(GuardTest, ScaleSubresourceResolvesOwnershipFromDesiredState) {
  Guard guard = MakeGuard();
  GuardDecision d = guard.Decide(ScaleReview(3, 10, "jane@example.com"), Endpoint::kValidate);
  EXPECT_EQ(d.decision, "deny");
  EXPECT_EQ(d.response.status->message,
            "driftguard: Deployment shop/web is managed by Git through Kustomization "
            "flux-system/web (revision main@sha1:0123456789abcdef0123456789abcdef01234567), so "
            "this change was denied:\n"
            "  spec.replicas: 3 → 10 (git: 3, declared in "
            "apps/web/production/kustomization.yaml:7 @ 0123456)\n"
            "To change it, edit Git and let Kustomization flux-system/web apply the change, or "
            "first run `flux suspend kustomization web -n flux-system` (or use the break-glass "
            "group platform:break-glass).");
  // The HPA (a kube-system service account) is exempt; scaling back to Git's value is a repair.
  EXPECT_EQ(
      guard
          .Decide(ScaleReview(3, 10, "system:serviceaccount:kube-system:horizontal-pod-autoscaler"),
                  Endpoint::kValidate)
          .decision,
      "exempt");
  EXPECT_EQ(guard.Decide(ScaleReview(10, 3, "jane@example.com"), Endpoint::kValidate).decision,
            "allow");
  // Ignoring /spec/replicas for the Deployment lets kubectl scale through.
  config_.ignore.push_back({{"/spec/replicas"}, "flux-system/web", "apps", "Deployment", "", ""});
  EXPECT_EQ(
      MakeGuard().Decide(ScaleReview(3, 10, "jane@example.com"), Endpoint::kValidate).decision,
      "allow");
}

TEST_F(GuardTest, StatusSubresourceIsNeverGuarded) {
  Json old_obj = LiveDeployment();
  Json new_obj = old_obj;
  new_obj["spec"]["replicas"] = 1;
  GuardDecision d = MakeGuard().Decide(
      Review("UPDATE", old_obj, new_obj, "jane@example.com", {}, "admission.k8s.io/v1", "status"),
      Endpoint::kValidate);
  EXPECT_EQ(d.decision, "unguarded");
  EXPECT_EQ(d.reason, "subresource status is not guarded");
}

TEST_F(GuardTest, DryRunIsJudgedLikeARealRequest) {
  Json old_obj = LiveDeployment();
  Json new_obj = old_obj;
  new_obj["spec"]["replicas"] = 4;
  AdmissionRequest r = Review("UPDATE", old_obj, new_obj, "jane@example.com", {},
                              "admission.k8s.io/v1beta1", "", /*dry_run=*/true);
  ASSERT_TRUE(r.dry_run);
  GuardDecision d = MakeGuard().Decide(r, Endpoint::kValidate);
  EXPECT_EQ(d.decision, "deny");
  EXPECT_EQ(d.drift.size(), 1u);
}

TEST_F(GuardTest, WithoutGitStateEnforceStillDeniesAndRevertRestoresLiveValues) {
  store_.Register({"flux-system", "pending"});
  Json old_obj = {
      {"apiVersion", "v1"},
      {"kind", "ConfigMap"},
      {"metadata", {{"name", "p"}, {"namespace", "shop"}, {"labels", FluxLabels("pending")}}},
      {"data", {{"k", "v"}}}};
  old_obj["metadata"]["labels"]["kustomize.toolkit.fluxcd.io/name"] = "pending";
  Json new_obj = old_obj;
  new_obj["data"]["k"] = "w";
  GuardDecision d = MakeGuard().Decide(Review("UPDATE", old_obj, new_obj), Endpoint::kValidate);
  EXPECT_EQ(d.decision, "deny");
  EXPECT_EQ(d.response.status->message,
            "driftguard: ConfigMap shop/p is managed by Git through Kustomization "
            "flux-system/pending, so this change was denied:\n"
            "  data.k: \"v\" → \"w\" (Git state not loaded: first render pending)\n"
            "To change it, edit Git and let Kustomization flux-system/pending apply the change, "
            "or first run `flux suspend kustomization pending -n flux-system` (or use the "
            "break-glass group platform:break-glass).");
  config_.default_mode = GuardMode::kRevert;
  GuardDecision m = MakeGuard().Decide(Review("UPDATE", old_obj, new_obj), Endpoint::kMutate);
  EXPECT_EQ(m.decision, "revert");
  EXPECT_EQ(m.response.patch,
            Json::parse(R"([{"op": "replace", "path": "/data/k", "value": "v"}])"));
  // A Kustomization driftguard has never heard of is named as such.
  old_obj["metadata"]["labels"]["kustomize.toolkit.fluxcd.io/name"] = "ghost";
  new_obj["metadata"]["labels"]["kustomize.toolkit.fluxcd.io/name"] = "ghost";
  config_.default_mode = GuardMode::kEnforce;
  d = MakeGuard().Decide(Review("UPDATE", old_obj, new_obj), Endpoint::kValidate);
  EXPECT_EQ(d.drift.size(), 1u);
  EXPECT_NE(d.response.status->message.find(
                "(Git state not loaded: Kustomization flux-system/ghost is not known to "
                "driftguard)"),
            std::string::npos);
}

TEST_F(GuardTest, CustomResourceListsCompareWhole) {
  Json old_obj = Json::parse(R"({"apiVersion": "example.com/v1", "kind": "Widget",
      "metadata": {"name": "w1", "namespace": "shop"},
      "spec": {"color": "blue", "sizes": [1, 2, 3]}})");
  old_obj["metadata"]["labels"] = FluxLabels("web");
  Json new_obj = old_obj;
  new_obj["spec"]["sizes"] = {3, 2, 1};
  GuardDecision d = MakeGuard().Decide(Review("UPDATE", old_obj, new_obj), Endpoint::kValidate);
  EXPECT_EQ(d.decision, "deny");
  ASSERT_EQ(d.drift.size(), 1u);
  EXPECT_EQ(d.drift[0].path, "spec.sizes");
  EXPECT_EQ(*d.drift[0].git, Json::parse("[1,2,3]"));
  EXPECT_EQ(d.drift[0].origin, (core::FieldOrigin{"apps/web/base/widget.yaml", 8}));
}

TEST_F(GuardTest, ServicePortChangeIsKeyedByPortAndProtocol) {
  Json old_obj = Json::parse(R"({"apiVersion": "v1", "kind": "Service",
      "metadata": {"name": "web", "namespace": "shop"},
      "spec": {"selector": {"app": "web"}, "clusterIP": "10.0.0.12",
               "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}]}})");
  old_obj["metadata"]["labels"] = FluxLabels("web");
  Json new_obj = old_obj;
  new_obj["spec"]["ports"][0]["targetPort"] = 9090;
  GuardDecision d = MakeGuard().Decide(Review("UPDATE", old_obj, new_obj), Endpoint::kValidate);
  ASSERT_EQ(d.drift.size(), 1u);
  EXPECT_EQ(d.drift[0].path, "spec.ports[port=80,protocol=TCP].targetPort");
  EXPECT_EQ(*d.drift[0].git, 8080);
  EXPECT_EQ(d.drift[0].origin, (core::FieldOrigin{"apps/web/base/service.yaml", 1}));
}

TEST_F(GuardTest, FluxSuspendAndReconcileRequestsPassOnFluxObjects) {
  Json old_obj = KustomizationObject("apps");
  old_obj["metadata"].erase("annotations");
  old_obj["metadata"]["labels"] = FluxLabels("web");
  Json new_obj = old_obj;
  new_obj["spec"]["suspend"] = true;  // flux suspend kustomization apps
  new_obj["metadata"]["annotations"]["reconcile.fluxcd.io/requestedAt"] = "2026-11-25T10:00:00Z";
  Guard guard = MakeGuard();
  EXPECT_EQ(guard.Decide(Review("UPDATE", old_obj, new_obj), Endpoint::kValidate).decision,
            "allow");
  new_obj["spec"]["path"] = "./apps/elsewhere";
  GuardDecision d = guard.Decide(Review("UPDATE", old_obj, new_obj), Endpoint::kValidate);
  EXPECT_EQ(d.decision, "deny");
  ASSERT_EQ(d.drift.size(), 1u);
  EXPECT_EQ(d.drift[0].path, "spec.path");
}

TEST_F(GuardTest, KustomizationIgnoreAnnotationAddsIgnoredPaths) {
  std::vector<core::DesiredObject> objects;
  objects.push_back(Desired(DesiredDeployment(), {}));
  Publish(store_, "web",
          KustomizationObject("web",
                              {{"driftguard.io/ignore", "/spec/replicas, /metadata/labels/owner"}}),
          std::move(objects));
  Json old_obj = LiveDeployment();
  Json new_obj = old_obj;
  new_obj["spec"]["replicas"] = 6;
  new_obj["metadata"]["labels"]["owner"] = "jane";
  EXPECT_EQ(MakeGuard().Decide(Review("UPDATE", old_obj, new_obj), Endpoint::kValidate).decision,
            "allow");
}

TEST_F(GuardTest, CreateIsJudgedAgainstDeclaredFieldsOnly) {
  Json obj = LiveDeployment();
  obj["metadata"].erase("resourceVersion");
  Guard guard = MakeGuard();
  EXPECT_EQ(guard.Decide(Review("CREATE", Json(), obj), Endpoint::kValidate).decision, "allow");
  obj["spec"]["replicas"] = 1;
  GuardDecision d = guard.Decide(Review("CREATE", Json(), obj), Endpoint::kValidate);
  EXPECT_EQ(d.decision, "deny");
  ASSERT_EQ(d.drift.size(), 1u);
  EXPECT_EQ(d.drift[0].path, "spec.replicas");
}

TEST(FormatValueTest, ShortensLongValues) {
  EXPECT_EQ(FormatValue(std::nullopt), "<none>");
  EXPECT_EQ(FormatValue(Json("x")), "\"x\"");
  EXPECT_EQ(FormatValue(Json(3)), "3");
  EXPECT_EQ(FormatValue(Json::parse(R"({"a":[1,2]})")), "{\"a\":[1,2]}");
  std::string long_text(100, 'a');
  EXPECT_EQ(FormatValue(Json(long_text)), "\"" + std::string(79, 'a') + "…");
  EXPECT_EQ(FormatValue(Json::parse(R"({"b":-7,"a":[true,null,1.5,18446744073709551615]})")),
            R"({"a":[true,null,1.5,18446744073709551615],"b":-7})");
  EXPECT_EQ(FormatValue(Json("tab\tquote\"ctl\x01é")), R"("tab\tquote\"ctl\u0001é")");
  EXPECT_EQ(FormatValue(Json(std::string("bad\xff"))), "\"bad\xef\xbf\xbd\"");
}

// FormatValue writes what nlohmann's dump writes, for every value in the captured reviews.
TEST(FormatValueTest, MatchesNlohmannOnEveryFixtureValue) {
  size_t values = 0;
  std::vector<std::filesystem::path> files;
  for (const std::string& dir : {std::string(DRIFTGUARD_TESTDATA_DIR) + "/admission",
                                 std::string(DRIFTGUARD_SHARED_DIR) + "/admission-samples"}) {
    for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
      if (entry.path().extension() == ".json") files.push_back(entry.path());
    }
  }
  ASSERT_FALSE(files.empty());
  for (const std::filesystem::path& file : files) {
    auto doc = core::ParseJson(testing::ReadFile(file), file.string());
    ASSERT_TRUE(doc.ok()) << doc.status();
    std::vector<const Json*> stack{&*doc};
    while (!stack.empty()) {
      const Json* v = stack.back();
      stack.pop_back();
      std::string want = v->dump(-1, ' ', false, Json::error_handler_t::replace);
      if (want.size() > 80) {
        size_t cut = 80;
        while (cut > 0 && (static_cast<unsigned char>(want[cut]) & 0xC0) == 0x80) --cut;
        want = want.substr(0, cut) + "…";
      }
      EXPECT_EQ(FormatValue(*v), want) << file;
      ++values;
      if (v->is_structured()) {
        for (const Json& child : *v) stack.push_back(&child);
      }
    }
  }
  EXPECT_GT(values, 1000u);
}

}  // namespace
}  // namespace driftguard::webhook
