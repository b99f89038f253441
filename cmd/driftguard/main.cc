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
#include <algorithm>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "certs/generate.h"
#include "certs/pem.h"
#include "core/field_diff.h"
#include "core/flags.h"
#include "core/flux_api.h"
#include "core/flux_config.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/object_ref.h"
#include "core/schema.h"
#include "core/status.h"
#include "core/version.h"
#include "core/yaml.h"
#include "reconciler/flux_postbuild.h"
#include "reconciler/git_local.h"
#include "reconciler/render.h"
#include "reconciler/source_sync.h"
#include "webhook/demo_session.h"
#include "webhook/guard.h"
#include "webhook/guard_config.h"
#include "webhook/server.h"

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
// Helpers shared by subcommands.

core::StatusOr<std::string> ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return core::NotFoundError("cannot read " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The directory provenance paths are relative to: the Git work tree holding `dir` (the way a
// repository's files are named in a denial), else `dir` itself.
std::filesystem::path RenderRoot(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::path abs = std::filesystem::weakly_canonical(dir, ec);
  for (std::filesystem::path p = abs; !p.empty(); p = p.parent_path()) {
    if (std::filesystem::exists(p / ".git", ec)) return p;
    if (p == p.parent_path()) break;
  }
  // Outside a work tree: the current directory when it holds `dir` (so ../base still resolves
  // inside it), else the filesystem root.
  const std::filesystem::path cwd = std::filesystem::current_path(ec);
  const auto rel = abs.lexically_relative(cwd);
  if (!ec && !rel.empty() && *rel.begin() != "..") return cwd;
  return abs.root_path();
}

// Renders `dir` (+ an optional Flux Kustomization's post-build).
core::StatusOr<std::vector<reconciler::RenderedObject>> RenderDir(
    const std::string& dir, const std::string& flux_kustomization_file) {
  reconciler::RenderOptions options;
  options.root = RenderRoot(dir);
  ASSIGN_OR_RETURN(auto objects, reconciler::RenderKustomization(
                                     std::filesystem::weakly_canonical(dir), options));
  if (!flux_kustomization_file.empty()) {
    ASSIGN_OR_RETURN(std::string text, ReadText(flux_kustomization_file));
    ASSIGN_OR_RETURN(core::Json doc, core::ParseYaml(text, flux_kustomization_file));
    ASSIGN_OR_RETURN(core::Kustomization ks,
                     core::ParseKustomization(doc, flux_kustomization_file));
    reconciler::FluxBuildOptions flux;
    flux.name = ks.name;
    flux.namespace_ = ks.namespace_;
    flux.spec = ks.spec();
    flux.origin = {flux_kustomization_file, 0};
    RETURN_IF_ERROR(reconciler::ApplyFluxPostBuild(objects, flux));
  }
  return objects;
}

// ---------------------------------------------------------------------------------------------
// driftguard render DIR

struct RenderCmdOptions {
  std::string flux_kustomization;
  bool show_provenance = false;

  void Bind(core::FlagSet& flags) {
    flags.String("flux-kustomization", &flux_kustomization,
                 "A file holding a Flux Kustomization whose post-build (targetNamespace, patches, "
                 "images, postBuild.substitute, owner labels) is applied after the build");
    flags.Bool("show-provenance", &show_provenance,
               "Precede each object with comments naming the file:line of each declared field");
  }
  Status Validate() const { return core::OkStatus(); }
};

Status RunRender(const GlobalOptions&, const RenderCmdOptions& options, const Args& args) {
  ASSIGN_OR_RETURN(auto objects, RenderDir(args[0], options.flux_kustomization));
  std::string out;
  for (size_t i = 0; i < objects.size(); ++i) {
    if (i > 0) out += "---\n";
    if (options.show_provenance) {
      const auto& o = objects[i];
      out += "# " + core::ObjectRef::FromObject(o.object).ToString() + "\n";
      std::vector<std::pair<std::string, reconciler::FieldOrigin>> origins(o.origins.begin(),
                                                                           o.origins.end());
      std::sort(origins.begin(), origins.end(),
                [](const auto& a, const auto& b) { return a.first < b.first; });
      for (const auto& [pointer, origin] : origins) {
        out += "#   " + (pointer.empty() ? std::string("(object)") : pointer) + ": " + origin.file +
               (origin.line > 0 ? ":" + std::to_string(origin.line) : "") + "\n";
      }
    }
    out += core::EmitYaml(objects[i].object);
  }
  std::cout << out;
  return core::OkStatus();
}

// ---------------------------------------------------------------------------------------------
// driftguard diff DIR --live FILE

struct DiffCmdOptions {
  std::string live;
  std::string flux_kustomization;

  void Bind(core::FlagSet& flags) {
    flags.String("live", &live, "A YAML file (multi-document) holding the live objects to compare");
    flags.String("flux-kustomization", &flux_kustomization,
                 "A file holding the Flux Kustomization applied after the build (see render)");
  }
  Status Validate() const {
    if (live.empty()) return core::InvalidArgumentError("--live is required");
    return core::OkStatus();
  }
};

Status RunDiff(const GlobalOptions&, const DiffCmdOptions& options, const Args& args) {
  ASSIGN_OR_RETURN(auto desired, RenderDir(args[0], options.flux_kustomization));
  ASSIGN_OR_RETURN(std::string text, ReadText(options.live));
  ASSIGN_OR_RETURN(auto docs, core::ParseYamlStream(text, options.live));
  std::map<core::ObjectKey, const core::Json*> live;
  for (const auto& d : docs) {
    if (d.value.is_object())
      live[core::ObjectKey::Of(core::ObjectRef::FromObject(d.value))] = &d.value;
  }
  core::DiffOptions diff_options;
  diff_options.ignored_pointers = {"/status",
                                   "/metadata/resourceVersion",
                                   "/metadata/generation",
                                   "/metadata/managedFields",
                                   "/metadata/uid",
                                   "/metadata/creationTimestamp"};
  size_t drifted = 0;
  for (const auto& d : desired) {
    core::ObjectRef ref = core::ObjectRef::FromObject(d.object);
    auto it = live.find(core::ObjectKey::Of(ref));
    if (it == live.end()) {
      std::cout << ref.ToString() << ": missing from the live objects\n";
      ++drifted;
      continue;
    }
    const core::SchemaNode* schema = core::Schema::ForApiVersionKind(
        d.object.value("apiVersion", ""), d.object.value("kind", ""));
    // Only what Git declares: fields the API server adds are not drift.
    for (const auto& c : core::DiffObjects(d.object, *it->second, schema, diff_options)) {
      if (!c.old_value) continue;
      auto origin = d.Origin(c.old_pointer);
      std::cout << ref.ToString() << ": " << c.path << ": git "
                << (c.old_value ? c.old_value->dump() : "<none>") << ", live "
                << (c.new_value ? c.new_value->dump() : "<none>");
      if (!origin.file.empty()) {
        std::cout << " (declared in " << origin.file
                  << (origin.line > 0 ? ":" + std::to_string(origin.line) : "") << ")";
      }
      std::cout << "\n";
      ++drifted;
    }
  }
  if (drifted == 0) std::cout << "no drift: " << desired.size() << " objects match Git\n";
  if (drifted > 0) {
    return core::FailedPreconditionError(std::to_string(drifted) + " field(s) drift from Git");
  }
  return core::OkStatus();
}

// ---------------------------------------------------------------------------------------------
// driftguard certs generate|inspect

struct CertsCmdOptions {
  std::string out_dir = ".";
  std::string namespace_name = "driftguard-system";
  std::string service_name = "driftguard";
  std::vector<std::string> dns;
  std::vector<std::string> ips;
  std::string key_type = "ecdsa-p256";

  void Bind(core::FlagSet& flags) {
    flags.String("out-dir", &out_dir, "generate: directory for ca.crt, ca.key, tls.crt, tls.key");
    flags.String("namespace", &namespace_name, "generate: namespace of the webhook Service");
    flags.String("service", &service_name, "generate: name of the webhook Service");
    flags.StringList("dns", &dns, "generate: extra DNS name for the serving certificate");
    flags.StringList("ip", &ips, "generate: extra IP address for the serving certificate");
    flags.String("key-type", &key_type, "generate: ecdsa-p256|rsa-2048|rsa-3072");
  }
  Status Validate() const { return certs::ParseKeyAlgorithm(key_type).status(); }
};

Status RunCerts(const GlobalOptions&, const CertsCmdOptions& options, const Args& args) {
  if (args[0] == "generate") {
    if (args.size() != 1) return core::InvalidArgumentError("certs generate takes no arguments");
    certs::GenerateOptions opts;
    opts.namespace_name = options.namespace_name;
    opts.service_name = options.service_name;
    opts.extra_dns_names = options.dns;
    opts.extra_ip_addresses = options.ips;
    ASSIGN_OR_RETURN(opts.key_algorithm, certs::ParseKeyAlgorithm(options.key_type));
    RETURN_IF_ERROR(opts.Validate());
    certs::SystemClock clock;
    ASSIGN_OR_RETURN(certs::Material material, certs::Generate(opts, clock));
    RETURN_IF_ERROR(certs::WriteMaterial(material, options.out_dir));
    std::cout << "wrote ca.crt, ca.key, tls.crt, tls.key to " << options.out_dir << "\n";
    return core::OkStatus();
  }
  if (args[0] == "inspect") {
    if (args.size() != 2) return core::InvalidArgumentError("usage: driftguard certs inspect FILE");
    ASSIGN_OR_RETURN(std::string pem, ReadText(args[1]));
    ASSIGN_OR_RETURN(auto infos, certs::InspectAll(pem));
    core::Json out = core::Json::array();
    for (const auto& info : infos) out.push_back(info.ToJson());
    std::cout << out.dump(2) << "\n";
    return core::OkStatus();
  }
  return core::InvalidArgumentError("unknown certs action \"" + args[0] +
                                    "\" (want generate or inspect)");
}

// ---------------------------------------------------------------------------------------------
// The guard stack shared by `webhook` and `demo`: config → desired state (source sync) → guard →
// HTTPS server.

// Reads a mounted-Secret-style directory: <dir>/<namespace>/<name>/<key> (or <dir>/<name>/<key>).
reconciler::ObjectDataLookup DirectoryLookup(const std::string& dir) {
  if (dir.empty()) return nullptr;
  return [dir](std::string_view kind, std::string_view ns,
               std::string_view name) -> core::StatusOr<std::map<std::string, std::string>> {
    namespace fs = std::filesystem;
    std::error_code ec;
    fs::path base = fs::path(dir) / std::string(ns) / std::string(name);
    if (!fs::is_directory(base, ec)) base = fs::path(dir) / std::string(name);
    if (!fs::is_directory(base, ec)) {
      return core::NotFoundError(std::string(kind) + " " + std::string(ns) + "/" +
                                 std::string(name) + " not found under " + dir);
    }
    std::map<std::string, std::string> data;
    for (const auto& entry : fs::directory_iterator(base, ec)) {
      const std::string key = entry.path().filename().string();
      if (!entry.is_regular_file() || key.rfind("..", 0) == 0) continue;
      ASSIGN_OR_RETURN(data[key], ReadText(entry.path().string()));
    }
    return data;
  };
}

struct GuardStackOptions {
  std::string config;
  std::string cache_dir = "/tmp/driftguard/cache";
  std::string secrets_dir;
  webhook::WebhookServerOptions server;

  void Bind(core::FlagSet& flags) {
    flags.String("config", &config,
                 "Multi-document YAML: Flux GitRepository and Kustomization objects plus at most "
                 "one driftguard.io/v1alpha1 GuardConfig");
    flags.String("cache-dir", &cache_dir, "Where Git repositories are cached");
    flags.String("secrets-dir", &secrets_dir,
                 "Directory of Secret/ConfigMap data for secretRef and substituteFrom: "
                 "<dir>/<namespace>/<name>/<key>");
    flags.String("tls-cert-file", &server.tls_cert_file, "PEM serving certificate");
    flags.String("tls-private-key-file", &server.tls_key_file, "PEM private key");
    flags.String("client-ca-file", &server.client_ca_file,
                 "PEM CA bundle; when set, clients must present a certificate it signed");
    flags.String("bind-address", &server.bind_address, "Address the HTTPS listener binds to");
    flags.Int("secure-port", &server.secure_port, "HTTPS port (0 picks a free port)");
    flags.String("metrics-bind-address", &server.metrics_bind_address,
                 "host:port of the plain-HTTP /metrics listener (\"\" disables)");
  }
  Status Validate() const {
    if (config.empty()) return core::InvalidArgumentError("--config is required");
    return server.Validate();
  }
};

// Everything the guard needs, alive together.
struct GuardStack {
  core::FluxConfig config;
  webhook::GuardConfig guard_config;
  core::DesiredStateStore store;
  core::MetricsRegistry registry;
  std::unique_ptr<webhook::GuardMetrics> guard_metrics;
  std::unique_ptr<webhook::Guard> guard;
  std::unique_ptr<reconciler::SourceSync> sync;
  std::unique_ptr<webhook::WebhookServer> server;
};

core::StatusOr<std::unique_ptr<GuardStack>> BuildGuardStack(const GuardStackOptions& options,
                                                            core::FluxConfig config) {
  auto stack = std::make_unique<GuardStack>();
  stack->config = std::move(config);
  if (stack->config.guard_config) {
    ASSIGN_OR_RETURN(
        stack->guard_config,
        webhook::ParseGuardConfig(*stack->config.guard_config, stack->config.guard_config_where));
  }
  for (const core::Kustomization& k : stack->config.kustomizations) {
    const core::Json& meta = k.object["metadata"];
    if (meta.contains("annotations") && meta["annotations"].contains(webhook::kModeAnnotation)) {
      auto mode = webhook::ParseGuardMode(
          meta["annotations"][std::string(webhook::kModeAnnotation)].get<std::string>());
      if (!mode.ok()) {
        return core::InvalidArgumentError("Kustomization " + k.namespace_ + "/" + k.name +
                                          ": annotation " + std::string(webhook::kModeAnnotation) +
                                          ": " + mode.status().message());
      }
    }
  }
  ASSIGN_OR_RETURN(stack->guard_metrics,
                   webhook::GuardMetrics::Register(stack->registry, &stack->store));
  stack->guard = std::make_unique<webhook::Guard>(stack->guard_config, &stack->store,
                                                  stack->guard_metrics.get());
  reconciler::SourceSyncOptions sync_options;
  // Absolute: artifacts are handed to the renderer as paths and must not depend on the cwd.
  sync_options.cache_dir = std::filesystem::absolute(options.cache_dir);
  RETURN_IF_ERROR(sync_options.Validate());
  stack->sync = std::make_unique<reconciler::SourceSync>(sync_options, stack->config, &stack->store,
                                                         DirectoryLookup(options.secrets_dir),
                                                         &stack->registry);
  GuardStack* raw = stack.get();
  webhook::WebhookServerHooks hooks;
  hooks.readiness = [raw]() -> Status {
    std::string reason;
    if (raw->store.Current()->Ready(&reason)) return core::OkStatus();
    return core::UnavailableError(reason);
  };
  hooks.registry = &stack->registry;
  stack->server =
      std::make_unique<webhook::WebhookServer>(options.server, stack->guard.get(), hooks);
  return stack;
}

// Blocks until SIGINT or SIGTERM.
void WaitForTermination() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  int sig = 0;
  sigwait(&set, &sig);
  core::Logger("main")->info("received {}, shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
}

// ---------------------------------------------------------------------------------------------
// driftguard webhook

Status RunWebhook(const GlobalOptions&, const GuardStackOptions& options, const Args&) {
  ASSIGN_OR_RETURN(core::FluxConfig config, core::LoadFluxConfig(options.config));
  ASSIGN_OR_RETURN(auto stack, BuildGuardStack(options, std::move(config)));
  // Signals are taken synchronously by WaitForTermination; block them before threads start so
  // every thread inherits the mask.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  stack->sync->Start();
  RETURN_IF_ERROR(stack->server->Start());
  auto log = core::Logger("main");
  log->info(
      "serving admission reviews on {}:{} (metrics on port {}); {} Kustomization(s), mode "
      "{}, protect {}",
      options.server.bind_address, stack->server->secure_port(), stack->server->metrics_port(),
      stack->config.kustomizations.size(), webhook::GuardModeName(stack->guard_config.default_mode),
      webhook::ProtectLevelName(stack->guard_config.protect));
  WaitForTermination();
  stack->server->Stop();  // finishes in-flight reviews
  stack->sync->Stop();
  return core::OkStatus();
}

// ---------------------------------------------------------------------------------------------
// driftguard demo

struct DemoOptions {
  std::string examples = DRIFTGUARD_EXAMPLES_DIR;
  bool keep = false;

  void Bind(core::FlagSet& flags) {
    flags.String("examples", &examples, "The GitOps repository to serve (examples/ of the source)");
    flags.Bool("keep", &keep, "Keep the demo's temporary directory");
  }
  Status Validate() const {
    if (!std::filesystem::is_directory(examples)) {
      return core::InvalidArgumentError("--examples: " + examples + " is not a directory");
    }
    return core::OkStatus();
  }
};

Status RunDemo(const GlobalOptions& global, const DemoOptions& options, const Args&) {
  namespace fs = std::filesystem;
  if (global.log.level == "info") {
    // The session prints every decision itself; keep the log to warnings unless asked.
    core::LogOptions quiet = global.log;
    quiet.level = "warn";
    RETURN_IF_ERROR(core::InitLogging(quiet));
  }
  std::string tmpl = (fs::temp_directory_path() / "driftguard-demo-XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) return core::InternalError("cannot create a temp dir");
  const fs::path work = tmpl;
  struct Cleanup {
    fs::path dir;
    bool keep;
    ~Cleanup() {
      std::error_code ec;
      if (!keep) fs::remove_all(dir, ec);
    }
  } cleanup{work, options.keep};

  std::cout << "== driftguard demo: the examples/ repository, served over file://, guarded over "
               "HTTPS\n\n";
  ASSIGN_OR_RETURN(std::string commit,
                   reconciler::CommitDirectory(options.examples, work / "repo", "main",
                                               "examples: shop apps and infrastructure"));
  std::cout << "Git repository " << (work / "repo").string() << " at commit " << commit.substr(0, 7)
            << "\n";

  certs::GenerateOptions cert_options;
  cert_options.extra_ip_addresses = {"127.0.0.1"};
  cert_options.extra_dns_names = {"localhost"};
  certs::SystemClock clock;
  ASSIGN_OR_RETURN(certs::Material material, certs::Generate(cert_options, clock));
  RETURN_IF_ERROR(certs::WriteMaterial(material, (work / "certs").string()));
  std::cout << "generated a CA and a serving certificate for 127.0.0.1 in "
            << (work / "certs").string() << "\n";

  const fs::path config_path = fs::path(options.examples) / "clusters/demo/driftguard.yaml";
  ASSIGN_OR_RETURN(core::FluxConfig config, core::LoadFluxConfig(config_path));
  for (core::GitRepository& r : config.repositories) r.url = "file://" + (work / "repo").string();

  GuardStackOptions stack_options;
  stack_options.cache_dir = (work / "cache").string();
  stack_options.server.bind_address = "127.0.0.1";
  stack_options.server.secure_port = 0;
  stack_options.server.metrics_bind_address = "127.0.0.1:0";
  stack_options.server.tls_cert_file = (work / "certs/tls.crt").string();
  stack_options.server.tls_key_file = (work / "certs/tls.key").string();
  RETURN_IF_ERROR(stack_options.server.Validate());
  ASSIGN_OR_RETURN(auto stack, BuildGuardStack(stack_options, std::move(config)));
  RETURN_IF_ERROR(stack->sync->SyncOnce());
  std::cout << "\n== desired state (rendered like kubectl kustomize, plus Flux post-build)\n";
  auto view = stack->store.Current();
  for (const auto& [id, entry] : view->entries()) {
    std::cout << "Kustomization " << id.ToString() << ": " << entry.snapshot->objects().size()
              << " objects at " << entry.snapshot->info().revision << "\n";
    for (const core::DesiredObject& o : entry.snapshot->objects()) {
      std::cout << "  " << o.ref.ToString();
      const core::FieldOrigin* origin = core::FindPointer(o.object, "/spec/replicas") != nullptr
                                            ? o.Origin("/spec/replicas")
                                            : nullptr;
      if (origin != nullptr) {
        std::cout << "   spec.replicas declared in " << origin->file << ":" << origin->line;
      }
      std::cout << "\n";
    }
  }

  RETURN_IF_ERROR(stack->server->Start());
  std::cout << "\n== webhook serving on https://127.0.0.1:" << stack->server->secure_port()
            << " (mode " << webhook::GuardModeName(stack->guard_config.default_mode)
            << "; Kustomization redis: revert)\n\n";
  webhook::DemoSessionOptions session;
  session.port = stack->server->secure_port();
  session.ca_file = (work / "certs/ca.crt").string();
  auto summary = webhook::RunDemoSession(session, *view, std::cout);
  stack->server->Stop();
  RETURN_IF_ERROR(summary.status());
  std::cout << "== " << summary->steps << " requests: " << summary->denied << " denied, "
            << summary->reverted << " reverted, " << summary->allowed << " allowed\n\n";
  std::cout << "== metrics (excerpt)\n";
  std::istringstream metrics(stack->registry.Render());
  for (std::string line; std::getline(metrics, line);) {
    if (line.rfind("driftguard_admission_requests_total{", 0) == 0 ||
        line.rfind("driftguard_drift_attempts_total{", 0) == 0 ||
        line.rfind("driftguard_break_glass_total{", 0) == 0) {
      std::cout << line << "\n";
    }
  }
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
      Define({.name = "certs",
              .summary = "Generate or inspect the webhook's CA and serving certificate",
              .usage = "generate|inspect [FILE] [flags]",
              .min_args = 1,
              .max_args = 2},
             RunCerts),
      Define({.name = "demo",
              .summary = "Serve examples/ from a local Git repository, start the webhook and "
                         "replay a scripted kubectl session against it"},
             RunDemo),
      Define({.name = "diff",
              .summary = "Print per-field differences between a rendered directory and live "
                         "objects",
              .usage = "DIR --live FILE [flags]",
              .min_args = 1,
              .max_args = 1},
             RunDiff),
      Define({.name = "render",
              .summary = "Render a directory like `kubectl kustomize` (plus Flux post-build)",
              .usage = "DIR [flags]",
              .min_args = 1,
              .max_args = 1},
             RunRender),
      Define(
          {.name = "version", .summary = "Print the version and the Git commit it was built from"},
          RunVersion),
      Define({.name = "webhook",
              .summary = "Serve the admission webhook over HTTPS, keeping the desired state in "
                         "sync with Git",
              .usage = "--config FILE --tls-cert-file CRT --tls-private-key-file KEY [flags]"},
             RunWebhook),
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
