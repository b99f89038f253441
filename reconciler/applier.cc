#include "reconciler/applier.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <optional>
#include <thread>
#include <utility>

#include "core/flux_api.h"
#include "core/rest_mapper.h"

namespace driftguard::reconciler {
namespace {

using Clock = std::chrono::steady_clock;

enum class SsaPolicy { kOverride, kMerge, kIfNotPresent, kIgnore };

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string MetadataString(const core::Json& object, const char* map, std::string_view key) {
  const core::Json* values = core::FindPointer(object, std::string("/metadata/") + map);
  if (values == nullptr || !values->is_object()) return {};
  auto it = values->find(std::string(key));
  if (it == values->end() || !it->is_string()) return {};
  return it->get<std::string>();
}

std::string AnnotationOf(const core::Json& object, std::string_view key) {
  return MetadataString(object, "annotations", key);
}

SsaPolicy PolicyOf(const core::Json& object) {
  std::string value = AnnotationOf(object, kSsaAnnotation);
  if (EqualsIgnoreCase(value, "Merge")) return SsaPolicy::kMerge;
  if (EqualsIgnoreCase(value, "IfNotPresent")) return SsaPolicy::kIfNotPresent;
  if (EqualsIgnoreCase(value, "Ignore")) return SsaPolicy::kIgnore;
  return SsaPolicy::kOverride;  // also for unknown values, as Flux does
}

bool IsDefinitionKind(const core::ObjectRef& ref) {
  return (ref.group == "apiextensions.k8s.io" && ref.kind == "CustomResourceDefinition") ||
         (ref.group.empty() && ref.kind == "Namespace");
}
bool IsCrd(const core::ObjectRef& ref) {
  return ref.group == "apiextensions.k8s.io" && ref.kind == "CustomResourceDefinition";
}

// The object as the comparison sees it: without what every write changes.
core::Json Comparable(core::Json object) {
  if (auto meta = object.find("metadata"); meta != object.end() && meta->is_object()) {
    for (const char* f :
         {"managedFields", "resourceVersion", "generation", "creationTimestamp", "uid"}) {
      meta->erase(f);
    }
  }
  return object;
}

bool IsWorkloadKind(const core::ObjectRef& ref) {
  return (ref.group == "apps" && (ref.kind == "Deployment" || ref.kind == "StatefulSet" ||
                                  ref.kind == "DaemonSet" || ref.kind == "ReplicaSet")) ||
         (ref.group == "batch" && ref.kind == "Job");
}

bool IsImmutableError(const core::Status& status, const core::ObjectRef& ref) {
  if (!core::IsInvalid(status)) return false;
  const std::string& m = status.message();
  if (m.find("field is immutable") != std::string::npos) return true;
  return IsWorkloadKind(ref) && m.find("spec.selector") != std::string::npos;
}

std::string FormatDuration(std::chrono::milliseconds d) {
  if (d.count() % 1000 == 0) return std::to_string(d.count() / 1000) + "s";
  return std::to_string(d.count()) + "ms";
}

bool CrdEstablished(const core::Json& crd) {
  const core::Json* conditions = core::FindPointer(crd, "/status/conditions");
  if (conditions == nullptr || !conditions->is_array()) return false;
  for (const core::Json& c : *conditions) {
    if (c.is_object() && c.value("type", "") == "Established" && c.value("status", "") == "True") {
      return true;
    }
  }
  return false;
}

// The API server sets phase Active on creation and Terminating on deletion; an absent phase (a
// server that does not report it) counts as active.
bool NamespaceActive(const core::Json& ns) {
  const core::Json* phase = core::FindPointer(ns, "/status/phase");
  return phase == nullptr || !phase->is_string() || phase->get<std::string>() == "Active";
}

// Runs fn(0..n-1) on up to `concurrency` threads (inline when one suffices).
template <typename Fn>
void ForEachParallel(size_t n, size_t concurrency, Fn fn) {
  size_t workers = std::min(n, std::max<size_t>(concurrency, 1));
  if (workers <= 1) {
    for (size_t i = 0; i < n; ++i) fn(i);
    return;
  }
  std::atomic<size_t> next{0};
  std::vector<std::thread> threads;
  threads.reserve(workers);
  for (size_t w = 0; w < workers; ++w) {
    threads.emplace_back([&] {
      for (size_t i = next.fetch_add(1); i < n; i = next.fetch_add(1)) fn(i);
    });
  }
  for (std::thread& t : threads) t.join();
}

struct Item {
  core::Json object;  // namespace normalised to the mapping's scope
  core::ObjectRef ref;
  core::GroupVersionKind gvk;
  bool force = false;  // recreate on immutable-field errors
};

struct Outcome {
  std::optional<ApplyAction> action;  // set on success
  core::Status status;
};

// Collects changes and failures in a deterministic order.
struct Collector {
  ApplyResult result;
  std::vector<core::Status> failures;  // already prefixed with the object

  void Add(const core::ObjectRef& ref, const Outcome& outcome) {
    if (outcome.action) result.changes.entries.push_back({ref, *outcome.action});
    if (!outcome.status.ok()) Fail(ref, outcome.status);
  }
  void Fail(const core::ObjectRef& ref, const core::Status& status) {
    failures.push_back(status.WithPrefix(ref.ToString()));
  }
  ApplyResult Finish() {
    if (!failures.empty()) {
      std::string message;
      for (const core::Status& f : failures) {
        if (!message.empty()) message += "\n";
        message += f.message();
      }
      result.status = core::Status(failures.front().code(), std::move(message));
    }
    return std::move(result);
  }
};

class ApplyRun {
 public:
  ApplyRun(core::KubeClient* client, const ApplierOptions& options, const ApplyRequest& request)
      : client_(client), options_(options), request_(request) {}

  ApplyResult Run() {
    Collector out;
    std::vector<Item> definitions;
    std::vector<std::pair<core::ObjectRef, core::Json>> rest;
    for (const core::Json& object : request_.objects) {
      core::ObjectRef ref = core::ObjectRef::FromObject(object);
      if (ref.kind.empty() || ref.version.empty() || ref.name.empty()) {
        out.Fail(ref, core::InvalidArgumentError(
                          "apiVersion, kind and metadata.name are required in applied objects"));
        continue;
      }
      if (PolicyOf(object) == SsaPolicy::kIgnore) {
        out.result.changes.entries.push_back({ref, ApplyAction::kSkipped});
        continue;
      }
      if (IsDefinitionKind(ref)) {
        definitions.push_back(MakeItem(object, ref, /*namespaced=*/false));
      } else {
        rest.emplace_back(std::move(ref), object);
      }
    }
    if (!out.failures.empty()) return out.Finish();

    // Stage 1: CRDs and Namespaces, then wait until they can be used.
    if (!RunStage(definitions, out)) return out.Finish();
    if (!request_.dry_run && !definitions.empty()) {
      WaitDefinitions(definitions, out);
      if (!out.failures.empty()) return out.Finish();
      if (std::any_of(definitions.begin(), definitions.end(),
                      [](const Item& i) { return IsCrd(i.ref); })) {
        core::Status refreshed = client_->RefreshDiscovery();
        if (!refreshed.ok()) {
          out.failures.push_back(refreshed.WithPrefix("refreshing discovery after CRDs"));
          return out.Finish();
        }
      }
    }

    // Scope decides stage 2 or 3; a kind discovery does not know fails stage 2.
    std::vector<Item> cluster, namespaced;
    for (auto& [ref, object] : rest) {
      auto mapping = client_->Mapping(core::GroupVersionKind::FromObject(object));
      if (!mapping.ok()) {
        const bool no_match = mapping.status().code() == core::StatusCode::kNotFound &&
                              !core::KubeErrorOf(mapping.status()).has_value();
        if (no_match && request_.dry_run) {
          // In a dry run the CRD of this request was not created: report what would happen.
          if (std::optional<bool> ns = ScopeFromRequestCrds(ref)) {
            Item item = MakeItem(object, ref, *ns);
            out.result.changes.entries.push_back({item.ref, ApplyAction::kCreated});
            continue;
          }
        }
        out.Fail(ref, no_match ? core::NotFoundError("no matches for kind \"" + ref.kind +
                                                     "\" in version \"" + ref.ApiVersion() + "\"")
                               : mapping.status());
        continue;
      }
      (mapping->namespaced ? namespaced : cluster)
          .push_back(MakeItem(object, ref, mapping->namespaced));
    }
    // Stage 2 (cluster-scoped) runs even when a kind failed to map; stage 3 does not.
    bool cluster_ok = RunStage(cluster, out);
    if (!cluster_ok || !out.failures.empty()) return out.Finish();
    RunStage(namespaced, out);
    return out.Finish();
  }

 private:
  Item MakeItem(const core::Json& object, core::ObjectRef ref, bool namespaced) {
    Item item;
    item.object = object;
    core::Json& meta = item.object["metadata"];
    if (namespaced && ref.namespace_.empty()) {
      ref.namespace_ = client_->DefaultNamespace();
      meta["namespace"] = ref.namespace_;
    } else if (!namespaced && !ref.namespace_.empty()) {
      ref.namespace_.clear();
      meta.erase("namespace");
    }
    item.gvk = core::GroupVersionKind::FromObject(object);
    item.force =
        request_.force || EqualsIgnoreCase(AnnotationOf(object, kForceAnnotation), "enabled");
    item.ref = std::move(ref);
    return item;
  }

  // nullopt when no CRD in the request defines the kind; else whether it is namespaced.
  std::optional<bool> ScopeFromRequestCrds(const core::ObjectRef& ref) const {
    for (const core::Json& object : request_.objects) {
      if (!IsCrd(core::ObjectRef::FromObject(object))) continue;
      const core::Json* group = core::FindPointer(object, "/spec/group");
      const core::Json* kind = core::FindPointer(object, "/spec/names/kind");
      if (group == nullptr || kind == nullptr || *group != ref.group || *kind != ref.kind) {
        continue;
      }
      const core::Json* scope = core::FindPointer(object, "/spec/scope");
      return !(scope != nullptr && *scope == "Cluster");
    }
    return std::nullopt;
  }

  // Applies every item; returns false when one failed.
  bool RunStage(const std::vector<Item>& items, Collector& out) {
    std::vector<Outcome> outcomes(items.size());
    ForEachParallel(items.size(), options_.concurrency,
                    [&](size_t i) { outcomes[i] = ApplyOne(items[i]); });
    bool ok = true;
    for (size_t i = 0; i < items.size(); ++i) {
      out.Add(items[i].ref, outcomes[i]);
      ok = ok && outcomes[i].status.ok();
    }
    return ok;
  }

  core::ApplyOptions Options(bool dry_run) const {
    core::ApplyOptions o;
    o.force = true;
    o.dry_run = dry_run;
    o.field_manager = options_.field_manager;
    return o;
  }

  Outcome ApplyOne(const Item& item) {
    const SsaPolicy policy = PolicyOf(item.object);
    auto live = client_->Get(item.gvk, item.ref.namespace_, item.ref.name);
    if (!live.ok() && !core::IsNotFound(live.status())) return {std::nullopt, live.status()};
    const bool exists = live.ok();
    if (policy == SsaPolicy::kIfNotPresent && exists) return {ApplyAction::kSkipped, {}};

    auto dry = client_->Apply(item.object, Options(true));
    if (!dry.ok()) return OnApplyError(item, dry.status());
    if (exists && Comparable(*dry) == Comparable(*live)) return {ApplyAction::kUnchanged, {}};
    const ApplyAction action = exists ? ApplyAction::kConfigured : ApplyAction::kCreated;
    if (request_.dry_run) return {action, {}};

    auto applied = client_->Apply(item.object, Options(false));
    if (!applied.ok()) return OnApplyError(item, applied.status());
    return {action, {}};
  }

  Outcome OnApplyError(const Item& item, const core::Status& status) {
    if (!item.force || !IsImmutableError(status, item.ref)) return {std::nullopt, status};
    if (request_.dry_run) return {ApplyAction::kRecreated, {}};
    return Recreate(item);
  }

  // Deletes the object, waits until it is gone (foreground deletion lets dependents go first),
  // and applies it anew.
  Outcome Recreate(const Item& item) {
    core::DeleteOptions del;
    del.propagation = core::PropagationPolicy::kForeground;
    auto deleted = client_->Delete(item.gvk, item.ref.namespace_, item.ref.name, del);
    if (!deleted.ok() && !core::IsNotFound(deleted.status())) {
      return {std::nullopt, deleted.status().WithPrefix("recreating: delete")};
    }
    const Clock::time_point deadline = Clock::now() + options_.wait_timeout;
    while (true) {
      auto live = client_->Get(item.gvk, item.ref.namespace_, item.ref.name);
      if (!live.ok() && core::IsNotFound(live.status())) break;
      if (Clock::now() >= deadline) {
        return {std::nullopt, core::DeadlineExceededError("recreating: not deleted within " +
                                                          FormatDuration(options_.wait_timeout))};
      }
      std::this_thread::sleep_for(options_.poll_interval);
    }
    auto applied = client_->Apply(item.object, Options(false));
    if (!applied.ok()) return {std::nullopt, applied.status().WithPrefix("recreating")};
    return {ApplyAction::kRecreated, {}};
  }

  // Polls until every CRD is Established and every Namespace Active, up to wait_timeout.
  void WaitDefinitions(const std::vector<Item>& items, Collector& out) {
    std::vector<const Item*> pending;
    for (const Item& item : items) pending.push_back(&item);
    const Clock::time_point deadline = Clock::now() + options_.wait_timeout;
    while (true) {
      std::erase_if(pending, [&](const Item* item) {
        auto live = client_->Get(item->gvk, "", item->ref.name);
        if (!live.ok()) return false;
        return IsCrd(item->ref) ? CrdEstablished(*live) : NamespaceActive(*live);
      });
      if (pending.empty()) return;
      const Clock::time_point now = Clock::now();
      if (now >= deadline) break;
      std::this_thread::sleep_for(
          std::min<Clock::duration>(options_.poll_interval, deadline - now));
    }
    for (const Item* item : pending) {
      out.Fail(item->ref, core::DeadlineExceededError(
                              std::string(IsCrd(item->ref) ? "not established" : "not active") +
                              " within " + FormatDuration(options_.wait_timeout)));
    }
  }

  core::KubeClient* const client_;
  const ApplierOptions& options_;
  const ApplyRequest& request_;
};

}  // namespace

std::string_view ApplyActionName(ApplyAction action) {
  switch (action) {
    case ApplyAction::kCreated:
      return "created";
    case ApplyAction::kConfigured:
      return "configured";
    case ApplyAction::kUnchanged:
      return "unchanged";
    case ApplyAction::kSkipped:
      return "skipped";
    case ApplyAction::kRecreated:
      return "recreated";
    case ApplyAction::kDeleted:
      return "deleted";
  }
  return "unknown";
}

bool ChangeSet::HasChanges() const {
  return std::any_of(entries.begin(), entries.end(), [](const ObjectChange& c) {
    return c.action != ApplyAction::kUnchanged && c.action != ApplyAction::kSkipped;
  });
}

std::string ChangeSet::Summary() const {
  std::string out;
  for (const ObjectChange& c : entries) {
    if (c.action == ApplyAction::kUnchanged || c.action == ApplyAction::kSkipped) continue;
    if (!out.empty()) out += "\n";
    out += c.ref.ToString() + " " + std::string(ApplyActionName(c.action));
  }
  return out;
}

Applier::Applier(core::KubeClient* client, ApplierOptions options)
    : client_(client), options_(std::move(options)) {}

ApplyResult Applier::Apply(const ApplyRequest& request) {
  return ApplyRun(client_, options_, request).Run();
}

ApplyResult Applier::Prune(const Inventory& previous, const Inventory& current,
                           const core::KustomizationId& owner, bool dry_run) {
  Collector out;
  for (const core::ObjectRef& ref : previous.Difference(current)) {
    core::GroupVersionKind gvk{ref.group, ref.version, ref.kind};
    auto mapping = client_->Mapping(gvk);
    if (!mapping.ok()) {
      // A kind the server no longer serves has no objects left to delete.
      if (mapping.status().code() == core::StatusCode::kNotFound &&
          !core::KubeErrorOf(mapping.status()).has_value()) {
        continue;
      }
      out.Fail(ref, mapping.status());
      continue;
    }
    const std::string ns = mapping->namespaced ? ref.namespace_ : "";
    // The labels are checked on the version that is deleted (precondition); a concurrent change
    // (409) re-reads and checks again.
    std::optional<ApplyAction> action;
    core::Status failure;
    for (int attempt = 0; attempt < 3; ++attempt) {
      auto live = client_->Get(gvk, ns, ref.name);
      if (!live.ok()) {
        if (!core::IsNotFound(live.status())) failure = live.status();
        break;
      }
      if (EqualsIgnoreCase(AnnotationOf(*live, kPruneAnnotation), "disabled") ||
          MetadataString(*live, "labels", core::kOwnerNameLabel) != owner.name ||
          MetadataString(*live, "labels", core::kOwnerNamespaceLabel) != owner.namespace_) {
        action = ApplyAction::kSkipped;
        break;
      }
      core::DeleteOptions del;
      del.dry_run = dry_run;
      if (const core::Json* rv = core::FindPointer(*live, "/metadata/resourceVersion");
          rv != nullptr && rv->is_string()) {
        del.precondition_resource_version = rv->get<std::string>();
      }
      auto deleted = client_->Delete(gvk, ns, ref.name, del);
      if (deleted.ok()) {
        action = ApplyAction::kDeleted;
        break;
      }
      if (core::IsNotFound(deleted.status())) break;
      failure = deleted.status();
      if (!core::IsConflict(deleted.status())) break;
    }
    core::ObjectRef shown = ref;
    shown.namespace_ = ns;
    out.Add(shown, {action, action ? core::OkStatus() : failure});
  }
  return out.Finish();
}

}  // namespace driftguard::reconciler
