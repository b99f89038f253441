// The admission webhook against a real cluster, driven by real kubectl. Runs only when
// DRIFTGUARD_E2E_KUBECONFIG names a kubeconfig of a cluster whose API server can reach this host's
// 127.0.0.1 (a local control plane); otherwise every test skips with a message.
//
// The suite serves a Git repository of its own (file://), renders it into the guard's desired
// state, applies the rendered objects into a throwaway namespace, registers a
// ValidatingWebhookConfiguration scoped to that namespace (by namespaceSelector) and pointing at
// the in-process webhook, then runs kubectl edit/patch/apply/scale/label/annotate/rollout
// restart/delete/--dry-run=server/--as and asserts kubectl's exit code and what it prints. It
// deletes the webhook configuration before the namespace, so a failed run never leaves a webhook
// behind that could block anything else.
#include <gtest/gtest.h>

#include <cstdlib>
#include <random>

#include "certs/ca_bundle.h"
#include "certs/generate.h"
#include "core/flux_config.h"
#include "reconciler/git_local.h"
#include "reconciler/source_sync.h"
#include "tests/support/test_util.h"
#include "webhook/guard.h"
#include "webhook/server.h"

namespace driftguard {
namespace {

using testing::CommandResult;
using testing::RunCommand;
using testing::TempDir;
using testing::WriteFile;

std::string Kubeconfig() {
  const char* path = std::getenv("DRIFTGUARD_E2E_KUBECONFIG");
  return path == nullptr ? "" : path;
}

class WebhookE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (Kubeconfig().empty()) return;
    std::random_device rd;
    ns_ = new std::string("driftguard-e2e-wh-" + std::to_string(rd() % 1000000));
    ks_ = new std::string("e2e-" + std::to_string(rd() % 1000000));
    tmp_ = new TempDir();
    const std::filesystem::path src = tmp_->path() / "src";
    WriteFile(src / "apps/kustomization.yaml", "resources:\n  - settings.yaml\n  - web.yaml\n");
    WriteFile(src / "apps/settings.yaml",
              "apiVersion: v1\nkind: ConfigMap\nmetadata:\n"
              "  name: settings\n  namespace: " +
                  *ns_ + "\ndata:\n  mode: safe\n");
    WriteFile(
        src / "apps/web.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: " + *ns_ +
            "\nspec:\n  replicas: 2\n  selector:\n    matchLabels:\n      app: web\n"
            "  template:\n    metadata:\n      labels:\n        app: web\n    spec:\n"
            "      containers:\n        - name: web\n          image: "
            "registry.k8s.io/pause:3.9\n");
    auto commit = reconciler::CommitDirectory(src, tmp_->path() / "repo", "main", "e2e");
    ASSERT_TRUE(commit.ok()) << commit.status();
    short_commit_ = new std::string(commit->substr(0, 7));

    const std::string config_text =
        "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: e2e\n"
        "  namespace: flux-system\nspec:\n  interval: 1m\n  url: file://" +
        (tmp_->path() / "repo").string() +
        "\n  ref:\n    branch: main\n---\napiVersion: kustomize.toolkit.fluxcd.io/v1\n"
        "kind: Kustomization\nmetadata:\n  name: " +
        *ks_ +
        "\n  namespace: flux-system\nspec:\n  interval: 10m\n  path: ./apps\n  sourceRef:\n"
        "    kind: GitRepository\n    name: e2e\n";
    auto config = core::ParseFluxConfig(config_text, "e2e-config.yaml");
    ASSERT_TRUE(config.ok()) << config.status();
    store_ = new core::DesiredStateStore();
    reconciler::SourceSyncOptions sync_options;
    sync_options.cache_dir = tmp_->path() / "cache";
    reconciler::SourceSync sync(sync_options, *config, store_, nullptr);
    ASSERT_TRUE(sync.SyncOnce().ok());

    webhook::GuardConfig guard_config;
    guard_config.exempt_service_accounts = {*ns_ + ":deployer"};
    guard_config.break_glass_groups = {"e2e:break-glass"};
    guard_ = new webhook::Guard(guard_config, store_, nullptr);

    certs::GenerateOptions cert_options;
    cert_options.extra_ip_addresses = {"127.0.0.1"};
    certs::SystemClock clock;
    auto material = certs::Generate(cert_options, clock);
    ASSERT_TRUE(material.ok()) << material.status();
    ASSERT_TRUE(certs::WriteMaterial(*material, (tmp_->path() / "certs").string()).ok());
    webhook::WebhookServerOptions server_options;
    server_options.bind_address = "127.0.0.1";
    server_options.secure_port = 0;
    server_options.metrics_bind_address = "";
    server_options.tls_cert_file = (tmp_->path() / "certs/tls.crt").string();
    server_options.tls_key_file = (tmp_->path() / "certs/tls.key").string();
    server_ = new webhook::WebhookServer(server_options, guard_, {});
    ASSERT_TRUE(server_->Start().ok());

    // The objects as Flux would have applied them (rendered, with the owner labels).
    std::string rendered;
    auto view = store_->Current();
    for (const auto& obj : view->Find({"flux-system", *ks_})->snapshot->objects()) {
      rendered += "---\n" + obj.object.dump() + "\n";
    }
    WriteFile(tmp_->path() / "rendered.yaml", rendered);
    ASSERT_EQ(Kubectl("create namespace " + *ns_).exit_code, 0);
    ASSERT_EQ(Kubectl("apply -f " + (tmp_->path() / "rendered.yaml").string()).exit_code, 0);

    const std::string ca_bundle = certs::Base64Encode(material->ca_cert_pem);
    const std::string url = "https://127.0.0.1:" + std::to_string(server_->secure_port());
    const std::string selector =
        "{\"matchLabels\":{\"kubernetes.io/metadata.name\":\"" + *ns_ + "\"}}";
    const std::string webhook_config =
        "{\"apiVersion\":\"admissionregistration.k8s.io/v1\","
        "\"kind\":\"ValidatingWebhookConfiguration\",\"metadata\":{\"name\":\"" +
        *ns_ +
        "\"},"
        "\"webhooks\":[{\"name\":\"validate.driftguard.io\",\"admissionReviewVersions\":[\"v1\","
        "\"v1beta1\"],\"sideEffects\":\"NoneOnDryRun\",\"failurePolicy\":\"Fail\","
        "\"timeoutSeconds\":5,\"matchPolicy\":\"Equivalent\",\"clientConfig\":{\"url\":\"" +
        url + "/validate\",\"caBundle\":\"" + ca_bundle + "\"},\"namespaceSelector\":" + selector +
        ",\"objectSelector\":{\"matchExpressions\":[{\"key\":\"kustomize.toolkit.fluxcd.io/name\","
        "\"operator\":\"Exists\"}]},\"rules\":[{\"operations\":[\"UPDATE\",\"DELETE\"],"
        "\"apiGroups\":[\"*\"],\"apiVersions\":[\"*\"],\"resources\":[\"*\"]}]},"
        "{\"name\":\"scale.driftguard.io\",\"admissionReviewVersions\":[\"v1\"],\"sideEffects\":"
        "\"NoneOnDryRun\",\"failurePolicy\":\"Fail\",\"timeoutSeconds\":5,\"clientConfig\":"
        "{\"url\":\"" +
        url + "/validate\",\"caBundle\":\"" + ca_bundle + "\"},\"namespaceSelector\":" + selector +
        ",\"rules\":[{\"operations\":[\"UPDATE\"],\"apiGroups\":[\"apps\"],\"apiVersions\":"
        "[\"v1\"],\"resources\":[\"deployments/scale\"]}]}]}";
    WriteFile(tmp_->path() / "webhook.json", webhook_config);
    ASSERT_EQ(Kubectl("apply -f " + (tmp_->path() / "webhook.json").string()).exit_code, 0);
    // Wait (bounded) until the API server calls the webhook.
    for (int i = 0; i < 60; ++i) {
      if (Kubectl("label configmap settings -n " + *ns_ + " probe=1 --dry-run=server").exit_code !=
          0) {
        break;
      }
      RunCommand("sleep 0.5");
    }
  }

  static void TearDownTestSuite() {
    if (ns_ == nullptr) return;
    Kubectl("delete validatingwebhookconfiguration " + *ns_ + " --ignore-not-found");
    Kubectl("delete namespace " + *ns_ + " --ignore-not-found --wait=false");
    if (server_ != nullptr) server_->Stop();
    delete server_;
    delete guard_;
    delete store_;
    delete tmp_;
    delete ns_;
    delete ks_;
    delete short_commit_;
  }

  void SetUp() override {
    if (Kubeconfig().empty()) {
      GTEST_SKIP() << "DRIFTGUARD_E2E_KUBECONFIG is not set; set it to a kubeconfig of a cluster "
                      "whose API server can reach 127.0.0.1 to run the webhook e2e tests";
    }
    ASSERT_NE(server_, nullptr) << "suite set-up failed";
  }

  // Runs kubectl with the e2e kubeconfig; stdout and stderr together.
  static CommandResult Kubectl(const std::string& args, const std::string& env = "") {
    return RunCommand(env + " kubectl --kubeconfig " + Kubeconfig() + " " + args + " 2>&1");
  }

  static std::string Denial(const std::string& object) {
    return "admission webhook \"validate.driftguard.io\" denied the request: driftguard: " +
           object + " is managed by Git through Kustomization flux-system/" + *ks_;
  }

  static std::string* ns_;
  static std::string* ks_;
  static std::string* short_commit_;
  static TempDir* tmp_;
  static core::DesiredStateStore* store_;
  static webhook::Guard* guard_;
  static webhook::WebhookServer* server_;
};

std::string* WebhookE2eTest::ns_ = nullptr;
std::string* WebhookE2eTest::ks_ = nullptr;
std::string* WebhookE2eTest::short_commit_ = nullptr;
TempDir* WebhookE2eTest::tmp_ = nullptr;
core::DesiredStateStore* WebhookE2eTest::store_ = nullptr;
webhook::Guard* WebhookE2eTest::guard_ = nullptr;
webhook::WebhookServer* WebhookE2eTest::server_ = nullptr;

TEST_F(WebhookE2eTest, PatchIsDeniedNamingGitFileLineAndCommit) {
  CommandResult r =
      Kubectl("patch configmap settings -n " + *ns_ + " -p '{\"data\":{\"mode\":\"fast\"}}'");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(
      r.output.find("Error from server (Forbidden): " + Denial("ConfigMap " + *ns_ + "/settings")),
      std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("data.mode: \"safe\" → \"fast\" (git: \"safe\", declared in "
                          "apps/settings.yaml:7 @ " +
                          *short_commit_ + ")"),
            std::string::npos)
      << r.output;
}

TEST_F(WebhookE2eTest, EditApplyLabelAnnotateAreDenied) {
  CommandResult edit =
      Kubectl("edit configmap settings -n " + *ns_, "EDITOR='sed -i s/safe/fast/'");
  EXPECT_EQ(edit.exit_code, 1) << edit.output;
  EXPECT_NE(edit.output.find(Denial("ConfigMap " + *ns_ + "/settings")), std::string::npos)
      << edit.output;

  WriteFile(tmp_->path() / "changed.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: " + *ns_ +
                "\ndata:\n  mode: turbo\n");
  CommandResult apply = Kubectl("apply -f " + (tmp_->path() / "changed.yaml").string());
  EXPECT_EQ(apply.exit_code, 1) << apply.output;
  EXPECT_NE(apply.output.find("data.mode: \"safe\" → \"turbo\""), std::string::npos)
      << apply.output;

  CommandResult label = Kubectl("label deployment web -n " + *ns_ + " tier=gold");
  EXPECT_EQ(label.exit_code, 1) << label.output;
  EXPECT_NE(label.output.find("metadata.labels.tier: <none> → \"gold\" (not declared in Git)"),
            std::string::npos)
      << label.output;

  CommandResult annotate = Kubectl("annotate deployment web -n " + *ns_ + " note=hotfix");
  EXPECT_EQ(annotate.exit_code, 1) << annotate.output;
  EXPECT_NE(annotate.output.find("metadata.annotations.note: <none> → \"hotfix\""),
            std::string::npos)
      << annotate.output;
}

TEST_F(WebhookE2eTest, ScaleIsDeniedThroughTheScaleSubresource) {
  CommandResult r = Kubectl("scale deployment web -n " + *ns_ + " --replicas=5");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("spec.replicas: 2 → 5 (git: 2, declared in apps/web.yaml:7 @ " +
                          *short_commit_ + ")"),
            std::string::npos)
      << r.output;
}

TEST_F(WebhookE2eTest, RolloutRestartPasses) {
  CommandResult r = Kubectl("rollout restart deployment/web -n " + *ns_);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("deployment.apps/web restarted"), std::string::npos) << r.output;
}

TEST_F(WebhookE2eTest, DeleteAndServerDryRunAreDenied) {
  CommandResult del = Kubectl("delete configmap settings -n " + *ns_);
  EXPECT_EQ(del.exit_code, 1) << del.output;
  EXPECT_NE(del.output.find("so it cannot be deleted by hand"), std::string::npos) << del.output;
  CommandResult dry = Kubectl("patch configmap settings -n " + *ns_ +
                              " -p '{\"data\":{\"mode\":\"x\"}}' --dry-run=server");
  EXPECT_EQ(dry.exit_code, 1) << dry.output;
  EXPECT_NE(dry.output.find("data.mode: \"safe\" → \"x\""), std::string::npos) << dry.output;
}

TEST_F(WebhookE2eTest, ExemptServiceAccountAndBreakGlassPass) {
  CommandResult exempt = Kubectl("label configmap settings -n " + *ns_ +
                                 " owner=ci --as=system:serviceaccount:" + *ns_ +
                                 ":deployer --as-group=system:masters");
  EXPECT_EQ(exempt.exit_code, 0) << exempt.output;
  CommandResult glass = Kubectl("label configmap settings -n " + *ns_ +
                                " incident=42 --as=oncall --as-group=system:masters "
                                "--as-group=e2e:break-glass");
  EXPECT_EQ(glass.exit_code, 0) << glass.output;
  EXPECT_NE(glass.output.find("Warning: driftguard: break-glass (e2e:break-glass): "
                              "metadata.labels.incident: <none> → \"42\" (not declared in Git)"),
            std::string::npos)
      << glass.output;
}

}  // namespace
}  // namespace driftguard
