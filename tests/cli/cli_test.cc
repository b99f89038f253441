// Runs the built driftguard binary and checks its exact output and exit codes.
// Adding a subcommand adds a line to kRootHelp below.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

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

const std::string kRootHelp = std::string(
                                  "driftguard keeps a Kubernetes cluster equal to what Git "
                                  "declares.\n"
                                  "\n"
                                  "Usage:\n"
                                  "  driftguard [flags] <command>\n"
                                  "\n"
                                  "Commands:\n"
                                  "  certs     Generate or inspect the webhook's CA and serving "
                                  "certificate\n"
                                  "  demo      Serve examples/ from a local Git repository, start "
                                  "the webhook and replay a scripted kubectl session against it\n"
                                  "  diff      Print per-field differences between a rendered "
                                  "directory and live objects\n"
                                  "  render    Render a directory like `kubectl kustomize` (plus "
                                  "Flux post-build)\n"
                                  "  version   Print the version and the Git commit it was built "
                                  "from\n"
                                  "  webhook   Serve the admission webhook over HTTPS, keeping the "
                                  "desired state in sync with Git\n"
                                  "\n"
                                  "Flags:\n") +
                              kGlobalFlags +
                              "  -h, --help            Show this help\n"
                              "\n"
                              "Run 'driftguard <command> --help' for a command's flags.\n";

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

// The whole demo: local Git repository, source sync, TLS webhook, scripted session.
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

}  // namespace
}  // namespace driftguard
