#include "webhook/guard.h"

#include <algorithm>
#include <chrono>

#include "core/field_diff.h"
#include "core/flux_api.h"
#include "core/log.h"
#include "core/object_ref.h"
#include "core/schema.h"

namespace driftguard::webhook {
namespace {

using core::Json;
using core::JsonRef;
using core::KustomizationId;

// Fields that change without anyone meaning to change the object (DESIGN.md "Ignored paths").
// `last-applied-configuration` is rewritten by every `kubectl apply`; what it records is judged
// through the fields themselves.
const std::vector<std::string>& BaseIgnoredPointers() {
  static const std::vector<std::string> kPointers = {
      "/status",
      "/metadata/resourceVersion",
      "/metadata/generation",
      "/metadata/managedFields",
      "/metadata/uid",
      "/metadata/creationTimestamp",
      "/metadata/selfLink",
      "/metadata/deletionTimestamp",
      "/metadata/deletionGracePeriodSeconds",
      "/metadata/annotations/kubectl.kubernetes.io~1last-applied-configuration",
      "/spec/template/metadata/annotations/kubectl.kubernetes.io~1restartedAt",
  };
  return kPointers;
}

// DiffOptions holding the ignored paths of DESIGN.md; for Flux's own objects (`flux_object`) also
// spec.suspend and the reconcile.fluxcd.io annotations. Built once.
const core::DiffOptions& BaseDiffOptions(bool flux_object) {
  static const core::DiffOptions kPlain = [] {
    core::DiffOptions options;
    options.ignored_pointers = BaseIgnoredPointers();
    return options;
  }();
  static const core::DiffOptions kFlux = [] {
    core::DiffOptions options = kPlain;
    options.ignored_pointers.push_back("/spec/suspend");
    options.ignored_pointers.push_back("/metadata/annotations/reconcile.fluxcd.io~1requestedAt");
    options.ignored_pointers.push_back("/metadata/annotations/reconcile.fluxcd.io~1forceAt");
    options.ignored_pointers.push_back("/metadata/annotations/reconcile.fluxcd.io~1resetAt");
    return options;
  }();
  return flux_object ? kFlux : kPlain;
}

bool IsFluxGroup(std::string_view group) {
  constexpr std::string_view kSuffix = ".toolkit.fluxcd.io";
  return group.size() > kSuffix.size() && group.substr(group.size() - kSuffix.size()) == kSuffix;
}

const Json* Metadata(const Json& obj, const char* field) {
  if (!obj.is_object()) return nullptr;
  auto meta = obj.find("metadata");
  if (meta == obj.end() || !meta->is_object()) return nullptr;
  auto it = meta->find(field);
  if (it == meta->end() || !it->is_object()) return nullptr;
  return &*it;
}

// metadata.<field> of a request's object (labels, annotations); null when absent.
JsonRef Metadata(const JsonRef& obj, const char* field) { return obj.Find("metadata").Find(field); }

std::string StringIn(const Json* map, std::string_view key) {
  if (map == nullptr) return {};
  auto it = map->find(key);
  if (it == map->end() || !it->is_string()) return {};
  return it->get<std::string>();
}

std::string StringIn(const JsonRef& map, std::string_view key) {
  return std::string(map.Find(key).string());
}

template <typename V>  // Json (Flux's Kustomization) or JsonRef (a request's object)
bool ReconcileDisabled(const V& obj) {
  return StringIn(Metadata(obj, "annotations"), core::kReconcileAnnotation) == "disabled" ||
         StringIn(Metadata(obj, "labels"), core::kReconcileAnnotation) == "disabled";
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Plural resource name of a kind as the API server derives it for CRDs without explicit names.
bool ResourceMatchesKind(std::string_view resource, std::string_view kind) {
  std::string k = Lower(kind);
  if (resource == k + "s" || resource == k + "es") return true;
  return !k.empty() && k.back() == 'y' && resource == k.substr(0, k.size() - 1) + "ies";
}

// Resolves the parent object of a scale request from the DesiredState index.
std::optional<core::DesiredStateView::ObjectHit> FindScaleParent(const core::DesiredStateView& view,
                                                                 const AdmissionRequest& request) {
  static const std::pair<std::string_view, std::string_view> kBuiltIn[] = {
      {"deployments", "Deployment"},
      {"statefulsets", "StatefulSet"},
      {"replicasets", "ReplicaSet"},
      {"replicationcontrollers", "ReplicationController"},
  };
  for (const auto& [resource, kind] : kBuiltIn) {
    if (request.resource.resource == resource) {
      return view.FindObject(core::ObjectKey{request.resource.group, std::string(kind),
                                             request.namespace_, request.name});
    }
  }
  // Custom resources with a scale subresource: match by group, namespace, name and plural.
  for (const auto& [id, entry] : view.entries()) {
    if (!entry.snapshot) continue;
    for (const core::DesiredObject& obj : entry.snapshot->objects()) {
      if (obj.ref.group == request.resource.group && obj.ref.namespace_ == request.namespace_ &&
          obj.ref.name == request.name &&
          ResourceMatchesKind(request.resource.resource, obj.ref.kind)) {
        return core::DesiredStateView::ObjectHit{entry.snapshot.get(), &obj};
      }
    }
  }
  return std::nullopt;
}

bool HasPrefix(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && s.substr(0, prefix.size()) == prefix;
}
bool HasSuffix(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// Why `user` is exempt, or "" when not.
std::string ExemptReason(const GuardConfig& cfg, const UserInfo& user) {
  const std::string& name = user.username;
  constexpr std::string_view kSa = "system:serviceaccount:";
  if (name == cfg.own_service_account) return "driftguard's own service account";
  if (HasPrefix(name, "system:serviceaccount:flux-system:") && HasSuffix(name, "-controller")) {
    return "Flux controller";
  }
  if (HasPrefix(name, kSa) && HasSuffix(name, ":flagger")) return "Flagger";
  if (name == "system:kube-controller-manager") return "kube-controller-manager";
  if (HasPrefix(name, "system:serviceaccount:kube-system:")) return "kube-system service account";
  for (const std::string& g : user.groups) {
    if (g == "system:nodes") return "node";
  }
  for (const std::string& u : cfg.exempt_users) {
    if (u == name) return "exempt user " + u;
  }
  for (const std::string& g : user.groups) {
    for (const std::string& eg : cfg.exempt_groups) {
      if (g == eg) return "exempt group " + g;
    }
  }
  if (HasPrefix(name, kSa)) {
    std::string_view ns_name = std::string_view(name).substr(kSa.size());
    for (const std::string& sa : cfg.exempt_service_accounts) {
      if (ns_name == sa) return "exempt service account " + sa;
      if (HasSuffix(sa, ":*") && HasPrefix(ns_name, sa.substr(0, sa.size() - 1))) {
        return "exempt service account " + sa;
      }
    }
  }
  return "";
}

std::string BreakGlassGroup(const GuardConfig& cfg, const UserInfo& user) {
  for (const std::string& g : user.groups) {
    for (const std::string& bg : cfg.break_glass_groups) {
      if (g == bg) return g;
    }
  }
  return "";
}

std::vector<std::string> Split(std::string_view text, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(sep, start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view part = text.substr(start, end - start);
    while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
    while (!part.empty() && part.back() == ' ') part.remove_suffix(1);
    if (!part.empty()) out.emplace_back(part);
    start = end + 1;
  }
  return out;
}

std::string ShortRevision(const core::DesiredSnapshot& snap) {
  return snap.info().revision.empty() ? snap.ShortCommit() : snap.info().revision;
}

// Appends FormatValue(value): compact JSON, cut to 80 bytes with "…", or <none>.
void AppendValue(std::string& out, const std::optional<Json>& value) {
  if (!value) {
    out += "<none>";
    return;
  }
  const size_t start = out.size();
  core::AppendJsonValue(out, *value);
  constexpr size_t kMax = 80;
  if (out.size() - start > kMax) {
    size_t cut = start + kMax;
    while (cut > start && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) --cut;
    out.resize(cut);
    out += "…";
  }
}

// "apps/web/kustomization.yaml:8 @ 0123abc"; nothing when the origin is unknown.
void AppendOrigin(std::string& out, const DriftedField& f, const core::DesiredSnapshot* snap) {
  if (f.origin.file.empty()) return;
  out += f.origin.file;
  if (f.origin.line > 0) {
    out += ':';
    out += std::to_string(f.origin.line);
  }
  if (snap != nullptr && !snap->ShortCommit().empty()) {
    out += " @ ";
    out += snap->ShortCommit();
  }
}

std::string Origin(const DriftedField& f, const core::DesiredSnapshot* snap) {
  std::string out;
  AppendOrigin(out, f, snap);
  return out;
}

// "(git: 3, declared in apps/web/kustomization.yaml:8 @ 0123abc)"
void AppendGitNote(std::string& out, const DriftedField& f, const core::DesiredSnapshot* snap,
                   const std::string& no_state_reason) {
  if (snap == nullptr) {
    out += "(Git state not loaded: ";
    out += no_state_reason;
    out += ')';
    return;
  }
  if (!f.git) {
    out += "(not declared in Git)";
    return;
  }
  out += "(git: ";
  AppendValue(out, f.git);
  if (!f.origin.file.empty()) {
    out += ", declared in ";
    AppendOrigin(out, f, snap);
  }
  out += ')';
}

// "<prefix>spec.replicas: 3 → 5<middle>(git: 3, declared in ...)", one line of a message.
std::string FieldLine(std::string_view prefix, const DriftedField& f, std::string_view middle,
                      const core::DesiredSnapshot* snap, const std::string& no_state_reason) {
  std::string out(prefix);
  out += f.path;
  out += ": ";
  AppendValue(out, f.live);
  out += " → ";
  AppendValue(out, f.attempted);
  out += middle;
  AppendGitNote(out, f, snap, no_state_reason);
  return out;
}

// Erases the member at `relative` (a JSON pointer) inside `value`, if present.
void ErasePointer(Json& value, std::string_view relative) {
  size_t slash = relative.rfind('/');
  Json* parent = &value;
  if (slash > 0) {
    parent = const_cast<Json*>(core::FindPointer(value, relative.substr(0, slash)));
  }
  if (parent == nullptr || !parent->is_object()) return;
  std::string key;
  std::string_view raw = relative.substr(slash + 1);
  for (size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] == '~' && i + 1 < raw.size()) {
      key += raw[i + 1] == '1' ? '/' : '~';
      ++i;
    } else {
      key += raw[i];
    }
  }
  parent->erase(key);
}

bool EmptyValue(const std::optional<Json>& v) {
  return !v || v->is_null() || ((v->is_object() || v->is_array()) && v->empty());
}

// A change that covers a whole subtree (a map added or removed) may hold ignored paths, such as the
// annotations map `kubectl rollout restart` creates for restartedAt. Removes them from both values;
// false when nothing else is left to differ.
bool StripIgnoredBelow(core::FieldChange& c, const std::vector<std::string>& ignored) {
  bool stripped = false;
  for (const std::string& p : ignored) {
    for (auto [pointer, value] :
         {std::pair{&c.old_pointer, &c.old_value}, std::pair{&c.new_pointer, &c.new_value}}) {
      if (!*value || !(*value)->is_object()) continue;
      if (p.size() > pointer->size() + 1 && p.compare(0, pointer->size(), *pointer) == 0 &&
          p[pointer->size()] == '/') {
        ErasePointer(**value, std::string_view(p).substr(pointer->size()));
        stripped = true;
      }
    }
  }
  if (!stripped) return true;
  if (EmptyValue(c.old_value) && EmptyValue(c.new_value)) return false;
  return !(c.old_value && c.new_value && *c.old_value == *c.new_value);
}

struct Subject {
  std::string kind;
  std::string namespace_;
  std::string name;
  std::string Describe() const {
    return kind + " " + (namespace_.empty() ? name : namespace_ + "/" + name);
  }
};

}  // namespace

std::string FormatValue(const std::optional<Json>& value) {
  std::string text;
  AppendValue(text, value);
  return text;
}

core::StatusOr<std::unique_ptr<GuardMetrics>> GuardMetrics::Register(
    core::MetricsRegistry& registry, const core::DesiredStateStore* store) {
  auto m = std::make_unique<GuardMetrics>();
  ASSIGN_OR_RETURN(m->requests, registry.RegisterCounter(
                                    "driftguard_admission_requests_total",
                                    "Admission requests answered, by operation, decision and mode.",
                                    {"operation", "decision", "mode"}));
  ASSIGN_OR_RETURN(
      m->decision_seconds,
      registry.RegisterHistogram("driftguard_admission_decision_duration_seconds",
                                 "Time from a decoded AdmissionRequest to its answer.", {},
                                 {0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001,
                                  0.0025, 0.005, 0.01, 0.025, 0.1}));
  ASSIGN_OR_RETURN(m->drift_attempts,
                   registry.RegisterCounter("driftguard_drift_attempts_total",
                                            "Changes that drifted from Git, by Kustomization.",
                                            {"kustomization"}));
  ASSIGN_OR_RETURN(m->break_glass, registry.RegisterCounter(
                                       "driftguard_break_glass_total",
                                       "Drifting changes let through for the break-glass group.",
                                       {"kustomization"}));
  RETURN_IF_ERROR(registry.RegisterGaugeFunc(
      "driftguard_desired_state_age_seconds",
      "Age of the oldest loaded desired-state snapshot (0 when none is loaded).", [store] {
        auto view = store->Current();
        auto now = std::chrono::system_clock::now();
        double oldest = 0;
        for (const auto& [id, e] : view->entries()) {
          if (!e.snapshot) continue;
          double age = std::chrono::duration<double>(now - e.snapshot->info().built_at).count();
          oldest = std::max(oldest, age);
        }
        return oldest;
      }));
  return m;
}

Guard::Guard(GuardConfig config, const core::DesiredStateStore* store, GuardMetrics* metrics)
    : config_(std::move(config)), store_(store), metrics_(metrics), log_(core::Logger("webhook")) {
  if (metrics_ != nullptr) decision_seconds_ = &metrics_->decision_seconds->WithLabels({});
}

namespace {

// Positions of the metric label values in Guard::request_counters_; -1 for anything else.
constexpr std::string_view kDecisionLabels[] = {"allow",  "deny",        "revert",    "audit",
                                                "exempt", "break-glass", "unmanaged", "unguarded"};
constexpr std::string_view kModeLabels[] = {"none", "enforce", "revert", "audit"};

template <size_t N>
int LabelIndex(const std::string_view (&labels)[N], std::string_view value) {
  for (size_t i = 0; i < N; ++i) {
    if (labels[i] == value) return static_cast<int>(i);
  }
  return -1;
}

}  // namespace

core::Counter& Guard::RequestCounter(Operation operation, const GuardDecision& d) {
  static_assert(std::size(kDecisionLabels) == kDecisions && std::size(kModeLabels) == kModes);
  static_assert(static_cast<size_t>(Operation::kConnect) + 1 == kOperations);
  const std::string_view mode =
      d.mode.empty() ? std::string_view("none") : std::string_view(d.mode);
  const int decision_index = LabelIndex(kDecisionLabels, d.decision);
  const int mode_index = LabelIndex(kModeLabels, mode);
  const int op_index = static_cast<int>(operation);
  auto lookup = [&]() -> core::Counter& {
    return metrics_->requests->WithLabels({OperationName(operation), d.decision, mode});
  };
  if (decision_index < 0 || mode_index < 0 || op_index < 0 ||
      op_index >= static_cast<int>(kOperations)) {
    return lookup();
  }
  std::atomic<core::Counter*>& slot = request_counters_
      [(static_cast<size_t>(op_index) * kDecisions + static_cast<size_t>(decision_index)) * kModes +
       static_cast<size_t>(mode_index)];
  core::Counter* counter = slot.load(std::memory_order_acquire);
  if (counter == nullptr) {
    counter = &lookup();  // the family returns the same child to every caller
    slot.store(counter, std::memory_order_release);
  }
  return *counter;
}

GuardDecision Guard::Decide(const AdmissionRequest& request, Endpoint endpoint) const {
  GuardDecision d;
  d.response.allowed = true;
  auto pass = [&](std::string decision, std::string reason) {
    d.decision = std::move(decision);
    d.reason = std::move(reason);
    return d;
  };

  const bool is_scale = request.sub_resource == "scale";
  if (!request.sub_resource.empty() && !is_scale) {
    return pass("unguarded", "subresource " + request.sub_resource + " is not guarded");
  }
  if (request.operation == Operation::kConnect) return pass("unguarded", "CONNECT");

  const JsonRef a = request.operation == Operation::kCreate ? request.object : request.old_object;
  const JsonRef b = request.object;
  auto view = store_->Current();

  // Ownership.
  Subject subject;
  const core::DesiredSnapshot* snap = nullptr;
  const core::DesiredObject* desired = nullptr;
  std::string no_state_reason;
  if (is_scale) {
    auto hit = FindScaleParent(*view, request);
    if (!hit) return pass("unmanaged", "scale target not declared by any Kustomization");
    snap = hit->snapshot;
    desired = hit->object;
    d.owner = snap->id();
    subject = {desired->ref.kind, request.namespace_, request.name};
  } else {
    const JsonRef labels = Metadata(a, "labels");
    std::string owner_name = StringIn(labels, core::kOwnerNameLabel);
    std::string owner_ns = StringIn(labels, core::kOwnerNamespaceLabel);
    if (owner_name.empty()) return pass("unmanaged", "no Flux owner labels");
    d.owner = KustomizationId{owner_ns, owner_name};
    core::ObjectRef ref = core::ObjectRef::FromObject(a);
    if (ref.kind.empty()) ref.kind = request.kind.kind;
    if (ref.name.empty()) ref.name = request.name;
    if (ref.namespace_.empty()) ref.namespace_ = request.namespace_;
    subject = {ref.kind, ref.namespace_, ref.name};
    const core::KustomizationEntry* entry = view->Find(*d.owner);
    if (entry != nullptr && entry->snapshot) {
      snap = entry->snapshot.get();
      desired = snap->Find(core::ObjectKey::Of(ref));
    } else if (entry == nullptr) {
      no_state_reason = "Kustomization " + d.owner->ToString() + " is not known to driftguard";
    } else {
      no_state_reason =
          entry->last_error.ok() ? "first render pending" : entry->last_error.message();
    }
  }
  const std::string owner_text = d.owner->ToString();

  // Exemptions and opt-outs.
  if (std::string why = ExemptReason(config_, request.user_info); !why.empty()) {
    return pass("exempt", request.user_info.username + " is exempt (" + why + ")");
  }
  if (std::find(config_.excluded_namespaces.begin(), config_.excluded_namespaces.end(),
                request.namespace_) != config_.excluded_namespaces.end()) {
    return pass("unguarded", "namespace " + request.namespace_ + " is excluded");
  }
  if (!is_scale && ReconcileDisabled(a)) {
    return pass("unguarded", "object has kustomize.toolkit.fluxcd.io/reconcile: disabled");
  }
  GuardMode mode = config_.default_mode;
  std::vector<std::string> extra_ignored;
  if (snap != nullptr) {
    const Json& ks = snap->info().kustomization;
    if (ReconcileDisabled(ks)) {
      return pass("unguarded", "Kustomization " + owner_text + " has reconcile: disabled");
    }
    if (ks.is_object() && ks.contains("spec") && ks["spec"].value("suspend", false)) {
      return pass("unguarded", "Kustomization " + owner_text + " is suspended");
    }
    std::string mode_text = StringIn(Metadata(ks, "annotations"), kModeAnnotation);
    if (!mode_text.empty()) {
      // An invalid annotation falls back to the cluster default (reported when the config loads).
      if (auto m = ParseGuardMode(mode_text); m.ok()) mode = *m;
    }
    extra_ignored = Split(StringIn(Metadata(ks, "annotations"), kIgnoreAnnotation), ',');
  }
  d.mode = std::string(GuardModeName(mode));
  const std::string break_glass = BreakGlassGroup(config_, request.user_info);

  // DELETE: nothing to compare; the object would be gone.
  if (request.operation == Operation::kDelete) {
    if (endpoint == Endpoint::kMutate) return pass("allow", "DELETE is judged by /validate");
    const std::string what =
        subject.Describe() + " is managed by Git through Kustomization " + owner_text;
    if (!break_glass.empty()) {
      d.response.warnings.push_back("driftguard: break-glass (" + break_glass + "): deleting " +
                                    what +
                                    "; Flux recreates it on its next reconcile unless Git "
                                    "changes");
      return pass("break-glass", "DELETE by break-glass group " + break_glass);
    }
    if (mode == GuardMode::kAudit) {
      d.response.warnings.push_back("driftguard audit: deleting " + what +
                                    " drifts from Git (Flux recreates it)");
      return pass("audit", "DELETE audited");
    }
    d.response.allowed = false;
    d.response.status = ResponseStatus{
        403,
        "driftguard: " + what +
            ", so it cannot be deleted by hand. Remove it from Git and let "
            "the Kustomization prune it, or first run `flux suspend kustomization " +
            d.owner->name + " -n " + d.owner->namespace_ + "`" +
            (config_.break_glass_groups.empty()
                 ? std::string(".")
                 : ", or use the break-glass group " + config_.break_glass_groups.front() + "."),
        "Forbidden"};
    return pass("deny", "DELETE denied");
  }

  // What changed.
  JsonRef old_obj = a;
  static const Json kNoObject;
  const Json& desired_obj = desired != nullptr ? desired->object : kNoObject;
  std::optional<core::JsonDoc> desired_doc;
  if (request.operation == Operation::kCreate) {
    // A create is judged against what Git declares for it: only declared fields can drift (the API
    // server's defaults fill in everything else).
    if (desired == nullptr) return pass("allow", "CREATE of an object Git does not declare");
    old_obj = desired_doc.emplace(core::JsonDoc::FromJson(desired->object)).root();
  }
  const core::ObjectRef obj_ref =
      is_scale ? core::ObjectRef::FromObject(desired_obj) : core::ObjectRef::FromObject(b);
  // The shared base options serve every request that adds no ignore rules of its own.
  const core::DiffOptions& base_options = BaseDiffOptions(IsFluxGroup(obj_ref.group));
  core::DiffOptions extended_options;
  const core::DiffOptions* options_ptr = &base_options;
  auto add_ignored = [&](const std::vector<std::string>& pointers) {
    if (pointers.empty()) return;
    if (options_ptr == &base_options) {
      extended_options = base_options;
      options_ptr = &extended_options;
    }
    extended_options.ignored_pointers.insert(extended_options.ignored_pointers.end(),
                                             pointers.begin(), pointers.end());
  };
  for (const IgnoreRule& rule : config_.ignore) {
    if (!rule.kustomization.empty() && rule.kustomization != owner_text) continue;
    if (!rule.group.empty() && rule.group != obj_ref.group) continue;
    if (!rule.kind.empty() && rule.kind != subject.kind) continue;
    if (!rule.namespace_.empty() && rule.namespace_ != subject.namespace_) continue;
    if (!rule.name.empty() && rule.name != subject.name) continue;
    add_ignored(rule.paths);
  }
  add_ignored(extra_ignored);
  const core::DiffOptions& options = *options_ptr;
  const core::SchemaNode* schema =
      is_scale
          ? nullptr
          : core::Schema::ForApiVersionKind(b.Find("apiVersion").string(), b.Find("kind").string());

  std::vector<core::FieldChange> changes;
  if (is_scale) {
    // A Scale maps to the parent's spec.replicas; nothing else of it is writable. A null replicas
    // counts as absent.
    const JsonRef old_r = old_obj.Find("spec").Find("replicas");
    const JsonRef new_r = b.Find("spec").Find("replicas");
    bool ignored =
        std::any_of(options.ignored_pointers.begin(), options.ignored_pointers.end(),
                    [](const std::string& p) { return p == "/spec/replicas" || p == "/spec"; });
    if (!ignored && !(old_r == new_r)) {
      core::FieldChange c;
      c.path = "spec.replicas";
      c.old_pointer = c.new_pointer = "/spec/replicas";
      if (!old_r.is_null()) c.old_value = old_r.ToJson();
      if (!new_r.is_null()) c.new_value = new_r.ToJson();
      changes.push_back(std::move(c));
    }
  } else {
    changes = core::DiffObjects(old_obj, b, schema, options);
  }

  // Which changes drift from Git.
  const core::SchemaNode* desired_schema =
      desired != nullptr ? core::Schema::ForApiVersionKind(desired_obj.value("apiVersion", ""),
                                                           desired_obj.value("kind", ""))
                         : nullptr;
  size_t considered = 0;
  for (core::FieldChange& c : changes) {
    if (!StripIgnoredBelow(c, options.ignored_pointers)) continue;
    ++considered;
    DriftedField f;
    f.path = c.path;
    f.pointer = c.new_pointer;
    f.live = std::move(c.old_value);
    f.attempted = std::move(c.new_value);
    if (desired != nullptr) {
      const Json* gv = nullptr;
      auto ptr = core::HumanPathToPointer(desired_obj, c.path, desired_schema, &gv);
      if (ptr.ok() && gv != nullptr) {
        f.git = *gv;
        if (const core::FieldOrigin* o = desired->Origin(*ptr)) f.origin = *o;
      }
      if (f.git && f.attempted && *f.git == *f.attempted) continue;  // repair toward Git
    }
    const bool declared_only =
        config_.protect == ProtectLevel::kDeclared || request.operation == Operation::kCreate;
    if (declared_only && snap != nullptr && !f.git) continue;
    d.drift.push_back(std::move(f));
  }
  if (d.drift.empty()) {
    return pass("allow", considered == 0 ? "no change" : "changes are repairs or not protected");
  }

  // Drift.
  const std::string what = subject.Describe() + " is managed by Git through Kustomization " +
                           owner_text +
                           (snap != nullptr ? " (revision " + ShortRevision(*snap) + ")" : "");
  if (!break_glass.empty()) {
    if (endpoint == Endpoint::kMutate) return pass("break-glass", "break-glass " + break_glass);
    for (const DriftedField& f : d.drift) {
      d.response.warnings.push_back(FieldLine("driftguard: break-glass (" + break_glass + "): ", f,
                                              " ", snap, no_state_reason));
    }
    return pass("break-glass", "break-glass group " + break_glass);
  }

  if (mode == GuardMode::kAudit) {
    if (endpoint == Endpoint::kMutate) return pass("allow", "audit is reported by /validate");
    for (const DriftedField& f : d.drift) {
      d.response.warnings.push_back(
          FieldLine("driftguard audit: ", f, " drifts from Git ", snap, no_state_reason));
    }
    return pass("audit", std::to_string(d.drift.size()) + " drifted field(s) audited");
  }

  if (mode == GuardMode::kRevert && endpoint == Endpoint::kMutate) {
    // Restore each drifted path in B: declared fields to Git, the rest to A. Replacements first,
    // then additions, then removals from the highest list index down, so pointers stay valid.
    Json replaces = Json::array(), adds = Json::array();
    std::vector<std::string> removes;
    for (const DriftedField& f : d.drift) {
      std::optional<Json> target = f.git ? f.git : f.live;
      if (!target) {
        removes.push_back(f.pointer);
      } else if (f.attempted) {
        replaces.push_back({{"op", "replace"}, {"path", f.pointer}, {"value", *target}});
      } else {
        adds.push_back({{"op", "add"}, {"path", f.pointer}, {"value", *target}});
      }
      std::string restored = f.git ? FormatValue(f.git) : FormatValue(f.live);
      std::string where = Origin(f, snap);
      d.response.warnings.push_back(
          "driftguard: reverted " + f.path + " to " + restored +
          (f.git ? (where.empty() ? " (Git)" : " (Git: " + where + ")") : " (live value)") + "; " +
          subject.Describe() + " is managed by Git through Kustomization " + owner_text);
    }
    auto index_of = [](const std::string& p) -> long {
      size_t slash = p.rfind('/');
      std::string last = p.substr(slash + 1);
      if (last.empty() || !std::all_of(last.begin(), last.end(), ::isdigit)) return -1;
      return std::stol(last);
    };
    std::sort(removes.begin(), removes.end(), [&](const std::string& x, const std::string& y) {
      std::string px = x.substr(0, x.rfind('/')), py = y.substr(0, y.rfind('/'));
      if (px != py) return px < py;
      return index_of(x) > index_of(y);
    });
    Json patch = Json::array();
    for (Json& op : replaces) patch.push_back(std::move(op));
    for (Json& op : adds) patch.push_back(std::move(op));
    for (const std::string& p : removes) patch.push_back({{"op", "remove"}, {"path", p}});
    d.response.patch = std::move(patch);
    return pass("revert", std::to_string(d.drift.size()) + " drifted field(s) reverted");
  }
  if (endpoint == Endpoint::kMutate) return pass("allow", "enforce is decided by /validate");

  // enforce (or drift that survived a revert): deny, naming every field.
  std::string message = "driftguard: " + what + ", so this change was denied:";
  for (const DriftedField& f : d.drift) {
    message += FieldLine("\n  ", f, " ", snap, no_state_reason);
  }
  message += "\nTo change " + std::string(d.drift.size() == 1 ? "it" : "them") +
             ", edit Git and let Kustomization " + owner_text +
             " apply the change, or first run `flux suspend kustomization " + d.owner->name +
             " -n " + d.owner->namespace_ + "`";
  if (!config_.break_glass_groups.empty()) {
    message += " (or use the break-glass group " + config_.break_glass_groups.front() + ")";
  }
  message += ".";
  d.response.allowed = false;
  d.response.status = ResponseStatus{403, std::move(message), "Forbidden"};
  return pass("deny", std::to_string(d.drift.size()) + " drifted field(s) denied");
}

AdmissionResponse Guard::Handle(const AdmissionRequest& request, Endpoint endpoint) {
  auto start = std::chrono::steady_clock::now();
  GuardDecision d = Decide(request, endpoint);
  if (metrics_ != nullptr) {
    decision_seconds_->Observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    RequestCounter(request.operation, d).Inc();
    if (!d.drift.empty() && d.owner && endpoint == Endpoint::kValidate) {
      metrics_->drift_attempts->WithLabels({d.owner->ToString()}).Inc();
    }
    if (d.decision == "break-glass" && d.owner && endpoint == Endpoint::kValidate) {
      metrics_->break_glass->WithLabels({d.owner->ToString()}).Inc();
    }
  }
  // Each request reaches both endpoints; log it once (from /validate, or /mutate when it reverts).
  if (d.decision == "unmanaged" || (d.decision == "allow" && d.drift.empty()) ||
      (endpoint == Endpoint::kMutate && d.decision != "revert")) {
    return std::move(d.response);
  }
  const auto& log = log_;
  const std::string who = request.user_info.username;
  const std::string obj =
      request.resource.resource + (request.sub_resource.empty() ? "" : "/" + request.sub_resource) +
      " " + (request.namespace_.empty() ? "" : request.namespace_ + "/") + request.name;
  if (d.decision == "break-glass" && endpoint == Endpoint::kValidate) {
    log->warn("break-glass: {} {} {} by {}: {}", OperationName(request.operation), obj,
              d.owner ? d.owner->ToString() : "", who, d.reason);
  } else if (d.decision == "audit" && endpoint == Endpoint::kValidate) {
    // A Kubernetes Event as it would be recorded on the object (the log carries it; posting Events
    // to the API server is the reconciler's job and never happens on the request path).
    std::string fields;
    for (const DriftedField& f : d.drift) fields += (fields.empty() ? "" : ", ") + f.path;
    Json event = {
        {"apiVersion", "v1"},
        {"kind", "Event"},
        {"type", "Warning"},
        {"reason", "DriftAttempted"},
        {"message", who + " changed " + fields + " (drift from Git, audit mode)"},
        {"involvedObject",
         {{"apiVersion", request.kind.group.empty()
                             ? request.kind.version
                             : request.kind.group + "/" + request.kind.version},
          {"kind", request.kind.kind},
          {"namespace", request.namespace_},
          {"name", request.name}}},
        {"metadata", {{"namespace", request.namespace_}, {"generateName", request.name + "."}}},
        {"source", {{"component", "driftguard"}}},
        {"reportingComponent", "driftguard"},
        {"dryRun", request.dry_run}};
    log->info("audit event: {}", event.dump(-1, ' ', false, Json::error_handler_t::replace));
  } else if (d.decision != "allow") {
    log->info("{} {} {} by {}{}: {}", d.decision, OperationName(request.operation), obj, who,
              request.dry_run ? " (dry run)" : "", d.reason);
  }
  return std::move(d.response);
}

AdmissionResponse Guard::Validate(const AdmissionRequest& request) {
  return Handle(request, Endpoint::kValidate);
}

AdmissionResponse Guard::Mutate(const AdmissionRequest& request) {
  return Handle(request, Endpoint::kMutate);
}

}  // namespace driftguard::webhook
