#include "reconciler/source_sync.h"

#include <algorithm>
#include <random>

#include "core/log.h"
#include "core/object_ref.h"
#include "reconciler/flux_postbuild.h"
#include "reconciler/render.h"

namespace driftguard::reconciler {

using core::Status;
using core::StatusOr;

struct SourceSync::Repo {
  core::GitRepository spec;
  std::unique_ptr<GitSource> source;
  std::vector<const core::Kustomization*> kustomizations;
  std::chrono::steady_clock::time_point next_due;
  bool in_progress = false;
  std::string rendered_revision;  // revision the Kustomizations were last rendered at
  bool ever_rendered = false;
  // The last attempt failed before rendering (fetch, secret): its error sits in the store and is
  // cleared by rendering again once the source is back, even at an unchanged revision.
  bool source_failed = false;
  std::string last_fetched_revision;  // "" before the first successful fetch
};

Status SourceSyncOptions::Validate() const {
  if (cache_dir.empty())
    return core::InvalidArgumentError("source sync: cache directory is required");
  if (workers == 0) return core::InvalidArgumentError("source sync: workers must be at least 1");
  if (jitter < 0 || jitter >= 1) {
    return core::InvalidArgumentError("source sync: jitter must be in [0, 1), got " +
                                      std::to_string(jitter));
  }
  return core::OkStatus();
}

SourceSync::SourceSync(SourceSyncOptions options, core::FluxConfig config,
                       core::DesiredStateStore* store, ObjectDataLookup lookup,
                       core::MetricsRegistry* metrics, GitSourceFactory factory)
    : options_(std::move(options)),
      config_(std::move(config)),
      store_(store),
      lookup_(std::move(lookup)),
      rng_state_(std::random_device{}()) {
  if (!factory) {
    factory = [](const core::GitRepository&, const GitSourceOptions& o) {
      return std::make_unique<LibGit2Source>(o);
    };
  }
  for (const core::GitRepository& r : config_.repositories) {
    auto repo = std::make_unique<Repo>();
    repo->spec = r;
    GitSourceOptions git;
    git.cache_dir = options_.cache_dir / r.namespace_ / r.name;
    git.max_file_size = options_.max_file_size;
    git.max_total_size = options_.max_total_size;
    repo->source = factory(r, git);
    for (const core::Kustomization& k : config_.kustomizations) {
      if (k.source_ref.namespace_ == r.namespace_ && k.source_ref.name == r.name) {
        repo->kustomizations.push_back(&k);
      }
    }
    repos_.push_back(std::move(repo));
  }
  for (const core::Kustomization& k : config_.kustomizations) {
    core::KustomizationId id{k.namespace_, k.name};
    store_->Register(id);
    results_[id].id = id;
  }
  if (metrics != nullptr) {
    auto fetches =
        metrics->RegisterCounter("driftguard_source_fetches_total",
                                 "Git fetches by repository and result.", {"repository", "result"});
    auto renders = metrics->RegisterCounter("driftguard_renders_total",
                                            "Kustomization renders by Kustomization and result.",
                                            {"kustomization", "result"});
    auto seconds = metrics->RegisterHistogram(
        "driftguard_render_duration_seconds",
        "Time to render a Kustomization (kustomize build + Flux post-build).", {},
        {0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30});
    if (fetches.ok()) fetches_ = *fetches;
    if (renders.ok()) renders_ = *renders;
    if (seconds.ok()) render_seconds_ = *seconds;
  }
}

SourceSync::~SourceSync() { Stop(); }

Status SourceSync::SyncOnce() {
  Status first;
  for (auto& repo : repos_) {
    Status s = SyncRepository(*repo, !repo->ever_rendered);
    if (first.ok() && !s.ok()) first = s;
  }
  return first;
}

Status SourceSync::SyncRepository(Repo& repo, bool force_render) {
  const core::GitRepository& r = repo.spec;
  const std::string repo_name = r.namespace_ + "/" + r.name;
  auto fail_all = [&](const Status& error) {
    std::lock_guard lock(mu_);
    repo.source_failed = true;
    for (const core::Kustomization* k : repo.kustomizations) {
      core::KustomizationId id{k->namespace_, k->name};
      // Settled for readiness: the guard works without Git state (it still says no), and a
      // webhook that never became ready would lock the cluster while Git is down.
      store_->RecordFailure(id, error, /*definitive=*/true);
      results_[id].error = error;
    }
    return error;
  };
  if (r.suspend) {
    if (repo.ever_rendered) return core::OkStatus();
    return fail_all(core::FailedPreconditionError("GitRepository " + repo_name + " is suspended"));
  }

  GitSourceSpec spec;
  spec.url = r.url;
  spec.ref = GitRef{r.ref.branch, r.ref.tag, r.ref.semver, r.ref.name, r.ref.commit};
  spec.ignore = r.ignore;
  spec.timeout = r.timeout;
  if (!r.secret_ref.empty()) {
    if (!lookup_) {
      return fail_all(core::FailedPreconditionError(
          "GitRepository " + repo_name + ": secretRef " + r.secret_ref +
          " cannot be read: no secret source is configured (use --secrets-dir or a cluster)"));
    }
    auto data = lookup_("Secret", r.namespace_, r.secret_ref);
    if (!data.ok()) {
      return fail_all(
          data.status().WithPrefix("GitRepository " + repo_name + ": secretRef " + r.secret_ref));
    }
    spec.secret = std::move(*data);
  }

  auto artifact = repo.source->Fetch(spec);
  if (fetches_ != nullptr) {
    fetches_->WithLabels({repo_name, artifact.ok() ? "success" : "failure"}).Inc();
  }
  if (!artifact.ok()) {
    core::Logger("source")->warn("GitRepository {}: {}", repo_name, artifact.status().message());
    Status error = artifact.status().WithPrefix("GitRepository " + repo_name);
    if (fetch_observer_) fetch_observer_(r, repo.last_fetched_revision, error);
    return fail_all(error);
  }
  repo.last_fetched_revision = artifact->revision;
  if (fetch_observer_) fetch_observer_(r, artifact->revision, core::OkStatus());
  if (!force_render && !repo.source_failed && repo.ever_rendered &&
      artifact->revision == repo.rendered_revision) {
    return core::OkStatus();
  }
  repo.source_failed = false;
  core::Logger("source")->info("GitRepository {}: revision {}", repo_name, artifact->revision);
  Status first;
  for (const core::Kustomization* k : repo.kustomizations) {
    Status s = RenderKustomization(*k, *artifact);
    if (first.ok() && !s.ok()) first = s;
  }
  repo.rendered_revision = artifact->revision;
  repo.ever_rendered = true;
  return first;
}

Status SourceSync::RenderKustomization(const core::Kustomization& k,
                                       const SourceArtifact& artifact) {
  const core::KustomizationId id{k.namespace_, k.name};
  const auto start = std::chrono::steady_clock::now();
  auto record = [&](const Status& error) {
    if (renders_ != nullptr) {
      renders_->WithLabels({id.ToString(), error.ok() ? "success" : "failure"}).Inc();
    }
    std::lock_guard lock(mu_);
    results_[id].error = error;
    if (!error.ok()) {
      store_->RecordFailure(id, error, /*definitive=*/true);
      core::Logger("source")->warn("{}", error.message());
    }
    return error;
  };
  const std::string prefix = "Kustomization " + id.ToString() + " at " + artifact.revision;

  std::string rel = k.path;
  while (rel.rfind("./", 0) == 0) rel = rel.substr(2);
  if (!rel.empty() && rel.front() == '/') rel = rel.substr(1);
  RenderOptions render;
  render.root = artifact.path;
  render.yaml_limits = options_.yaml_limits;
  auto rendered = reconciler::RenderKustomization(artifact.path / rel, render);
  if (!rendered.ok()) return record(rendered.status().WithPrefix(prefix));

  FluxBuildOptions flux;
  flux.name = k.name;
  flux.namespace_ = k.namespace_;
  flux.spec = k.spec();
  const core::Json post = flux.spec.value("postBuild", core::Json::object());
  if (post.contains("substituteFrom") && post["substituteFrom"].is_array()) {
    for (const core::Json& ref : post["substituteFrom"]) {
      const std::string kind = ref.value("kind", "");
      const std::string name = ref.value("name", "");
      const bool optional = ref.value("optional", false);
      StatusOr<std::map<std::string, std::string>> data =
          lookup_ ? lookup_(kind, k.namespace_, name)
                  : StatusOr<std::map<std::string, std::string>>(
                        core::FailedPreconditionError("no ConfigMap/Secret source is configured"));
      if (!data.ok()) {
        if (optional && data.status().code() == core::StatusCode::kNotFound) continue;
        return record(
            data.status().WithPrefix(prefix + ": postBuild.substituteFrom " + kind + "/" + name));
      }
      for (auto& [key, value] : *data) flux.substitutions_from_refs[key] = value;
    }
  }
  std::vector<RenderedObject> objects = std::move(*rendered);
  if (Status s = ApplyFluxPostBuild(objects, flux); !s.ok()) return record(s.WithPrefix(prefix));

  std::vector<core::DesiredObject> desired;
  desired.reserve(objects.size());
  for (RenderedObject& o : objects) {
    core::DesiredObject d;
    d.ref = core::ObjectRef::FromObject(o.object);
    d.object = std::move(o.object);
    d.origins = std::move(o.origins);
    desired.push_back(std::move(d));
  }
  core::SnapshotInfo info;
  info.revision = artifact.revision;
  info.commit = artifact.commit;
  info.built_at = std::chrono::system_clock::now();
  info.kustomization = k.object;
  const size_t count = desired.size();
  auto snapshot = core::DesiredSnapshot::Build(id, std::move(info), std::move(desired));
  if (!snapshot.ok()) return record(snapshot.status().WithPrefix(prefix));
  store_->Publish(*snapshot);
  if (render_seconds_ != nullptr) {
    render_seconds_->WithLabels({}).Observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  {
    std::lock_guard lock(mu_);
    results_[id].revision = artifact.revision;
    results_[id].objects = count;
  }
  core::Logger("source")->info("Kustomization {}: {} objects at {}", id.ToString(), count,
                               artifact.revision);
  return record(core::OkStatus());
}

std::chrono::steady_clock::duration SourceSync::Jittered(std::chrono::milliseconds interval) {
  // REQUIRES: mu_ held. xorshift: cheap, and good enough to spread fetches.
  rng_state_ ^= rng_state_ << 13;
  rng_state_ ^= rng_state_ >> 7;
  rng_state_ ^= rng_state_ << 17;
  const double unit = static_cast<double>(rng_state_ % 1'000'000) / 1'000'000.0;  // [0, 1)
  const double factor = 1.0 + options_.jitter * (2 * unit - 1);
  return std::chrono::duration_cast<std::chrono::steady_clock::duration>(interval * factor);
}

void SourceSync::Start() {
  std::lock_guard lock(mu_);
  if (!workers_.empty()) return;
  stopping_ = false;
  const auto now = std::chrono::steady_clock::now();
  for (auto& repo : repos_)
    repo->next_due = repo->ever_rendered ? now + Jittered(repo->spec.interval) : now;
  for (size_t i = 0; i < options_.workers; ++i) workers_.emplace_back([this] { WorkerLoop(); });
}

void SourceSync::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (std::thread& t : workers_) t.join();
  workers_.clear();
}

void SourceSync::WorkerLoop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    Repo* next = nullptr;
    for (auto& repo : repos_) {
      if (repo->in_progress) continue;
      if (next == nullptr || repo->next_due < next->next_due) next = repo.get();
    }
    if (next == nullptr) {
      cv_.wait(lock);
      continue;
    }
    if (next->next_due > std::chrono::steady_clock::now()) {
      cv_.wait_until(lock, next->next_due);
      continue;
    }
    next->in_progress = true;
    const bool force = !next->ever_rendered;
    lock.unlock();
    SyncRepository(*next, force).IgnoreError();  // recorded in the store and the results
    lock.lock();
    next->in_progress = false;
    next->next_due = std::chrono::steady_clock::now() + Jittered(next->spec.interval);
    cv_.notify_all();
  }
}

std::vector<KustomizationSyncResult> SourceSync::Results() const {
  std::lock_guard lock(mu_);
  std::vector<KustomizationSyncResult> out;
  for (const auto& [id, r] : results_) out.push_back(r);
  return out;
}

}  // namespace driftguard::reconciler
