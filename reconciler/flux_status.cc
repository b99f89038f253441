#include "reconciler/flux_status.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <utility>

#include "core/log.h"

namespace driftguard::reconciler {
namespace {

using core::Json;

// Flux trims condition messages to this many bytes (fluxcd/pkg/apis/meta).
constexpr size_t kMaxConditionMessageLength = 20000;
constexpr auto kEventDedupWindow = std::chrono::minutes(10);

std::string Trim(std::string_view message) {
  if (message.size() <= kMaxConditionMessageLength) return std::string(message);
  size_t cut = kMaxConditionMessageLength;
  // Never split a UTF-8 sequence.
  while (cut > 0 && (static_cast<unsigned char>(message[cut]) & 0xC0) == 0x80) --cut;
  return std::string(message.substr(0, cut));
}

std::string StringField(const Json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

int64_t IntField(const Json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number_integer() ? it->get<int64_t>() : 0;
}

std::vector<Condition> ConditionsFromJson(const Json& conditions) {
  std::vector<Condition> out;
  if (!conditions.is_array()) return out;
  for (const Json& c : conditions) {
    if (!c.is_object()) continue;
    Condition cond{StringField(c, "type"),
                   StringField(c, "status"),
                   StringField(c, "reason"),
                   StringField(c, "message"),
                   IntField(c, "observedGeneration"),
                   StringField(c, "lastTransitionTime")};
    if (cond.type.empty()) continue;
    out.push_back(std::move(cond));
  }
  return out;
}

Json ConditionsToJson(const std::vector<Condition>& conditions) {
  Json out = Json::array();
  for (const Condition& c : conditions) {
    out.push_back({{"type", c.type},
                   {"status", c.status},
                   {"reason", c.reason},
                   {"message", c.message},
                   {"observedGeneration", c.observed_generation},
                   {"lastTransitionTime", c.last_transition_time}});
  }
  return out;
}

void Set(std::vector<Condition>& conditions, std::string_view type, std::string_view status,
         std::string_view reason, std::string_view message, int64_t generation,
         std::chrono::system_clock::time_point now) {
  SetCondition(conditions,
               Condition{std::string(type), std::string(status), std::string(reason), Trim(message),
                         generation, ""},
               now);
}

// Reconciling=True with reason ProgressingWithRetry, keeping the message of the stage that
// failed when there is one (as Flux's finalizeStatus does).
void MarkRetrying(std::vector<Condition>& conditions, int64_t generation, std::string_view message,
                  std::chrono::system_clock::time_point now) {
  const Condition* reconciling = FindCondition(conditions, kConditionReconciling);
  std::string keep = reconciling != nullptr && !reconciling->message.empty() ? reconciling->message
                                                                             : std::string(message);
  Set(conditions, kConditionReconciling, "True", kReasonProgressingWithRetry, keep, generation,
      now);
}

std::string EventKey(const Json& involved, std::string_view type, std::string_view reason,
                     std::string_view message) {
  const Json meta = involved.value("metadata", Json::object());
  std::string key;
  for (const std::string& part :
       {involved.value("apiVersion", ""), involved.value("kind", ""),
        StringField(meta, "namespace"), StringField(meta, "name"), StringField(meta, "uid"),
        std::string(type), std::string(reason), std::string(message)}) {
    key += part;
    key += '\x1f';
  }
  return key;
}

}  // namespace

std::string Rfc3339(std::chrono::system_clock::time_point t) {
  const std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

void SetCondition(std::vector<Condition>& conditions, Condition c,
                  std::chrono::system_clock::time_point now) {
  for (Condition& existing : conditions) {
    if (existing.type != c.type) continue;
    c.last_transition_time = existing.status == c.status && !existing.last_transition_time.empty()
                                 ? existing.last_transition_time
                                 : Rfc3339(now);
    existing = std::move(c);
    return;
  }
  c.last_transition_time = Rfc3339(now);
  conditions.push_back(std::move(c));
}

const Condition* FindCondition(const std::vector<Condition>& conditions, std::string_view type) {
  for (const Condition& c : conditions) {
    if (c.type == type) return &c;
  }
  return nullptr;
}

void RemoveCondition(std::vector<Condition>& conditions, std::string_view type) {
  std::erase_if(conditions, [&](const Condition& c) { return c.type == type; });
}

std::string AppliedRevisionMessage(std::string_view revision) {
  return "Applied revision: " + std::string(revision);
}

std::string HealthCheckRunningMessage(std::string_view revision,
                                      std::chrono::milliseconds timeout) {
  return "Running health checks for revision " + std::string(revision) + " with a timeout of " +
         core::FormatDuration(timeout);
}

std::string HealthCheckPassedMessage(std::chrono::milliseconds took) {
  return "Health check passed in " + core::FormatDuration(took);
}

KustomizationStatus KustomizationStatus::FromJson(const Json& status) {
  KustomizationStatus st;
  if (!status.is_object()) return st;
  st.observed_generation = IntField(status, "observedGeneration");
  st.last_applied_revision = StringField(status, "lastAppliedRevision");
  st.last_attempted_revision = StringField(status, "lastAttemptedRevision");
  st.last_handled_reconcile_at = StringField(status, "lastHandledReconcileAt");
  if (auto it = status.find("inventory"); it != status.end()) {
    core::StatusOr<Inventory> inventory = Inventory::FromJson(*it);
    if (inventory.ok()) st.inventory = std::move(inventory).value();
  }
  if (auto it = status.find("conditions"); it != status.end()) {
    st.conditions = ConditionsFromJson(*it);
  }
  return st;
}

Json KustomizationStatus::ToJson() const {
  Json out = Json::object();
  out["observedGeneration"] = observed_generation;
  if (!last_applied_revision.empty()) out["lastAppliedRevision"] = last_applied_revision;
  if (!last_attempted_revision.empty()) out["lastAttemptedRevision"] = last_attempted_revision;
  if (!last_handled_reconcile_at.empty()) {
    out["lastHandledReconcileAt"] = last_handled_reconcile_at;
  }
  out["inventory"] = inventory.ToJson();
  out["conditions"] = ConditionsToJson(conditions);
  return out;
}

void MarkReady(KustomizationStatus& st, int64_t generation, std::string_view message,
               std::chrono::system_clock::time_point now, bool healthy) {
  Set(st.conditions, kConditionReady, "True", kReasonReconciliationSucceeded, message, generation,
      now);
  RemoveCondition(st.conditions, kConditionReconciling);
  RemoveCondition(st.conditions, kConditionStalled);
  if (healthy) {
    const Condition* h = FindCondition(st.conditions, kConditionHealthy);
    if (h != nullptr && h->status == "True") {
      Condition keep = *h;
      keep.observed_generation = generation;
      SetCondition(st.conditions, std::move(keep), now);
    } else {
      Set(st.conditions, kConditionHealthy, "True", kReasonSucceeded, "Health check passed",
          generation, now);
    }
  } else {
    RemoveCondition(st.conditions, kConditionHealthy);
  }
  st.observed_generation = generation;
}

void MarkReconciling(KustomizationStatus& st, int64_t generation, std::string_view message,
                     std::chrono::system_clock::time_point now) {
  Set(st.conditions, kConditionReady, "Unknown", kReasonProgressing,
      kMessageReconciliationInProgress, generation, now);
  Set(st.conditions, kConditionReconciling, "True", kReasonProgressing,
      message.empty() ? kMessageReconciliationInProgress : message, generation, now);
  RemoveCondition(st.conditions, kConditionStalled);
}

void MarkFailed(KustomizationStatus& st, int64_t generation, std::string_view reason,
                std::string_view message, bool stalled, std::chrono::system_clock::time_point now) {
  Set(st.conditions, kConditionReady, "False", reason, message, generation, now);
  if (stalled) {
    Set(st.conditions, kConditionStalled, "True", reason, message, generation, now);
    RemoveCondition(st.conditions, kConditionReconciling);
    st.observed_generation = generation;
  } else {
    MarkRetrying(st.conditions, generation, message, now);
    RemoveCondition(st.conditions, kConditionStalled);
  }
}

void MarkUnhealthy(KustomizationStatus& st, int64_t generation, std::string_view message,
                   std::chrono::system_clock::time_point now) {
  Set(st.conditions, kConditionReady, "False", kReasonHealthCheckFailed, message, generation, now);
  Set(st.conditions, kConditionHealthy, "False", kReasonHealthCheckFailed, message, generation,
      now);
  MarkRetrying(st.conditions, generation, message, now);
  RemoveCondition(st.conditions, kConditionStalled);
}

void MarkHealthChecking(KustomizationStatus& st, int64_t generation, std::string_view message,
                        std::chrono::system_clock::time_point now) {
  Set(st.conditions, kConditionReconciling, "True", kReasonProgressing, message, generation, now);
  Set(st.conditions, kConditionHealthy, "Unknown", kReasonProgressing, message, generation, now);
  RemoveCondition(st.conditions, kConditionStalled);
}

void MarkHealthy(KustomizationStatus& st, int64_t generation, std::string_view message,
                 std::chrono::system_clock::time_point now) {
  Set(st.conditions, kConditionHealthy, "True", kReasonSucceeded, message, generation, now);
}

core::Status WriteKustomizationStatus(core::KubeClient* client, const core::Kustomization& k,
                                      const KustomizationStatus& status) {
  core::GroupVersion gv = core::GroupVersion::Parse(core::kKustomizationApiVersion);
  core::StatusOr<Json> written =
      client->MergePatch({gv.group, gv.version, "Kustomization"}, k.namespace_, k.name,
                         Json{{"status", status.ToJson()}}, {.subresource = "status"});
  if (!written.ok()) {
    return written.status().WithPrefix("writing status of Kustomization " + k.namespace_ + "/" +
                                       k.name);
  }
  return core::OkStatus();
}

core::Status WriteGitRepositoryStatus(core::KubeClient* client, const core::GitRepository& repo,
                                      std::string_view revision, const core::Status& error,
                                      int64_t generation,
                                      std::chrono::system_clock::time_point now) {
  core::GroupVersion gv = core::GroupVersion::Parse(core::kGitRepositoryApiVersion);
  const core::GroupVersionKind gvk{gv.group, gv.version, "GitRepository"};
  const std::string where = "writing status of GitRepository " + repo.namespace_ + "/" + repo.name;
  // The live status holds the transition times to keep.
  core::StatusOr<Json> live = client->Get(gvk, repo.namespace_, repo.name);
  if (!live.ok()) return live.status().WithPrefix(where);
  const Json old_status = live.value().value("status", Json::object());
  std::vector<Condition> conditions =
      ConditionsFromJson(old_status.value("conditions", Json::array()));

  Json status = Json::object();
  if (error.ok()) {
    Set(conditions, kConditionReady, "True", kReasonSucceeded,
        "stored artifact for revision '" + std::string(revision) + "'", generation, now);
    RemoveCondition(conditions, "FetchFailed");
    RemoveCondition(conditions, kConditionReconciling);
    RemoveCondition(conditions, kConditionStalled);
    status["observedGeneration"] = generation;
  } else {
    Set(conditions, kConditionReady, "False", kReasonGitOperationFailed, error.message(),
        generation, now);
    Set(conditions, "FetchFailed", "True", kReasonGitOperationFailed, error.message(), generation,
        now);
  }
  if (!revision.empty()) {
    const Json old_artifact = old_status.value("artifact", Json::object());
    const bool same = StringField(old_artifact, "revision") == revision;
    // The CRD's schema requires these artifact fields; driftguard serves no artifact files, so
    // path and url stay empty.
    status["artifact"] = {
        {"revision", std::string(revision)},
        {"lastUpdateTime", same && !StringField(old_artifact, "lastUpdateTime").empty()
                               ? StringField(old_artifact, "lastUpdateTime")
                               : Rfc3339(now)},
        {"path", StringField(old_artifact, "path")},
        {"url", StringField(old_artifact, "url")}};
  }
  status["conditions"] = ConditionsToJson(conditions);
  core::StatusOr<Json> written = client->MergePatch(
      gvk, repo.namespace_, repo.name, Json{{"status", status}}, {.subresource = "status"});
  if (!written.ok()) return written.status().WithPrefix(where);
  return core::OkStatus();
}

EventRecorder::EventRecorder(core::KubeClient* client, std::string component, Clock clock)
    : client_(client),
      component_(std::move(component)),
      clock_(clock ? std::move(clock) : Clock([] { return std::chrono::system_clock::now(); })) {}

void EventRecorder::Record(const Json& involved, std::string_view type, std::string_view reason,
                           std::string_view message) {
  static const std::shared_ptr<spdlog::logger> log = core::Logger("reconciler");
  const Json meta =
      involved.is_object() ? involved.value("metadata", Json::object()) : Json::object();
  const std::string kind = involved.is_object() ? involved.value("kind", "") : "";
  const std::string name = StringField(meta, "name");
  const std::string involved_ns = StringField(meta, "namespace");
  const std::string subject = kind + "/" + (involved_ns.empty() ? "" : involved_ns + "/") + name;

  if (client_ == nullptr) {
    log->info("event {} {} {}: {}", type, reason, subject, message);
    std::lock_guard<std::mutex> lock(mu_);
    ++recorded_;
    return;
  }
  if (kind.empty() || name.empty()) {
    log->warn("event {} {} not recorded: the involved object has no kind or name: {}", type, reason,
              message);
    return;
  }

  const auto now = clock_();
  const std::string key = EventKey(involved, type, reason, message);
  std::optional<Seen> repeat;
  std::string event_name;
  {
    std::lock_guard<std::mutex> lock(mu_);
    std::erase_if(seen_,
                  [&](const auto& entry) { return now - entry.second.last > kEventDedupWindow; });
    if (auto it = seen_.find(key); it != seen_.end()) repeat = it->second;
    // "<object>.<hex>" from the clock in nanoseconds, as client-go names events; strictly
    // increasing so that two events in the same nanosecond never collide.
    int64_t suffix =
        std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();
    suffix = std::max(suffix, last_suffix_ + 1);
    last_suffix_ = suffix;
    char hex[17];
    std::snprintf(hex, sizeof(hex), "%llx", static_cast<unsigned long long>(suffix));
    event_name = name + "." + hex;
  }
  const std::string ts = Rfc3339(now);
  const core::GroupVersionKind event_gvk{"", "v1", "Event"};

  if (repeat) {
    core::StatusOr<Json> patched =
        client_->MergePatch(event_gvk, repeat->event_namespace, repeat->event_name,
                            Json{{"count", repeat->count + 1}, {"lastTimestamp", ts}});
    if (patched.ok()) {
      log->debug("event {} {} {} (x{}): {}", type, reason, subject, repeat->count + 1, message);
      std::lock_guard<std::mutex> lock(mu_);
      Seen& s = seen_[key];
      s = *repeat;
      s.count = repeat->count + 1;
      s.last = now;
      ++recorded_;
      return;
    }
    if (!core::IsNotFound(patched.status())) {
      log->warn("event {} {} {} not recorded: {}", type, reason, subject,
                patched.status().message());
      return;
    }
    // The Event expired or was deleted: start a new one.
  }

  Json involved_ref = {
      {"apiVersion", involved.value("apiVersion", "")}, {"kind", kind}, {"name", name}};
  if (!involved_ns.empty()) involved_ref["namespace"] = involved_ns;
  if (std::string uid = StringField(meta, "uid"); !uid.empty()) involved_ref["uid"] = uid;
  if (std::string rv = StringField(meta, "resourceVersion"); !rv.empty()) {
    involved_ref["resourceVersion"] = rv;
  }
  // Events about cluster-scoped objects live in "default", as client-go puts them.
  const std::string event_ns = involved_ns.empty() ? "default" : involved_ns;
  Json event = {{"apiVersion", "v1"},
                {"kind", "Event"},
                {"metadata", {{"name", event_name}, {"namespace", event_ns}}},
                {"involvedObject", involved_ref},
                {"type", std::string(type)},
                {"reason", std::string(reason)},
                {"message", std::string(message)},
                {"source", {{"component", component_}}},
                {"reportingComponent", component_},
                {"reportingInstance", component_},
                {"firstTimestamp", ts},
                {"lastTimestamp", ts},
                {"count", 1}};
  core::StatusOr<Json> created = client_->Create(event);
  if (!created.ok()) {
    log->warn("event {} {} {} not recorded: {}", type, reason, subject, created.status().message());
    return;
  }
  log->debug("event {} {} {}: {}", type, reason, subject, message);
  std::lock_guard<std::mutex> lock(mu_);
  seen_[key] = Seen{event_name, event_ns, 1, now};
  ++recorded_;
}

size_t EventRecorder::recorded() const {
  std::lock_guard<std::mutex> lock(mu_);
  return recorded_;
}

}  // namespace driftguard::reconciler
