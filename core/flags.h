// Command-line parsing: a tree of commands, each with flags bound to fields of plain structs.
//
// A Command has a name, a one-line summary, a usage line, flags and optional subcommands. Flags
// write straight into caller-owned variables, whose values at registration time are the defaults
// shown in help. Flags of a command are accepted by all of its subcommands too (so the root's flags
// are global) and may appear before or after the subcommand name. There is no global state.
//
//   struct RenderOptions { std::string path = "."; bool strict = false; };
//   RenderOptions opts;
//   Command root("driftguard", "Keeps a cluster equal to Git.");
//   Command& render = root.AddSubcommand("render", "Render a Kustomization", "[flags] DIR");
//   render.flags().String("path", &opts.path, "Directory to render");
//   render.flags().Bool("strict", &opts.strict, "Fail on unknown fields");
//   render.SetArgs(1, 1);
//   ASSIGN_OR_RETURN(Invocation inv, root.Parse(argc, argv));
//   if (inv.help) std::cout << inv.command->Help();
//
// Syntax: `--name value`, `--name=value`; bool flags `--x` (true) or `--x=true|false|1|0` (never
// `--x false`, which would leave "false" as an argument); repeated flags append (the first use
// replaces the default list); `--` ends flags; `-h`/`--help` asks for help; a lone `-` is an
// argument. Errors are InvalidArgument and name the flag and the command path:
// "unknown flag --foo for 'driftguard render'".
//
// Environment: with SetEnvironment("DRIFTGUARD", lookup) on the root, a flag not given on the
// command line takes its value from the variable DRIFTGUARD_<NAME> (upper case, '-' → '_':
// --secure-port ↔ DRIFTGUARD_SECURE_PORT) when that is set and non-empty. Precedence is therefore
// flag > environment > default (callers apply config files below the defaults they bind).
// Repeatable flags take a comma-separated list from the environment.
//
// Thread safety: none needed; build and parse on one thread at start-up. Bound variables must
// outlive Parse.
#ifndef DRIFTGUARD_CORE_FLAGS_H_
#define DRIFTGUARD_CORE_FLAGS_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace driftguard::core {

// Flags of one command, in declaration order.
class FlagSet {
 public:
  // Each call binds `--name` to `*target`; `*target`'s current value is the default shown in help.
  // REQUIRES: name is unique in this set (and among the command's ancestors), [a-z0-9-]+.
  void String(std::string_view name, std::string* target, std::string_view help);
  void Bool(std::string_view name, bool* target, std::string_view help);
  void Int(std::string_view name, int64_t* target, std::string_view help);
  void Int(std::string_view name, int* target, std::string_view help);
  void Double(std::string_view name, double* target, std::string_view help);
  // Go-style durations (core/flux_api.h ParseDuration): "30s", "1m30s", "250ms", "1.5h", "0".
  void Duration(std::string_view name, std::chrono::milliseconds* target, std::string_view help);
  // Repeatable: each use appends one value.
  void StringList(std::string_view name, std::vector<std::string>* target, std::string_view help);

  // The flag table used in help: one line per flag, "  --name type   help (default: ...)".
  std::string Help() const;

 private:
  friend class Command;
  struct Flag {
    std::string name;
    std::string type;  // "string", "int", ...; empty for bool
    std::string help;
    std::string default_text;
    bool repeated = false;
    bool seen = false;
    std::function<Status(std::string_view)> set;  // error message without the flag's name
    std::function<void()> clear;                  // repeated flags: drops the defaults
  };
  void Add(Flag flag);
  Flag* Find(std::string_view name);
  void ResetSeen();
  size_t SignatureWidth() const;
  void AppendHelp(std::string& out, size_t width) const;

  std::vector<Flag> flags_;
};

class Command;

// The outcome of a successful parse.
struct Invocation {
  // The deepest command named on the line (the root when no subcommand was given).
  const Command* command = nullptr;
  // Positional arguments after the command names.
  std::vector<std::string> args;
  // -h/--help was given; the caller prints command->Help() and exits 0. Arguments are not
  // checked when help was requested.
  bool help = false;
};

class Command {
 public:
  // `usage` follows the command path in the usage line: "[flags] DIR" -> "driftguard render
  // [flags] DIR". Empty: "[flags]", plus "<command>" when there are subcommands.
  Command(std::string name, std::string summary, std::string usage = "");
  Command(const Command&) = delete;
  Command& operator=(const Command&) = delete;

  // Adds a subcommand, owned by this command; the reference stays valid for its lifetime.
  Command& AddSubcommand(std::string name, std::string summary, std::string usage = "");

  FlagSet& flags() { return flags_; }

  // Environment fallback for every flag of this command and its subcommands (see above). `lookup`
  // returns nullptr for unset variables; default: std::getenv.
  void SetEnvironment(std::string prefix,
                      std::function<const char*(const std::string&)> lookup = nullptr);
  // "DRIFTGUARD_SECURE_PORT" for "secure-port" ("" without SetEnvironment).
  std::string EnvName(std::string_view flag) const;

  // Number of positional arguments accepted (default: none).
  void SetArgs(size_t min, size_t max = std::numeric_limits<size_t>::max());

  const std::string& name() const { return name_; }
  const std::string& summary() const { return summary_; }
  // "driftguard render".
  std::string Path() const;
  const std::vector<std::unique_ptr<Command>>& subcommands() const { return subcommands_; }
  const Command* FindSubcommand(std::string_view name) const;

  // Summary, usage, subcommands, this command's flags and its inherited ("global") flags.
  std::string Help() const;

  // Parses `args` (without the program name) starting at this command. Fills bound variables as
  // it goes; on error they may be partly filled.
  StatusOr<Invocation> Parse(const std::vector<std::string>& args);
  // Convenience for main(): skips argv[0].
  StatusOr<Invocation> Parse(int argc, const char* const* argv);

 private:
  FlagSet::Flag* FindFlag(std::string_view name);
  const Command* Root() const;
  Status ApplyEnvironment();

  std::string env_prefix_;
  std::function<const char*(const std::string&)> env_lookup_;

  std::string name_;
  std::string summary_;
  std::string usage_;
  Command* parent_ = nullptr;
  FlagSet flags_;
  std::vector<std::unique_ptr<Command>> subcommands_;
  size_t min_args_ = 0;
  size_t max_args_ = 0;
};

}  // namespace driftguard::core

#endif  // DRIFTGUARD_CORE_FLAGS_H_
