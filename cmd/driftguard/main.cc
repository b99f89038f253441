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
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "certs/ca_bundle.h"
#include "certs/generate.h"
#include "certs/inspect.h"
#include "certs/manager.h"
#include "certs/pem.h"
#include "core/field_diff.h"
#include "core/flags.h"
#include "core/flux_api.h"
#include "core/flux_config.h"
#include "core/kube_client.h"
#include "core/kube_config.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/object_ref.h"
#include "core/openapi_validate.h"
#include "core/schema.h"
#include "core/status.h"
#include "core/version.h"
#include "core/yaml.h"
#include "reconciler/controller.h"
#include "reconciler/drift_repair.h"
#include "reconciler/flux_objects.h"
#include "reconciler/flux_postbuild.h"
#include "reconciler/flux_status.h"
#include "reconciler/git_local.h"
#include "reconciler/leader_election.h"
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
  bool validate = false;
  std::string openapi_dir;

  void Bind(core::FlagSet& flags) {
    flags.String("flux-kustomization", &flux_kustomization,
                 "A file holding a Flux Kustomization whose post-build (targetNamespace, patches, "
                 "images, postBuild.substitute, owner labels) is applied after the build");
    flags.Bool("show-provenance", &show_provenance,
               "Precede each object with comments naming the file:line of each declared field");
    flags.Bool("validate", &validate,
               "Check every rendered object against the Kubernetes OpenAPI schemas (and custom "
               "resources against rendered CRDs); print violations and fail instead of rendering");
    flags.String("openapi-dir", &openapi_dir,
                 "Directory of OpenAPI v3 documents for --validate (\"\" = the Kubernetes v1.28 "
                 "documents the binary was built with)");
  }
  Status Validate() const { return core::OkStatus(); }
};

Status RunRender(const GlobalOptions&, const RenderCmdOptions& options, const Args& args) {
  ASSIGN_OR_RETURN(auto objects, RenderDir(args[0], options.flux_kustomization));
  if (options.validate) {
    const std::string dir =
        options.openapi_dir.empty() ? DRIFTGUARD_OPENAPI_DIR : options.openapi_dir;
    ASSIGN_OR_RETURN(auto validator, core::OpenApiValidator::LoadDirectory(dir));
    std::vector<core::Json> docs;
    for (const auto& o : objects) docs.push_back(o.object);
    const auto violations = validator.ValidateAll(docs);
    for (const auto& v : violations) std::cerr << v.ToString() << "\n";
    if (!violations.empty()) {
      return core::FailedPreconditionError(std::to_string(violations.size()) +
                                           " schema violation(s)");
    }
  }
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
  // Cluster mode: every Kustomization of --config against the cluster of --kubeconfig.
  std::string kubeconfig;
  std::string context;
  std::string config;
  std::string cache_dir = "/tmp/driftguard/cache";
  std::string secrets_dir;

  void Bind(core::FlagSet& flags) {
    flags.String("live", &live, "A YAML file (multi-document) holding the live objects to compare");
    flags.String("flux-kustomization", &flux_kustomization,
                 "A file holding the Flux Kustomization applied after the build (see render)");
    flags.String("kubeconfig", &kubeconfig,
                 "Compare every Kustomization of --config with this cluster instead of --live");
    flags.String("context", &context, "The kubeconfig context (\"\" = current-context)");
    flags.String("config", &config,
                 "With --kubeconfig: Flux GitRepository and Kustomization "
                 "objects (multi-document YAML)");
    flags.String("cache-dir", &cache_dir, "With --kubeconfig: where Git repositories are cached");
    flags.String("secrets-dir", &secrets_dir,
                 "With --kubeconfig: Secret/ConfigMap data, <dir>/<namespace>/<name>/<key>");
  }
  Status Validate() const {
    if (!kubeconfig.empty()) {
      if (config.empty()) return core::InvalidArgumentError("--kubeconfig needs --config");
      return core::OkStatus();
    }
    if (live.empty()) return core::InvalidArgumentError("--live or --kubeconfig is required");
    return core::OkStatus();
  }
};

Status RunClusterDiff(const DiffCmdOptions& options);

Status RunDiff(const GlobalOptions&, const DiffCmdOptions& options, const Args& args) {
  if (!options.kubeconfig.empty()) {
    if (!args.empty()) return core::InvalidArgumentError("diff --kubeconfig takes no DIR");
    return RunClusterDiff(options);
  }
  if (args.empty()) return core::InvalidArgumentError("diff --live needs a DIR");
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
  std::string output = "text";

  void Bind(core::FlagSet& flags) {
    flags.String("out-dir", &out_dir, "generate: directory for ca.crt, ca.key, tls.crt, tls.key");
    flags.String("namespace", &namespace_name, "generate: namespace of the webhook Service");
    flags.String("service", &service_name, "generate: name of the webhook Service");
    flags.StringList("dns", &dns, "generate: extra DNS name for the serving certificate");
    flags.StringList("ip", &ips, "generate: extra IP address for the serving certificate");
    flags.String("key-type", &key_type, "generate: ecdsa-p256|rsa-2048|rsa-3072");
    flags.String("output", &output, "inspect: text|json");
  }
  Status Validate() const {
    if (output != "text" && output != "json") {
      return core::InvalidArgumentError("--output \"" + output + "\" is not one of: text, json");
    }
    return certs::ParseKeyAlgorithm(key_type).status();
  }
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
    if (args.size() != 2) {
      return core::InvalidArgumentError("usage: driftguard certs inspect DIR|FILE");
    }
    // A directory (ca.crt, tls.crt, tls.key), a Secret manifest, or a PEM file.
    ASSIGN_OR_RETURN(auto targets, certs::LoadInspectTargets(args[1]));
    certs::SystemClock clock;
    if (options.output == "json") {
      ASSIGN_OR_RETURN(core::Json report, certs::InspectReportJson(targets, clock.Now()));
      std::cout << report.dump(2) << "\n";
    } else {
      ASSIGN_OR_RETURN(std::string report, certs::InspectReportText(targets, clock.Now()));
      std::cout << report;
    }
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
  // Override the GuardConfig document's defaultMode / protect when set (flags win over the file).
  std::string default_mode;
  std::string protect;

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
    flags.Duration("request-deadline", &server.request_deadline,
                   "Longest time a client may take to send one whole request (TLS handshake, "
                   "headers, body); slower connections are closed");
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
  if (!options.default_mode.empty()) {
    ASSIGN_OR_RETURN(stack->guard_config.default_mode,
                     webhook::ParseGuardMode(options.default_mode));
  }
  if (!options.protect.empty()) {
    stack->guard_config.protect = options.protect == "declared" ? webhook::ProtectLevel::kDeclared
                                                                : webhook::ProtectLevel::kAll;
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
  core::FlushLogs();  // operators and scripts watch for this line
  WaitForTermination();
  stack->server->Stop();  // finishes in-flight reviews
  stack->sync->Stop();
  return core::OkStatus();
}

// ---------------------------------------------------------------------------------------------
// driftguard run

struct RunOptions {
  GuardStackOptions stack;
  std::string mode = "full";
  std::string kubeconfig;
  std::string kube_context;
  std::string pod_namespace = "driftguard-system";
  std::string port_file;
  bool leader_elect = true;
  std::string leader_election_id = "driftguard";
  bool manage_certificates = false;
  std::string cert_dir = "/tmp/driftguard/certs";
  std::string service_name = "driftguard";
  std::string certificate_secret = "driftguard-certs";

  void Bind(core::FlagSet& flags) {
    stack.Bind(flags);
    flags.String("mode", &mode,
                 "full: webhook + source sync + reconciler (when leader); guard: webhook + source "
                 "sync judging against what Flux last applied");
    flags.String("kubeconfig", &kubeconfig,
                 "kubeconfig of the cluster (\"\": in-cluster when KUBERNETES_SERVICE_HOST is set, "
                 "otherwise no cluster: webhook + source sync from --config only)");
    flags.String("context", &kube_context, "kubeconfig context (\"\": the current one)");
    flags.String("namespace", &pod_namespace,
                 "driftguard's own namespace (Lease, certificate Secret, Events)");
    flags.String("default-mode", &stack.default_mode,
                 "enforce|revert|audit; overrides the GuardConfig's defaultMode");
    flags.String("protect", &stack.protect, "all|declared; overrides the GuardConfig's protect");
    flags.String("port-file", &port_file,
                 "Once serving, write \"<secure port> <metrics port>\" to this file (for "
                 "scripts using --secure-port 0)");
    flags.Bool("leader-elect", &leader_elect,
               "full mode: only the holder of the Lease --leader-election-id writes (false: this "
               "replica always writes; run one replica only)");
    flags.String("leader-election-id", &leader_election_id,
                 "Name of the coordination.k8s.io Lease in --namespace");
    flags.Bool("manage-certificates", &manage_certificates,
               "Create, store (Secret --certificate-secret), inject (caBundle of driftguard-guard "
               "and driftguard-revert) and rotate the serving certificate; the server then "
               "serves --cert-dir/tls.crt and tls.key");
    flags.String("cert-dir", &cert_dir,
                 "Writable directory for the managed certificate files (an emptyDir)");
    flags.String("service-name", &service_name,
                 "The webhook Service: managed certificates are issued for "
                 "<service-name>.<namespace>.svc");
    flags.String("certificate-secret", &certificate_secret,
                 "Secret in --namespace holding the managed CA and serving certificate");
  }
  Status Validate() const {
    if (mode != "full" && mode != "guard") {
      return core::InvalidArgumentError("--mode must be full or guard, got \"" + mode + "\"");
    }
    if (!stack.default_mode.empty()) {
      RETURN_IF_ERROR(
          webhook::ParseGuardMode(stack.default_mode).status().WithPrefix("--default-mode"));
    }
    if (!stack.protect.empty() && stack.protect != "all" && stack.protect != "declared") {
      return core::InvalidArgumentError("--protect must be all or declared, got \"" +
                                        stack.protect + "\"");
    }
    if (manage_certificates) {
      if (cert_dir.empty()) {
        return core::InvalidArgumentError("--cert-dir is required with --manage-certificates");
      }
      webhook::WebhookServerOptions server = stack.server;
      server.tls_cert_file = (std::filesystem::path(cert_dir) / "tls.crt").string();
      server.tls_key_file = (std::filesystem::path(cert_dir) / "tls.key").string();
      return server.Validate();
    }
    return stack.server.Validate();
  }
};

// The cluster driftguard runs against: a kubeconfig, in-cluster, or none.
core::StatusOr<std::optional<core::KubeConfig>> ClusterConfig(const RunOptions& options) {
  if (!options.kubeconfig.empty()) {
    ASSIGN_OR_RETURN(core::KubeConfig config,
                     core::LoadKubeConfigFile(options.kubeconfig, options.kube_context));
    return std::optional<core::KubeConfig>(std::move(config));
  }
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  if (host == nullptr || *host == '\0') return std::optional<core::KubeConfig>();
  core::InClusterEnvironment env;
  env.service_host = host;
  const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
  env.service_port = port != nullptr ? port : "443";
  ASSIGN_OR_RETURN(core::KubeConfig config, core::LoadInClusterConfig(env));
  return std::optional<core::KubeConfig>(std::move(config));
}

Status WritePortFile(const std::string& path, int secure_port, int metrics_port) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << secure_port << " " << metrics_port << "\n";
    if (!out) return core::InternalError("cannot write " + tmp);
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) return core::InternalError("cannot rename " + tmp + " to " + path + ": " + ec.message());
  return core::OkStatus();
}

// Secret and ConfigMap data from the cluster, for secretRef and substituteFrom.
reconciler::ObjectDataLookup ClusterLookup(core::KubeClient* client) {
  return [client](std::string_view kind, std::string_view ns,
                  std::string_view name) -> core::StatusOr<std::map<std::string, std::string>> {
    const bool secret = kind == "Secret";
    ASSIGN_OR_RETURN(core::Json object, client->Get({"", "v1", std::string(kind)}, ns, name));
    std::map<std::string, std::string> data;
    const core::Json values = object.value("data", core::Json::object());
    for (const auto& [key, value] : values.items()) {
      if (!value.is_string()) continue;
      if (!secret) {
        data[key] = value.get<std::string>();
        continue;
      }
      auto decoded = certs::Base64Decode(value.get<std::string>());
      if (!decoded.ok()) {
        return decoded.status().WithPrefix("Secret " + std::string(ns) + "/" + std::string(name) +
                                           ": data." + key);
      }
      data[key] = std::move(*decoded);
    }
    if (!secret) {
      for (const auto& [key, value] : object.value("binaryData", core::Json::object()).items()) {
        if (value.is_string()) data[key] = value.get<std::string>();
      }
    }
    return data;
  };
}

// One SourceSync for the current set of Flux objects: a new set replaces it (the Git cache on
// disk keeps the restart cheap) and Kustomizations that left are removed from the store.
class SourceSyncSwitch {
 public:
  SourceSyncSwitch(reconciler::SourceSyncOptions options, core::DesiredStateStore* store,
                   reconciler::ObjectDataLookup lookup, core::MetricsRegistry* registry,
                   reconciler::SourceSync::FetchObserver observer = nullptr)
      : options_(std::move(options)),
        store_(store),
        lookup_(std::move(lookup)),
        registry_(registry),
        observer_(std::move(observer)) {}
  ~SourceSyncSwitch() { Stop(); }

  void Set(const core::FluxConfig& config) {
    std::lock_guard lock(mu_);
    if (sync_) sync_->Stop();
    std::set<core::KustomizationId> ids;
    for (const core::Kustomization& k : config.kustomizations) ids.insert({k.namespace_, k.name});
    for (const core::KustomizationId& id : ids_) {
      if (!ids.contains(id)) store_->Remove(id);
    }
    ids_ = std::move(ids);
    sync_ = std::make_unique<reconciler::SourceSync>(options_, config, store_, lookup_, registry_);
    if (observer_) sync_->SetFetchObserver(observer_);
    sync_->Start();
  }
  void Stop() {
    std::lock_guard lock(mu_);
    if (sync_) sync_->Stop();
    sync_.reset();
  }

 private:
  const reconciler::SourceSyncOptions options_;
  core::DesiredStateStore* const store_;
  const reconciler::ObjectDataLookup lookup_;
  core::MetricsRegistry* const registry_;
  const reconciler::SourceSync::FetchObserver observer_;
  std::mutex mu_;
  std::unique_ptr<reconciler::SourceSync> sync_;  // guarded by mu_
  std::set<core::KustomizationId> ids_;           // guarded by mu_
};

// `run` with a cluster. The Flux objects come from --config when it declares any (their
// inventory and status then live in driftguard-inventory-* ConfigMaps), otherwise from the
// cluster (watched; status written to the Kustomizations in full mode). In guard mode nothing is
// written but Events and the managed certificates; the source sync renders the revisions Flux
// last applied.
Status RunInCluster(const RunOptions& options, core::KubeConfig kube, core::FluxConfig config) {
  auto log = core::Logger("main");
  const bool full = options.mode == "full";
  const bool from_cluster = config.repositories.empty() && config.kustomizations.empty();
  ASSIGN_OR_RETURN(auto client, core::HttpKubeClient::Create(kube));

  GuardStackOptions stack_options = options.stack;
  if (options.manage_certificates) {
    stack_options.server.tls_cert_file =
        (std::filesystem::path(options.cert_dir) / "tls.crt").string();
    stack_options.server.tls_key_file =
        (std::filesystem::path(options.cert_dir) / "tls.key").string();
  }
  // The stack's own source sync serves a static --config; the switch below replaces it for
  // objects read from the cluster.
  ASSIGN_OR_RETURN(
      auto stack,
      BuildGuardStack(stack_options,
                      from_cluster
                          ? core::FluxConfig{.guard_config = config.guard_config,
                                             .guard_config_where = config.guard_config_where}
                          : config));
  reconciler::EventRecorder events(client.get());

  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  certs::SystemClock clock;
  std::unique_ptr<certs::CertificateManager> cert_manager;
  if (options.manage_certificates) {
    certs::CertificateManagerOptions cert_options;
    cert_options.namespace_name = options.pod_namespace;
    cert_options.secret_name = options.certificate_secret;
    cert_options.output_dir = options.cert_dir;
    cert_options.rotation.generate.namespace_name = options.pod_namespace;
    cert_options.rotation.generate.service_name = options.service_name;
    RETURN_IF_ERROR(cert_options.Validate());
    certs::CertificateManagerHooks hooks;
    hooks.registry = &stack->registry;
    const core::Json secret = {
        {"apiVersion", "v1"},
        {"kind", "Secret"},
        {"metadata", {{"name", options.certificate_secret}, {"namespace", options.pod_namespace}}}};
    hooks.on_event = [&events, secret](std::string_view type, std::string_view reason,
                                       std::string_view message) {
      events.Record(secret, type, reason, message);
    };
    cert_manager = std::make_unique<certs::CertificateManager>(cert_options, client.get(), &clock,
                                                               std::move(hooks));
    RETURN_IF_ERROR(cert_manager->Start().WithPrefix("certificates"));
  }

  std::unique_ptr<reconciler::DriftRepairer> repairer;
  std::unique_ptr<reconciler::LeaderElector> elector;
  // Full mode on the cluster's objects: the leader writes each GitRepository's status when its
  // fetched revision or error changes. The latest fetch of every repository is kept, so a replica
  // that becomes the leader after a fetch writes its status then, not at the next fetch.
  reconciler::SourceSync::FetchObserver fetch_observer;
  struct RepoFetch {
    core::GitRepository repo;
    std::string revision;
    core::Status error;
  };
  std::mutex repo_status_mu;
  std::map<std::string, RepoFetch> repo_fetches;           // guarded by repo_status_mu
  std::map<std::string, std::string> repo_status_written;  // guarded by repo_status_mu
  std::function<void(const RepoFetch&)> write_repo_status;
  std::function<void()> write_all_repo_statuses;
  if (full && from_cluster) {
    write_repo_status = [&, client = client.get()](const RepoFetch& fetch) {
      const core::GitRepository& repo = fetch.repo;
      const int64_t generation = repo.object["metadata"].value("generation", int64_t{0});
      const std::string key = repo.namespace_ + "/" + repo.name;
      const std::string state =
          fetch.revision + "\n" + fetch.error.ToString() + "\n" + std::to_string(generation);
      {
        std::lock_guard lock(repo_status_mu);
        if (repo_status_written[key] == state) return;
      }
      Status written = reconciler::WriteGitRepositoryStatus(
          client, repo, fetch.revision, fetch.error, generation, std::chrono::system_clock::now());
      if (!written.ok()) {
        log->warn("GitRepository {}: writing status: {}", key, written.message());
        return;
      }
      std::lock_guard lock(repo_status_mu);
      repo_status_written[key] = state;
    };
    write_all_repo_statuses = [&] {
      std::vector<RepoFetch> fetches;
      {
        std::lock_guard lock(repo_status_mu);
        for (const auto& [key, fetch] : repo_fetches) fetches.push_back(fetch);
      }
      for (const RepoFetch& fetch : fetches) write_repo_status(fetch);
    };
    fetch_observer = [&](const core::GitRepository& repo, const std::string& revision,
                         const core::Status& error) {
      RepoFetch fetch{repo, revision, error};
      {
        std::lock_guard lock(repo_status_mu);
        repo_fetches[repo.namespace_ + "/" + repo.name] = fetch;
      }
      if (elector && !elector->IsLeader()) return;
      write_repo_status(fetch);
    };
  }
  reconciler::SourceSyncOptions sync_options;
  sync_options.cache_dir = std::filesystem::absolute(options.stack.cache_dir);
  SourceSyncSwitch sync(sync_options, &stack->store, ClusterLookup(client.get()), &stack->registry,
                        fetch_observer);
  std::unique_ptr<reconciler::Reconciler> reconciler;
  if (full) {
    repairer = std::make_unique<reconciler::DriftRepairer>(client.get(), &events, &stack->registry,
                                                           reconciler::DriftRepairOptions{});
    if (options.leader_elect) {
      reconciler::LeaderElectionOptions election;
      election.namespace_ = options.pod_namespace;
      election.name = options.leader_election_id;
      if (const char* pod = std::getenv("POD_NAME"); pod != nullptr && *pod != '\0') {
        election.identity = pod;
      }
      RETURN_IF_ERROR(election.Validate());
      reconciler::DriftRepairer* raw_repairer = repairer.get();
      reconciler::LeaderCallbacks callbacks;
      callbacks.on_started_leading = [raw_repairer, log, &write_all_repo_statuses] {
        log->info("became the leader: applying, pruning and repairing drift");
        raw_repairer->SetEnabled(true);
        if (write_all_repo_statuses) write_all_repo_statuses();
      };
      callbacks.on_stopped_leading = [raw_repairer, log] {
        log->warn("stopped leading: no more writes from this replica");
        raw_repairer->SetEnabled(false);
      };
      elector = std::make_unique<reconciler::LeaderElector>(client.get(), election,
                                                            std::move(callbacks), &stack->registry);
    } else {
      repairer->SetEnabled(true);
    }
    reconciler::ReconcilerOptions reconciler_options;
    reconciler_options.status_sink = from_cluster ? reconciler::StatusSink::kKustomizationStatus
                                                  : reconciler::StatusSink::kConfigMap;
    RETURN_IF_ERROR(reconciler_options.Validate());
    reconciler = std::make_unique<reconciler::Reconciler>(
        client.get(), &stack->store, from_cluster ? core::FluxConfig{} : config, reconciler_options,
        elector.get(), repairer.get(), &events, &stack->registry);
  }

  std::unique_ptr<reconciler::ClusterFluxObjects> flux;
  if (from_cluster) {
    reconciler::ClusterFluxObjectsOptions flux_options;
    flux_options.track_last_applied_revision = !full;
    reconciler::Reconciler* raw_reconciler = reconciler.get();
    flux = std::make_unique<reconciler::ClusterFluxObjects>(
        client.get(), flux_options,
        [&sync, raw_reconciler, full, log](const core::FluxConfig& objects) {
          core::FluxConfig next = full ? objects : reconciler::PinToLastAppliedRevisions(objects);
          log->info("Flux objects: {} GitRepository, {} Kustomization", next.repositories.size(),
                    next.kustomizations.size());
          sync.Set(next);
          if (raw_reconciler != nullptr) raw_reconciler->SetConfig(objects);
        });
    RETURN_IF_ERROR(flux->Start());
  } else {
    stack->sync->Start();
  }
  if (elector) elector->Start();
  if (repairer) repairer->Start();
  if (reconciler) reconciler->Start();
  RETURN_IF_ERROR(stack->server->Start());
  log->info("driftguard {} running in {} mode against {}: webhook on {}:{}, metrics on port {}",
            core::Version(), options.mode, kube.server, options.stack.server.bind_address,
            stack->server->secure_port(), stack->server->metrics_port());
  core::FlushLogs();  // operators and scripts watch for this line
  if (!options.port_file.empty()) {
    RETURN_IF_ERROR(WritePortFile(options.port_file, stack->server->secure_port(),
                                  stack->server->metrics_port()));
  }
  WaitForTermination();
  // Writers first (the Lease is released last among them so a successor starts at once), then
  // the server finishes its in-flight reviews.
  if (reconciler) reconciler->Stop();
  if (repairer) repairer->Stop();
  if (elector) elector->Stop();
  stack->server->Stop();
  if (flux) flux->Stop();
  sync.Stop();
  stack->sync->Stop();
  if (cert_manager) cert_manager->Stop();
  log->info("stopped");
  return core::OkStatus();
}

Status RunRun(const GlobalOptions&, const RunOptions& options, const Args&) {
  auto log = core::Logger("main");
  ASSIGN_OR_RETURN(std::optional<core::KubeConfig> cluster, ClusterConfig(options));
  if (!cluster && options.stack.config.empty()) {
    return core::InvalidArgumentError(
        "--config is required without a cluster (no --kubeconfig, not running in a pod)");
  }
  core::FluxConfig config;
  if (!options.stack.config.empty()) {
    ASSIGN_OR_RETURN(config, core::LoadFluxConfig(options.stack.config));
  }
  if (cluster) return RunInCluster(options, std::move(*cluster), std::move(config));
  ASSIGN_OR_RETURN(auto stack, BuildGuardStack(options.stack, std::move(config)));
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  stack->sync->Start();
  RETURN_IF_ERROR(stack->server->Start());
  log->info(
      "driftguard {} running in {} mode without a cluster: webhook on {}:{}, metrics on port {}",
      core::Version(), options.mode, options.stack.server.bind_address,
      stack->server->secure_port(), stack->server->metrics_port());
  core::FlushLogs();  // operators and scripts watch for this line
  if (!options.port_file.empty()) {
    RETURN_IF_ERROR(WritePortFile(options.port_file, stack->server->secure_port(),
                                  stack->server->metrics_port()));
  }
  WaitForTermination();
  stack->server->Stop();  // finishes in-flight reviews
  stack->sync->Stop();
  log->info("stopped");
  return core::OkStatus();
}

// ---------------------------------------------------------------------------------------------
// driftguard reconcile --once, and diff --kubeconfig: Git (via --config) against a cluster.

// The client for --kubeconfig (and --context).
core::StatusOr<std::unique_ptr<core::HttpKubeClient>> KubeClientFor(const std::string& kubeconfig,
                                                                    const std::string& context) {
  ASSIGN_OR_RETURN(core::KubeConfig config, core::LoadKubeConfigFile(kubeconfig, context));
  config.field_manager = "driftguard";
  RETURN_IF_ERROR(config.Validate());
  return core::HttpKubeClient::Create(config);
}

// Fetches and renders every Kustomization of `config` into `store` once. Failures stay recorded
// per Kustomization in the store; only a bad option is returned.
Status SyncSourcesOnce(const core::FluxConfig& config, const std::string& cache_dir,
                       const std::string& secrets_dir, core::DesiredStateStore* store) {
  reconciler::SourceSyncOptions sync_options;
  sync_options.cache_dir = std::filesystem::absolute(cache_dir);
  RETURN_IF_ERROR(sync_options.Validate());
  reconciler::SourceSync sync(sync_options, config, store, DirectoryLookup(secrets_dir));
  sync.SyncOnce().IgnoreError();  // recorded in the store, reported per Kustomization
  return core::OkStatus();
}

struct ReconcileCmdOptions {
  bool once = false;
  std::string config;
  std::string kubeconfig;
  std::string context;
  std::string cache_dir = "/tmp/driftguard/cache";
  std::string secrets_dir;

  void Bind(core::FlagSet& flags) {
    flags.Bool("once", &once, "Apply every Kustomization once and exit (required)");
    flags.String("config", &config,
                 "Multi-document YAML: Flux GitRepository and Kustomization objects");
    flags.String("kubeconfig", &kubeconfig, "The kubeconfig of the cluster to apply to");
    flags.String("context", &context, "The kubeconfig context (\"\" = current-context)");
    flags.String("cache-dir", &cache_dir, "Where Git repositories are cached");
    flags.String("secrets-dir", &secrets_dir,
                 "Directory of Secret/ConfigMap data for secretRef and substituteFrom: "
                 "<dir>/<namespace>/<name>/<key>");
  }
  Status Validate() const {
    if (!once) return core::InvalidArgumentError("reconcile: --once is required");
    if (config.empty()) return core::InvalidArgumentError("--config is required");
    if (kubeconfig.empty()) return core::InvalidArgumentError("--kubeconfig is required");
    return core::OkStatus();
  }
};

// Inventories and last status go to driftguard-inventory-<name> ConfigMaps, so the next run
// prunes what left Git.
Status RunReconcile(const GlobalOptions&, const ReconcileCmdOptions& options, const Args&) {
  ASSIGN_OR_RETURN(core::FluxConfig config, core::LoadFluxConfig(options.config));
  ASSIGN_OR_RETURN(auto client, KubeClientFor(options.kubeconfig, options.context));
  core::DesiredStateStore store;
  RETURN_IF_ERROR(SyncSourcesOnce(config, options.cache_dir, options.secrets_dir, &store));
  reconciler::EventRecorder events(client.get());
  reconciler::ReconcilerOptions reconciler_options;
  reconciler_options.status_sink = reconciler::StatusSink::kConfigMap;
  reconciler::Reconciler reconciler(client.get(), &store, config, reconciler_options, nullptr,
                                    nullptr, &events);
  std::vector<std::string> failed;
  for (const reconciler::RunOutcome& o : reconciler.ReconcileAll()) {
    std::cout << o.Describe();
    if (o.result == reconciler::RunResult::kFailed || o.result == reconciler::RunResult::kStalled) {
      failed.push_back(o.id.ToString());
    }
  }
  if (!failed.empty()) {
    std::string names;
    for (const std::string& n : failed) names += (names.empty() ? "" : ", ") + n;
    return core::FailedPreconditionError(std::to_string(failed.size()) +
                                         " Kustomization(s) failed: " + names);
  }
  return core::OkStatus();
}

// Per field, what Git declares and the cluster holds, in `diff --live`'s format.
Status RunClusterDiff(const DiffCmdOptions& options) {
  ASSIGN_OR_RETURN(core::FluxConfig config, core::LoadFluxConfig(options.config));
  ASSIGN_OR_RETURN(auto client, KubeClientFor(options.kubeconfig, options.context));
  core::DesiredStateStore store;
  RETURN_IF_ERROR(SyncSourcesOnce(config, options.cache_dir, options.secrets_dir, &store));
  core::DiffOptions diff_options;
  diff_options.ignored_pointers = {"/status",
                                   "/metadata/resourceVersion",
                                   "/metadata/generation",
                                   "/metadata/managedFields",
                                   "/metadata/uid",
                                   "/metadata/creationTimestamp"};
  size_t drifted = 0;
  size_t objects = 0;
  size_t failed = 0;
  auto view = store.Current();
  for (const core::Kustomization& k : config.kustomizations) {
    const core::KustomizationEntry* entry = view->Find({k.namespace_, k.name});
    std::cout << "Kustomization " << k.namespace_ << "/" << k.name;
    if (entry == nullptr || entry->snapshot == nullptr || !entry->last_error.ok()) {
      std::cout << ": "
                << (entry != nullptr && !entry->last_error.ok() ? entry->last_error.message()
                                                                : "not rendered")
                << "\n";
      ++failed;
      continue;
    }
    std::cout << " at " << entry->snapshot->info().revision << "\n";
    for (const core::DesiredObject& d : entry->snapshot->objects()) {
      ++objects;
      auto live =
          client->Get(core::GroupVersionKind::FromObject(d.object), d.ref.namespace_, d.ref.name);
      if (!live.ok()) {
        if (!core::IsNotFound(live.status())) return live.status();
        std::cout << d.ref.ToString() << ": missing from the cluster\n";
        ++drifted;
        continue;
      }
      const core::SchemaNode* schema = core::Schema::ForApiVersionKind(
          d.object.value("apiVersion", ""), d.object.value("kind", ""));
      // Only what Git declares: fields the API server or other managers add are not drift.
      for (const auto& c : core::DiffObjects(d.object, *live, schema, diff_options)) {
        if (!c.old_value) continue;
        std::cout << d.ref.ToString() << ": " << c.path << ": git " << c.old_value->dump()
                  << ", live " << (c.new_value ? c.new_value->dump() : "<none>");
        if (const core::FieldOrigin* origin = d.Origin(c.old_pointer); origin != nullptr) {
          std::cout << " (declared in " << origin->file
                    << (origin->line > 0 ? ":" + std::to_string(origin->line) : "") << ")";
        }
        std::cout << "\n";
        ++drifted;
      }
    }
  }
  if (failed > 0) {
    return core::FailedPreconditionError(std::to_string(failed) +
                                         " Kustomization(s) could not be rendered");
  }
  if (drifted == 0) std::cout << "no drift: " << objects << " objects match Git\n";
  if (drifted > 0) {
    return core::FailedPreconditionError(std::to_string(drifted) + " field(s) drift from Git");
  }
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

// A child process running another driftguard subcommand, its output going to a log file. The
// child gets SIGTERM if the parent dies first.
class ChildProcess {
 public:
  static core::StatusOr<std::unique_ptr<ChildProcess>> Start(const std::vector<std::string>& args,
                                                             const std::string& log_file) {
    std::vector<char*> argv;
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    const pid_t parent = getpid();
    const pid_t pid = fork();
    if (pid < 0) return core::InternalError(std::string("fork: ") + std::strerror(errno));
    if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (getppid() != parent) _exit(127);
      const int fd = open(log_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      const int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
      if (fd < 0 || null < 0) _exit(127);
      dup2(null, 0);
      dup2(fd, 1);
      dup2(fd, 2);
      execv("/proc/self/exe", argv.data());
      _exit(127);
    }
    auto child = std::make_unique<ChildProcess>();
    child->pid_ = pid;
    child->log_file_ = log_file;
    return child;
  }
  ~ChildProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }

  pid_t pid() const { return pid_; }
  // The exit code, or nullopt while it runs.
  std::optional<int> Poll() {
    if (pid_ <= 0) return exit_code_;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    return exit_code_;
  }
  // SIGTERM, then waits up to `timeout` for the exit code (SIGKILL after that).
  int Terminate(std::chrono::milliseconds timeout) {
    if (pid_ > 0) kill(pid_, SIGTERM);
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!Poll() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (!Poll()) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
      pid_ = -1;
      exit_code_ = 128 + SIGKILL;
    }
    return *exit_code_;
  }
  // The last lines of its log, for error messages.
  std::string LogTail() const {
    std::ifstream in(log_file_);
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    std::string tail;
    for (size_t i = lines.size() > 10 ? lines.size() - 10 : 0; i < lines.size(); ++i) {
      tail += "\n  " + lines[i];
    }
    return tail;
  }

 private:
  pid_t pid_ = -1;
  std::optional<int> exit_code_;
  std::string log_file_;
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
               "HTTPS by `driftguard run`\n\n";
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

  // The embedded default configuration, pointed at the local repository.
  const fs::path example_config = fs::path(options.examples) / "clusters/demo/driftguard.yaml";
  ASSIGN_OR_RETURN(core::FluxConfig config, core::LoadFluxConfig(example_config));
  std::vector<core::Json> docs;
  for (core::GitRepository& r : config.repositories) {
    r.url = "file://" + (work / "repo").string();
    r.object["spec"]["url"] = r.url;
    docs.push_back(r.object);
  }
  for (const core::Kustomization& k : config.kustomizations) docs.push_back(k.object);
  if (config.guard_config) docs.push_back(*config.guard_config);
  const fs::path config_path = work / "driftguard.yaml";
  {
    std::ofstream out(config_path);
    out << core::EmitYamlStream(docs);
    if (!out) return core::InternalError("cannot write " + config_path.string());
  }
  webhook::GuardConfig guard_config;
  if (config.guard_config) {
    ASSIGN_OR_RETURN(guard_config,
                     webhook::ParseGuardConfig(*config.guard_config, config.guard_config_where));
  }

  // The session's script needs the desired objects; render them here as `run` does.
  core::DesiredStateStore store;
  reconciler::SourceSyncOptions sync_options;
  sync_options.cache_dir = work / "demo-cache";
  reconciler::SourceSync sync(sync_options, config, &store, nullptr);
  RETURN_IF_ERROR(sync.SyncOnce());
  std::cout << "\n== desired state (rendered like kubectl kustomize, plus Flux post-build)\n";
  auto view = store.Current();
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

  const fs::path port_file = work / "ports";
  const std::vector<std::string> run_args = {"driftguard",
                                             "run",
                                             "--config",
                                             config_path.string(),
                                             "--tls-cert-file",
                                             (work / "certs/tls.crt").string(),
                                             "--tls-private-key-file",
                                             (work / "certs/tls.key").string(),
                                             "--bind-address",
                                             "127.0.0.1",
                                             "--secure-port",
                                             "0",
                                             "--metrics-bind-address",
                                             "127.0.0.1:0",
                                             "--cache-dir",
                                             (work / "cache").string(),
                                             "--port-file",
                                             port_file.string(),
                                             "--kubeconfig",
                                             "",
                                             "--log-format",
                                             global.log.format};
  ASSIGN_OR_RETURN(auto child, ChildProcess::Start(run_args, (work / "run.log").string()));
  int secure_port = 0, metrics_port = 0;
  for (const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);;) {
    std::ifstream ports(port_file);
    if (ports >> secure_port >> metrics_port) break;
    if (auto code = child->Poll()) {
      return core::InternalError("driftguard run exited with code " + std::to_string(*code) +
                                 " before serving:" + child->LogTail());
    }
    if (std::chrono::steady_clock::now() > deadline) {
      return core::DeadlineExceededError("driftguard run did not start serving within 30 s:" +
                                         child->LogTail());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  webhook::DemoSessionOptions session;
  session.port = secure_port;
  session.ca_file = (work / "certs/ca.crt").string();
  if (Status ready = webhook::WaitUntilReady(session, std::chrono::seconds(60)); !ready.ok()) {
    return ready.WithPrefix("driftguard run").WithPrefix(child->LogTail());
  }
  std::cout << "\n== `driftguard run --config " << config_path.filename().string() << "` (pid "
            << child->pid() << ") ready on https://127.0.0.1:" << secure_port << " (mode "
            << webhook::GuardModeName(guard_config.default_mode)
            << "; Kustomization redis: revert)\n\n";
  auto summary = webhook::RunDemoSession(session, *view, std::cout);
  RETURN_IF_ERROR(summary.status());
  std::cout << "== " << summary->steps << " requests: " << summary->denied << " denied, "
            << summary->reverted << " reverted, " << summary->allowed << " allowed\n\n";
  std::cout << "== metrics from http://127.0.0.1:" << metrics_port << "/metrics (excerpt)\n";
  ASSIGN_OR_RETURN(std::string metrics_text, webhook::FetchMetrics("127.0.0.1", metrics_port));
  std::istringstream metrics(metrics_text);
  for (std::string line; std::getline(metrics, line);) {
    if (line.rfind("driftguard_admission_requests_total{", 0) == 0 ||
        line.rfind("driftguard_drift_attempts_total{", 0) == 0 ||
        line.rfind("driftguard_break_glass_total{", 0) == 0) {
      std::cout << line << "\n";
    }
  }
  const int code = child->Terminate(std::chrono::seconds(30));
  if (code != 0) {
    return core::InternalError("driftguard run exited with code " + std::to_string(code) +
                               " after SIGTERM:" + child->LogTail());
  }
  std::cout << "\n== SIGTERM: driftguard run finished its in-flight reviews and exited 0\n";
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
              .usage = "generate|inspect [DIR|FILE] [flags]",
              .min_args = 1,
              .max_args = 2},
             RunCerts),
      Define({.name = "demo",
              .summary = "Serve examples/ from a local Git repository, start the webhook and "
                         "replay a scripted kubectl session against it"},
             RunDemo),
      Define({.name = "diff",
              .summary = "Print per-field differences between a rendered directory and live "
                         "objects, or between Git and a cluster",
              .usage = "DIR --live FILE | --kubeconfig K --config FILE [flags]",
              .min_args = 0,
              .max_args = 1},
             RunDiff),
      Define({.name = "reconcile",
              .summary = "Apply every Kustomization of --config to a cluster once, prune what "
                         "left Git, and exit",
              .usage = "--once --config FILE --kubeconfig K [flags]"},
             RunReconcile),
      Define({.name = "render",
              .summary = "Render a directory like `kubectl kustomize` (plus Flux post-build)",
              .usage = "DIR [flags]",
              .min_args = 1,
              .max_args = 1},
             RunRender),
      Define({.name = "run",
              .summary = "Run driftguard: webhook, source sync, and (with a cluster, when leader) "
                         "the reconciler and certificate rotation"},
             RunRun),
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
  root.SetEnvironment("DRIFTGUARD");
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
