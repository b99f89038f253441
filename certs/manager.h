// CertificateManager: the runtime that keeps driftguard's certificate material published.
//
// One pass (RunOnce) is a list of steps:
//   1. read the Secret (default driftguard-certs in the pod's namespace; keys ca.crt, ca.key,
//      tls.crt, tls.key) and PlanRotation over its material;
//   2. inject the planned CA bundle into the caBundle of every webhook of the
//      ValidatingWebhookConfiguration (driftguard-guard) and MutatingWebhookConfiguration
//      (driftguard-revert): a merge patch carrying metadata.resourceVersion; 409 → re-read, retry;
//   3. when the plan changed something, write the Secret: create, or update with the
//      resourceVersion that was read; 409 (AlreadyExists or Conflict) → re-read and re-plan. The
//      replica that loses the race adopts the winner's material and re-injects its bundle;
//   4. write tls.crt, tls.key and ca.crt to output_dir (when set), so that a webhook server
//      reading files (webhook/server.h) serves the current material even in a pod that does not
//      mount the Secret.
// Step 2 always runs before step 3: the API server trusts a new CA before any pod can present a
// certificate it signed, which is what makes a rotation drop no request (see certs/rotation.h).
// When a pass replaces the CA of an existing Secret, it also waits bundle_propagation_delay between
// the two steps, so that the API server's cached configurations hold the new bundle before any
// replica switches its serving certificate.
// Step 2 also runs when nothing changed, so a caBundle reset by a re-applied manifest is repaired.
//
// No leader election, by design: certificates must exist before the webhook serves and before
// anyone is leader, so every replica runs the manager. Racing replicas converge through optimistic
// concurrency (resourceVersion preconditions on every write): exactly one Secret write wins, the
// others get 409, re-read, find valid material and adopt it. Known window: while two replicas race
// a CA change, the loser may briefly inject its own (never published) bundle; it re-injects the
// winner's bundle in the same pass, before returning.
//
// Scheduling (Start): a background thread runs a pass every resync_interval (12 h), earlier when
// the rotation plan says something becomes due (next_action_at), and at once when the Secret or one
// of the webhook configurations changes (watches by fieldSelector metadata.name). A failed pass is
// retried with exponential backoff (retry_initial_backoff .. retry_max_backoff).
//
// Observability: logger "certs"; the gauge driftguard_certificate_expiry_timestamp_seconds
// {cert="ca|serving"} and the counter driftguard_certificate_failures_total; events through
// CertificateManagerHooks::on_event with reasons CreatedCA, RotatedCA, DroppedCA,
// IssuedServingCertificate, InjectedCABundle, AdoptedCertificates, CertificateUpdateFailed.
// Key material never appears in logs, events or errors.
//
//   certs::CertificateManagerOptions options;
//   options.namespace_name = pod_namespace;
//   options.rotation.generate.namespace_name = pod_namespace;
//   options.output_dir = "/var/run/driftguard/certs";   // an emptyDir; the server reads it
//   RETURN_IF_ERROR(options.Validate());
//   certs::SystemClock clock;
//   certs::CertificateManager manager(options, client.get(), &clock,
//                                     {.registry = &registry, .on_event = record});
//   RETURN_IF_ERROR(manager.Start());   // first pass synchronously; files exist afterwards
//   server_options.tls_cert_file = manager.cert_file();  // start the webhook server
//   ...
//   manager.Stop();
//
// Thread safety: RunOnce, Trigger and the accessors may be called from any thread; passes are
// serialized. Start and Stop are called from one controlling thread. The client, the clock and the
// hooks' targets are not owned and must outlive the manager.
#ifndef DRIFTGUARD_CERTS_MANAGER_H_
#define DRIFTGUARD_CERTS_MANAGER_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "certs/clock.h"
#include "certs/generate.h"
#include "certs/rotation.h"
#include "core/kube_client.h"
#include "core/metrics.h"
#include "core/status.h"

namespace driftguard::certs {

inline constexpr std::string_view kDefaultSecretName = "driftguard-certs";
inline constexpr std::string_view kDefaultValidatingWebhookName = "driftguard-guard";
inline constexpr std::string_view kDefaultMutatingWebhookName = "driftguard-revert";
inline constexpr std::string_view kFailuresMetricName = "driftguard_certificate_failures_total";

struct CertificateManagerOptions {
  // Namespace of the Secret (the pod's namespace). Required.
  std::string namespace_name;
  std::string secret_name = std::string(kDefaultSecretName);
  // Webhook configurations whose caBundle is managed; "" skips one. A configuration that does not
  // exist is skipped with a warning (the chart may not install it), never created.
  std::string validating_webhook_name = std::string(kDefaultValidatingWebhookName);
  std::string mutating_webhook_name = std::string(kDefaultMutatingWebhookName);
  // Policy and profile of the certificates (generate.namespace_name should be the Service's).
  RotationOptions rotation;
  // Directory for tls.crt, tls.key and ca.crt (ca.key is never written to disk); "" = none.
  // Must be writable (an emptyDir, not a Secret volume). Layout, as kubelet's atomic writer:
  // <dir>/..data is a symlink to a versioned directory and each file is a symlink through ..data,
  // so one rename switches all three files at once.
  std::filesystem::path output_dir;
  std::chrono::seconds resync_interval = std::chrono::hours(12);
  std::chrono::milliseconds retry_initial_backoff{1000};
  std::chrono::milliseconds retry_max_backoff{5 * 60 * 1000};
  // Write attempts per pass before giving up on 409s (Secret and each configuration).
  int max_conflict_attempts = 5;
  // How long to wait after injecting a bundle with a new CA before publishing a serving
  // certificate signed by it (only when a Secret already existed, i.e. pods may be serving).
  // The API server watches webhook configurations; 10 s covers its propagation with a margin.
  std::chrono::milliseconds bundle_propagation_delay{10000};

  // INVALID_ARGUMENT naming the first bad field.
  core::Status Validate() const;
};

// What one pass did.
struct CertificatePassResult {
  // The rotation changes this replica published (empty when nothing changed or when it adopted
  // another replica's material).
  std::vector<RotationChange> changes;
  bool secret_created = false;
  bool secret_updated = false;
  // A write lost a race (409) and the material another replica published was adopted.
  bool adopted = false;
  // Configurations whose caBundle was patched, as "<Kind> <name>".
  std::vector<std::string> injected;
  // Configurations that do not exist, as "<Kind> <name>".
  std::vector<std::string> missing;
  bool files_written = false;
  // The material now in the Secret.
  Material material;
  std::string secret_resource_version;
  TimePoint ca_not_after;
  TimePoint serving_not_after;
  TimePoint next_action_at;  // when the rotation policy next has something to do
};

struct CertificateManagerHooks {
  // Registers and updates kExpiryMetricName{cert} and kFailuresMetricName. Not owned.
  core::MetricsRegistry* registry = nullptr;
  // Called for every published change (type "Normal") and failed pass ("Warning"), with a reason
  // from the list above and a one-sentence message; wire to an Event recorder whose involved
  // object is the Secret. Called from the thread running the pass; must be thread-safe.
  std::function<void(std::string_view type, std::string_view reason, std::string_view message)>
      on_event;
  // Replaces the bundle_propagation_delay sleep when set (tests make the wait deterministic).
  std::function<void()> wait_for_bundle_propagation;
};

class CertificateManager {
 public:
  // REQUIRES: options.Validate().ok(); client and clock non-null.
  CertificateManager(CertificateManagerOptions options, core::KubeClient* client,
                     const Clock* clock, CertificateManagerHooks hooks = {});
  ~CertificateManager();  // calls Stop()

  CertificateManager(const CertificateManager&) = delete;
  CertificateManager& operator=(const CertificateManager&) = delete;

  // One pass (steps 1–4 above). Errors name the step and the object, with the API server's
  // message, e.g. "writing Secret driftguard-system/driftguard-certs: injected fault (HTTP 500)
  // (HTTP 500 InternalError)". A failed pass never writes the Secret after a failed injection,
  // nor the files after a failed Secret write.
  core::StatusOr<CertificatePassResult> RunOnce();

  // Runs the first pass on the calling thread and, when it succeeds, starts the watches and the
  // scheduling thread. Returns the first pass's error without starting anything (the caller
  // decides: exit and let the pod restart, or retry). REQUIRES: called at most once.
  core::Status Start();
  // Stops the watches and the thread; a running pass finishes first. Idempotent.
  void Stop();
  // Requests a pass as soon as possible (coalesced). No-op before Start.
  void Trigger();

  // The material of the last successful pass, if any.
  std::optional<Material> current() const;
  uint64_t passes() const;    // completed passes, successful or not
  uint64_t failures() const;  // failed passes
  // <output_dir>/tls.crt, tls.key, ca.crt.
  std::string cert_file() const;
  std::string key_file() const;
  std::string ca_file() const;

 private:
  class Watches;

  core::StatusOr<CertificatePassResult> Pass();
  core::StatusOr<std::optional<core::Json>> ReadSecret();
  // `patched` is set when some configuration was patched.
  core::Status EnsureBundle(const std::string& bundle_pem, CertificatePassResult& result,
                            bool& patched);
  core::Status InjectInto(const core::GroupVersionKind& gvk, const std::string& name,
                          const std::string& bundle_pem, CertificatePassResult& result,
                          bool& patched);
  void WaitForBundlePropagation();
  core::Status WriteFiles(const Material& material, CertificatePassResult& result);
  void Publish(const CertificatePassResult& result);
  void Emit(std::string_view type, std::string_view reason, std::string_view message);
  void Loop();
  void EnsureWatches();
  size_t WatchCount() const;

  const CertificateManagerOptions options_;
  core::KubeClient* const client_;
  const Clock* const clock_;
  const CertificateManagerHooks hooks_;
  core::GaugeFamily* expiry_ = nullptr;
  core::Counter* failure_counter_ = nullptr;

  std::mutex pass_mu_;  // serializes passes
  mutable std::mutex mu_;
  std::optional<Material> current_;  // guarded by mu_
  uint64_t passes_ = 0;              // guarded by mu_
  uint64_t failures_ = 0;            // guarded by mu_
  TimePoint next_action_at_;         // guarded by mu_

  std::mutex loop_mu_;
  std::condition_variable loop_cv_;
  bool started_ = false;    // guarded by loop_mu_
  bool stopping_ = false;   // guarded by loop_mu_
  bool triggered_ = false;  // guarded by loop_mu_
  std::thread thread_;
  std::unique_ptr<Watches> watches_;  // used by the loop thread only
};

}  // namespace driftguard::certs

#endif  // DRIFTGUARD_CERTS_MANAGER_H_
