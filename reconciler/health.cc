#include "reconciler/health.h"

#include <algorithm>
#include <optional>
#include <thread>

#include "core/object_ref.h"

namespace driftguard::reconciler {
namespace {

using core::Json;

const Json* At(const Json& doc, std::string_view pointer) {
  return core::FindPointer(doc, pointer);
}

// An integer field; `fallback` when absent or not a number.
int64_t IntAt(const Json& doc, std::string_view pointer, int64_t fallback) {
  const Json* v = At(doc, pointer);
  if (v == nullptr || !v->is_number()) return fallback;
  return v->is_number_float() ? static_cast<int64_t>(v->get<double>()) : v->get<int64_t>();
}

std::string StrAt(const Json& doc, std::string_view pointer, std::string fallback = "") {
  const Json* v = At(doc, pointer);
  if (v == nullptr || !v->is_string()) return fallback;
  return v->get<std::string>();
}

// The condition of `type` in status.conditions, or nullptr.
const Json* ConditionOf(const Json& live, std::string_view type) {
  const Json* conditions = At(live, "/status/conditions");
  if (conditions == nullptr || !conditions->is_array()) return nullptr;
  for (const Json& c : *conditions) {
    if (c.is_object() && c.value("type", "") == type) return &c;
  }
  return nullptr;
}

bool ConditionIs(const Json* c, std::string_view status) {
  return c != nullptr && c->value("status", "") == status;
}

HealthResult Current() { return {HealthState::kCurrent, ""}; }
HealthResult InProgress(std::string message) {
  return {HealthState::kInProgress, std::move(message)};
}
HealthResult Failed(std::string message) { return {HealthState::kFailed, std::move(message)}; }

std::string Ratio(std::string_view label, int64_t have, int64_t want) {
  return std::string(label) + ": " + std::to_string(have) + "/" + std::to_string(want);
}

HealthResult DeploymentHealth(const Json& live) {
  const Json* progressing = ConditionOf(live, "Progressing");
  if (progressing != nullptr && progressing->value("reason", "") == "ProgressDeadlineExceeded") {
    return Failed("Progress deadline exceeded");
  }
  const int64_t spec = IntAt(live, "/spec/replicas", 1);
  const int64_t replicas = IntAt(live, "/status/replicas", 0);
  const int64_t updated = IntAt(live, "/status/updatedReplicas", 0);
  const int64_t ready = IntAt(live, "/status/readyReplicas", 0);
  const int64_t available = IntAt(live, "/status/availableReplicas", 0);
  if (spec > replicas) return InProgress(Ratio("Replicas", replicas, spec));
  if (spec > updated) return InProgress(Ratio("Updated", updated, spec));
  if (replicas > spec) {
    return InProgress("Pending termination: " + std::to_string(replicas - spec));
  }
  if (updated > available) return InProgress(Ratio("Available", available, updated));
  if (spec > ready) return InProgress(Ratio("Ready", ready, spec));
  // Without progressDeadlineSeconds the controller never sets Progressing.
  const bool has_deadline = At(live, "/spec/progressDeadlineSeconds") != nullptr &&
                            IntAt(live, "/spec/progressDeadlineSeconds", 0) != 2147483647;
  if (has_deadline && !(ConditionIs(progressing, "True") &&
                        progressing->value("reason", "") == "NewReplicaSetAvailable")) {
    return InProgress("ReplicaSet not Available");
  }
  if (!ConditionIs(ConditionOf(live, "Available"), "True")) {
    const Json* c = ConditionOf(live, "Available");
    std::string message = c != nullptr ? c->value("message", "") : "";
    return InProgress(message.empty() ? "Deployment not Available" : message);
  }
  return Current();
}

HealthResult StatefulSetHealth(const Json& live) {
  if (StrAt(live, "/spec/updateStrategy/type") == "OnDelete") return Current();
  const int64_t spec = IntAt(live, "/spec/replicas", 1);
  const int64_t replicas = IntAt(live, "/status/replicas", 0);
  const int64_t ready = IntAt(live, "/status/readyReplicas", 0);
  const int64_t current = IntAt(live, "/status/currentReplicas", 0);
  const int64_t updated = IntAt(live, "/status/updatedReplicas", 0);
  const int64_t partition = IntAt(live, "/spec/updateStrategy/rollingUpdate/partition", -1);
  if (spec > replicas) return InProgress(Ratio("Replicas", replicas, spec));
  if (spec > ready) return InProgress(Ratio("Ready", ready, spec));
  if (replicas > spec) {
    return InProgress("Pending termination: " + std::to_string(replicas - spec));
  }
  if (partition > 0) {
    // Only ordinals >= partition are updated; the rest keep the old revision on purpose.
    if (updated < spec - partition) return InProgress(Ratio("Updated", updated, spec - partition));
    return Current();
  }
  if (spec > current) return InProgress(Ratio("Current", current, spec));
  if (StrAt(live, "/status/currentRevision") != StrAt(live, "/status/updateRevision")) {
    return InProgress("Waiting for updated revision to match current");
  }
  return Current();
}

HealthResult DaemonSetHealth(const Json& live) {
  if (At(live, "/metadata/generation") == nullptr) {
    return InProgress("DaemonSet metadata.generation not found");
  }
  if (At(live, "/status/observedGeneration") == nullptr) {
    return InProgress("DaemonSet status.observedGeneration not found");
  }
  const int64_t desired = IntAt(live, "/status/desiredNumberScheduled", -1);
  if (desired < 0) return InProgress("Missing .status.desiredNumberScheduled");
  const int64_t current = IntAt(live, "/status/currentNumberScheduled", 0);
  const int64_t updated = IntAt(live, "/status/updatedNumberScheduled", 0);
  const int64_t available = IntAt(live, "/status/numberAvailable", 0);
  const int64_t ready = IntAt(live, "/status/numberReady", 0);
  if (desired > current) return InProgress(Ratio("Current", current, desired));
  if (desired > updated) return InProgress(Ratio("Updated", updated, desired));
  if (desired > available) return InProgress(Ratio("Available", available, desired));
  if (desired > ready) return InProgress(Ratio("Ready", ready, desired));
  return Current();
}

HealthResult JobHealth(const Json& live) {
  const int64_t parallelism = IntAt(live, "/spec/parallelism", 1);
  const int64_t completions = IntAt(live, "/spec/completions", parallelism);
  const int64_t succeeded = IntAt(live, "/status/succeeded", 0);
  const int64_t active = IntAt(live, "/status/active", 0);
  const int64_t failed = IntAt(live, "/status/failed", 0);
  if (ConditionIs(ConditionOf(live, "Failed"), "True")) {
    return Failed("Job Failed. failed: " + std::to_string(failed) + "/" +
                  std::to_string(completions));
  }
  if (ConditionIs(ConditionOf(live, "Complete"), "True")) return Current();
  if (ConditionIs(ConditionOf(live, "Suspended"), "True")) return Current();
  if (StrAt(live, "/status/startTime").empty()) return InProgress("Job not started");
  return InProgress("Job in progress. succeeded: " + std::to_string(succeeded) + "/" +
                    std::to_string(completions) + ", active: " + std::to_string(active) +
                    ", failed: " + std::to_string(failed));
}

HealthResult CrdHealth(const Json& live) {
  const Json* names = ConditionOf(live, "NamesAccepted");
  if (ConditionIs(names, "False")) return Failed(names->value("message", "names not accepted"));
  const Json* established = ConditionOf(live, "Established");
  if (ConditionIs(established, "True")) return Current();
  if (ConditionIs(established, "False") && established->value("reason", "") != "Installing") {
    return Failed(established->value("message", "CRD not established"));
  }
  return InProgress("Install in progress");
}

HealthResult NamespaceHealth(const Json& live) {
  std::string phase = StrAt(live, "/status/phase", "unknown");
  if (phase == "Active") return Current();
  return InProgress("Namespace is not Active. phase: " + phase);
}

HealthResult PvcHealth(const Json& live) {
  std::string phase = StrAt(live, "/status/phase", "unknown");
  if (phase == "Bound") return Current();
  return InProgress("PVC is not Bound. phase: " + phase);
}

HealthResult ServiceHealth(const Json& live) {
  if (StrAt(live, "/spec/type", "ClusterIP") != "LoadBalancer") return Current();
  const Json* ingress = At(live, "/status/loadBalancer/ingress");
  if (ingress != nullptr && ingress->is_array()) {
    for (const Json& i : *ingress) {
      if (!StrAt(i, "/ip").empty() || !StrAt(i, "/hostname").empty()) return Current();
    }
  }
  return InProgress("LoadBalancer ingress address not assigned");
}

HealthResult GenericHealth(const Json& live) {
  const Json* ready = ConditionOf(live, "Ready");
  if (ready == nullptr || ConditionIs(ready, "True")) return Current();
  std::string message = ready->value("message", "");
  if (message.empty())
    message = "Ready condition is " + ready->value("status", std::string("Unknown"));
  return InProgress(std::move(message));
}

}  // namespace

std::string_view HealthStateName(HealthState state) {
  switch (state) {
    case HealthState::kCurrent:
      return "Current";
    case HealthState::kInProgress:
      return "InProgress";
    case HealthState::kFailed:
      return "Failed";
    case HealthState::kNotFound:
      return "NotFound";
  }
  return "Unknown";
}

HealthResult AssessHealth(const Json& live) {
  if (!live.is_object() || !live.contains("kind")) {
    return InProgress("object has no kind");
  }
  const std::string kind = live.value("kind", "");
  const std::string group = core::GroupVersion::Parse(live.value("apiVersion", "")).group;

  if (!StrAt(live, "/metadata/deletionTimestamp").empty()) {
    return InProgress("Resource scheduled for deletion");
  }
  const Json* generation = At(live, "/metadata/generation");
  const Json* observed = At(live, "/status/observedGeneration");
  if (generation != nullptr && observed != nullptr && generation->is_number() &&
      observed->is_number() && observed->get<int64_t>() < generation->get<int64_t>()) {
    return InProgress(kind + " generation is " + std::to_string(generation->get<int64_t>()) +
                      ", but latest observed generation is " +
                      std::to_string(observed->get<int64_t>()));
  }
  // kstatus' standard conditions decide for every kind that sets them.
  if (const Json* c = ConditionOf(live, "Stalled"); ConditionIs(c, "True")) {
    return Failed(c->value("message", "Stalled"));
  }
  if (const Json* c = ConditionOf(live, "Reconciling"); ConditionIs(c, "True")) {
    return InProgress(c->value("message", "Reconciling"));
  }

  if (group == "apps" && kind == "Deployment") return DeploymentHealth(live);
  if (group == "apps" && kind == "StatefulSet") return StatefulSetHealth(live);
  if (group == "apps" && kind == "DaemonSet") return DaemonSetHealth(live);
  if (group == "batch" && kind == "Job") return JobHealth(live);
  if (group == "apiextensions.k8s.io" && kind == "CustomResourceDefinition") {
    return CrdHealth(live);
  }
  if (group.empty() && kind == "Namespace") return NamespaceHealth(live);
  if (group.empty() && kind == "PersistentVolumeClaim") return PvcHealth(live);
  if (group.empty() && kind == "Service") return ServiceHealth(live);
  return GenericHealth(live);
}

core::Status WaitForHealthy(core::KubeClient* client, const std::vector<core::ObjectRef>& refs,
                            const HealthCheckOptions& options,
                            const std::function<bool()>& cancelled) {
  using Clock = std::chrono::steady_clock;
  const Clock::time_point deadline = Clock::now() + options.timeout;
  const auto poll = std::max(options.poll_interval, std::chrono::milliseconds(1));
  auto is_cancelled = [&] { return cancelled && cancelled(); };
  auto describe = [](const core::ObjectRef& ref, const HealthResult& r) {
    std::string entry = ref.ToString() + " status: '" + std::string(HealthStateName(r.state)) + "'";
    if (!r.message.empty()) entry += ": " + r.message;
    return entry;
  };
  // Cluster-scoped kinds have no namespace, whatever the reference says (messages name them
  // "Namespace/prod").
  std::vector<core::ObjectRef> targets = refs;
  for (core::ObjectRef& ref : targets) {
    core::StatusOr<core::ResourceMapping> m = client->Mapping({ref.group, ref.version, ref.kind});
    if (m.ok() && !m.value().namespaced) ref.namespace_.clear();
  }
  // The last observation of each object; empty until one GET succeeded or said NotFound.
  std::vector<std::optional<HealthResult>> last(refs.size());
  while (true) {
    std::vector<std::string> failed;
    bool all_current = true;
    for (size_t i = 0; i < refs.size(); ++i) {
      const core::ObjectRef& ref = targets[i];
      core::StatusOr<core::Json> live =
          client->Get({ref.group, ref.version, ref.kind}, ref.namespace_, ref.name);
      if (live.ok()) {
        last[i] = AssessHealth(live.value());
      } else if (core::IsNotFound(live.status())) {
        last[i] = HealthResult{HealthState::kNotFound, ""};
      } else if (!core::IsTransient(live.status())) {
        return live.status().WithPrefix("health check of " + ref.ToString());
      }  // transient: keep the previous observation, the next poll retries
      if (!last[i] || last[i]->state != HealthState::kCurrent) all_current = false;
      if (last[i] && last[i]->state == HealthState::kFailed)
        failed.push_back(describe(ref, *last[i]));
    }
    if (!failed.empty()) {
      std::string joined;
      for (const std::string& f : failed) joined += (joined.empty() ? "" : ", ") + f;
      return core::FailedPreconditionError("failed early due to stalled resources: [" + joined +
                                           "]");
    }
    if (all_current) return core::OkStatus();
    if (is_cancelled()) return core::CancelledError("health check cancelled");
    const Clock::time_point now = Clock::now();
    if (now >= deadline) break;
    // Sleep in short slices so that cancellation is noticed promptly.
    const Clock::time_point wake = std::min(deadline, now + poll);
    while (Clock::now() < wake) {
      if (is_cancelled()) return core::CancelledError("health check cancelled");
      std::this_thread::sleep_for(
          std::min<Clock::duration>(wake - Clock::now(), std::chrono::milliseconds(50)));
    }
  }
  std::string joined;
  for (size_t i = 0; i < refs.size(); ++i) {
    std::string entry;
    if (!last[i]) {
      entry = "can't determine status for " + targets[i].ToString();
    } else if (last[i]->state != HealthState::kCurrent) {
      entry = describe(targets[i], *last[i]);
    } else {
      continue;
    }
    joined += (joined.empty() ? "" : ", ") + entry;
  }
  return core::DeadlineExceededError("timeout waiting for: [" + joined + "]");
}

core::StatusOr<std::vector<core::ObjectRef>> ParseHealthChecks(const Json& health_checks,
                                                               std::string_view default_ns) {
  std::vector<core::ObjectRef> refs;
  if (health_checks.is_null()) return refs;
  if (!health_checks.is_array()) {
    return core::InvalidArgumentError("spec.healthChecks: must be a list");
  }
  for (size_t i = 0; i < health_checks.size(); ++i) {
    const Json& entry = health_checks[i];
    const std::string where = "spec.healthChecks[" + std::to_string(i) + "]";
    if (!entry.is_object()) return core::InvalidArgumentError(where + ": must be an object");
    auto field = [&](const char* name) -> core::StatusOr<std::string> {
      const Json* v = At(entry, std::string("/") + name);
      if (v == nullptr || v->is_null()) return std::string();
      if (!v->is_string()) {
        return core::InvalidArgumentError(where + "." + name + ": must be a string");
      }
      return v->get<std::string>();
    };
    ASSIGN_OR_RETURN(std::string api_version, field("apiVersion"));
    ASSIGN_OR_RETURN(std::string kind, field("kind"));
    ASSIGN_OR_RETURN(std::string name, field("name"));
    ASSIGN_OR_RETURN(std::string ns, field("namespace"));
    if (kind.empty()) return core::InvalidArgumentError(where + ": kind is required");
    if (name.empty()) return core::InvalidArgumentError(where + ": name is required");
    core::GroupVersion gv = core::GroupVersion::Parse(api_version);
    core::ObjectRef ref;
    ref.group = gv.group;
    ref.version = gv.version;
    ref.kind = std::move(kind);
    ref.name = std::move(name);
    ref.namespace_ = ns.empty() ? std::string(default_ns) : std::move(ns);
    refs.push_back(std::move(ref));
  }
  return refs;
}

}  // namespace driftguard::reconciler
