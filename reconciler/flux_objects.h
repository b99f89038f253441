// ClusterFluxObjects: the Flux GitRepository and Kustomization objects of a cluster, as FluxConfig
// snapshots that follow the cluster.
//
// It lists source.toolkit.fluxcd.io/v1 GitRepositories and kustomize.toolkit.fluxcd.io/v1
// Kustomizations, then watches both kinds (resuming from the list's resourceVersion; a 410
// Expired or an ended watch re-lists). Each change that matters — anything but status,
// metadata.resourceVersion and metadata.managedFields, so that the reconciler's own status writes
// do not echo back — builds a new FluxConfig and hands it to `on_change`. Objects that do not
// parse, and Kustomizations whose sourceRef names no known GitRepository, are left out of the
// snapshot and reported by Errors(). It never writes to the cluster, so guard mode (Flux applies)
// and full mode (driftguard applies) share it.
//
//   ClusterFluxObjects flux(client, {}, [&](const core::FluxConfig& cfg) {
//     reconciler.SetConfig(cfg);
//   });
//   RETURN_IF_ERROR(flux.Start());   // first snapshot delivered before Start returns
//   ...
//   flux.Stop();
//
// Thread safety: Current/Errors/version from any thread; Start/Stop from one controlling thread.
// `on_change` runs on an internal thread, one call at a time, and must not call Stop().
#ifndef DRIFTGUARD_RECONCILER_FLUX_OBJECTS_H_
#define DRIFTGUARD_RECONCILER_FLUX_OBJECTS_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/flux_config.h"
#include "core/json.h"
#include "core/kube_client.h"
#include "core/status.h"

namespace driftguard::reconciler {

struct ClusterFluxObjectsOptions {
  std::string namespace_;  // "" = every namespace
  // How often the supervisor checks the watches (and retries a failed re-list).
  std::chrono::milliseconds check_interval{500};
  // Guard mode: a change of a Kustomization's status.lastAppliedRevision (Flux applied a new
  // revision) is a change too, so the guard follows what Flux applies.
  bool track_last_applied_revision = false;
};

class ClusterFluxObjects {
 public:
  using OnChange = std::function<void(const core::FluxConfig&)>;

  // `client` must outlive this object. `on_change` may be null (poll Current()).
  ClusterFluxObjects(core::KubeClient* client, ClusterFluxObjectsOptions options,
                     OnChange on_change);
  ~ClusterFluxObjects();  // Stop()
  ClusterFluxObjects(const ClusterFluxObjects&) = delete;
  ClusterFluxObjects& operator=(const ClusterFluxObjects&) = delete;

  // Lists both kinds, delivers the first snapshot, then watches. Fails when the first list
  // fails (e.g. the Flux CRDs are not installed), naming the kind.
  core::Status Start();
  void Stop();

  core::FluxConfig Current() const;
  // Increments with every delivered snapshot (1 after Start).
  uint64_t version() const;
  // "Kustomization flux-system/web: <why it was left out>", sorted.
  std::vector<std::string> Errors() const;

  // Builds a snapshot from raw objects (pure; used by the watch and by tests). Objects left out
  // are described in `errors` (may be null).
  static core::FluxConfig Build(const std::vector<core::Json>& repositories,
                                const std::vector<core::Json>& kustomizations,
                                std::vector<std::string>* errors);

 private:
  struct Kind;
  core::Status List(Kind& kind);
  core::Status StartWatch(Kind& kind);
  void OnEvent(Kind& kind, const core::WatchEvent& event);
  void Publish();
  void Supervise();

  core::KubeClient* const client_;
  const ClusterFluxObjectsOptions options_;
  const OnChange on_change_;
  std::unique_ptr<Kind> repos_;
  std::unique_ptr<Kind> kustomizations_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  core::FluxConfig current_;         // guarded by mu_
  std::vector<std::string> errors_;  // guarded by mu_
  uint64_t version_ = 0;             // guarded by mu_
  bool stopping_ = false;            // guarded by mu_
  std::mutex publish_mu_;            // serializes on_change_
  std::thread supervisor_;
};

// Guard mode: the configuration that renders what Flux last applied rather than the branch head.
// Each Kustomization with status.lastAppliedRevision ("main@sha1:<hex>", "sha1:<hex>" or the
// older "main/<hex>") is rendered at that commit: its GitRepository's ref is pinned to the commit
// (branch kept, so revisions read as Flux writes them; tag/semver/name dropped). When the
// Kustomizations of one repository were applied at different commits, each commit gets a pinned
// copy of the repository named "<name>@<first 12 hex>" and the Kustomizations point to their copy.
// Kustomizations without a last applied revision render the repository as declared.
core::FluxConfig PinToLastAppliedRevisions(core::FluxConfig config);

}  // namespace driftguard::reconciler

#endif  // DRIFTGUARD_RECONCILER_FLUX_OBJECTS_H_
