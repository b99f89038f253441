#include "reconciler/leader_election.h"

#include <unistd.h>

#include <condition_variable>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <random>
#include <thread>
#include <utility>

#include "core/log.h"

namespace driftguard::reconciler {

namespace {

using SteadyClock = std::chrono::steady_clock;

const core::GroupVersionKind kLease{"coordination.k8s.io", "v1", "Lease"};

// client-go's acquire loop jitters its period by up to this factor (wait.JitterUntil).
constexpr double kAcquireJitterFactor = 1.2;

std::string DefaultIdentity() {
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0') {
    std::snprintf(host, sizeof(host), "unknown");
  }
  return std::string(host) + "_" + std::to_string(getpid());
}

// MicroTime: RFC 3339 in UTC with exactly six fractional digits ("2024-05-01T12:00:00.123456Z").
std::string MicroTime(std::chrono::system_clock::time_point t) {
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
  int64_t secs = us / 1'000'000;
  int64_t frac = us % 1'000'000;
  if (frac < 0) {
    frac += 1'000'000;
    --secs;
  }
  std::time_t tt = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<long long>(frac));
  return buf;
}

int64_t CeilSeconds(std::chrono::milliseconds d) { return (d.count() + 999) / 1000; }

std::string StringAt(const core::Json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

int64_t IntAt(const core::Json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_number() ? it->get<int64_t>() : 0;
}

}  // namespace

core::Status LeaderElectionOptions::Validate() const {
  if (namespace_.empty() || name.empty()) {
    return core::InvalidArgumentError("leader election: lease namespace and name must be set");
  }
  if (retry_period.count() <= 0) {
    return core::InvalidArgumentError("leader election: retry_period must be positive (got " +
                                      std::to_string(retry_period.count()) + "ms)");
  }
  if (renew_deadline <= retry_period) {
    return core::InvalidArgumentError(
        "leader election: renew_deadline (" + std::to_string(renew_deadline.count()) +
        "ms) must be greater than retry_period (" + std::to_string(retry_period.count()) + "ms)");
  }
  if (lease_duration <= renew_deadline) {
    return core::InvalidArgumentError("leader election: lease_duration (" +
                                      std::to_string(lease_duration.count()) +
                                      "ms) must be greater than renew_deadline (" +
                                      std::to_string(renew_deadline.count()) + "ms)");
  }
  return core::OkStatus();
}

class LeaderElector::Impl {
 public:
  Impl(core::KubeClient* client, LeaderElectionOptions options, LeaderCallbacks callbacks,
       core::MetricsRegistry* metrics)
      : client_(client), options_(std::move(options)), callbacks_(std::move(callbacks)) {
    if (options_.identity.empty()) options_.identity = DefaultIdentity();
    if (metrics != nullptr) {
      auto family = metrics->RegisterGauge(
          "driftguard_leader", "1 while this replica holds the leader election Lease, else 0.");
      if (family.ok()) {
        gauge_ = &(*family)->WithLabels({});
      } else {
        log_->warn("leader election: metric driftguard_leader unavailable: {}",
                   family.status().ToString());
      }
    }
  }

  ~Impl() { Stop(); }

  void Start() {
    std::lock_guard<std::mutex> lock(control_mu_);
    if (thread_.joinable()) return;
    {
      std::lock_guard<std::mutex> l(mu_);
      stopping_ = false;
    }
    thread_ = std::thread([this] { Run(); });
  }

  void Stop() {
    std::lock_guard<std::mutex> lock(control_mu_);
    if (!thread_.joinable()) return;
    {
      std::lock_guard<std::mutex> l(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

  bool IsLeader() const {
    if (!leading_.load()) return false;
    // Judged here as well as on the elector's thread, so that a renew stuck in a slow request
    // cannot keep the answer "yes" past the deadline.
    auto last = SteadyClock::time_point(SteadyClock::duration(last_renew_.load()));
    return SteadyClock::now() - last < options_.renew_deadline;
  }

  const std::string& identity() const { return options_.identity; }

  std::string CurrentLeader() const {
    std::lock_guard<std::mutex> lock(mu_);
    return current_leader_;
  }

 private:
  enum class Attempt { kHeld, kHeldByOther, kFailed };

  void Run() {
    std::mt19937_64 rng(std::random_device{}());
    std::uniform_real_distribution<double> jitter(0.0, kAcquireJitterFactor);
    while (!Stopping()) {
      // Acquire: poll until the Lease is ours.
      if (TryAcquireOrRenew() != Attempt::kHeld) {
        auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(options_.retry_period *
                                                                          (1.0 + jitter(rng)));
        WaitFor(wait);
        continue;
      }
      log_->info("leader election: {} became the leader ({}/{})", options_.identity,
                 options_.namespace_, options_.name);
      SetLeading(true);
      if (callbacks_.on_started_leading) callbacks_.on_started_leading();

      // Renew every retry_period until the Lease is lost, the deadline passes or Stop().
      bool lost = false;
      while (!Stopping()) {
        WaitFor(options_.retry_period);
        if (Stopping()) break;
        Attempt a = TryAcquireOrRenew();
        if (a == Attempt::kHeld) continue;
        auto last = SteadyClock::time_point(SteadyClock::duration(last_renew_.load()));
        if (a == Attempt::kHeldByOther || SteadyClock::now() - last >= options_.renew_deadline) {
          lost = true;
          break;
        }
      }
      if (lost) {
        log_->warn("leader election: {} lost the leadership of {}/{}", options_.identity,
                   options_.namespace_, options_.name);
        SetLeading(false);
        if (callbacks_.on_stopped_leading) callbacks_.on_stopped_leading();
        continue;
      }
      // Stopping while leading: step down first, then give the Lease away.
      SetLeading(false);
      Release();
      if (callbacks_.on_stopped_leading) callbacks_.on_stopped_leading();
    }
  }

  // One round of client-go's tryAcquireOrRenew.
  Attempt TryAcquireOrRenew() {
    const auto now_wall = std::chrono::system_clock::now();
    const auto now = SteadyClock::now();
    const std::string stamp = MicroTime(now_wall);
    auto got = client_->Get(kLease, options_.namespace_, options_.name);
    if (!got.ok()) {
      if (!core::IsNotFound(got.status())) {
        log_->debug("leader election: reading the Lease failed: {}", got.status().ToString());
        return Attempt::kFailed;
      }
      core::Json lease = {
          {"apiVersion", "coordination.k8s.io/v1"},
          {"kind", "Lease"},
          {"metadata", {{"name", options_.name}, {"namespace", options_.namespace_}}},
          {"spec",
           {{"holderIdentity", options_.identity},
            {"leaseDurationSeconds", CeilSeconds(options_.lease_duration)},
            {"acquireTime", stamp},
            {"renewTime", stamp},
            {"leaseTransitions", 0}}}};
      auto created = client_->Create(lease);
      if (!created.ok()) {
        log_->debug("leader election: creating the Lease failed: {}", created.status().ToString());
        return Attempt::kFailed;
      }
      Observe(*created, now);
      MarkRenewed(now);
      return Attempt::kHeld;
    }

    core::Json lease = std::move(got).value();
    Observe(lease, now);
    const core::Json old_spec = lease.value("spec", core::Json::object());
    const std::string holder = StringAt(old_spec, "holderIdentity");
    const bool self = holder == options_.identity;
    if (!holder.empty() && !self) {
      int64_t seconds = IntAt(old_spec, "leaseDurationSeconds");
      auto duration =
          seconds > 0
              ? std::chrono::duration_cast<SteadyClock::duration>(std::chrono::seconds(seconds))
              : std::chrono::duration_cast<SteadyClock::duration>(options_.lease_duration);
      std::lock_guard<std::mutex> lock(mu_);
      if (observed_time_ + duration > now) return Attempt::kHeldByOther;
    }

    core::Json spec = old_spec;
    spec["holderIdentity"] = options_.identity;
    spec["leaseDurationSeconds"] = CeilSeconds(options_.lease_duration);
    spec["renewTime"] = stamp;
    if (self) {
      if (!spec.contains("acquireTime")) spec["acquireTime"] = stamp;
      spec["leaseTransitions"] = IntAt(old_spec, "leaseTransitions");
    } else {
      spec["acquireTime"] = stamp;
      spec["leaseTransitions"] = IntAt(old_spec, "leaseTransitions") + 1;
    }
    lease["spec"] = std::move(spec);
    // metadata.resourceVersion from the GET makes this a compare-and-swap: a concurrent writer
    // turns it into 409 Conflict.
    auto updated = client_->Update(lease);
    if (!updated.ok()) {
      log_->debug("leader election: writing the Lease failed: {}", updated.status().ToString());
      return Attempt::kFailed;
    }
    Observe(*updated, now);
    MarkRenewed(now);
    return Attempt::kHeld;
  }

  // Gives the Lease up if we still hold it: holder cleared, leaseDurationSeconds 1.
  void Release() {
    auto got = client_->Get(kLease, options_.namespace_, options_.name);
    if (!got.ok()) {
      log_->warn("leader election: cannot release the Lease: {}", got.status().ToString());
      return;
    }
    core::Json lease = std::move(got).value();
    core::Json spec = lease.value("spec", core::Json::object());
    if (StringAt(spec, "holderIdentity") != options_.identity) return;
    const std::string stamp = MicroTime(std::chrono::system_clock::now());
    spec.erase("holderIdentity");
    spec["leaseDurationSeconds"] = 1;
    spec["acquireTime"] = stamp;
    spec["renewTime"] = stamp;
    lease["spec"] = std::move(spec);
    auto updated = client_->Update(lease);
    if (!updated.ok()) {
      log_->warn("leader election: releasing the Lease failed: {}", updated.status().ToString());
      return;
    }
    log_->info("leader election: {} released {}/{}", options_.identity, options_.namespace_,
               options_.name);
    Observe(*updated, SteadyClock::now());
  }

  // Records the Lease as seen; the observed time moves only when the record changed.
  void Observe(const core::Json& lease, SteadyClock::time_point now) {
    core::Json spec = lease.value("spec", core::Json::object());
    std::string record = spec.dump();
    std::string holder = StringAt(spec, "holderIdentity");
    bool new_leader = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (record != observed_record_) {
        observed_record_ = std::move(record);
        observed_time_ = now;
      }
      if (holder != current_leader_) {
        current_leader_ = holder;
        new_leader = !holder.empty();
      }
    }
    if (new_leader && callbacks_.on_new_leader) callbacks_.on_new_leader(holder);
  }

  void MarkRenewed(SteadyClock::time_point at) { last_renew_.store(at.time_since_epoch().count()); }

  void SetLeading(bool leading) {
    leading_.store(leading);
    if (gauge_ != nullptr) gauge_->Set(leading ? 1 : 0);
  }

  bool Stopping() const {
    std::lock_guard<std::mutex> lock(mu_);
    return stopping_;
  }

  void WaitFor(std::chrono::milliseconds d) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, d, [this] { return stopping_; });
  }

  core::KubeClient* const client_;
  LeaderElectionOptions options_;
  const LeaderCallbacks callbacks_;
  core::Gauge* gauge_ = nullptr;
  std::shared_ptr<spdlog::logger> log_ = core::Logger("reconciler");

  std::mutex control_mu_;  // serializes Start/Stop
  std::thread thread_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;                  // guarded by mu_
  std::string observed_record_;            // guarded by mu_
  SteadyClock::time_point observed_time_;  // guarded by mu_
  std::string current_leader_;             // guarded by mu_

  std::atomic<bool> leading_{false};
  std::atomic<SteadyClock::rep> last_renew_{0};
};

LeaderElector::LeaderElector(core::KubeClient* client, LeaderElectionOptions options,
                             LeaderCallbacks callbacks, core::MetricsRegistry* metrics)
    : impl_(std::make_unique<Impl>(client, std::move(options), std::move(callbacks), metrics)) {}

LeaderElector::~LeaderElector() = default;

void LeaderElector::Start() { impl_->Start(); }
void LeaderElector::Stop() { impl_->Stop(); }
bool LeaderElector::IsLeader() const { return impl_->IsLeader(); }
std::string LeaderElector::identity() const { return impl_->identity(); }
std::string LeaderElector::CurrentLeader() const { return impl_->CurrentLeader(); }

}  // namespace driftguard::reconciler
