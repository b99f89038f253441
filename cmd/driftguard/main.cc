// driftguard: flags -> Options -> wiring. The only code outside a library.
//
// Every subcommand follows one pattern, all in this file:
//   1. an Options struct: plain fields with their defaults, `void Bind(core::FlagSet&)` declaring
//      one flag per field, and `core::Status Validate() const` checking them together;
//   2. a run function: `core::Status RunX(const GlobalOptions&, const XOptions&, const Args&)`
//      that builds the library objects from the options and runs them;
//   3. one entry in Subcommands(): `Define({.name = "x", .summary = "...", ...}, RunX)`.
// main() parses the command line, validates the global and the subcommand's options (and stops
// there under --validate-config), sets up logging, then runs the subcommand.
//
// Exit codes: 0 success, 1 runtime failure (the run function returned an error), 2 usage or
// configuration error (bad flag, bad value, missing subcommand).
#include <functional>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "core/flags.h"
#include "core/log.h"
#include "core/status.h"
#include "core/version.h"

namespace driftguard {
namespace {

using core::Status;
using Args = std::vector<std::string>;

enum ExitCode : int { kExitOk = 0, kExitFailure = 1, kExitUsage = 2 };

constexpr char kProgram[] = "driftguard";
constexpr char kSummary[] = "driftguard keeps a Kubernetes cluster equal to what Git declares.";

// Flags every subcommand accepts.
struct GlobalOptions {
  core::LogOptions log;
  bool validate_config = false;

  void Bind(core::FlagSet& flags) {
    flags.String("log-format", &log.format, "Log output: text|json");
    flags.String("log-level", &log.level,
                 "Least severe level logged: trace|debug|info|warn|error|critical|off");
    flags.Bool("validate-config", &validate_config,
               "Check the options, print \"configuration OK\" and exit");
  }
  Status Validate() const { return log.Validate(); }
};

// ---------------------------------------------------------------------------------------------
// driftguard version

struct VersionOptions {
  void Bind(core::FlagSet&) {}
  Status Validate() const { return core::OkStatus(); }
};

Status RunVersion(const GlobalOptions&, const VersionOptions&, const Args&) {
  std::cout << core::VersionLine() << "\n";
  return core::OkStatus();
}

// ---------------------------------------------------------------------------------------------
// The subcommand table.

struct SubcommandSpec {
  const char* name = "";
  const char* summary = "";
  const char* usage = "";  // after "driftguard <name> "; empty means "[flags]"
  size_t min_args = 0;
  size_t max_args = 0;
};

// A subcommand whose options are bound to its flags.
struct BoundSubcommand {
  std::function<Status()> validate;
  std::function<Status(const GlobalOptions&, const Args&)> run;
};

struct Subcommand {
  SubcommandSpec spec;
  // Creates the Options struct, declares its flags and returns closures over it.
  std::function<BoundSubcommand(core::FlagSet&)> bind;
};

template <typename Options>
Subcommand Define(SubcommandSpec spec,
                  Status (*run)(const GlobalOptions&, const Options&, const Args&)) {
  return {spec, [run](core::FlagSet& flags) {
            auto options = std::make_shared<Options>();
            options->Bind(flags);
            return BoundSubcommand{[options] { return options->Validate(); },
                                   [options, run](const GlobalOptions& global, const Args& args) {
                                     return run(global, *options, args);
                                   }};
          }};
}

std::vector<Subcommand> Subcommands() {
  return {
      Define(
          {.name = "version", .summary = "Print the version and the Git commit it was built from"},
          RunVersion),
  };
}

// ---------------------------------------------------------------------------------------------

int Main(int argc, char** argv) {
  GlobalOptions global;
  core::Command root(kProgram, kSummary);
  global.Bind(root.flags());
  std::map<const core::Command*, BoundSubcommand> bound;
  for (const Subcommand& sub : Subcommands()) {
    core::Command& cmd = root.AddSubcommand(sub.spec.name, sub.spec.summary, sub.spec.usage);
    cmd.SetArgs(sub.spec.min_args, sub.spec.max_args);
    bound.emplace(&cmd, sub.bind(cmd.flags()));
  }

  core::StatusOr<core::Invocation> invocation = root.Parse(argc, argv);
  if (!invocation.ok()) {
    std::cerr << kProgram << ": " << invocation.status().message() << "\nRun '" << kProgram
              << " --help' for usage.\n";
    return kExitUsage;
  }
  if (invocation->help) {
    std::cout << invocation->command->Help();
    return kExitOk;
  }
  const auto it = bound.find(invocation->command);
  const BoundSubcommand* subcommand = it == bound.end() ? nullptr : &it->second;

  Status valid = global.Validate();
  if (valid.ok() && subcommand != nullptr) valid = subcommand->validate();
  if (!valid.ok()) {
    std::cerr << kProgram << ": " << valid.message() << "\n";
    return kExitUsage;
  }
  if (global.validate_config) {
    std::cout << "configuration OK\n";
    return kExitOk;
  }
  if (subcommand == nullptr) {
    std::cerr << root.Help();
    return kExitUsage;
  }

  if (Status s = core::InitLogging(global.log); !s.ok()) {
    std::cerr << kProgram << ": " << s.message() << "\n";
    return kExitUsage;
  }
  if (Status s = subcommand->run(global, invocation->args); !s.ok()) {
    core::Logger("main")->error("{} failed: {}", invocation->command->Path(), s.ToString());
    return kExitFailure;
  }
  return kExitOk;
}

}  // namespace
}  // namespace driftguard

int main(int argc, char** argv) { return driftguard::Main(argc, argv); }
