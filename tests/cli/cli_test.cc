// Runs the built driftguard binary and checks its exact output and exit codes.
// Adding a subcommand adds a line to kRootHelp below.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "core/json.h"
#include "tests/support/fake_apiserver.h"
#include "tests/support/test_util.h"

namespace driftguard {
namespace {

using ::driftguard::testing::ReadFile;
using ::driftguard::testing::RunCommand;
using ::driftguard::testing::TempDir;

struct Result {
  int exit_code = -1;
  std::string out;
  std::string err;
};

std::string ShellQuote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

Result RunDriftguard(const std::vector<std::string>& args) {
  TempDir dir;
  std::string command = ShellQuote(DRIFTGUARD_BINARY);
  for (const std::string& a : args) command += " " + ShellQuote(a);
  const std::string out = (dir.path() / "out").string();
  const std::string err = (dir.path() / "err").string();
  command += " >" + ShellQuote(out) + " 2>" + ShellQuote(err);
  Result r;
  r.exit_code = RunCommand(command).exit_code;
  r.out = ReadFile(out);
  r.err = ReadFile(err);
  return r;
}

constexpr char kGlobalFlags[] =
    "  --log-format string   Log output: text|json (default: \"text\")\n"
    "  --log-level string    Least severe level logged: "
    "trace|debug|info|warn|error|critical|off (default: \"info\")\n"
    "  --validate-config     Check the options, print \"configuration OK\" and exit (default: "
    "false)\n";

const std::string kRootHelp =
    std::string(
        "driftguard keeps a Kubernetes cluster equal to what Git "
        "declares.\n"
        "\n"
        "Usage:\n"
        "  driftguard [flags] <command>\n"
        "\n"
        "Commands:\n"
        "  certs       Generate or inspect the webhook's CA and serving "
        "certificate\n"
        "  demo        Serve examples/ from a local Git repository, start "
        "the webhook and replay a scripted kubectl session against it\n"
        "  diff        Print per-field differences between a rendered "
        "directory and live objects, or between Git and a cluster\n"
        "  reconcile   Apply every Kustomization of --config to a cluster "
        "once, prune what left Git, and exit\n"
        "  render      Render a directory like `kubectl kustomize` (plus "
        "Flux post-build)\n"
        "  run         Run driftguard: webhook, source sync, and (with a "
        "cluster, when leader) the reconciler and certificate rotation\n"
        "  version     Print the version and the Git commit it was built "
        "from\n"
        "  webhook     Serve the admission webhook over HTTPS, keeping the "
        "desired state in sync with Git\n"
        "\n"
        "Flags:\n") +
    kGlobalFlags +
    "  -h, --help            Show this help\n"
    "\n"
    "Run 'driftguard <command> --help' for a command's flags.\n"
    "Every flag can also be set in the environment: --log-level is DRIFTGUARD_LOG_LEVEL (the "
    "command line wins).\n";

const std::string kVersionLine = std::string("driftguard ") + DRIFTGUARD_EXPECTED_VERSION +
                                 " (commit " + DRIFTGUARD_EXPECTED_COMMIT + ")\n";

TEST(CliTest, HelpListsSubcommandsAndGlobalFlags) {
  for (const char* flag : {"--help", "-h"}) {
    const Result r = RunDriftguard({flag});
    EXPECT_EQ(r.exit_code, 0) << flag;
    EXPECT_EQ(r.out, kRootHelp) << flag;
    EXPECT_EQ(r.err, "") << flag;
  }
}

TEST(CliTest, NoSubcommandPrintsHelpToStderrAndFails) {
  const Result r = RunDriftguard({});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, kRootHelp);
}

TEST(CliTest, Version) {
  const Result r = RunDriftguard({"version"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, kVersionLine);
  EXPECT_THAT(r.out, ::testing::MatchesRegex("driftguard [0-9]+\\.[0-9]+\\.[0-9]+ \\(commit "
                                             "([0-9a-f]{12}|unknown)\\)\n"));
  EXPECT_EQ(r.err, "");
  // Global flags work before and after the subcommand and do not change the output.
  EXPECT_EQ(RunDriftguard({"--log-format", "json", "version", "--log-level=debug"}).out,
            kVersionLine);
}

TEST(CliTest, SubcommandHelp) {
  const Result r = RunDriftguard({"version", "--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, std::string("Print the version and the Git commit it was built from\n"
                               "\n"
                               "Usage:\n"
                               "  driftguard version [flags]\n"
                               "\n"
                               "Flags:\n"
                               "  -h, --help            Show this help\n"
                               "\n"
                               "Global flags:\n") +
                       kGlobalFlags);
  EXPECT_EQ(r.err, "");
}

TEST(CliTest, UsageErrorsExitTwoAndNameTheProblem) {
  struct Case {
    std::vector<std::string> args;
    std::string err;
  };
  const std::vector<Case> cases = {
      {{"version", "--foo"}, "driftguard: unknown flag --foo for 'driftguard version'\n"},
      {{"--foo"}, "driftguard: unknown flag --foo for 'driftguard'\n"},
      {{"--log-level"}, "driftguard: flag --log-level for 'driftguard' needs a value\n"},
      {{"deploy"}, "driftguard: unknown command \"deploy\" for 'driftguard'\n"},
      {{"version", "extra"}, "driftguard: 'driftguard version' takes no arguments, got 1\n"},
      {{"--validate-config=maybe"},
       "driftguard: invalid value \"maybe\" for flag --validate-config for 'driftguard': not a "
       "boolean (true, false, 1, 0)\n"},
  };
  for (const Case& c : cases) {
    const Result r = RunDriftguard(c.args);
    EXPECT_EQ(r.exit_code, 2) << c.args[0];
    EXPECT_EQ(r.out, "") << c.args[0];
    EXPECT_EQ(r.err, c.err + "Run 'driftguard --help' for usage.\n") << c.args[0];
  }
}

TEST(CliTest, ValidateConfig) {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"--validate-config"},
           {"--validate-config", "--log-format=json", "--log-level", "warn"},
           {"version", "--validate-config"}}) {
    const Result r = RunDriftguard(args);
    EXPECT_EQ(r.exit_code, 0) << args.size();
    EXPECT_EQ(r.out, "configuration OK\n") << args.size();
    EXPECT_EQ(r.err, "") << args.size();
  }
}

TEST(CliTest, InvalidConfigExitsTwoWithTheStatusMessage) {
  const Result bad_format = RunDriftguard({"--validate-config", "--log-format", "xml"});
  EXPECT_EQ(bad_format.exit_code, 2);
  EXPECT_EQ(bad_format.out, "");
  EXPECT_EQ(bad_format.err, "driftguard: log format \"xml\" is not one of: text, json\n");

  const Result bad_level = RunDriftguard({"--validate-config", "--log-level=verbose"});
  EXPECT_EQ(bad_level.exit_code, 2);
  EXPECT_EQ(bad_level.err,
            "driftguard: log level \"verbose\" is not one of: trace, debug, info, warn, error, "
            "critical, off\n");

  // Options are validated before any subcommand runs, with or without --validate-config.
  const Result run = RunDriftguard({"--log-format=xml", "version"});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_EQ(run.out, "");
  EXPECT_EQ(run.err, "driftguard: log format \"xml\" is not one of: text, json\n");
}

// The whole demo: local Git repository, `driftguard run` in a child process (source sync, TLS
// webhook), the scripted session over HTTPS, metrics, then SIGTERM and a clean exit.
TEST(CliTest, DemoReplaysTheScriptedSession) {
  const Result r = RunDriftguard({"demo"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, ::testing::HasSubstr("$ kubectl scale deployment web -n shop --replicas=5\n"
                                          "  Error from server (Forbidden): admission webhook "
                                          "\"validate.driftguard.io\" denied the request:\n"));
  EXPECT_THAT(r.out, ::testing::HasSubstr("      spec.replicas: 3 → 5 (git: 3, declared in "
                                          "apps/web/production/kustomization.yaml:9 @ "));
  EXPECT_THAT(r.out, ::testing::HasSubstr("  mutating webhook patch: "
                                          "[{\"op\":\"replace\",\"path\":\"/spec/"
                                          "replicas\",\"value\":1}]\n"));
  EXPECT_THAT(r.out, ::testing::HasSubstr("== 10 requests: 6 denied, 1 reverted, 3 allowed\n"));
  EXPECT_THAT(r.out, ::testing::HasSubstr("driftguard_break_glass_total{kustomization=\"flux-"
                                          "system/web\"} 1\n"));
  EXPECT_THAT(r.out, ::testing::HasSubstr("== SIGTERM: driftguard run finished its in-flight "
                                          "reviews and exited 0\n"));
}

// `run` without a cluster needs --config, and its options are validated before anything starts.
TEST(CliTest, RunWithoutAClusterNeedsAConfig) {
  const Result none = RunDriftguard(
      {"run", "--kubeconfig=", "--tls-cert-file=/x/tls.crt", "--tls-private-key-file=/x/tls.key"});
  EXPECT_EQ(none.exit_code, 1);
  EXPECT_THAT(none.err, ::testing::HasSubstr("driftguard run failed: INVALID_ARGUMENT: --config is "
                                             "required without a cluster (no --kubeconfig, not "
                                             "running in a pod)"));
  const Result mode = RunDriftguard({"run", "--mode=both", "--validate-config"});
  EXPECT_EQ(mode.exit_code, 2);
  EXPECT_EQ(mode.err, "driftguard: --mode must be full or guard, got \"both\"\n");
}

// `render` prints what `kubectl kustomize` prints for the examples overlay (same objects, order).
TEST(CliTest, RenderMatchesKubectlOnTheExamples) {
  const std::string dir = std::string(DRIFTGUARD_SOURCE_DIR) + "/examples/apps/web/production";
  const Result ours = RunDriftguard({"render", dir});
  ASSERT_EQ(ours.exit_code, 0) << ours.err;
  auto kubectl = RunCommand("kubectl kustomize " + ShellQuote(dir));
  ASSERT_EQ(kubectl.exit_code, 0);
  // Byte equality is stricter than the conformance suite's semantic comparison; the examples use
  // nothing whose quoting differs between the two emitters.
  EXPECT_EQ(ours.out, kubectl.output);
}

// `render --validate` checks every rendered object against the Kubernetes OpenAPI documents and
// fails, printing nothing on stdout, when one does not fit.
TEST(CliTest, RenderValidateChecksTheOpenApiSchemas) {
  const std::string examples = std::string(DRIFTGUARD_SOURCE_DIR) + "/examples/apps/web/production";
  const Result plain = RunDriftguard({"render", examples});
  const Result valid = RunDriftguard({"render", examples, "--validate"});
  EXPECT_EQ(valid.exit_code, 0) << valid.err;
  EXPECT_EQ(valid.out, plain.out);
  TempDir dir;
  ::driftguard::testing::WriteFile(dir.path() / "kustomization.yaml", "resources: [deploy.yaml]\n");
  ::driftguard::testing::WriteFile(dir.path() / "deploy.yaml", R"(apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - name: web
          image: web:1
          ports: [{containerPort: "x"}]
)");
  const Result bad = RunDriftguard(
      {"render", dir.path().string(), "--validate",
       "--openapi-dir=" + std::string(DRIFTGUARD_SOURCE_DIR) + "/../shared/k8s-openapi"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_EQ(bad.out, "");
  EXPECT_THAT(bad.err,
              ::testing::HasSubstr("Deployment/shop/web: spec.template.spec.containers[0].ports[0]."
                                   "containerPort: expected integer, got string \"x\"\n"));
  EXPECT_THAT(bad.err, ::testing::HasSubstr("1 schema violation(s)"));
  const Result missing =
      RunDriftguard({"render", dir.path().string(), "--validate", "--openapi-dir=/nonexistent"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.err, ::testing::HasSubstr("OpenAPI directory /nonexistent does not exist"));
}

// `certs generate`, then `certs inspect` on the directory, on a Secret manifest holding the same
// files, and as JSON.
TEST(CliTest, CertsInspectShowsSubjectSansIssuerValidityAndDaysLeft) {
  TempDir dir;
  const std::string tls = (dir.path() / "tls").string();
  const Result gen = RunDriftguard(
      {"certs", "generate", "--out-dir", tls, "--namespace", "ops", "--ip", "127.0.0.1"});
  ASSERT_EQ(gen.exit_code, 0) << gen.err;
  EXPECT_EQ(gen.out, "wrote ca.crt, ca.key, tls.crt, tls.key to " + tls + "\n");

  // One block per certificate; times and serials vary, everything else is exact.
  auto block = [](const std::string& file, const std::string& subject, const std::string& sans,
                  const std::string& days, const std::string& ca) {
    const std::string time = "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z";
    return file + "\n  subject:     " + subject + "\n  issuer:      CN=driftguard-ca\n" +
           "  SANs:        " + sans + "\n  not before:  " + time + "\n  not after:   " + time +
           "\n  days left:   " + days + "\n  serial:      [0-9A-F]+\n  CA:          " + ca + "\n";
  };
  const std::string certificates =
      block("ca\\.crt", "CN=driftguard-ca", "none", "1824", "yes") +
      block("tls\\.crt", "CN=driftguard\\.ops\\.svc",
            "DNS:driftguard, DNS:driftguard\\.ops, DNS:driftguard\\.ops\\.svc, "
            "DNS:driftguard\\.ops\\.svc\\.cluster\\.local, IP:127\\.0\\.0\\.1",
            "364", "no") +
      "tls\\.crt verifies against ca\\.crt: yes\n";
  const Result from_dir = RunDriftguard({"certs", "inspect", tls});
  ASSERT_EQ(from_dir.exit_code, 0) << from_dir.err;
  EXPECT_THAT(from_dir.out,
              ::testing::MatchesRegex(certificates + "tls\\.key matches tls\\.crt: yes\n"));

  // The same files as a Secret manifest (`kubectl get secret -o yaml`), base64 in data.
  auto b64 = [&](const std::string& file) {
    auto r = RunCommand("base64 -w0 " + ShellQuote(tls + "/" + file));
    EXPECT_EQ(r.exit_code, 0);
    return r.output;
  };
  const std::string secret = (dir.path() / "secret.yaml").string();
  ::driftguard::testing::WriteFile(secret,
                                   "apiVersion: v1\nkind: Secret\nmetadata:\n  name: "
                                   "driftguard-certs\ntype: kubernetes.io/tls\ndata:\n  ca.crt: " +
                                       b64("ca.crt") + "\n  tls.crt: " + b64("tls.crt") + "\n");
  const Result from_secret = RunDriftguard({"certs", "inspect", secret});
  ASSERT_EQ(from_secret.exit_code, 0) << from_secret.err;
  EXPECT_EQ(from_secret.out + "tls.key matches tls.crt: yes\n", from_dir.out);

  // One PEM file, under its own name.
  const Result one = RunDriftguard({"certs", "inspect", tls + "/tls.crt"});
  ASSERT_EQ(one.exit_code, 0) << one.err;
  EXPECT_EQ(from_dir.out.substr(from_dir.out.find("tls.crt\n")).substr(0, one.out.size()), one.out);

  const Result json = RunDriftguard({"certs", "inspect", tls, "--output", "json"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  EXPECT_THAT(json.out, ::testing::HasSubstr("\"chainVerified\": true"));
  EXPECT_THAT(json.out, ::testing::HasSubstr("\"keyMatches\": true"));
  EXPECT_THAT(json.out, ::testing::HasSubstr("\"daysLeft\": 364"));
  EXPECT_THAT(json.out, ::testing::HasSubstr("\"file\": \"tls.crt\""));

  TempDir empty;
  const Result none = RunDriftguard({"certs", "inspect", empty.path().string()});
  EXPECT_EQ(none.exit_code, 1);
  EXPECT_THAT(none.err, ::testing::HasSubstr(empty.path().string() + ": no ca.crt or tls.crt"));
  const Result bad_output = RunDriftguard({"certs", "inspect", tls, "--output", "xml"});
  EXPECT_EQ(bad_output.exit_code, 2);
  EXPECT_EQ(bad_output.err, "driftguard: --output \"xml\" is not one of: text, json\n");
}

// `reconcile --once` and `diff --kubeconfig` against the FakeApiServer test double (in this
// process, real HTTPS) and a real Git repository.
class ClusterCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    driftguard::testing::FakeApiServer::Options options;
    options.namespaces = {"default", "kube-system", "flux-system", "shop", "driftguard-system"};
    api_ = std::make_unique<driftguard::testing::FakeApiServer>(options);
    repo_ = tmp_.path() / "repo";
    Git("init -q -b main " + ShellQuote(repo_.string()));
    Git("-C " + ShellQuote(repo_.string()) + " config user.email test@example.com");
    Git("-C " + ShellQuote(repo_.string()) + " config user.name test");
    Write("apps/web/kustomization.yaml", "resources:\n  - configmap.yaml\n  - deployment.yaml\n");
    Write("apps/web/configmap.yaml",
          "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-config\ndata:\n  color: blue\n");
    Write("apps/web/deployment.yaml",
          "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 2\n"
          "  selector:\n    matchLabels:\n      app: web\n  template:\n    metadata:\n"
          "      labels:\n        app: web\n    spec:\n      containers:\n        - name: web\n"
          "          image: nginx:1.25\n");
    first_ = Commit();
    config_ = (tmp_.path() / "config.yaml").string();
    driftguard::testing::WriteFile(
        config_,
        "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: shop\n"
        "  namespace: flux-system\nspec:\n  interval: 1m\n  url: file://" +
            repo_.string() +
            "\n  ref:\n    branch: main\n---\napiVersion: kustomize.toolkit.fluxcd.io/v1\n"
            "kind: Kustomization\nmetadata:\n  name: web\n  namespace: flux-system\nspec:\n"
            "  interval: 10m\n  path: ./apps/web\n  prune: true\n  targetNamespace: shop\n"
            "  sourceRef:\n    kind: GitRepository\n    name: shop\n");
    kubeconfig_ = (tmp_.path() / "kubeconfig").string();
    driftguard::testing::WriteFile(
        kubeconfig_,
        "apiVersion: v1\nkind: Config\ncurrent-context: fake\nclusters:\n"
        "  - name: fake\n    cluster:\n      server: " +
            api_->url() + "\n      certificate-authority: " + api_->ca_file() +
            "\nusers:\n  - name: tester\n    user:\n      token: test-token\n"
            "contexts:\n  - name: fake\n    context:\n      cluster: fake\n"
            "      user: tester\n");
  }

  void Git(const std::string& args) {
    auto r = RunCommand("git " + args + " 2>&1");
    ASSERT_EQ(r.exit_code, 0) << args << ": " << r.output;
  }
  void Write(const std::string& path, const std::string& content) {
    driftguard::testing::WriteFile(repo_ / path, content);
  }
  std::string Commit() {
    Git("-C " + ShellQuote(repo_.string()) + " add -A");
    Git("-C " + ShellQuote(repo_.string()) + " commit -q -m change");
    std::string sha = RunCommand("git -C " + ShellQuote(repo_.string()) + " rev-parse HEAD").output;
    sha.erase(sha.find_last_not_of('\n') + 1);
    return sha;
  }
  Result Reconcile() {
    return RunDriftguard({"reconcile", "--once", "--config", config_, "--kubeconfig", kubeconfig_,
                          "--cache-dir", (tmp_.path() / "cache").string(), "--log-level=warn"});
  }
  Result Diff() {
    return RunDriftguard({"diff", "--kubeconfig", kubeconfig_, "--config", config_, "--cache-dir",
                          (tmp_.path() / "cache").string(), "--log-level=warn"});
  }

  TempDir tmp_;
  std::unique_ptr<driftguard::testing::FakeApiServer> api_;
  std::filesystem::path repo_;
  std::string first_;
  std::string config_;
  std::string kubeconfig_;
};

TEST_F(ClusterCliTest, ReconcileOnceTwicePrunesWhatLeftGitThroughTheConfigMapInventory) {
  const Result first = Reconcile();
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_EQ(first.out,
            "Kustomization flux-system/web: applied main@sha1:" + first_ +
                "\n  ConfigMap/shop/web-config created\n  Deployment/shop/web created\n");
  EXPECT_TRUE(api_->Object("v1", "ConfigMap", "shop", "web-config").has_value());
  const auto inventory = api_->Object("v1", "ConfigMap", "flux-system", "driftguard-inventory-web");
  ASSERT_TRUE(inventory.has_value());

  Write("apps/web/kustomization.yaml", "resources:\n  - deployment.yaml\n");
  const std::string second = Commit();
  const Result again = Reconcile();
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(again.out, "Kustomization flux-system/web: applied main@sha1:" + second +
                           "\n  ConfigMap/shop/web-config deleted\n");
  EXPECT_FALSE(api_->Object("v1", "ConfigMap", "shop", "web-config").has_value());
  EXPECT_TRUE(api_->Object("apps/v1", "Deployment", "shop", "web").has_value());
}

TEST_F(ClusterCliTest, ReconcileOnceFailsNamingTheFailedKustomization) {
  std::string config = driftguard::testing::ReadFile(config_);
  config +=
      "---\napiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n"
      "  name: broken\n  namespace: flux-system\nspec:\n  interval: 10m\n"
      "  path: ./missing\n  sourceRef:\n    kind: GitRepository\n    name: shop\n";
  driftguard::testing::WriteFile(config_, config);
  const Result r = Reconcile();
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.out,
              ::testing::HasSubstr("Kustomization flux-system/broken: stalled (BuildFailed): "
                                   "Kustomization flux-system/broken at main@sha1:" +
                                   first_ + ": "));
  // The healthy one is still applied.
  EXPECT_THAT(r.out, ::testing::HasSubstr(
                         "Kustomization flux-system/web: applied main@sha1:" + first_ + "\n"));
  EXPECT_THAT(r.err, ::testing::HasSubstr("1 Kustomization(s) failed: flux-system/broken"));
}

TEST_F(ClusterCliTest, DiffKubeconfigPrintsPerFieldDrift) {
  ASSERT_EQ(Reconcile().exit_code, 0);
  const Result clean = Diff();
  EXPECT_EQ(clean.exit_code, 0) << clean.err;
  EXPECT_EQ(clean.out, "Kustomization flux-system/web at main@sha1:" + first_ +
                           "\nno drift: 2 objects match Git\n");

  auto deployment = api_->Object("apps/v1", "Deployment", "shop", "web");
  ASSERT_TRUE(deployment.has_value());
  (*deployment)["spec"]["replicas"] = 5;
  api_->Put(*deployment);
  const Result drift = Diff();
  EXPECT_EQ(drift.exit_code, 1);
  EXPECT_EQ(drift.out, "Kustomization flux-system/web at main@sha1:" + first_ +
                           "\nDeployment/shop/web: spec.replicas: git 2, live 5 (declared in "
                           "apps/web/deployment.yaml:6)\n");
  EXPECT_THAT(drift.err, ::testing::HasSubstr("1 field(s) drift from Git"));
}

// `driftguard run` as a separate process, SIGTERM'd by the test.
class RunProcess {
 public:
  RunProcess(std::vector<std::string> args, const std::filesystem::path& log) : log_(log) {
    args.insert(args.begin(), DRIFTGUARD_BINARY);
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_ = fork();
    if (pid_ == 0) {
      const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      dup2(fd, 1);
      dup2(fd, 2);
      execv(DRIFTGUARD_BINARY, argv.data());
      _exit(127);
    }
  }
  ~RunProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  bool Running() {
    if (pid_ <= 0) return false;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      return false;
    }
    return true;
  }
  // SIGTERM and the exit code (generous bound; SIGKILL and -1 after it).
  int Terminate() {
    kill(pid_, SIGTERM);
    for (int i = 0; i < 600 && Running(); ++i) usleep(50'000);
    if (Running()) return -1;
    return exit_code_;
  }
  std::string Log() const {
    std::ifstream in(log_);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }

 private:
  std::filesystem::path log_;
  pid_t pid_ = -1;
  int exit_code_ = -1;
};

// Waits (generous bound, no timing assertion) until `done` holds.
bool WaitFor(const std::function<bool()>& done) {
  for (int i = 0; i < 1200; ++i) {
    if (done()) return true;
    usleep(50'000);
  }
  return done();
}

core::Json FluxObjectsGitRepository(const std::string& url) {
  return {{"apiVersion", "source.toolkit.fluxcd.io/v1"},
          {"kind", "GitRepository"},
          {"metadata", {{"name", "shop"}, {"namespace", "flux-system"}}},
          {"spec", {{"interval", "1m"}, {"url", url}, {"ref", {{"branch", "main"}}}}}};
}

core::Json FluxObjectsKustomization() {
  return {{"apiVersion", "kustomize.toolkit.fluxcd.io/v1"},
          {"kind", "Kustomization"},
          {"metadata", {{"name", "web"}, {"namespace", "flux-system"}}},
          {"spec",
           {{"interval", "10m"},
            {"path", "./apps/web"},
            {"prune", true},
            {"targetNamespace", "shop"},
            {"sourceRef", {{"kind", "GitRepository"}, {"name", "shop"}}}}}};
}

core::Json WebhookConfiguration(const std::string& kind, const std::string& name) {
  return {{"apiVersion", "admissionregistration.k8s.io/v1"},
          {"kind", kind},
          {"metadata", {{"name", name}}},
          {"webhooks",
           {{{"name", "guard.driftguard.io"},
             {"clientConfig",
              {{"service", {{"name", "driftguard"}, {"namespace", "driftguard-system"}}}}},
             {"admissionReviewVersions", {"v1"}},
             {"sideEffects", "None"}}}}};
}

// Full mode against a cluster: Flux objects read from the cluster, certificates created and
// injected, the Lease taken, the revision applied with Flux status, then SIGTERM releases the
// Lease and exits 0.
TEST_F(ClusterCliTest, RunInFullModeAppliesFromClusterObjectsAndReleasesTheLeaseOnSigterm) {
  api_->Put(FluxObjectsGitRepository("file://" + repo_.string()));
  api_->Put(FluxObjectsKustomization());
  api_->Put(WebhookConfiguration("ValidatingWebhookConfiguration", "driftguard-guard"));
  api_->Put(WebhookConfiguration("MutatingWebhookConfiguration", "driftguard-revert"));
  const auto certs = tmp_.path() / "certs";
  const auto ports = tmp_.path() / "ports";
  RunProcess run({"run", "--kubeconfig", kubeconfig_, "--manage-certificates", "--cert-dir",
                  certs.string(), "--namespace", "driftguard-system", "--bind-address", "127.0.0.1",
                  "--secure-port", "0", "--metrics-bind-address", "127.0.0.1:0", "--cache-dir",
                  (tmp_.path() / "cache").string(), "--port-file", ports.string()},
                 tmp_.path() / "run.log");
  const bool ready = WaitFor([&] {
    auto k = api_->Object("kustomize.toolkit.fluxcd.io/v1", "Kustomization", "flux-system", "web");
    return !run.Running() ||
           (std::filesystem::exists(ports) && k && k->contains("status") &&
            (*k)["status"].value("lastAppliedRevision", "") == "main@sha1:" + first_);
  });
  ASSERT_TRUE(ready && run.Running()) << run.Log();
  EXPECT_TRUE(api_->Object("v1", "ConfigMap", "shop", "web-config").has_value());
  auto deployment = api_->Object("apps/v1", "Deployment", "shop", "web");
  ASSERT_TRUE(deployment.has_value());
  EXPECT_EQ((*deployment)["metadata"]["labels"]["kustomize.toolkit.fluxcd.io/name"], "web");
  auto k = api_->Object("kustomize.toolkit.fluxcd.io/v1", "Kustomization", "flux-system", "web");
  EXPECT_EQ((*k)["status"]["inventory"]["entries"].size(), 2u);
  ASSERT_TRUE(WaitFor([&] {
    auto repo = api_->Object("source.toolkit.fluxcd.io/v1", "GitRepository", "flux-system", "shop");
    return repo && repo->contains("status");
  })) << run.Log();
  auto repo = api_->Object("source.toolkit.fluxcd.io/v1", "GitRepository", "flux-system", "shop");
  EXPECT_EQ((*repo)["status"]["artifact"]["revision"], "main@sha1:" + first_);
  EXPECT_EQ((*repo)["status"]["conditions"][0]["message"],
            "stored artifact for revision 'main@sha1:" + first_ + "'");

  // Certificates: the Secret holds them, the configurations carry the CA, the server serves them.
  auto secret = api_->Object("v1", "Secret", "driftguard-system", "driftguard-certs");
  ASSERT_TRUE(secret.has_value()) << run.Log();
  auto guard = api_->Object("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration", "",
                            "driftguard-guard");
  EXPECT_EQ((*guard)["webhooks"][0]["clientConfig"]["caBundle"], (*secret)["data"]["ca.crt"]);
  int secure_port = 0;
  {
    std::ifstream in(ports);
    in >> secure_port;
  }
  const auto readyz =
      RunCommand("curl -sS --cacert " + ShellQuote((certs / "ca.crt").string()) +
                 " --resolve driftguard.driftguard-system.svc:" + std::to_string(secure_port) +
                 ":127.0.0.1 https://"
                 "driftguard.driftguard-system.svc:" +
                 std::to_string(secure_port) + "/readyz");
  EXPECT_EQ(readyz.exit_code, 0) << readyz.output;
  EXPECT_EQ(readyz.output, "ok\n");

  auto lease = api_->Object("coordination.k8s.io/v1", "Lease", "driftguard-system", "driftguard");
  ASSERT_TRUE(lease.has_value());
  EXPECT_NE((*lease)["spec"].value("holderIdentity", ""), "");

  EXPECT_EQ(run.Terminate(), 0) << run.Log();
  lease = api_->Object("coordination.k8s.io/v1", "Lease", "driftguard-system", "driftguard");
  EXPECT_EQ((*lease)["spec"].value("holderIdentity", ""), "") << lease->dump();
  EXPECT_THAT(run.Log(), ::testing::HasSubstr("stopped"));
}

// Guard mode judges against the revision Flux last applied, not the branch head, and never
// applies anything.
TEST_F(ClusterCliTest, RunInGuardModeRendersTheRevisionFluxLastAppliedAndWritesNothing) {
  Write("apps/web/configmap.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-config\ndata:\n  color: green\n");
  const std::string head = Commit();
  api_->Put(FluxObjectsGitRepository("file://" + repo_.string()));
  core::Json k = FluxObjectsKustomization();
  k["status"] = {{"lastAppliedRevision", "main@sha1:" + first_}};
  api_->PutStatus(k);
  const auto ports = tmp_.path() / "ports";
  const std::string cert_dir = (tmp_.path() / "static-certs").string();
  ASSERT_EQ(
      RunDriftguard({"certs", "generate", "--out-dir", cert_dir, "--ip", "127.0.0.1"}).exit_code,
      0);
  RunProcess run({"run",
                  "--mode",
                  "guard",
                  "--kubeconfig",
                  kubeconfig_,
                  "--tls-cert-file",
                  cert_dir + "/tls.crt",
                  "--tls-private-key-file",
                  cert_dir + "/tls.key",
                  "--namespace",
                  "driftguard-system",
                  "--bind-address",
                  "127.0.0.1",
                  "--secure-port",
                  "0",
                  "--metrics-bind-address",
                  "127.0.0.1:0",
                  "--cache-dir",
                  (tmp_.path() / "cache").string(),
                  "--port-file",
                  ports.string()},
                 tmp_.path() / "run.log");
  const std::string pinned = "GitRepository flux-system/shop: revision main@sha1:" + first_;
  ASSERT_TRUE(
      WaitFor([&] { return !run.Running() || run.Log().find(pinned) != std::string::npos; }) &&
      run.Running())
      << run.Log();
  ASSERT_TRUE(WaitFor([&] { return std::filesystem::exists(ports); })) << run.Log();
  EXPECT_EQ(run.Log().find(head), std::string::npos) << run.Log();
  EXPECT_EQ(run.Terminate(), 0) << run.Log();
  EXPECT_FALSE(api_->Object("v1", "ConfigMap", "shop", "web-config").has_value());
  EXPECT_FALSE(api_->Object("coordination.k8s.io/v1", "Lease", "driftguard-system", "driftguard")
                   .has_value());
  auto after =
      api_->Object("kustomize.toolkit.fluxcd.io/v1", "Kustomization", "flux-system", "web");
  EXPECT_EQ((*after)["status"].dump(), "{\"lastAppliedRevision\":\"main@sha1:" + first_ + "\"}");
}

}  // namespace
}  // namespace driftguard
