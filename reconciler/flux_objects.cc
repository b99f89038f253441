#include "reconciler/flux_objects.h"

#include <algorithm>
#include <map>
#include <set>
#include <utility>

#include "core/flux_api.h"
#include "core/log.h"

namespace driftguard::reconciler {

using core::Json;
using core::Status;

struct ClusterFluxObjects::Kind {
  core::GroupVersionKind gvk;
  // "<ns>/<name>" -> object; guarded by ClusterFluxObjects::mu_.
  std::map<std::string, Json> objects;
  std::unique_ptr<core::WatchHandle> watch;  // controlling thread only
};

namespace {

std::string KeyOf(const Json& object) {
  const Json meta = object.value("metadata", Json::object());
  return meta.value("namespace", "") + "/" + meta.value("name", "");
}

// The parts whose change matters: not status (except, in guard mode, the revision Flux last
// applied), not bookkeeping.
Json Significant(Json object, bool keep_last_applied) {
  Json last_applied;
  if (keep_last_applied && object.contains("status") && object["status"].is_object()) {
    last_applied = object["status"].value("lastAppliedRevision", Json());
  }
  object.erase("status");
  if (!last_applied.is_null()) object["status"]["lastAppliedRevision"] = last_applied;
  if (object.contains("metadata") && object["metadata"].is_object()) {
    Json& meta = object["metadata"];
    meta.erase("resourceVersion");
    meta.erase("managedFields");
  }
  return object;
}

}  // namespace

ClusterFluxObjects::ClusterFluxObjects(core::KubeClient* client, ClusterFluxObjectsOptions options,
                                       OnChange on_change)
    : client_(client),
      options_(std::move(options)),
      on_change_(std::move(on_change)),
      repos_(std::make_unique<Kind>()),
      kustomizations_(std::make_unique<Kind>()) {
  repos_->gvk = {"source.toolkit.fluxcd.io", "v1", "GitRepository"};
  kustomizations_->gvk = {"kustomize.toolkit.fluxcd.io", "v1", "Kustomization"};
}

ClusterFluxObjects::~ClusterFluxObjects() { Stop(); }

core::FluxConfig ClusterFluxObjects::Build(const std::vector<Json>& repositories,
                                           const std::vector<Json>& kustomizations,
                                           std::vector<std::string>* errors) {
  core::FluxConfig config;
  std::vector<std::string> problems;
  for (const Json& o : repositories) {
    const std::string where = "GitRepository " + KeyOf(o);
    auto repo = core::ParseGitRepository(o, where);
    if (!repo.ok()) {
      problems.push_back(repo.status().message());
      continue;
    }
    config.repositories.push_back(std::move(*repo));
  }
  for (const Json& o : kustomizations) {
    const std::string where = "Kustomization " + KeyOf(o);
    auto k = core::ParseKustomization(o, where);
    if (!k.ok()) {
      problems.push_back(k.status().message());
      continue;
    }
    const std::string src_ns =
        k->source_ref.namespace_.empty() ? k->namespace_ : k->source_ref.namespace_;
    if (k->source_ref.kind != "GitRepository" ||
        config.FindRepository(src_ns, k->source_ref.name) == nullptr) {
      problems.push_back(where + ": source " + k->source_ref.kind + " " + src_ns + "/" +
                         k->source_ref.name + " not found");
      continue;
    }
    config.kustomizations.push_back(std::move(*k));
  }
  std::sort(problems.begin(), problems.end());
  if (errors != nullptr) *errors = std::move(problems);
  return config;
}

Status ClusterFluxObjects::List(Kind& kind) {
  auto list = client_->List(kind.gvk, options_.namespace_);
  if (!list.ok()) return list.status().WithPrefix("listing " + kind.gvk.kind + " objects");
  std::map<std::string, Json> objects;
  for (Json& o : list->items) {
    std::string key = KeyOf(o);
    objects[key] = std::move(o);
  }
  {
    std::lock_guard lock(mu_);
    kind.objects = std::move(objects);
  }
  core::WatchOptions watch;
  watch.resource_version = list->resource_version;
  watch.resume = true;
  Kind* k = &kind;
  auto handle =
      client_->Watch(kind.gvk, options_.namespace_, watch,
                     {.on_event =
                          [this, k](const core::WatchEvent& e) {
                            OnEvent(*k, e);
                            return true;
                          },
                      .on_close =
                          [this](const Status& s) {
                            if (!s.ok())
                              core::Logger("flux-objects")->warn("watch ended: {}", s.message());
                            cv_.notify_all();
                          }});
  if (!handle.ok()) return handle.status().WithPrefix("watching " + kind.gvk.kind + " objects");
  kind.watch = std::move(*handle);
  return core::OkStatus();
}

void ClusterFluxObjects::OnEvent(Kind& kind, const core::WatchEvent& event) {
  if (event.type == core::WatchEvent::Type::kBookmark) return;
  const std::string key = KeyOf(event.object);
  bool changed = false;
  {
    std::lock_guard lock(mu_);
    auto it = kind.objects.find(key);
    if (event.type == core::WatchEvent::Type::kDeleted) {
      changed = it != kind.objects.end();
      if (changed) kind.objects.erase(it);
    } else if (it == kind.objects.end()) {
      kind.objects.emplace(key, event.object);
      changed = true;
    } else {
      changed = Significant(it->second, options_.track_last_applied_revision) !=
                Significant(event.object, options_.track_last_applied_revision);
      it->second = event.object;
    }
  }
  if (changed) Publish();
}

void ClusterFluxObjects::Publish() {
  std::lock_guard publish(publish_mu_);
  std::vector<Json> repos;
  std::vector<Json> kustomizations;
  {
    std::lock_guard lock(mu_);
    for (const auto& [key, o] : repos_->objects) repos.push_back(o);
    for (const auto& [key, o] : kustomizations_->objects) kustomizations.push_back(o);
  }
  std::vector<std::string> errors;
  core::FluxConfig config = Build(repos, kustomizations, &errors);
  {
    std::lock_guard lock(mu_);
    current_ = config;
    errors_ = errors;
    ++version_;
  }
  for (const std::string& e : errors) core::Logger("flux-objects")->warn("{}", e);
  if (on_change_) on_change_(config);
}

Status ClusterFluxObjects::Start() {
  RETURN_IF_ERROR(List(*repos_));
  RETURN_IF_ERROR(List(*kustomizations_));
  Publish();
  {
    std::lock_guard lock(mu_);
    stopping_ = false;
  }
  supervisor_ = std::thread([this] { Supervise(); });
  return core::OkStatus();
}

// Re-lists a kind whose watch ended (410 Expired, or an error the watch could not resume from).
void ClusterFluxObjects::Supervise() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    cv_.wait_for(lock, options_.check_interval);
    if (stopping_) break;
    lock.unlock();
    bool relisted = false;
    for (Kind* kind : {repos_.get(), kustomizations_.get()}) {
      if (kind->watch != nullptr && !kind->watch->Done()) continue;
      if (kind->watch != nullptr) kind->watch->Stop();
      kind->watch.reset();
      if (Status s = List(*kind); !s.ok()) {
        core::Logger("flux-objects")->warn("{}", s.message());
        continue;
      }
      relisted = true;
    }
    if (relisted) Publish();
    lock.lock();
  }
}

void ClusterFluxObjects::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (supervisor_.joinable()) supervisor_.join();
  for (Kind* kind : {repos_.get(), kustomizations_.get()}) {
    if (kind->watch != nullptr) kind->watch->Stop();
    kind->watch.reset();
  }
}

core::FluxConfig ClusterFluxObjects::Current() const {
  std::lock_guard lock(mu_);
  return current_;
}

uint64_t ClusterFluxObjects::version() const {
  std::lock_guard lock(mu_);
  return version_;
}

std::vector<std::string> ClusterFluxObjects::Errors() const {
  std::lock_guard lock(mu_);
  return errors_;
}

namespace {

// The commit of a Flux revision: "main@sha1:<hex>", "sha1:<hex>" or the older "main/<hex>".
std::string CommitOfRevision(std::string_view revision) {
  std::string_view hex = revision;
  if (const size_t at = revision.find("sha1:"); at != std::string_view::npos) {
    hex = revision.substr(at + 5);
  } else if (const size_t slash = revision.rfind('/'); slash != std::string_view::npos) {
    hex = revision.substr(slash + 1);
  }
  if (hex.size() != 40) return "";
  for (char c : hex) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return "";
  }
  return std::string(hex);
}

}  // namespace

core::FluxConfig PinToLastAppliedRevisions(core::FluxConfig config) {
  // Commits each repository's Kustomizations were last applied at ("" = not applied yet).
  std::map<std::pair<std::string, std::string>, std::set<std::string>> commits;
  for (const core::Kustomization& k : config.kustomizations) {
    const Json status = k.object.value("status", Json::object());
    const std::string commit =
        status.is_object() ? CommitOfRevision(status.value("lastAppliedRevision", "")) : "";
    commits[{k.source_ref.namespace_, k.source_ref.name}].insert(commit);
  }
  auto pin = [](core::GitRepository& repo, const std::string& commit) {
    // Keep the branch so the revision reads as Flux wrote it; the commit takes precedence.
    repo.ref.tag.clear();
    repo.ref.semver.clear();
    repo.ref.name.clear();
    repo.ref.commit = commit;
    repo.object["spec"]["ref"] = Json::object();
    if (!repo.ref.branch.empty()) repo.object["spec"]["ref"]["branch"] = repo.ref.branch;
    repo.object["spec"]["ref"]["commit"] = commit;
  };
  std::vector<core::GitRepository> repositories;
  for (core::GitRepository& repo : config.repositories) {
    auto it = commits.find({repo.namespace_, repo.name});
    if (it == commits.end() || it->second.size() == 1) {
      // One commit for every Kustomization (the usual case), or none applied yet: pin in place.
      if (it != commits.end() && !it->second.begin()->empty()) pin(repo, *it->second.begin());
      repositories.push_back(std::move(repo));
      continue;
    }
    // Kustomizations of one repository applied at different commits: one pinned copy per commit,
    // named "<name>@<12 hex>"; Kustomizations not applied yet keep the repository as declared.
    for (const std::string& commit : it->second) {
      core::GitRepository copy = repo;
      if (!commit.empty()) {
        copy.name = repo.name + "@" + commit.substr(0, 12);
        pin(copy, commit);
      }
      repositories.push_back(std::move(copy));
    }
    for (core::Kustomization& k : config.kustomizations) {
      if (k.source_ref.namespace_ != repo.namespace_ || k.source_ref.name != repo.name) continue;
      const Json status = k.object.value("status", Json::object());
      const std::string commit =
          status.is_object() ? CommitOfRevision(status.value("lastAppliedRevision", "")) : "";
      if (!commit.empty()) k.source_ref.name = repo.name + "@" + commit.substr(0, 12);
    }
  }
  config.repositories = std::move(repositories);
  return config;
}

}  // namespace driftguard::reconciler
