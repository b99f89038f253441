#include "reconciler/drift_repair.h"

#include <algorithm>
#include <cctype>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <utility>

#include "core/field_diff.h"
#include "core/log.h"
#include "core/schema.h"

namespace driftguard::reconciler {

namespace {

using SteadyClock = std::chrono::steady_clock;

constexpr std::string_view kNameLabel = "kustomize.toolkit.fluxcd.io/name";
constexpr std::string_view kReconcileKey = "kustomize.toolkit.fluxcd.io/reconcile";
constexpr std::string_view kSsaKey = "kustomize.toolkit.fluxcd.io/ssa";
constexpr size_t kMaxMessageBytes = 1024;
constexpr size_t kMaxValueChars = 64;
constexpr size_t kMaxHistory = 1000;
// How often the worker retries watches that could not start or ended.
constexpr auto kWatchRetry = std::chrono::seconds(1);

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// metadata.labels[key] or metadata.annotations[key], "" when absent.
std::string MetaValue(const core::Json& object, const char* map, std::string_view key) {
  auto meta = object.find("metadata");
  if (meta == object.end() || !meta->is_object()) return "";
  auto m = meta->find(map);
  if (m == meta->end() || !m->is_object()) return "";
  auto v = m->find(std::string(key));
  return v != m->end() && v->is_string() ? v->get<std::string>() : "";
}

bool ReconcileDisabled(const core::Json& object) {
  return Lower(MetaValue(object, "labels", kReconcileKey)) == "disabled" ||
         Lower(MetaValue(object, "annotations", kReconcileKey)) == "disabled";
}

std::string SsaPolicy(const core::Json& object) {
  return Lower(MetaValue(object, "annotations", kSsaKey));
}

bool IsEmptyValue(const core::Json& v) {
  return v.is_null() || (v.is_object() && v.empty()) || (v.is_array() && v.empty());
}

// `desired` ⊆ `live`: every field `desired` sets has the same value in `live`; lists element-wise.
bool SubsetEqual(const core::Json& desired, const core::Json& live) {
  if (desired.is_object() && live.is_object()) {
    for (auto it = desired.begin(); it != desired.end(); ++it) {
      auto l = live.find(it.key());
      if (l == live.end()) {
        if (IsEmptyValue(*it)) continue;
        return false;
      }
      if (!SubsetEqual(*it, *l)) return false;
    }
    return true;
  }
  if (desired.is_array() && live.is_array()) {
    if (desired.size() != live.size()) return false;
    for (size_t i = 0; i < desired.size(); ++i) {
      if (!SubsetEqual(desired[i], live[i])) return false;
    }
    return true;
  }
  return desired == live;  // numbers compare by value (1 == 1.0)
}

// Only the fields drift is judged on: metadata reduced to labels and annotations, no status.
core::Json Comparable(const core::Json& object) {
  core::Json out = core::Json::object();
  if (!object.is_object()) return out;
  for (auto it = object.begin(); it != object.end(); ++it) {
    if (it.key() == "apiVersion" || it.key() == "kind" || it.key() == "status") continue;
    if (it.key() == "metadata") {
      core::Json meta = core::Json::object();
      if (it->is_object()) {
        for (const char* keep : {"labels", "annotations"}) {
          auto m = it->find(keep);
          if (m != it->end()) meta[keep] = *m;
        }
      }
      out["metadata"] = std::move(meta);
      continue;
    }
    out[it.key()] = *it;
  }
  return out;
}

std::string RenderValue(const std::optional<core::Json>& v) {
  if (!v.has_value()) return "absent";
  std::string s = v->is_string() ? v->get<std::string>() : v->dump();
  if (s.size() > kMaxValueChars) {
    s.resize(kMaxValueChars);
    s += "...";
  }
  return s;
}

// The object an applied config is made from: what Git declares, without server-owned metadata.
core::Json ApplyBody(const core::Json& desired) {
  core::Json body = desired;
  body.erase("status");
  if (auto meta = body.find("metadata"); meta != body.end() && meta->is_object()) {
    for (const char* k : {"resourceVersion", "uid", "creationTimestamp", "generation",
                          "managedFields", "selfLink"}) {
      meta->erase(k);
    }
  }
  return body;
}

std::string KeyOf(const core::GroupVersionKind& gvk, std::string_view ns, std::string_view name) {
  return gvk.group + "/" + gvk.kind + "/" + std::string(ns) + "/" + std::string(name);
}

}  // namespace

std::vector<FieldDrift> DriftRepairer::DriftDetails(const core::Json& desired,
                                                    const core::Json& live) {
  const core::SchemaNode* schema = core::Schema::ForApiVersionKind(
      desired.value("apiVersion", std::string()), desired.value("kind", std::string()));
  const core::Json d = Comparable(desired);
  const core::Json l = Comparable(live);
  std::vector<FieldDrift> out;
  for (core::FieldChange& c : core::DiffObjects(l, d, schema)) {
    if (!c.new_value.has_value()) continue;  // set only on the live object: not ours
    // Whole values (atomic lists and maps, lists without keys): equal when what Git sets is there.
    if (c.old_value.has_value() && SubsetEqual(*c.new_value, *c.old_value)) continue;
    out.push_back({std::move(c.path), std::move(c.old_value), std::move(*c.new_value)});
  }
  return out;
}

std::vector<std::string> DriftRepairer::DriftedFields(const core::Json& desired,
                                                      const core::Json& live) {
  std::vector<std::string> out;
  for (FieldDrift& f : DriftDetails(desired, live)) out.push_back(std::move(f.path));
  return out;
}

std::string DriftRepairer::RepairMessage(const std::vector<FieldDrift>& drift, bool redact) {
  if (drift.empty()) return "Drift repaired: recreated the deleted object";
  std::string msg = "Drift repaired: ";
  for (size_t i = 0; i < drift.size(); ++i) {
    std::string part = i == 0 ? "" : ", ";
    part += drift[i].path;
    if (redact) {
      part += " (redacted)";
    } else {
      part += " (" + RenderValue(drift[i].live) + " → " + RenderValue(drift[i].desired) + ")";
    }
    if (msg.size() + part.size() > kMaxMessageBytes - 16) {
      msg += ", and " + std::to_string(drift.size() - i) + " more";
      break;
    }
    msg += part;
  }
  return msg;
}

class DriftRepairer::Impl {
 public:
  Impl(core::KubeClient* client, EventRecorder* events, core::MetricsRegistry* metrics,
       DriftRepairOptions options)
      : client_(client), events_(events), options_(std::move(options)) {
    if (!options_.clock) options_.clock = [] { return SteadyClock::now(); };
    if (metrics != nullptr) {
      auto family = metrics->RegisterCounter("driftguard_drift_repairs_total",
                                             "Drifted or deleted objects re-applied from Git.",
                                             {"kustomization"});
      if (family.ok()) {
        repairs_metric_ = *family;
      } else {
        log_->warn("drift repair: metric driftguard_drift_repairs_total unavailable: {}",
                   family.status().ToString());
      }
    }
  }

  ~Impl() {
    Stop();
    // Watches a concurrent SetDesired started while Stop() ran.
    std::map<core::GroupVersionKind, std::unique_ptr<core::WatchHandle>> watches;
    {
      std::lock_guard<std::mutex> w(watch_mu_);
      watches.swap(watches_);
    }
    for (auto& [gvk, handle] : watches) handle->Stop();
  }

  void SetDesired(const core::KustomizationId& owner, std::vector<core::Json> objects) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      RemoveLocked(owner);
      std::set<std::string>& keys = by_owner_[owner];
      for (core::Json& object : objects) {
        core::ObjectRef ref = core::ObjectRef::FromObject(object);
        core::GroupVersionKind gvk{ref.group, ref.version, ref.kind};
        std::string key = KeyOf(gvk, ref.namespace_, ref.name);
        Entry& e = objects_[key];  // keeps backoff state across revisions
        e.owner = owner;
        e.ref = std::move(ref);
        e.gvk = std::move(gvk);
        e.desired = std::move(object);
        keys.insert(key);
      }
    }
    if (Started()) SyncWatches();
  }

  void Remove(const core::KustomizationId& owner) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      RemoveLocked(owner);
      by_owner_.erase(owner);
    }
    if (Started()) SyncWatches();
  }

  void SetEnabled(bool enabled) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (enabled && !enabled_) resync_requested_ = true;
      enabled_ = enabled;
    }
    cv_.notify_all();
  }

  void Start() {
    std::lock_guard<std::mutex> control(control_mu_);
    if (worker_.joinable()) return;
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = false;
      started_ = true;
      last_resync_ = options_.clock();
    }
    SyncWatches();
    worker_ = std::thread([this] { Work(); });
  }

  void Stop() {
    std::lock_guard<std::mutex> control(control_mu_);
    if (!worker_.joinable()) return;
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
      started_ = false;
    }
    cv_.notify_all();
    worker_.join();
    std::map<core::GroupVersionKind, std::unique_ptr<core::WatchHandle>> watches;
    {
      std::lock_guard<std::mutex> w(watch_mu_);
      watches.swap(watches_);
    }
    for (auto& [gvk, handle] : watches) handle->Stop();
  }

  std::vector<DriftRepair> Resync() {
    std::vector<std::string> keys;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!enabled_) return {};
      for (const auto& [key, e] : objects_) keys.push_back(key);
    }
    std::vector<DriftRepair> out;
    for (const std::string& key : keys) {
      if (auto r = RepairOne(key)) out.push_back(std::move(*r));
    }
    return out;
  }

  std::vector<DriftRepair> History() const {
    std::lock_guard<std::mutex> lock(mu_);
    return {history_.begin(), history_.end()};
  }

  size_t WatchEventsSeen() const {
    std::lock_guard<std::mutex> lock(mu_);
    return events_seen_;
  }

  std::chrono::milliseconds BackoffOf(const core::ObjectRef& ref) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = objects_.find(KeyOf({ref.group, ref.version, ref.kind}, ref.namespace_, ref.name));
    if (it == objects_.end()) return std::chrono::milliseconds(0);
    const Entry& e = it->second;
    if (e.last_repair.has_value() &&
        options_.clock() - (*e.last_repair + e.delay) >= options_.max_backoff) {
      return std::chrono::milliseconds(0);
    }
    return std::chrono::duration_cast<std::chrono::milliseconds>(e.delay);
  }

 private:
  struct Entry {
    core::KustomizationId owner;
    core::ObjectRef ref;
    core::GroupVersionKind gvk;
    core::Json desired;
    // Backoff: the next repair may run at last_repair + delay; delay doubles per repair.
    std::optional<SteadyClock::time_point> last_repair;
    SteadyClock::duration delay{0};
    // A check queued for the worker, to run at `due`.
    bool pending = false;
    SteadyClock::time_point due;
  };

  void RemoveLocked(const core::KustomizationId& owner) {
    auto it = by_owner_.find(owner);
    if (it == by_owner_.end()) return;
    for (const std::string& key : it->second) {
      auto e = objects_.find(key);
      if (e != objects_.end() && e->second.owner == owner) objects_.erase(e);
    }
    it->second.clear();
  }

  bool Started() const {
    std::lock_guard<std::mutex> lock(mu_);
    return started_;
  }

  // The earliest time the entry may be repaired again. Quiet for max_backoff after its backoff
  // ended, the entry starts over.
  SteadyClock::time_point EarliestLocked(Entry& e, SteadyClock::time_point now) const {
    if (!e.last_repair.has_value()) return now;
    if (now - (*e.last_repair + e.delay) >= options_.max_backoff) {
      e.delay = SteadyClock::duration(0);
      return now;
    }
    return *e.last_repair + e.delay;
  }

  void ScheduleLocked(Entry& e, SteadyClock::time_point now) {
    SteadyClock::time_point due = std::max(now, EarliestLocked(e, now));
    if (!e.pending || due < e.due) e.due = due;
    e.pending = true;
  }

  // Starts watches for kinds with desired objects, restarts ended ones, stops unneeded ones.
  void SyncWatches() {
    std::set<core::GroupVersionKind> kinds;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!started_) return;
      for (const auto& [key, e] : objects_) kinds.insert(e.gvk);
    }
    std::vector<std::unique_ptr<core::WatchHandle>> retired;
    {
      std::lock_guard<std::mutex> w(watch_mu_);
      for (auto it = watches_.begin(); it != watches_.end();) {
        if (!kinds.contains(it->first) || it->second->Done()) {
          retired.push_back(std::move(it->second));
          it = watches_.erase(it);
        } else {
          ++it;
        }
      }
      for (const core::GroupVersionKind& gvk : kinds) {
        if (watches_.contains(gvk)) continue;
        core::WatchOptions wo;
        wo.label_selector = std::string(kNameLabel);
        core::WatchCallbacks cb;
        cb.on_event = [this, gvk](const core::WatchEvent& ev) {
          OnEvent(gvk, ev);
          return true;
        };
        cb.on_close = [this, gvk](const core::Status& s) {
          log_->info("drift repair: watch of {} ended: {}", gvk.ToString(), s.ToString());
          cv_.notify_all();
        };
        auto handle = client_->Watch(gvk, "", wo, std::move(cb));
        if (!handle.ok()) {
          log_->warn("drift repair: cannot watch {}: {}", gvk.ToString(),
                     handle.status().ToString());
          continue;
        }
        watches_[gvk] = std::move(handle).value();
      }
    }
    for (auto& h : retired) h->Stop();
  }

  void OnEvent(const core::GroupVersionKind& gvk, const core::WatchEvent& ev) {
    if (ev.type == core::WatchEvent::Type::kBookmark) return;
    const core::Json& meta = ev.object.value("metadata", core::Json::object());
    std::string key =
        KeyOf(gvk, meta.value("namespace", std::string()), meta.value("name", std::string()));
    std::unique_lock<std::mutex> lock(mu_);
    auto it = objects_.find(key);
    if (it == objects_.end()) return;
    ++events_seen_;
    if (!enabled_ || stopping_) return;
    Entry& e = it->second;
    if (ev.type != core::WatchEvent::Type::kDeleted) {
      const core::Json desired = e.desired;
      lock.unlock();
      bool drifted = !DriftDetails(desired, ev.object).empty();
      lock.lock();
      if (!drifted || stopping_) return;
      it = objects_.find(key);
      if (it == objects_.end()) return;
    }
    ScheduleLocked(it->second, options_.clock());
    lock.unlock();
    cv_.notify_all();
  }

  void Work() {
    auto last_watch_sync = SteadyClock::now();
    std::unique_lock<std::mutex> lock(mu_);
    while (!stopping_) {
      const auto now = options_.clock();
      std::vector<std::string> due;
      std::optional<SteadyClock::time_point> next;
      for (auto& [key, e] : objects_) {
        if (!e.pending) continue;
        if (e.due <= now) {
          e.pending = false;
          due.push_back(key);
        } else if (!next || e.due < *next) {
          next = e.due;
        }
      }
      bool resync = resync_requested_;
      if (options_.resync_interval.count() > 0 && now - last_resync_ >= options_.resync_interval) {
        resync = true;
      }
      if (resync) {
        resync_requested_ = false;
        last_resync_ = now;
      }
      const bool sync_watches = SteadyClock::now() - last_watch_sync >= kWatchRetry;
      if (!due.empty() || resync || sync_watches) {
        lock.unlock();
        if (sync_watches) {
          SyncWatches();
          last_watch_sync = SteadyClock::now();
        }
        for (const std::string& key : due) RepairOne(key);
        if (resync) Resync();
        lock.lock();
        continue;
      }
      auto wait = std::chrono::duration_cast<SteadyClock::duration>(kWatchRetry);
      if (next) wait = std::min(wait, *next - now);
      if (options_.resync_interval.count() > 0) {
        wait = std::min(wait, last_resync_ + options_.resync_interval - now);
      }
      cv_.wait_for(lock, std::max(wait, SteadyClock::duration(std::chrono::milliseconds(1))));
    }
  }

  // Compares one object with the cluster and repairs it when it drifted and its backoff allows.
  // Returns the repair attempted, nullopt when none was needed or allowed.
  std::optional<DriftRepair> RepairOne(const std::string& key) {
    std::lock_guard<std::mutex> serial(repair_mu_);
    Entry snapshot;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = objects_.find(key);
      if (it == objects_.end() || !enabled_) return std::nullopt;
      snapshot = it->second;
    }
    const core::Json& desired = snapshot.desired;
    if (ReconcileDisabled(desired) || SsaPolicy(desired) == "ignore") return std::nullopt;

    auto live = client_->Get(snapshot.gvk, snapshot.ref.namespace_, snapshot.ref.name);
    std::vector<FieldDrift> drift;
    bool recreate = false;
    if (!live.ok()) {
      if (!core::IsNotFound(live.status())) {
        log_->warn("drift repair: reading {} failed: {}", snapshot.ref.ToString(),
                   live.status().ToString());
        std::lock_guard<std::mutex> lock(mu_);
        auto it = objects_.find(key);
        if (it != objects_.end()) {
          // Check again once the API server may answer; not a repair, so no backoff step.
          it->second.pending = true;
          it->second.due = options_.clock() + options_.initial_backoff;
        }
        return std::nullopt;
      }
      recreate = true;
    } else {
      if (ReconcileDisabled(*live) || SsaPolicy(*live) == "ignore") return std::nullopt;
      if (SsaPolicy(desired) == "ifnotpresent" || SsaPolicy(*live) == "ifnotpresent") {
        return std::nullopt;
      }
      drift = DriftDetails(desired, *live);
      if (drift.empty()) return std::nullopt;
    }

    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = objects_.find(key);
      if (it == objects_.end() || !enabled_) return std::nullopt;
      Entry& e = it->second;
      const auto now = options_.clock();
      const auto earliest = EarliestLocked(e, now);
      if (now < earliest) {
        ScheduleLocked(e, now);  // runs when the backoff ends
        cv_.notify_all();
        return std::nullopt;
      }
      e.last_repair = now;
      e.delay =
          e.delay.count() == 0
              ? std::chrono::duration_cast<SteadyClock::duration>(options_.initial_backoff)
              : std::min(e.delay * 2,
                         std::chrono::duration_cast<SteadyClock::duration>(options_.max_backoff));
      e.pending = false;
    }

    core::ApplyOptions ao;
    ao.force = true;
    ao.field_manager = options_.field_manager;
    auto applied = client_->Apply(ApplyBody(desired), ao);

    DriftRepair repair;
    repair.owner = snapshot.owner;
    repair.ref = snapshot.ref;
    for (const FieldDrift& f : drift) repair.fields.push_back(f.path);
    repair.status = applied.status();

    const bool redact = snapshot.ref.group.empty() && snapshot.ref.kind == "Secret";
    core::Json involved = {{"apiVersion", desired.value("apiVersion", std::string())},
                           {"kind", snapshot.ref.kind},
                           {"metadata", {{"name", snapshot.ref.name}}}};
    if (!snapshot.ref.namespace_.empty()) {
      involved["metadata"]["namespace"] = snapshot.ref.namespace_;
    }
    const core::Json& uid_source = applied.ok() ? *applied : (live.ok() ? *live : desired);
    const core::Json uid_meta = uid_source.value("metadata", core::Json::object());
    if (auto uid = uid_meta.find("uid"); uid != uid_meta.end() && uid->is_string()) {
      involved["metadata"]["uid"] = *uid;
    }

    std::string fields_text;
    for (const std::string& p : repair.fields) {
      fields_text += (fields_text.empty() ? "" : ", ") + p;
    }
    if (applied.ok()) {
      std::string message = RepairMessage(drift, redact);
      log_->info("drift repair: {} ({}): {}", snapshot.ref.ToString(), snapshot.owner.ToString(),
                 message);
      if (repairs_metric_ != nullptr) {
        repairs_metric_->WithLabels({snapshot.owner.ToString()}).Inc();
      }
      if (events_ != nullptr) events_->Record(involved, "Normal", "DriftRepaired", message);
    } else {
      std::string message =
          "Drift repair failed: " +
          (recreate ? std::string("recreating the deleted object") : fields_text) + ": " +
          applied.status().message();
      if (message.size() > kMaxMessageBytes) message.resize(kMaxMessageBytes);
      log_->warn("drift repair: {} ({}): {}", snapshot.ref.ToString(), snapshot.owner.ToString(),
                 message);
      if (events_ != nullptr) events_->Record(involved, "Warning", "DriftRepairFailed", message);
      std::lock_guard<std::mutex> lock(mu_);
      auto it = objects_.find(key);
      if (it != objects_.end()) ScheduleLocked(it->second, options_.clock());
      cv_.notify_all();
    }

    std::lock_guard<std::mutex> lock(mu_);
    history_.push_back(repair);
    if (history_.size() > kMaxHistory) history_.pop_front();
    return repair;
  }

  core::KubeClient* const client_;
  EventRecorder* const events_;
  DriftRepairOptions options_;
  core::CounterFamily* repairs_metric_ = nullptr;
  std::shared_ptr<spdlog::logger> log_ = core::Logger("reconciler");

  std::mutex control_mu_;  // serializes Start/Stop
  std::thread worker_;
  std::mutex repair_mu_;  // one repair at a time (worker and Resync callers)

  std::mutex watch_mu_;
  std::map<core::GroupVersionKind, std::unique_ptr<core::WatchHandle>> watches_;  // watch_mu_

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;                                            // guarded by mu_
  bool started_ = false;                                             // guarded by mu_
  bool enabled_ = false;                                             // guarded by mu_
  bool resync_requested_ = false;                                    // guarded by mu_
  SteadyClock::time_point last_resync_;                              // guarded by mu_
  std::map<std::string, Entry> objects_;                             // guarded by mu_
  std::map<core::KustomizationId, std::set<std::string>> by_owner_;  // guarded by mu_
  size_t events_seen_ = 0;                                           // guarded by mu_
  std::deque<DriftRepair> history_;                                  // guarded by mu_
};

DriftRepairer::DriftRepairer(core::KubeClient* client, EventRecorder* events,
                             core::MetricsRegistry* metrics, DriftRepairOptions options)
    : impl_(std::make_unique<Impl>(client, events, metrics, std::move(options))) {}

DriftRepairer::~DriftRepairer() = default;

void DriftRepairer::SetDesired(const core::KustomizationId& owner,
                               std::vector<core::Json> objects) {
  impl_->SetDesired(owner, std::move(objects));
}
void DriftRepairer::Remove(const core::KustomizationId& owner) { impl_->Remove(owner); }
void DriftRepairer::SetEnabled(bool enabled) { impl_->SetEnabled(enabled); }
void DriftRepairer::Start() { impl_->Start(); }
void DriftRepairer::Stop() { impl_->Stop(); }
std::vector<DriftRepair> DriftRepairer::Resync() { return impl_->Resync(); }
std::vector<DriftRepair> DriftRepairer::History() const { return impl_->History(); }
size_t DriftRepairer::WatchEventsSeen() const { return impl_->WatchEventsSeen(); }
std::chrono::milliseconds DriftRepairer::BackoffOf(const core::ObjectRef& ref) const {
  return impl_->BackoffOf(ref);
}

}  // namespace driftguard::reconciler
