// The guard: decides what happens to a change of a GitOps-managed object.
//
// It implements "What counts as drift" of DESIGN.md. For a request on object O owned by
// Kustomization K (from O's Flux labels — read from oldObject for UPDATE/DELETE — or, for the scale
// subresource whose Scale object carries no labels, from the DesiredState index), with old object
// A, new object B and K's desired object D:
//
//   1. status subresources and objects without owner labels pass; exempt identities pass untouched;
//   2. objects/Kustomizations with `kustomize.toolkit.fluxcd.io/reconcile: disabled`, suspended
//      Kustomizations and excluded namespaces pass;
//   3. changed = fields where A and B differ (lists matched by list-map keys), minus ignored paths;
//      a change that moves a declared field to its Git value is a repair and passes; with
//      `protect: declared` only fields D declares count;
//   4. what remains is drift, handled by K's mode: enforce → deny listing each field with its Git
//      value and `file:line @ commit`; revert → allow with a JSONPatch restoring every drifted path
//      (declared → Git value, otherwise → A's value) and a warning per path; audit → allow with
//      warnings, a log line, a metric and an Event payload in the log. The break-glass group passes
//      with a warning. DELETE is denied in enforce and revert.
//
// The two endpoints split the work so each answer is given once: /mutate only reverts (revert
// mode); /validate denies (enforce, DELETE, and any drift still present in revert mode) and warns
// (audit, break-glass). Both are pure functions of the request and the current DesiredState view:
// nothing on this path touches Git or the API server, and the mutating answer is idempotent (a
// reinvocation after our own patch finds only repairs and changes nothing).
//
//   Guard guard(config, &store, metrics.get());
//   AdmissionResponse r = guard.Validate(request);
//
// Thread safety: Validate/Mutate/Decide may run concurrently; the guard is immutable after
// construction (the store is read through its lock-free view).
#ifndef DRIFTGUARD_WEBHOOK_GUARD_H_
#define DRIFTGUARD_WEBHOOK_GUARD_H_

#include <array>
#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/desired_state.h"
#include "core/json.h"
#include "core/log.h"
#include "core/metrics.h"
#include "webhook/admission.h"
#include "webhook/guard_config.h"
#include "webhook/server.h"

namespace driftguard::webhook {

// Metrics the guard keeps (all registered in one registry).
struct GuardMetrics {
  // Registers driftguard_admission_requests_total{operation,decision,mode},
  // driftguard_admission_decision_duration_seconds, driftguard_drift_attempts_total{kustomization},
  // driftguard_break_glass_total{kustomization} and driftguard_desired_state_age_seconds (age of
  // the oldest loaded snapshot, read from `store`, which must outlive the registry).
  static core::StatusOr<std::unique_ptr<GuardMetrics>> Register(
      core::MetricsRegistry& registry, const core::DesiredStateStore* store);

  core::CounterFamily* requests = nullptr;
  core::HistogramFamily* decision_seconds = nullptr;
  core::CounterFamily* drift_attempts = nullptr;
  core::CounterFamily* break_glass = nullptr;
};

enum class Endpoint { kValidate, kMutate };

// One field that drifted from Git.
struct DriftedField {
  std::string path;                // human path ("spec.template.spec.containers[name=web].image")
  std::string pointer;             // JSON pointer into the new object (B)
  std::optional<core::Json> live;  // A's value; nullopt when absent
  std::optional<core::Json> attempted;  // B's value; nullopt when removed
  std::optional<core::Json> git;        // D's value when D declares the field
  core::FieldOrigin origin;             // where D declares it (empty when undeclared)
};

struct GuardDecision {
  AdmissionResponse response;
  // Metric label: allow, deny, revert, audit, exempt, break-glass, unmanaged, unguarded.
  std::string decision;
  std::string mode;  // enforce, revert, audit; "" when no mode applied
  std::optional<core::KustomizationId> owner;
  std::vector<DriftedField> drift;
  std::string reason;  // one line for logs
};

class Guard : public AdmissionHandler {
 public:
  // `store` must outlive the guard; `metrics` may be null.
  Guard(GuardConfig config, const core::DesiredStateStore* store, GuardMetrics* metrics);

  GuardDecision Decide(const AdmissionRequest& request, Endpoint endpoint) const;

  // AdmissionHandler: Decide + metrics + logs.
  AdmissionResponse Validate(const AdmissionRequest& request) override;
  AdmissionResponse Mutate(const AdmissionRequest& request) override;

  const GuardConfig& config() const { return config_; }

 private:
  AdmissionResponse Handle(const AdmissionRequest& request, Endpoint endpoint);
  core::Counter& RequestCounter(Operation operation, const GuardDecision& d);

  GuardConfig config_;
  const core::DesiredStateStore* store_;
  GuardMetrics* metrics_;
  std::shared_ptr<spdlog::logger> log_;
  // Children of metrics_' families resolved once (WithLabels takes a lock both loops contend
  // for): the unlabelled decision histogram, and requests{operation,decision,mode} for every
  // combination of the known values, filled in on first use.
  core::Histogram* decision_seconds_ = nullptr;
  static constexpr size_t kOperations = 4, kDecisions = 8, kModes = 4;
  std::array<std::atomic<core::Counter*>, kOperations * kDecisions * kModes> request_counters_{};
};

// `"text"`, 3, {"a":1}; long values shortened with "…"; nullopt → <none>. Used in messages.
std::string FormatValue(const std::optional<core::Json>& value);

}  // namespace driftguard::webhook

#endif  // DRIFTGUARD_WEBHOOK_GUARD_H_
