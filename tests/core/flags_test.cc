#include "core/flags.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace driftguard::core {
namespace {

using ::testing::ElementsAre;
using namespace std::chrono_literals;

// A small CLI shaped like driftguard's: global flags on the root, two subcommands.
struct Fixture {
  struct {
    std::string log_format = "text";
    bool validate = false;
  } global;
  struct {
    std::string path = ".";
    bool strict = true;
    int64_t depth = 10;
    int workers = 2;
    double ratio = 0.5;
    std::chrono::milliseconds timeout = 90s;
    std::vector<std::string> include = {"*.yaml"};
    std::vector<std::string> exclude;
  } render;

  Command root{"driftguard", "Keeps a cluster equal to Git."};
  Command* render_cmd;
  Command* version_cmd;

  Fixture() {
    root.flags().String("log-format", &global.log_format, "Log output: text or json");
    root.flags().Bool("validate-config", &global.validate, "Validate options and exit");
    render_cmd = &root.AddSubcommand("render", "Render a Kustomization", "[flags] DIR");
    render_cmd->flags().String("path", &render.path, "Directory to render");
    render_cmd->flags().Bool("strict", &render.strict, "Fail on unknown fields");
    render_cmd->flags().Int("depth", &render.depth, "Maximum overlay depth");
    render_cmd->flags().Int("workers", &render.workers, "Parallel renders");
    render_cmd->flags().Double("ratio", &render.ratio, "A fraction");
    render_cmd->flags().Duration("timeout", &render.timeout, "Give up after this long");
    render_cmd->flags().StringList("include", &render.include, "Glob of files to read");
    render_cmd->flags().StringList("exclude", &render.exclude, "Glob of files to skip");
    render_cmd->SetArgs(1, 1);
    version_cmd = &root.AddSubcommand("version", "Print the version");
  }

  StatusOr<Invocation> Parse(std::vector<std::string> args) { return root.Parse(args); }
};

TEST(FlagsTest, DefaultsStayWithoutFlags) {
  Fixture f;
  auto inv = f.Parse({"render", "dir"});
  ASSERT_TRUE(inv.ok()) << inv.status();
  EXPECT_EQ(inv->command, f.render_cmd);
  EXPECT_THAT(inv->args, ElementsAre("dir"));
  EXPECT_FALSE(inv->help);
  EXPECT_EQ(f.render.path, ".");
  EXPECT_TRUE(f.render.strict);
  EXPECT_EQ(f.render.timeout, 90s);
  EXPECT_THAT(f.render.include, ElementsAre("*.yaml"));
}

TEST(FlagsTest, EveryValueSyntax) {
  Fixture f;
  auto inv = f.Parse({"--log-format", "json", "render", "--path=a=b", "--strict=false", "--depth",
                      "-3", "--workers=8", "--ratio", "0.25", "--timeout=1m30s", "--include",
                      "x.yaml", "--include=y.yml", "--exclude", "z", "dir", "--validate-config"});
  ASSERT_TRUE(inv.ok()) << inv.status();
  EXPECT_EQ(inv->command, f.render_cmd);
  EXPECT_THAT(inv->args, ElementsAre("dir"));
  EXPECT_EQ(f.global.log_format, "json");
  EXPECT_TRUE(f.global.validate);  // a global flag after the subcommand
  EXPECT_EQ(f.render.path, "a=b");
  EXPECT_FALSE(f.render.strict);
  EXPECT_EQ(f.render.depth, -3);
  EXPECT_EQ(f.render.workers, 8);
  EXPECT_EQ(f.render.ratio, 0.25);
  EXPECT_EQ(f.render.timeout, 90s);
  EXPECT_THAT(f.render.include, ElementsAre("x.yaml", "y.yml"));  // first use replaced default
  EXPECT_THAT(f.render.exclude, ElementsAre("z"));
}

TEST(FlagsTest, BoolForms) {
  for (const auto& [arg, want] :
       std::vector<std::pair<std::string, bool>>{{"--strict", true},
                                                 {"--strict=true", true},
                                                 {"--strict=1", true},
                                                 {"--strict=false", false},
                                                 {"--strict=0", false}}) {
    Fixture f;
    f.render.strict = !want;
    ASSERT_TRUE(f.Parse({"render", arg, "d"}).ok()) << arg;
    EXPECT_EQ(f.render.strict, want) << arg;
  }
  // "--strict false" leaves "false" as a positional argument.
  Fixture f;
  auto inv = f.Parse({"render", "--strict", "false"});
  ASSERT_TRUE(inv.ok()) << inv.status();
  EXPECT_TRUE(f.render.strict);
  EXPECT_THAT(inv->args, ElementsAre("false"));
}

TEST(FlagsTest, DoubleDashEndsFlagsAndDashIsAnArgument) {
  Fixture f;
  auto inv = f.Parse({"render", "--", "--path"});
  ASSERT_TRUE(inv.ok()) << inv.status();
  EXPECT_THAT(inv->args, ElementsAre("--path"));
  EXPECT_EQ(f.render.path, ".");
  Fixture g;
  auto stdin_inv = g.Parse({"render", "-"});
  ASSERT_TRUE(stdin_inv.ok()) << stdin_inv.status();
  EXPECT_THAT(stdin_inv->args, ElementsAre("-"));
}

TEST(FlagsTest, Errors) {
  auto error = [](std::vector<std::string> args) {
    Fixture f;
    return f.Parse(std::move(args)).status();
  };
  EXPECT_EQ(error({"render", "--foo", "d"}),
            InvalidArgumentError("unknown flag --foo for 'driftguard render'"));
  EXPECT_EQ(error({"--path", "x", "render"}),  // a subcommand flag before the subcommand
            InvalidArgumentError("unknown flag --path for 'driftguard'"));
  EXPECT_EQ(error({"render", "-x"}),
            InvalidArgumentError("unknown flag -x for 'driftguard render'"));
  EXPECT_EQ(error({"--log-format"}),
            InvalidArgumentError("flag --log-format for 'driftguard' needs a value"));
  EXPECT_EQ(error({"render", "d", "--path", "--strict"}),
            InvalidArgumentError("flag --path for 'driftguard render' needs a value"));
  EXPECT_EQ(error({"render", "d", "--depth", "ten"}),
            InvalidArgumentError(
                "invalid value \"ten\" for flag --depth for 'driftguard render': not an integer"));
  EXPECT_EQ(error({"render", "d", "--workers=99999999999"}),
            InvalidArgumentError("invalid value \"99999999999\" for flag --workers for "
                                 "'driftguard render': out of range"));
  EXPECT_EQ(error({"render", "d", "--ratio=1x"}),
            InvalidArgumentError(
                "invalid value \"1x\" for flag --ratio for 'driftguard render': not a number"));
  EXPECT_EQ(error({"render", "d", "--strict=yes"}),
            InvalidArgumentError("invalid value \"yes\" for flag --strict for 'driftguard "
                                 "render': not a boolean (true, false, 1, 0)"));
  EXPECT_EQ(error({"render", "d", "--timeout=5x"}),
            InvalidArgumentError("invalid value \"5x\" for flag --timeout for 'driftguard "
                                 "render': invalid duration \"5x\": unknown unit \"x\""));
  EXPECT_EQ(error({"deploy"}), InvalidArgumentError("unknown command \"deploy\" for 'driftguard'"));
  EXPECT_EQ(error({"render"}),
            InvalidArgumentError("'driftguard render' takes exactly 1 argument, got 0"));
  EXPECT_EQ(error({"render", "a", "b"}),
            InvalidArgumentError("'driftguard render' takes exactly 1 argument, got 2"));
  EXPECT_EQ(error({"version", "extra"}),
            InvalidArgumentError("'driftguard version' takes no arguments, got 1"));
}

TEST(FlagsTest, ArgumentRanges) {
  Command root("tool", "T.");
  Command& some = root.AddSubcommand("some", "S.");
  some.SetArgs(1);
  Command& few = root.AddSubcommand("few", "F.");
  few.SetArgs(1, 2);
  EXPECT_EQ(root.Parse(std::vector<std::string>{"some"}).status(),
            InvalidArgumentError("'tool some' takes at least 1 argument, got 0"));
  EXPECT_TRUE(root.Parse(std::vector<std::string>{"some", "a", "b", "c"}).ok());
  EXPECT_EQ(root.Parse(std::vector<std::string>{"few", "a", "b", "c"}).status(),
            InvalidArgumentError("'tool few' takes at most 2 arguments, got 3"));
  EXPECT_EQ(root.Parse(std::vector<std::string>{"few"}).status(),
            InvalidArgumentError("'tool few' takes at least 1 argument, got 0"));
}

TEST(FlagsTest, HelpIsReportedWithoutCheckingArguments) {
  Fixture f;
  auto inv = f.Parse({"render", "--help"});
  ASSERT_TRUE(inv.ok()) << inv.status();
  EXPECT_TRUE(inv->help);
  EXPECT_EQ(inv->command, f.render_cmd);
  Fixture g;
  auto root_help = g.Parse({"-h"});
  ASSERT_TRUE(root_help.ok());
  EXPECT_TRUE(root_help->help);
  EXPECT_EQ(root_help->command, &g.root);
  Fixture h;
  auto none = h.Parse({});
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->help);
  EXPECT_EQ(none->command, &h.root);
}

TEST(FlagsTest, RootHelpListsCommandsAndFlags) {
  Fixture f;
  EXPECT_EQ(f.root.Help(),
            "Keeps a cluster equal to Git.\n"
            "\n"
            "Usage:\n"
            "  driftguard [flags] <command>\n"
            "\n"
            "Commands:\n"
            "  render    Render a Kustomization\n"
            "  version   Print the version\n"
            "\n"
            "Flags:\n"
            "  --log-format string   Log output: text or json (default: \"text\")\n"
            "  --validate-config     Validate options and exit (default: false)\n"
            "  -h, --help            Show this help\n"
            "\n"
            "Run 'driftguard <command> --help' for a command's flags.\n");
}

TEST(FlagsTest, SubcommandHelpShowsEveryFlagAndDefault) {
  Fixture f;
  EXPECT_EQ(f.render_cmd->Help(),
            "Render a Kustomization\n"
            "\n"
            "Usage:\n"
            "  driftguard render [flags] DIR\n"
            "\n"
            "Flags:\n"
            "  --path string         Directory to render (default: \".\")\n"
            "  --strict              Fail on unknown fields (default: true)\n"
            "  --depth int           Maximum overlay depth (default: 10)\n"
            "  --workers int         Parallel renders (default: 2)\n"
            "  --ratio float         A fraction (default: 0.5)\n"
            "  --timeout duration    Give up after this long (default: 1m30s)\n"
            "  --include string      Glob of files to read (repeatable; default: \"*.yaml\")\n"
            "  --exclude string      Glob of files to skip (repeatable)\n"
            "  -h, --help            Show this help\n"
            "\n"
            "Global flags:\n"
            "  --log-format string   Log output: text or json (default: \"text\")\n"
            "  --validate-config     Validate options and exit (default: false)\n");
  EXPECT_EQ(f.version_cmd->Path(), "driftguard version");
  EXPECT_EQ(f.root.FindSubcommand("version"), f.version_cmd);
  EXPECT_EQ(f.root.FindSubcommand("nope"), nullptr);
}

TEST(FlagsTest, ParseFromArgv) {
  Fixture f;
  const char* argv[] = {"/usr/bin/driftguard", "render", "--path", "p", "d"};
  auto inv = f.root.Parse(5, argv);
  ASSERT_TRUE(inv.ok()) << inv.status();
  EXPECT_EQ(f.render.path, "p");
  EXPECT_THAT(inv->args, ElementsAre("d"));
}

TEST(FlagsTest, EnvironmentFillsFlagsNotGiven) {
  Fixture f;
  std::map<std::string, std::string> env = {
      {"DRIFTGUARD_PATH", "/from/env"},        {"DRIFTGUARD_WORKERS", "7"},
      {"DRIFTGUARD_STRICT", "false"},          {"DRIFTGUARD_LOG_FORMAT", "json"},
      {"DRIFTGUARD_INCLUDE", "a.yaml,b.yaml"}, {"DRIFTGUARD_DEPTH", ""}};
  f.root.SetEnvironment("DRIFTGUARD", [&env](const std::string& name) -> const char* {
    auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  });
  EXPECT_EQ(f.render_cmd->EnvName("log-format"), "DRIFTGUARD_LOG_FORMAT");
  // The command line wins over the environment; an empty variable counts as unset.
  auto inv = f.Parse({"render", "--workers=3", "dir"});
  ASSERT_TRUE(inv.ok()) << inv.status();
  EXPECT_EQ(f.render.path, "/from/env");
  EXPECT_EQ(f.render.workers, 3);
  EXPECT_FALSE(f.render.strict);
  EXPECT_EQ(f.global.log_format, "json");
  EXPECT_EQ(f.render.depth, 10);
  EXPECT_THAT(f.render.include, ElementsAre("a.yaml", "b.yaml"));

  env["DRIFTGUARD_TIMEOUT"] = "soon";
  Fixture g;
  g.root.SetEnvironment("DRIFTGUARD", [&env](const std::string& name) -> const char* {
    auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  });
  auto bad = g.Parse({"render", "dir"});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(),
            "invalid value \"soon\" for environment variable DRIFTGUARD_TIMEOUT (flag --timeout "
            "for 'driftguard render'): invalid duration \"soon\": expected a number at position 0");
}

}  // namespace
}  // namespace driftguard::core
