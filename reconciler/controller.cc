#include "reconciler/controller.h"

#include <algorithm>
#include <functional>
#include <utility>

#include "core/log.h"
#include "reconciler/health.h"

namespace driftguard::reconciler {
namespace {

using core::Status;
using core::StatusOr;
using Clock = std::chrono::steady_clock;

const core::GroupVersionKind kKustomizationGvk{"kustomize.toolkit.fluxcd.io", "v1",
                                               "Kustomization"};
const core::GroupVersionKind kNamespaceGvk{"", "v1", "Namespace"};

// How the run ended, for requeueing.
enum class ErrorKind { kTransient, kNotReady, kTerminal };

bool IsTransientError(const Status& s) {
  if (s.ok()) return false;
  if (core::IsTransient(s)) return true;
  return s.code() == core::StatusCode::kUnavailable ||
         s.code() == core::StatusCode::kDeadlineExceeded ||
         s.code() == core::StatusCode::kResourceExhausted;
}

// SourceSync prefixes fetch failures with "GitRepository <ns>/<name>" and render failures with
// "Kustomization <ns>/<name> at <revision>": the first resolve by waiting, the second only with
// new content.
bool IsSourceError(const Status& s) { return s.message().rfind("GitRepository ", 0) == 0; }

// The revision named by a render failure ("Kustomization ns/n at <rev>: ..."), or "".
std::string RevisionOfBuildError(const Status& s, const core::KustomizationId& id) {
  const std::string prefix = "Kustomization " + id.ToString() + " at ";
  const std::string& m = s.message();
  if (m.rfind(prefix, 0) != 0) return "";
  const size_t end = m.find(": ", prefix.size());
  return m.substr(prefix.size(),
                  end == std::string::npos ? std::string::npos : end - prefix.size());
}

int64_t GenerationOf(const core::Kustomization& k) {
  const core::Json* g = core::FindPointer(k.object, "/metadata/generation");
  return g != nullptr && g->is_number_integer() ? g->get<int64_t>() : 0;
}

std::string AnnotationOf(const core::Kustomization& k, std::string_view key) {
  const core::Json* a = core::FindPointer(
      k.object, "/metadata/annotations/" + core::EscapePointerToken(std::string(key)));
  return a != nullptr && a->is_string() ? a->get<std::string>() : "";
}

std::chrono::milliseconds RetryInterval(const core::Kustomization& k) {
  return k.retry_interval.count() > 0 ? k.retry_interval : k.interval;
}

// Both inventories' entries (the newer version wins for an object in both).
Inventory Union(const Inventory& a, const Inventory& b) {
  std::map<std::string, std::string> entries;
  for (const InventoryEntry& e : a.entries()) entries[e.id] = e.version;
  for (const InventoryEntry& e : b.entries()) entries[e.id] = e.version;
  core::Json list = core::Json::array();
  for (const auto& [id, v] : entries) list.push_back({{"id", id}, {"v", v}});
  auto merged = Inventory::FromJson({{"entries", list}});
  return merged.ok() ? *merged : b;
}

// Kustomizations ordered so that each comes after what it depends on (cycles were rejected when
// the config loaded; anything left over is appended in config order).
std::vector<core::KustomizationId> DependencyOrder(const core::FluxConfig& config) {
  std::vector<core::KustomizationId> order;
  std::set<core::KustomizationId> done;
  std::set<core::KustomizationId> known;
  for (const core::Kustomization& k : config.kustomizations) known.insert({k.namespace_, k.name});
  std::function<void(const core::Kustomization&, int)> visit = [&](const core::Kustomization& k,
                                                                   int depth) {
    const core::KustomizationId id{k.namespace_, k.name};
    if (done.count(id) != 0 || depth > static_cast<int>(config.kustomizations.size())) return;
    for (const core::DependsOn& d : k.depends_on) {
      const core::KustomizationId dep{d.namespace_.empty() ? k.namespace_ : d.namespace_, d.name};
      for (const core::Kustomization& other : config.kustomizations) {
        if (other.namespace_ == dep.namespace_ && other.name == dep.name) visit(other, depth + 1);
      }
    }
    if (done.insert(id).second) order.push_back(id);
  };
  for (const core::Kustomization& k : config.kustomizations) visit(k, 0);
  return order;
}

}  // namespace

Status ReconcilerOptions::Validate() const {
  if (jitter < 0 || jitter >= 1) {
    return core::InvalidArgumentError("reconciler: jitter must be in [0, 1), got " +
                                      std::to_string(jitter));
  }
  if (workers == 0) return core::InvalidArgumentError("reconciler: workers must be at least 1");
  if (min_backoff.count() <= 0 || max_backoff < min_backoff) {
    return core::InvalidArgumentError("reconciler: need 0 < min_backoff <= max_backoff");
  }
  if (health_poll_interval.count() <= 0 || store_poll_interval.count() <= 0) {
    return core::InvalidArgumentError("reconciler: poll intervals must be positive");
  }
  return core::OkStatus();
}

std::string_view RunResultName(RunResult result) {
  switch (result) {
    case RunResult::kSucceeded:
      return "succeeded";
    case RunResult::kFailed:
      return "failed";
    case RunResult::kStalled:
      return "stalled";
    case RunResult::kSuspended:
      return "suspended";
    case RunResult::kNotLeader:
      return "not_leader";
  }
  return "unknown";
}

std::string RunOutcome::Describe() const {
  std::string out = "Kustomization " + id.ToString() + ": ";
  switch (result) {
    case RunResult::kSucceeded: {
      out += "applied " + revision + "\n";
      const std::string summary = changes.Summary();
      if (summary.empty()) {
        out += "  no changes\n";
      } else {
        size_t start = 0;
        while (start < summary.size()) {
          size_t end = summary.find('\n', start);
          if (end == std::string::npos) end = summary.size();
          out += "  " + summary.substr(start, end - start) + "\n";
          start = end + 1;
        }
      }
      return out;
    }
    case RunResult::kSuspended:
      return out + "suspended\n";
    case RunResult::kNotLeader:
      return out + "skipped (not the leader)\n";
    case RunResult::kFailed:
    case RunResult::kStalled:
      return out + (result == RunResult::kStalled ? "stalled (" : "failed (") + reason +
             "): " + message + "\n";
  }
  return out;
}

struct Reconciler::Item {
  Clock::time_point due = Clock::now();
  bool running = false;  // a worker runs it now
  bool rerun = false;    // triggered while running
  int failures = 0;      // consecutive transient failures
  // What the store held when the loop last looked (a change triggers a run).
  std::string seen_revision;
  std::string seen_error;
  int64_t generation = 0;
  std::string requested_at;
};

Reconciler::Reconciler(core::KubeClient* client, core::DesiredStateStore* store,
                       core::FluxConfig config, ReconcilerOptions options, LeaderElector* elector,
                       DriftRepairer* repairer, EventRecorder* events,
                       core::MetricsRegistry* metrics)
    : client_(client),
      store_(store),
      options_(std::move(options)),
      elector_(elector),
      repairer_(repairer),
      events_(events),
      applier_(client, options_.applier),
      configmaps_(client, options_.applier.field_manager),
      rng_(std::random_device{}()) {
  if (metrics != nullptr) {
    auto runs = metrics->RegisterCounter("driftguard_reconcile_runs_total",
                                         "Reconciler runs by Kustomization and result.",
                                         {"kustomization", "result"});
    if (runs.ok()) runs_ = *runs;
    auto duration = metrics->RegisterHistogram("driftguard_reconcile_duration_seconds",
                                               "Duration of one reconciler run.", {"kustomization"},
                                               core::ExponentialBuckets(0.01, 2, 15));
    if (duration.ok()) duration_ = *duration;
  }
  SetConfig(std::move(config));
}

Reconciler::~Reconciler() { Stop(); }

void Reconciler::SetConfig(core::FluxConfig config) {
  std::vector<core::KustomizationId> removed;
  // Deleted Kustomizations with prune enabled, and what they had applied (garbage collection).
  std::vector<std::pair<core::Kustomization, Inventory>> collect;
  {
    std::lock_guard lock(mu_);
    std::set<core::KustomizationId> ids;
    for (const core::Kustomization& k : config.kustomizations) {
      const core::KustomizationId id{k.namespace_, k.name};
      ids.insert(id);
      store_->Register(id);
      auto& item = items_[id];
      const int64_t generation = GenerationOf(k);
      const std::string requested_at = AnnotationOf(k, kRequestedAtAnnotation);
      if (!item) {
        item = std::make_unique<Item>();
      } else if (item->generation != generation || item->requested_at != requested_at) {
        item->due = Clock::now();
        if (item->running) item->rerun = true;
      }
      item->generation = generation;
      item->requested_at = requested_at;
    }
    for (auto it = items_.begin(); it != items_.end();) {
      if (ids.count(it->first) == 0 && !it->second->running) {
        removed.push_back(it->first);
        auto old = FindKustomization(it->first);
        auto st = statuses_.find(it->first);
        if (options_.status_sink == StatusSink::kKustomizationStatus && old && old->prune &&
            !old->suspend && st != statuses_.end() && !st->second.inventory.empty()) {
          collect.emplace_back(*old, st->second.inventory);
        }
        statuses_.erase(it->first);
        it = items_.erase(it);
      } else {
        ++it;
      }
    }
    config_ = std::move(config);
  }
  for (const auto& id : removed) {
    if (repairer_ != nullptr) repairer_->Remove(id);
  }
  // As Flux's finalizer does: a deleted Kustomization with prune takes its objects with it. Only
  // the leader deletes; objects no longer labelled as its own (adopted elsewhere) are left alone.
  for (const auto& [k, inventory] : collect) {
    if (!IsLeader()) break;
    const core::KustomizationId id{k.namespace_, k.name};
    ApplyResult pruned = applier_.Prune(inventory, Inventory{}, id);
    if (pruned.status.ok()) {
      core::Logger("reconciler")
          ->info("Kustomization {} deleted: garbage collected {} object(s)", id.ToString(),
                 pruned.changes.entries.size());
      if (events_ != nullptr && pruned.changes.HasChanges()) {
        events_->Record(k.object, "Normal", "GarbageCollectionSucceeded", pruned.changes.Summary());
      }
    } else {
      core::Logger("reconciler")
          ->warn("Kustomization {} deleted: garbage collection failed: {}", id.ToString(),
                 pruned.status.message());
      if (events_ != nullptr) {
        events_->Record(k.object, "Warning", kReasonPruneFailed, pruned.status.message());
      }
    }
  }
  cv_.notify_all();
}

std::optional<core::Kustomization> Reconciler::FindKustomization(
    const core::KustomizationId& id) const {
  for (const core::Kustomization& k : config_.kustomizations) {
    if (k.namespace_ == id.namespace_ && k.name == id.name) return k;
  }
  return std::nullopt;
}

bool Reconciler::IsLeader() const { return elector_ == nullptr || elector_->IsLeader(); }

std::chrono::milliseconds Reconciler::Jittered(std::chrono::milliseconds d) {
  std::uniform_real_distribution<double> factor(1 - options_.jitter, 1 + options_.jitter);
  return std::chrono::milliseconds(static_cast<int64_t>(d.count() * factor(rng_)));
}

std::chrono::milliseconds Reconciler::Backoff(int failures) {
  std::chrono::milliseconds d = options_.min_backoff;
  for (int i = 1; i < failures && d < options_.max_backoff; ++i) d *= 2;
  return Jittered(std::min(d, options_.max_backoff));
}

StatusOr<KustomizationStatus> Reconciler::LoadStatus(const core::Kustomization& k) {
  const core::KustomizationId id{k.namespace_, k.name};
  {
    std::lock_guard lock(mu_);
    auto it = statuses_.find(id);
    if (it != statuses_.end()) return it->second;
  }
  KustomizationStatus st;
  if (options_.status_sink == StatusSink::kConfigMap) {
    ASSIGN_OR_RETURN(auto stored, configmaps_.Load(id));
    if (stored) {
      st = KustomizationStatus::FromJson(stored->status);
      st.inventory = stored->inventory;
    }
  } else {
    auto live = client_->Get(kKustomizationGvk, k.namespace_, k.name);
    if (live.ok()) {
      st = KustomizationStatus::FromJson(live->value("status", core::Json::object()));
    } else if (core::IsNotFound(live.status())) {
      st = KustomizationStatus::FromJson(k.object.value("status", core::Json::object()));
    } else {
      return live.status().WithPrefix("reading Kustomization " + id.ToString());
    }
  }
  std::lock_guard lock(mu_);
  statuses_.emplace(id, st);
  return st;
}

Status Reconciler::SaveStatus(const core::Kustomization& k, const KustomizationStatus& st) {
  const core::KustomizationId id{k.namespace_, k.name};
  {
    std::lock_guard lock(mu_);
    statuses_[id] = st;
  }
  if (options_.status_sink == StatusSink::kKustomizationStatus) {
    return WriteKustomizationStatus(client_, k, st);
  }
  StoredKustomizationState state{st.inventory, st.ToJson()};
  Status s = configmaps_.Save(id, state);
  if (core::IsNotFound(s)) {
    // The Kustomization's namespace does not exist yet (bootstrap of an empty cluster).
    core::Json ns = {
        {"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", k.namespace_}}}};
    core::ApplyOptions apply;
    apply.field_manager = options_.applier.field_manager;
    Status created = client_->Apply(ns, apply).status();
    if (!created.ok()) return created.WithPrefix("creating namespace " + k.namespace_);
    s = configmaps_.Save(id, state);
  }
  return s;
}

RunOutcome Reconciler::ReconcileOne(const core::KustomizationId& id) {
  std::optional<core::Kustomization> k;
  {
    std::lock_guard lock(mu_);
    k = FindKustomization(id);
  }
  if (!k) {
    RunOutcome out;
    out.id = id;
    out.result = RunResult::kFailed;
    out.reason = std::string(kReasonInvalidSpec);
    out.error = core::NotFoundError("Kustomization " + id.ToString() + " is not configured");
    out.message = out.error.message();
    return out;
  }
  const auto start = Clock::now();
  RunOutcome out = Run(*k);
  out.requeue_after = FinishItem(id, out);
  Record(out, Clock::now() - start);
  return out;
}

std::vector<RunOutcome> Reconciler::ReconcileAll() {
  std::vector<core::KustomizationId> order;
  {
    std::lock_guard lock(mu_);
    order = DependencyOrder(config_);
  }
  std::vector<RunOutcome> outcomes;
  for (const auto& id : order) outcomes.push_back(ReconcileOne(id));
  return outcomes;
}

void Reconciler::Record(const RunOutcome& outcome, Clock::duration took) {
  const std::string id = outcome.id.ToString();
  if (runs_ != nullptr) runs_->WithLabels({id, RunResultName(outcome.result)}).Inc();
  if (duration_ != nullptr && outcome.result != RunResult::kSuspended &&
      outcome.result != RunResult::kNotLeader) {
    duration_->WithLabels({id}).Observe(std::chrono::duration<double>(took).count());
  }
  auto log = core::Logger("reconciler");
  if (outcome.result == RunResult::kFailed || outcome.result == RunResult::kStalled) {
    log->warn("Kustomization {}: {} ({}): {}", id, RunResultName(outcome.result), outcome.reason,
              outcome.message);
  } else if (outcome.result == RunResult::kSucceeded) {
    log->info("Kustomization {}: {}", id, outcome.message);
  }
  std::lock_guard lock(mu_);
  history_.push_back(outcome);
  if (history_.size() > 1000) history_.erase(history_.begin());
}

RunOutcome Reconciler::Run(const core::Kustomization& k) {
  const core::KustomizationId id{k.namespace_, k.name};
  RunOutcome out;
  out.id = id;
  out.requeue_after = k.interval;
  if (k.suspend) {
    out.result = RunResult::kSuspended;
    out.message = "Kustomization is suspended";
    return out;
  }
  if (!IsLeader()) {
    out.result = RunResult::kNotLeader;
    out.message = "not the leader";
    return out;
  }
  const int64_t generation = GenerationOf(k);
  const auto now = [] { return std::chrono::system_clock::now(); };

  StatusOr<KustomizationStatus> loaded = LoadStatus(k);
  if (!loaded.ok()) {
    out.result = RunResult::kFailed;
    out.reason = std::string(kReasonReconciliationFailed);
    out.error = loaded.status();
    out.message = out.error.message();
    out.transient = true;
    return out;
  }
  KustomizationStatus st = std::move(*loaded);
  const std::string requested_at = AnnotationOf(k, kRequestedAtAnnotation);
  if (!requested_at.empty()) st.last_handled_reconcile_at = requested_at;

  // Ends the run with an error of `kind`; the status is written once, here or at the end.
  auto fail = [&](ErrorKind kind, std::string_view reason, const Status& error,
                  std::string message) {
    out.result = kind == ErrorKind::kTerminal ? RunResult::kStalled : RunResult::kFailed;
    out.reason = std::string(reason);
    out.error = error;
    out.message = std::move(message);
    if (reason == kReasonHealthCheckFailed) {
      MarkUnhealthy(st, generation, out.message, now());
    } else {
      MarkFailed(st, generation, reason, out.message, kind == ErrorKind::kTerminal, now());
    }
    out.transient = kind == ErrorKind::kTransient;
    out.requeue_after = kind == ErrorKind::kNotReady ? RetryInterval(k) : k.interval;
    if (Status s = SaveStatus(k, st); !s.ok()) {
      core::Logger("reconciler")
          ->warn("Kustomization {}: writing status: {}", id.ToString(), s.message());
    }
    return out;
  };

  // Source.
  std::shared_ptr<const core::DesiredStateView> view = store_->Current();
  const core::KustomizationEntry* entry = view->Find(id);
  if (entry == nullptr || entry->snapshot == nullptr) {
    if (entry != nullptr && !entry->last_error.ok()) {
      if (IsSourceError(entry->last_error)) {
        return fail(ErrorKind::kNotReady, kReasonArtifactFailed, entry->last_error,
                    entry->last_error.message());
      }
      st.last_attempted_revision = RevisionOfBuildError(entry->last_error, id);
      out.revision = st.last_attempted_revision;
      return fail(ErrorKind::kTerminal, kReasonBuildFailed, entry->last_error,
                  entry->last_error.message());
    }
    return fail(ErrorKind::kNotReady, kReasonArtifactFailed,
                core::UnavailableError("source is not ready"),
                "Source is not ready, artifact not found");
  }
  std::shared_ptr<const core::DesiredSnapshot> snapshot = entry->snapshot;
  const std::string revision = snapshot->info().revision;
  out.revision = revision;
  if (!entry->last_error.ok()) {
    if (IsSourceError(entry->last_error)) {
      // Git is unreachable: the last good revision stays applied; nothing new to apply.
      return fail(ErrorKind::kNotReady, kReasonArtifactFailed, entry->last_error,
                  entry->last_error.message());
    }
    st.last_attempted_revision = RevisionOfBuildError(entry->last_error, id);
    out.revision = st.last_attempted_revision;
    return fail(ErrorKind::kTerminal, kReasonBuildFailed, entry->last_error,
                entry->last_error.message());
  }

  // Dependencies.
  for (const core::DependsOn& d : k.depends_on) {
    const core::KustomizationId dep{d.namespace_.empty() ? k.namespace_ : d.namespace_, d.name};
    std::optional<KustomizationStatus> dep_status;
    std::optional<core::Kustomization> dep_k;
    {
      std::lock_guard lock(mu_);
      auto it = statuses_.find(dep);
      if (it != statuses_.end()) dep_status = it->second;
      dep_k = FindKustomization(dep);
    }
    if (!dep_status && dep_k) {
      auto s = LoadStatus(*dep_k);
      if (s.ok()) dep_status = *s;
    }
    const core::KustomizationEntry* dep_entry = view->Find(dep);
    const Condition* ready =
        dep_status ? FindCondition(dep_status->conditions, kConditionReady) : nullptr;
    const bool ok = ready != nullptr && ready->status == "True" && dep_entry != nullptr &&
                    dep_entry->snapshot != nullptr &&
                    dep_status->last_applied_revision == dep_entry->snapshot->info().revision;
    if (!ok) {
      const std::string message = "dependency '" + dep.ToString() + "' is not ready";
      return fail(ErrorKind::kNotReady, kReasonDependencyNotReady,
                  core::FailedPreconditionError(message), message);
    }
  }

  st.last_attempted_revision = revision;
  std::vector<core::Json> objects;
  objects.reserve(snapshot->objects().size());
  for (const core::DesiredObject& o : snapshot->objects()) objects.push_back(o.object);
  const Inventory current = Inventory::FromObjects(objects);

  // Apply.
  ApplyResult applied = applier_.Apply({.objects = objects, .force = k.force});
  out.changes = applied.changes;
  if (!applied.status.ok()) {
    st.inventory = Union(st.inventory, current);
    return fail(IsTransientError(applied.status) ? ErrorKind::kTransient : ErrorKind::kNotReady,
                kReasonReconciliationFailed, applied.status, applied.status.message());
  }

  // Prune, only after every apply succeeded.
  if (k.prune) {
    ApplyResult pruned = applier_.Prune(st.inventory, current, id);
    for (const ObjectChange& c : pruned.changes.entries) out.changes.entries.push_back(c);
    if (!pruned.status.ok()) {
      st.inventory = Union(st.inventory, current);
      return fail(IsTransientError(pruned.status) ? ErrorKind::kTransient : ErrorKind::kNotReady,
                  kReasonPruneFailed, pruned.status, pruned.status.message());
    }
  }
  st.inventory = current;
  if (events_ != nullptr && out.changes.HasChanges()) {
    events_->Record(k.object, "Normal", kReasonProgressing, out.changes.Summary());
  }
  if (repairer_ != nullptr) repairer_->SetDesired(id, objects);

  // Health.
  std::vector<core::ObjectRef> checks;
  if (k.wait) {
    checks = current.Refs();
  } else {
    auto parsed =
        ParseHealthChecks(k.spec().value("healthChecks", core::Json::array()), k.namespace_);
    if (!parsed.ok()) {
      return fail(ErrorKind::kTerminal, kReasonInvalidSpec, parsed.status(),
                  parsed.status().message());
    }
    checks = std::move(*parsed);
  }
  if (!checks.empty()) {
    const std::chrono::milliseconds timeout = k.timeout.count() > 0 ? k.timeout : k.interval;
    Status healthy = WaitForHealthy(
        client_, checks, {.timeout = timeout, .poll_interval = options_.health_poll_interval},
        [this] {
          std::lock_guard lock(mu_);
          return stopping_;
        });
    if (!healthy.ok()) {
      return fail(
          IsTransientError(healthy) && healthy.code() != core::StatusCode::kDeadlineExceeded
              ? ErrorKind::kTransient
              : ErrorKind::kNotReady,
          kReasonHealthCheckFailed, healthy,
          "Health check failed after " + core::FormatDuration(timeout) + ": " + healthy.message());
    }
  }

  st.last_applied_revision = revision;
  out.result = RunResult::kSucceeded;
  out.reason = std::string(kReasonReconciliationSucceeded);
  out.message = "Applied revision: " + revision;
  MarkReady(st, generation, out.message, now(), !checks.empty());
  if (Status s = SaveStatus(k, st); !s.ok()) {
    out.result = RunResult::kFailed;
    out.reason = std::string(kReasonReconciliationFailed);
    out.error = s.WithPrefix("writing status");
    out.message = out.error.message();
    out.transient = true;
  }
  return out;
}

std::chrono::milliseconds Reconciler::FinishItem(const core::KustomizationId& id,
                                                 const RunOutcome& outcome) {
  std::vector<core::KustomizationId> dependents;
  std::chrono::milliseconds wait = outcome.requeue_after;
  {
    std::lock_guard lock(mu_);
    auto it = items_.find(id);
    if (it == items_.end()) return wait;
    Item& item = *it->second;
    if (outcome.transient) {
      item.failures++;
      wait = Backoff(item.failures);
    } else {
      item.failures = 0;
      if (wait.count() == 0) wait = std::chrono::milliseconds(60'000);
      wait = Jittered(wait);
    }
    item.due = Clock::now() + wait;
    if (outcome.result == RunResult::kSucceeded) {
      for (const core::Kustomization& other : config_.kustomizations) {
        for (const core::DependsOn& d : other.depends_on) {
          const std::string ns = d.namespace_.empty() ? other.namespace_ : d.namespace_;
          if (ns == id.namespace_ && d.name == id.name) {
            dependents.push_back({other.namespace_, other.name});
          }
        }
      }
    }
    for (const auto& dep : dependents) {
      auto d = items_.find(dep);
      if (d != items_.end()) d->second->due = Clock::now();
    }
  }
  cv_.notify_all();
  return wait;
}

void Reconciler::Trigger(const core::KustomizationId& id) {
  {
    std::lock_guard lock(mu_);
    auto it = items_.find(id);
    if (it == items_.end()) return;
    it->second->due = Clock::now();
    if (it->second->running) it->second->rerun = true;
  }
  cv_.notify_all();
}

void Reconciler::PollStore() {
  std::shared_ptr<const core::DesiredStateView> view = store_->Current();
  for (auto& [id, item] : items_) {
    const core::KustomizationEntry* e = view->Find(id);
    std::string revision = e != nullptr && e->snapshot ? e->snapshot->info().revision : "";
    std::string error = e != nullptr ? e->last_error.message() : "";
    if (revision != item->seen_revision || error != item->seen_error) {
      item->seen_revision = std::move(revision);
      item->seen_error = std::move(error);
      item->due = Clock::now();
      if (item->running) item->rerun = true;
    }
  }
}

void Reconciler::Start() {
  std::lock_guard lock(mu_);
  if (running_) return;
  running_ = true;
  stopping_ = false;
  for (auto& [id, item] : items_) item->due = Clock::now();
  threads_.emplace_back([this] { SchedulerLoop(); });
  for (size_t i = 0; i < options_.workers; ++i) threads_.emplace_back([this] { WorkerLoop(); });
}

void Reconciler::Stop() {
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(mu_);
    if (!running_) return;
    stopping_ = true;
    threads.swap(threads_);
  }
  cv_.notify_all();
  for (auto& t : threads) t.join();
  std::lock_guard lock(mu_);
  running_ = false;
}

// Watches the store and leadership; workers pick due items themselves.
void Reconciler::SchedulerLoop() {
  std::unique_lock lock(mu_);
  bool was_leader = false;
  bool first = true;
  while (!stopping_) {
    PollStore();
    lock.unlock();
    const bool leader = IsLeader();
    lock.lock();
    if (first || leader != was_leader) {
      if (leader) {
        // Another replica may have written status meanwhile: read it again; run everything.
        statuses_.clear();
        for (auto& [id, item] : items_) item->due = Clock::now();
      }
      if (repairer_ != nullptr) {
        lock.unlock();
        repairer_->SetEnabled(leader);
        lock.lock();
      }
      was_leader = leader;
      first = false;
    }
    cv_.notify_all();
    cv_.wait_for(lock, options_.store_poll_interval);
  }
}

void Reconciler::WorkerLoop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    const auto now = Clock::now();
    Item* next = nullptr;
    core::KustomizationId next_id;
    Clock::time_point earliest = now + options_.store_poll_interval;
    for (auto& [id, item] : items_) {
      if (item->running) continue;
      if (item->due <= now && (next == nullptr || item->due < next->due)) {
        next = item.get();
        next_id = id;
      }
      earliest = std::min(earliest, item->due);
    }
    if (next == nullptr) {
      cv_.wait_until(lock, std::max(earliest, now + std::chrono::milliseconds(1)));
      continue;
    }
    next->running = true;
    next->rerun = false;
    std::optional<core::Kustomization> k = FindKustomization(next_id);
    lock.unlock();
    RunOutcome outcome;
    if (k) {
      const auto start = Clock::now();
      outcome = Run(*k);
      outcome.requeue_after = FinishItem(next_id, outcome);
      Record(outcome, Clock::now() - start);
    }
    lock.lock();
    auto it = items_.find(next_id);
    if (it != items_.end()) {
      it->second->running = false;
      if (it->second->rerun) {
        it->second->rerun = false;
        it->second->due = Clock::now();
      }
    }
  }
}

std::optional<KustomizationStatus> Reconciler::LastStatus(const core::KustomizationId& id) const {
  std::lock_guard lock(mu_);
  auto it = statuses_.find(id);
  if (it == statuses_.end()) return std::nullopt;
  return it->second;
}

std::vector<RunOutcome> Reconciler::History() const {
  std::lock_guard lock(mu_);
  return history_;
}

}  // namespace driftguard::reconciler
