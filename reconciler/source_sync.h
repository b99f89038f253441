// SourceSync: keeps the DesiredState equal to what Git declares.
//
// For each GitRepository it fetches on the repository's interval (with jitter so replicas and
// repositories do not fetch in lockstep); when a source revision changes — or on the first pass —
// it renders every Kustomization that uses it (kustomize build + Flux post-build), and publishes a
// new DesiredSnapshot. A failed fetch or render keeps the previous snapshot and records the error
// (naming the file and line where known) in the store, for readiness, status and the guard's
// messages. Work runs on a small pool of threads; readers of the store never wait for it.
//
//   SourceSync sync(options, config, &store, nullptr);
//   sync.SyncOnce();          // one pass, synchronously (CLI, demo, tests)
//   sync.Start();             // then keep going on the intervals
//   ...
//   sync.Stop();
//
// Thread safety: Start/Stop/SyncOnce from one controlling thread; Results() from any thread.
#ifndef DRIFTGUARD_RECONCILER_SOURCE_SYNC_H_
#define DRIFTGUARD_RECONCILER_SOURCE_SYNC_H_

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/desired_state.h"
#include "core/flux_api.h"
#include "core/flux_config.h"
#include "core/metrics.h"
#include "core/status.h"
#include "core/yaml.h"
#include "reconciler/git_source.h"

namespace driftguard::reconciler {

struct SourceSyncOptions {
  // Where repositories are cached: <cache_dir>/<namespace>/<name>/. Required.
  std::filesystem::path cache_dir;
  // Per-file and per-checkout size bounds for every repository.
  uint64_t max_file_size = 16ull << 20;
  uint64_t max_total_size = 512ull << 20;
  // Threads fetching and rendering in parallel (at least 1).
  size_t workers = 2;
  // Each wait is the interval scaled by a random factor in [1 - jitter, 1 + jitter].
  double jitter = 0.1;
  core::YamlLimits yaml_limits;

  core::Status Validate() const;
};

// Data of a Secret or ConfigMap (values decoded), looked up by namespace, kind and name. Used for
// GitRepository secretRef and Kustomization postBuild.substituteFrom. Null: nothing can be looked
// up, and a reference fails with a message saying so.
using ObjectDataLookup = std::function<core::StatusOr<std::map<std::string, std::string>>(
    std::string_view kind, std::string_view namespace_, std::string_view name)>;

// Creates the GitSource for a repository (tests inject fakes; default: LibGit2Source).
using GitSourceFactory =
    std::function<std::unique_ptr<GitSource>(const core::GitRepository&, const GitSourceOptions&)>;

// Outcome of the latest attempt for one Kustomization.
struct KustomizationSyncResult {
  core::KustomizationId id;
  std::string revision;  // of the last published snapshot ("" before the first)
  size_t objects = 0;
  core::Status error;  // of the latest attempt
};

class SourceSync {
 public:
  // `store` must outlive this object. `lookup` may be null. `metrics` may be null.
  SourceSync(SourceSyncOptions options, core::FluxConfig config, core::DesiredStateStore* store,
             ObjectDataLookup lookup, core::MetricsRegistry* metrics = nullptr,
             GitSourceFactory factory = nullptr);
  ~SourceSync();
  SourceSync(const SourceSync&) = delete;
  SourceSync& operator=(const SourceSync&) = delete;

  // Fetches every repository and renders every Kustomization whose source revision changed (all,
  // on the first pass). Returns the first error encountered (every item is still attempted).
  core::Status SyncOnce();

  // Called after every fetch attempt of a repository (on a worker thread, without locks held):
  // the revision fetched, or on failure the last good revision ("" when none) and the error. For
  // GitRepository status. Set before SyncOnce/Start; must be thread-safe.
  using FetchObserver = std::function<void(const core::GitRepository& repo,
                                           const std::string& revision, const core::Status& error)>;
  void SetFetchObserver(FetchObserver observer) { fetch_observer_ = std::move(observer); }

  // Runs repositories on their intervals until Stop(). Starts with an immediate pass.
  void Start();
  void Stop();

  std::vector<KustomizationSyncResult> Results() const;

 private:
  struct Repo;
  core::Status SyncRepository(Repo& repo, bool force_render);
  core::Status RenderKustomization(const core::Kustomization& k, const SourceArtifact& artifact);
  void WorkerLoop();
  std::chrono::steady_clock::duration Jittered(std::chrono::milliseconds interval);

  const SourceSyncOptions options_;
  const core::FluxConfig config_;
  core::DesiredStateStore* const store_;
  const ObjectDataLookup lookup_;
  FetchObserver fetch_observer_;
  std::vector<std::unique_ptr<Repo>> repos_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::map<core::KustomizationId, KustomizationSyncResult> results_;  // guarded by mu_
  std::vector<std::thread> workers_;
  uint64_t rng_state_;  // guarded by mu_

  core::CounterFamily* fetches_ = nullptr;
  core::CounterFamily* renders_ = nullptr;
  core::HistogramFamily* render_seconds_ = nullptr;
};

}  // namespace driftguard::reconciler

#endif  // DRIFTGUARD_RECONCILER_SOURCE_SYNC_H_
