#include "core/flags.h"

#include <algorithm>
#include <cassert>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <utility>

#include "core/flux_api.h"  // ParseDuration, FormatDuration

namespace driftguard::core {
namespace {

constexpr std::string_view kHelpLine = "Show this help";

std::string Quote(std::string_view s) { return "\"" + std::string(s) + "\""; }

std::string FormatDouble(double v) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  return ec == std::errc() ? std::string(buf, end) : "?";
}

template <typename T>
Status ParseInteger(std::string_view text, T* out) {
  T value{};
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec == std::errc::result_out_of_range) return InvalidArgumentError("out of range");
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) {
    return InvalidArgumentError("not an integer");
  }
  *out = value;
  return OkStatus();
}

std::string ArgCount(size_t n) { return std::to_string(n) + (n == 1 ? " argument" : " arguments"); }

// Left column of a flag's help line: "  --name type".
std::string FlagSignature(std::string_view name, std::string_view type) {
  std::string s = "  --" + std::string(name);
  if (!type.empty()) s += " " + std::string(type);
  return s;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// FlagSet

void FlagSet::Add(Flag flag) {
  assert(Find(flag.name) == nullptr && "flag defined twice");
  flags_.push_back(std::move(flag));
}

FlagSet::Flag* FlagSet::Find(std::string_view name) {
  for (Flag& f : flags_) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

void FlagSet::ResetSeen() {
  for (Flag& f : flags_) f.seen = false;
}

void FlagSet::String(std::string_view name, std::string* target, std::string_view help) {
  Add({.name = std::string(name),
       .type = "string",
       .help = std::string(help),
       .default_text = Quote(*target),
       .set = [target](std::string_view v) {
         *target = std::string(v);
         return OkStatus();
       }});
}

void FlagSet::Bool(std::string_view name, bool* target, std::string_view help) {
  Add({.name = std::string(name),
       .type = "",
       .help = std::string(help),
       .default_text = *target ? "true" : "false",
       .set = [target](std::string_view v) {
         if (v == "true" || v == "1") {
           *target = true;
         } else if (v == "false" || v == "0") {
           *target = false;
         } else {
           return InvalidArgumentError("not a boolean (true, false, 1, 0)");
         }
         return OkStatus();
       }});
}

void FlagSet::Int(std::string_view name, int64_t* target, std::string_view help) {
  Add({.name = std::string(name),
       .type = "int",
       .help = std::string(help),
       .default_text = std::to_string(*target),
       .set = [target](std::string_view v) { return ParseInteger(v, target); }});
}

void FlagSet::Int(std::string_view name, int* target, std::string_view help) {
  Add({.name = std::string(name),
       .type = "int",
       .help = std::string(help),
       .default_text = std::to_string(*target),
       .set = [target](std::string_view v) { return ParseInteger(v, target); }});
}

void FlagSet::Double(std::string_view name, double* target, std::string_view help) {
  Add({.name = std::string(name),
       .type = "float",
       .help = std::string(help),
       .default_text = FormatDouble(*target),
       .set = [target](std::string_view v) {
         double value = 0;
         auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), value);
         if (ec != std::errc() || end != v.data() + v.size() || v.empty()) {
           return InvalidArgumentError("not a number");
         }
         *target = value;
         return OkStatus();
       }});
}

void FlagSet::Duration(std::string_view name, std::chrono::milliseconds* target,
                       std::string_view help) {
  Add({.name = std::string(name),
       .type = "duration",
       .help = std::string(help),
       .default_text = FormatDuration(*target),
       .set = [target](std::string_view v) -> Status {
         ASSIGN_OR_RETURN(*target, ParseDuration(v));
         return OkStatus();
       }});
}

void FlagSet::StringList(std::string_view name, std::vector<std::string>* target,
                         std::string_view help) {
  std::string defaults;
  for (const std::string& v : *target) defaults += (defaults.empty() ? "" : ", ") + Quote(v);
  Add({.name = std::string(name),
       .type = "string",
       .help = std::string(help),
       .default_text = defaults,
       .repeated = true,
       .set = [target](std::string_view v) {
         target->emplace_back(v);
         return OkStatus();
       }});
  // The first use on a command line replaces the defaults.
  flags_.back().clear = [target] { target->clear(); };
}

size_t FlagSet::SignatureWidth() const {
  size_t width = 0;
  for (const Flag& f : flags_) width = std::max(width, FlagSignature(f.name, f.type).size());
  return width;
}

void FlagSet::AppendHelp(std::string& out, size_t width) const {
  for (const Flag& f : flags_) {
    std::string line = FlagSignature(f.name, f.type);
    line.resize(std::max(width, line.size()) + 3, ' ');
    line += f.help;
    if (!f.repeated) {
      line += " (default: " + f.default_text + ")";
    } else if (f.default_text.empty()) {
      line += " (repeatable)";
    } else {
      line += " (repeatable; default: " + f.default_text + ")";
    }
    out += line + "\n";
  }
}

std::string FlagSet::Help() const {
  std::string out;
  AppendHelp(out, SignatureWidth());
  return out;
}

// ---------------------------------------------------------------------------------------------
// Command

Command::Command(std::string name, std::string summary, std::string usage)
    : name_(std::move(name)), summary_(std::move(summary)), usage_(std::move(usage)) {}

Command& Command::AddSubcommand(std::string name, std::string summary, std::string usage) {
  auto sub = std::make_unique<Command>(std::move(name), std::move(summary), std::move(usage));
  sub->parent_ = this;
  subcommands_.push_back(std::move(sub));
  return *subcommands_.back();
}

void Command::SetArgs(size_t min, size_t max) {
  min_args_ = min;
  max_args_ = std::max(min, max);
}

void Command::SetEnvironment(std::string prefix,
                             std::function<const char*(const std::string&)> lookup) {
  env_prefix_ = std::move(prefix);
  env_lookup_ = lookup ? std::move(lookup)
                       : [](const std::string& name) { return std::getenv(name.c_str()); };
}

const Command* Command::Root() const {
  const Command* c = this;
  while (c->parent_ != nullptr) c = c->parent_;
  return c;
}

std::string Command::EnvName(std::string_view flag) const {
  const Command* root = Root();
  if (root->env_prefix_.empty()) return "";
  std::string name = root->env_prefix_ + "_";
  for (char ch : flag) {
    name += ch == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  }
  return name;
}

// Flags not given on the command line, from the nearest command outwards.
Status Command::ApplyEnvironment() {
  const Command* root = Root();
  if (root->env_prefix_.empty() || !root->env_lookup_) return OkStatus();
  for (Command* c = this; c != nullptr; c = c->parent_) {
    for (FlagSet::Flag& flag : c->flags_.flags_) {
      if (flag.seen) continue;
      const std::string var = EnvName(flag.name);
      const char* raw = root->env_lookup_(var);
      if (raw == nullptr || *raw == '\0') continue;
      const std::string value = raw;
      std::vector<std::string> values;
      if (flag.repeated) {
        if (flag.clear) flag.clear();
        for (size_t start = 0;;) {
          const size_t comma = value.find(',', start);
          values.push_back(value.substr(start, comma - start));
          if (comma == std::string::npos) break;
          start = comma + 1;
        }
      } else {
        values.push_back(value);
      }
      for (const std::string& v : values) {
        if (Status s = flag.set(v); !s.ok()) {
          return InvalidArgumentError("invalid value " + Quote(v) + " for environment variable " +
                                      var + " (flag --" + flag.name + " for '" + Path() +
                                      "'): " + s.message());
        }
      }
      flag.seen = true;
    }
  }
  return OkStatus();
}

std::string Command::Path() const {
  return parent_ == nullptr ? name_ : parent_->Path() + " " + name_;
}

const Command* Command::FindSubcommand(std::string_view name) const {
  for (const auto& sub : subcommands_) {
    if (sub->name_ == name) return sub.get();
  }
  return nullptr;
}

FlagSet::Flag* Command::FindFlag(std::string_view name) {
  for (Command* c = this; c != nullptr; c = c->parent_) {
    if (FlagSet::Flag* f = c->flags_.Find(name)) return f;
  }
  return nullptr;
}

std::string Command::Help() const {
  std::string out = summary_ + "\n\nUsage:\n  " + Path() + " ";
  if (!usage_.empty()) {
    out += usage_;
  } else {
    out += subcommands_.empty() ? "[flags]" : "[flags] <command>";
  }
  out += "\n";
  if (!subcommands_.empty()) {
    size_t width = 0;
    for (const auto& sub : subcommands_) width = std::max(width, sub->name_.size());
    out += "\nCommands:\n";
    for (const auto& sub : subcommands_) {
      std::string name = sub->name_;
      name.resize(width + 3, ' ');
      out += "  " + name + sub->summary_ + "\n";
    }
  }
  size_t width = FlagSignature("help", "").size() + 4;  // "  -h, --help"
  for (const Command* c = this; c != nullptr; c = c->parent_) {
    width = std::max(width, c->flags_.SignatureWidth());
  }
  out += "\nFlags:\n";
  flags_.AppendHelp(out, width);
  std::string help_line = "  -h, --help";
  help_line.resize(width + 3, ' ');
  out += help_line + std::string(kHelpLine) + "\n";
  bool global_header = false;
  for (const Command* c = parent_; c != nullptr; c = c->parent_) {
    if (c->flags_.flags_.empty()) continue;
    if (!global_header) out += "\nGlobal flags:\n";
    global_header = true;
    c->flags_.AppendHelp(out, width);
  }
  if (!subcommands_.empty()) {
    out += "\nRun '" + Path() + " <command> --help' for a command's flags.\n";
  }
  if (parent_ == nullptr && !env_prefix_.empty()) {
    out += "Every flag can also be set in the environment: --log-level is " + EnvName("log-level") +
           " (the command line wins).\n";
  }
  return out;
}

StatusOr<Invocation> Command::Parse(int argc, const char* const* argv) {
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) args.emplace_back(argv[i]);
  return Parse(args);
}

StatusOr<Invocation> Command::Parse(const std::vector<std::string>& args) {
  Command* cmd = this;
  for (Command* c = this; c != nullptr; c = c->parent_) c->flags_.ResetSeen();
  Invocation inv;
  bool flags_done = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (!flags_done && arg == "--") {
      flags_done = true;
      continue;
    }
    if (!flags_done && (arg == "-h" || arg == "--help")) {
      inv.help = true;
      continue;
    }
    if (!flags_done && arg.size() > 1 && arg[0] == '-') {
      if (!arg.starts_with("--") || arg.size() == 2) {
        return InvalidArgumentError("unknown flag " + arg + " for '" + cmd->Path() + "'");
      }
      const std::string_view body = std::string_view(arg).substr(2);
      const size_t eq = body.find('=');
      const std::string name(body.substr(0, eq));
      FlagSet::Flag* flag = cmd->FindFlag(name);
      if (flag == nullptr) {
        return InvalidArgumentError("unknown flag --" + name + " for '" + cmd->Path() + "'");
      }
      std::string value;
      if (eq != std::string_view::npos) {
        value = std::string(body.substr(eq + 1));
      } else if (flag->type.empty()) {
        value = "true";
      } else if (i + 1 < args.size() &&
                 !(args[i + 1].starts_with("--") && args[i + 1].size() > 2)) {
        value = args[++i];
      } else {
        return InvalidArgumentError("flag --" + name + " for '" + cmd->Path() + "' needs a value");
      }
      if (flag->repeated && !flag->seen && flag->clear) flag->clear();
      flag->seen = true;
      if (Status s = flag->set(value); !s.ok()) {
        return InvalidArgumentError("invalid value " + Quote(value) + " for flag --" + name +
                                    " for '" + cmd->Path() + "': " + s.message());
      }
      continue;
    }
    if (!cmd->subcommands_.empty() && !flags_done) {
      Command* sub = nullptr;
      for (const auto& candidate : cmd->subcommands_) {
        if (candidate->name_ == arg) sub = candidate.get();
      }
      if (sub == nullptr) {
        return InvalidArgumentError("unknown command " + Quote(arg) + " for '" + cmd->Path() + "'");
      }
      cmd = sub;
      cmd->flags_.ResetSeen();
      continue;
    }
    inv.args.push_back(arg);
  }
  inv.command = cmd;
  if (inv.help) return inv;
  RETURN_IF_ERROR(cmd->ApplyEnvironment());
  const size_t n = inv.args.size();
  if (n < cmd->min_args_ || n > cmd->max_args_) {
    std::string want;
    if (cmd->max_args_ == 0) {
      want = "takes no arguments";
    } else if (cmd->min_args_ == cmd->max_args_) {
      want = "takes exactly " + ArgCount(cmd->min_args_);
    } else if (cmd->max_args_ == std::numeric_limits<size_t>::max()) {
      want = "takes at least " + ArgCount(cmd->min_args_);
    } else if (n < cmd->min_args_) {
      want = "takes at least " + ArgCount(cmd->min_args_);
    } else {
      want = "takes at most " + ArgCount(cmd->max_args_);
    }
    return InvalidArgumentError("'" + cmd->Path() + "' " + want + ", got " + std::to_string(n));
  }
  return inv;
}

}  // namespace driftguard::core
