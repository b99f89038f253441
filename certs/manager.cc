#include "certs/manager.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "certs/ca_bundle.h"
#include "core/log.h"

namespace driftguard::certs {
namespace {

namespace fs = std::filesystem;

const core::GroupVersionKind kSecretGvk{"", "v1", "Secret"};
const core::GroupVersionKind kValidatingGvk{"admissionregistration.k8s.io", "v1",
                                            "ValidatingWebhookConfiguration"};
const core::GroupVersionKind kMutatingGvk{"admissionregistration.k8s.io", "v1",
                                          "MutatingWebhookConfiguration"};

constexpr std::string_view kDataDir = "..data";
// The files written to output_dir, with their modes. ca.key stays in the Secret only.
struct OutputFile {
  std::string_view name;
  std::string Material::*field;
  mode_t mode;
};
constexpr OutputFile kOutputFiles[] = {
    {kCaCertKey, &Material::ca_cert_pem, 0644},
    {kTlsCertKey, &Material::tls_cert_pem, 0644},
    {kTlsKeyKey, &Material::tls_key_pem, 0600},
};

std::string ErrnoMessage(const std::string& what) { return what + ": " + std::strerror(errno); }

core::Status WriteNewFile(const fs::path& path, const std::string& content, mode_t mode) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) return core::InternalError(ErrnoMessage("creating " + path.string()));
  size_t done = 0;
  while (done < content.size()) {
    ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      core::Status s = core::InternalError(ErrnoMessage("writing " + path.string()));
      ::close(fd);
      return s;
    }
    done += static_cast<size_t>(n);
  }
  // The mode passed to open() is filtered by the umask; the key must not be readable by others
  // and the certificates must be readable whatever the umask.
  if (::fchmod(fd, mode) != 0 || ::fsync(fd) != 0) {
    core::Status s = core::InternalError(ErrnoMessage("writing " + path.string()));
    ::close(fd);
    return s;
  }
  if (::close(fd) != 0) return core::InternalError(ErrnoMessage("closing " + path.string()));
  return core::OkStatus();
}

// Replaces `link` with a symlink to `target` atomically (a temporary link, then rename).
core::Status ReplaceSymlink(const fs::path& link, const std::string& target) {
  fs::path tmp = link.parent_path() / ("." + link.filename().string() + ".tmp");
  ::unlink(tmp.c_str());
  if (::symlink(target.c_str(), tmp.c_str()) != 0) {
    return core::InternalError(ErrnoMessage("creating symlink " + tmp.string()));
  }
  if (::rename(tmp.c_str(), link.c_str()) != 0) {
    core::Status s =
        core::InternalError(ErrnoMessage("renaming " + tmp.string() + " to " + link.string()));
    ::unlink(tmp.c_str());
    return s;
  }
  return core::OkStatus();
}

std::optional<std::string> ReadWholeFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Where(const core::GroupVersionKind& gvk, const std::string& name) {
  return gvk.kind + " " + name;
}

}  // namespace

// The three watches that trigger passes. Owned and (re)created by the loop thread only.
class CertificateManager::Watches {
 public:
  std::vector<std::unique_ptr<core::WatchHandle>> handles;
  bool Healthy(size_t want) const {
    if (handles.size() != want) return false;
    for (const auto& h : handles) {
      if (h->Done()) return false;
    }
    return true;
  }
  void Stop() {
    for (auto& h : handles) h->Stop();
    handles.clear();
  }
};

core::Status CertificateManagerOptions::Validate() const {
  if (namespace_name.empty()) return core::InvalidArgumentError("namespace_name is required");
  if (secret_name.empty()) return core::InvalidArgumentError("secret_name is required");
  RETURN_IF_ERROR(rotation.Validate().WithPrefix("rotation"));
  if (resync_interval.count() <= 0) {
    return core::InvalidArgumentError("resync_interval must be positive");
  }
  if (retry_initial_backoff.count() <= 0 || retry_max_backoff < retry_initial_backoff) {
    return core::InvalidArgumentError(
        "retry_initial_backoff must be positive and not above retry_max_backoff");
  }
  if (max_conflict_attempts < 1) {
    return core::InvalidArgumentError("max_conflict_attempts must be at least 1");
  }
  return core::OkStatus();
}

CertificateManager::CertificateManager(CertificateManagerOptions options, core::KubeClient* client,
                                       const Clock* clock, CertificateManagerHooks hooks)
    : options_(std::move(options)), client_(client), clock_(clock), hooks_(std::move(hooks)) {
  if (hooks_.registry != nullptr) {
    auto expiry = hooks_.registry->RegisterGauge(
        kExpiryMetricName,
        "Expiry of driftguard's certificates in Unix seconds, by cert (ca: the active CA, "
        "serving: the webhook's serving certificate).",
        {"cert"});
    if (expiry.ok()) expiry_ = *expiry;
    auto failures = hooks_.registry->RegisterCounter(kFailuresMetricName,
                                                     "Certificate management passes that failed.");
    if (failures.ok()) failure_counter_ = &(*failures)->WithLabels({});
    if (!expiry.ok() || !failures.ok()) {
      core::Logger("certs")->error("cannot register certificate metrics: {}",
                                   (!expiry.ok() ? expiry.status() : failures.status()).message());
    }
  }
}

CertificateManager::~CertificateManager() { Stop(); }

std::string CertificateManager::cert_file() const {
  return (options_.output_dir / kTlsCertKey).string();
}
std::string CertificateManager::key_file() const {
  return (options_.output_dir / kTlsKeyKey).string();
}
std::string CertificateManager::ca_file() const {
  return (options_.output_dir / kCaCertKey).string();
}

std::optional<Material> CertificateManager::current() const {
  std::lock_guard<std::mutex> lock(mu_);
  return current_;
}
uint64_t CertificateManager::passes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return passes_;
}
uint64_t CertificateManager::failures() const {
  std::lock_guard<std::mutex> lock(mu_);
  return failures_;
}

void CertificateManager::Emit(std::string_view type, std::string_view reason,
                              std::string_view message) {
  auto log = core::Logger("certs");
  if (type == "Warning") {
    log->error("{}: {}", reason, message);
  } else {
    log->info("{}: {}", reason, message);
  }
  if (hooks_.on_event) hooks_.on_event(type, reason, message);
}

core::StatusOr<CertificatePassResult> CertificateManager::RunOnce() {
  std::lock_guard<std::mutex> pass_lock(pass_mu_);
  auto result = Pass();
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++passes_;
    if (!result.ok()) ++failures_;
  }
  if (!result.ok()) {
    if (failure_counter_ != nullptr) failure_counter_->Inc();
    Emit("Warning", "CertificateUpdateFailed", result.status().message());
  }
  return result;
}

core::StatusOr<std::optional<core::Json>> CertificateManager::ReadSecret() {
  auto secret = client_->Get(kSecretGvk, options_.namespace_name, options_.secret_name);
  if (secret.ok()) return std::optional<core::Json>(std::move(secret).value());
  if (core::IsNotFound(secret.status())) return std::optional<core::Json>();
  return secret.status().WithPrefix("reading Secret " + options_.namespace_name + "/" +
                                    options_.secret_name);
}

core::StatusOr<CertificatePassResult> CertificateManager::Pass() {
  auto log = core::Logger("certs");
  const std::string secret_where = "Secret " + options_.namespace_name + "/" + options_.secret_name;
  CertificatePassResult result;
  bool conflicted = false;
  bool settled = false;
  for (int attempt = 1; attempt <= options_.max_conflict_attempts && !settled; ++attempt) {
    ASSIGN_OR_RETURN(std::optional<core::Json> secret, ReadSecret());

    Material material;
    bool restoring = false;
    if (secret.has_value()) {
      std::map<std::string, std::string> data;
      if (const core::Json* d = core::FindPointer(*secret, "/data"); d && d->is_object()) {
        for (const auto& [key, value] : d->items()) {
          if (!value.is_string()) continue;
          auto decoded = Base64Decode(value.get<std::string>());
          if (!decoded.ok()) {
            log->warn("{}: data[{}] is not valid base64, treated as missing", secret_where, key);
            continue;
          }
          data[key] = std::move(decoded).value();
        }
      }
      material = Material::FromSecretData(data);
    } else {
      // Keep the CA running clients trust when someone deletes the Secret.
      std::lock_guard<std::mutex> lock(mu_);
      if (current_.has_value()) {
        material = *current_;
        restoring = true;
      }
    }

    ASSIGN_OR_RETURN(RotationPlan plan, PlanRotation(material, options_.rotation, clock_->Now()));
    // The bundle goes to the API server before any pod can serve a certificate it signed.
    bool patched = false;
    RETURN_IF_ERROR(EnsureBundle(plan.next.ca_cert_pem, result, patched));

    result.material = plan.next;
    result.ca_not_after = plan.ca_not_after;
    result.serving_not_after = plan.serving_not_after;
    result.next_action_at = plan.next_action_at;
    if (secret.has_value() && !plan.changed()) {
      result.secret_resource_version =
          core::FindPointer(*secret, "/metadata/resourceVersion")
              ? core::FindPointer(*secret, "/metadata/resourceVersion")->get<std::string>()
              : "";
      settled = true;
      break;
    }

    core::Json object;
    if (secret.has_value()) {
      object = *secret;
    } else {
      object = core::Json{{"apiVersion", "v1"},
                          {"kind", "Secret"},
                          {"metadata",
                           {{"name", options_.secret_name},
                            {"namespace", options_.namespace_name},
                            {"labels",
                             {{"app.kubernetes.io/name", "driftguard"},
                              {"app.kubernetes.io/component", "certificates"},
                              {"app.kubernetes.io/managed-by", "driftguard"}}}}},
                          {"type", "kubernetes.io/tls"}};
    }
    if (!object.contains("data") || !object["data"].is_object()) {
      object["data"] = core::Json::object();
    }
    for (const auto& [key, value] : plan.next.ToSecretData()) {
      object["data"][key] = Base64Encode(value);
    }
    const bool new_ca = std::any_of(plan.changes.begin(), plan.changes.end(), [](const auto& c) {
      return c.action == RotationAction::kCreatedCa || c.action == RotationAction::kRotatedCa;
    });
    if (secret.has_value() && new_ca && patched) WaitForBundlePropagation();
    auto written = secret.has_value() ? client_->Update(object) : client_->Create(object);
    if (written.ok()) {
      result.changes = plan.changes;
      (secret.has_value() ? result.secret_updated : result.secret_created) = true;
      if (const core::Json* rv = core::FindPointer(*written, "/metadata/resourceVersion");
          rv != nullptr && rv->is_string()) {
        result.secret_resource_version = rv->get<std::string>();
      }
      if (restoring && plan.changes.empty()) {
        Emit("Normal", "RestoredSecret",
             secret_where + " was missing; re-created it with the material this replica serves");
      }
      settled = true;
      break;
    }
    if (core::IsConflict(written.status()) || core::IsAlreadyExists(written.status())) {
      conflicted = true;
      log->info("{} changed while this replica wrote it ({}); re-reading", secret_where,
                written.status().message());
      continue;
    }
    return written.status().WithPrefix("writing " + secret_where);
  }
  if (!settled) {
    return core::AbortedError("writing " + secret_where + ": gave up after " +
                              std::to_string(options_.max_conflict_attempts) + " conflicts");
  }
  result.adopted = conflicted && !result.secret_created && !result.secret_updated;

  if (!options_.output_dir.empty()) RETURN_IF_ERROR(WriteFiles(result.material, result));

  Publish(result);
  return result;
}

core::Status CertificateManager::EnsureBundle(const std::string& bundle_pem,
                                              CertificatePassResult& result, bool& patched) {
  if (!options_.validating_webhook_name.empty()) {
    RETURN_IF_ERROR(
        InjectInto(kValidatingGvk, options_.validating_webhook_name, bundle_pem, result, patched));
  }
  if (!options_.mutating_webhook_name.empty()) {
    RETURN_IF_ERROR(
        InjectInto(kMutatingGvk, options_.mutating_webhook_name, bundle_pem, result, patched));
  }
  return core::OkStatus();
}

void CertificateManager::WaitForBundlePropagation() {
  if (hooks_.wait_for_bundle_propagation) {
    hooks_.wait_for_bundle_propagation();
    return;
  }
  if (options_.bundle_propagation_delay.count() <= 0) return;
  core::Logger("certs")->info("waiting {} ms for the new CA bundle to reach the API server",
                              options_.bundle_propagation_delay.count());
  std::unique_lock<std::mutex> lock(loop_mu_);
  loop_cv_.wait_for(lock, options_.bundle_propagation_delay, [this] { return stopping_; });
}

core::Status CertificateManager::InjectInto(const core::GroupVersionKind& gvk,
                                            const std::string& name, const std::string& bundle_pem,
                                            CertificatePassResult& result, bool& patched) {
  const std::string where = Where(gvk, name);
  for (int attempt = 1; attempt <= options_.max_conflict_attempts; ++attempt) {
    auto live = client_->Get(gvk, "", name);
    if (core::IsNotFound(live.status())) {
      if (std::find(result.missing.begin(), result.missing.end(), where) == result.missing.end()) {
        result.missing.push_back(where);
        core::Logger("certs")->warn("{} does not exist; its caBundle is not managed", where);
      }
      return core::OkStatus();
    }
    if (!live.ok()) return live.status().WithPrefix("reading " + where);
    ASSIGN_OR_RETURN(CaBundleInjection injection, InjectCaBundle(*live, bundle_pem, {name}));
    if (!injection.changed) return core::OkStatus();
    auto patch_result = client_->MergePatch(gvk, "", name, injection.merge_patch);
    if (patch_result.ok()) {
      patched = true;
      if (std::find(result.injected.begin(), result.injected.end(), where) ==
          result.injected.end()) {
        result.injected.push_back(where);
      }
      Emit("Normal", "InjectedCABundle",
           "injected the CA bundle of Secret " + options_.namespace_name + "/" +
               options_.secret_name + " into " + where);
      return core::OkStatus();
    }
    if (!core::IsConflict(patch_result.status())) {
      return patch_result.status().WithPrefix("injecting the CA bundle into " + where);
    }
    core::Logger("certs")->info("{} changed while injecting the CA bundle; re-reading", where);
  }
  return core::AbortedError("injecting the CA bundle into " + where + ": gave up after " +
                            std::to_string(options_.max_conflict_attempts) + " conflicts");
}

core::Status CertificateManager::WriteFiles(const Material& material,
                                            CertificatePassResult& result) {
  const fs::path& dir = options_.output_dir;
  bool same = true;
  for (const OutputFile& f : kOutputFiles) {
    auto existing = ReadWholeFile(dir / f.name);
    if (!existing.has_value() || *existing != material.*f.field) {
      same = false;
      break;
    }
  }
  if (same) return core::OkStatus();

  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return core::InternalError("creating " + dir.string() + ": " + ec.message());

  std::string version_template = (dir / "..version.XXXXXX").string();
  if (::mkdtemp(version_template.data()) == nullptr) {
    return core::InternalError(ErrnoMessage("creating a directory in " + dir.string()));
  }
  const fs::path version_dir(version_template);
  ::chmod(version_dir.c_str(), 0755);
  auto cleanup = [&] { fs::remove_all(version_dir, ec); };
  for (const OutputFile& f : kOutputFiles) {
    if (core::Status s = WriteNewFile(version_dir / f.name, material.*f.field, f.mode); !s.ok()) {
      cleanup();
      return s;
    }
  }
  const fs::path data_link = dir / kDataDir;
  std::string previous;
  if (fs::is_symlink(fs::symlink_status(data_link, ec))) {
    previous = fs::read_symlink(data_link, ec).string();
  }
  // One rename switches every file: readers resolve <dir>/<file> → ..data/<file> → the version.
  if (core::Status s = ReplaceSymlink(data_link, version_dir.filename().string()); !s.ok()) {
    cleanup();
    return s;
  }
  for (const OutputFile& f : kOutputFiles) {
    const fs::path link = dir / f.name;
    const std::string target = std::string(kDataDir) + "/" + std::string(f.name);
    if (fs::is_symlink(fs::symlink_status(link, ec)) && fs::read_symlink(link, ec) == target) {
      continue;
    }
    RETURN_IF_ERROR(ReplaceSymlink(link, target));
  }
  if (!previous.empty() && previous != version_dir.filename().string() &&
      previous.find('/') == std::string::npos) {
    fs::remove_all(dir / previous, ec);
  }
  result.files_written = true;
  core::Logger("certs")->info("wrote tls.crt, tls.key and ca.crt to {}", dir.string());
  return core::OkStatus();
}

void CertificateManager::Publish(const CertificatePassResult& result) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    current_ = result.material;
    next_action_at_ = result.next_action_at;
  }
  if (expiry_ != nullptr) {
    expiry_->WithLabels({"ca"}).Set(static_cast<double>(ToUnixSeconds(result.ca_not_after)));
    expiry_->WithLabels({"serving"})
        .Set(static_cast<double>(ToUnixSeconds(result.serving_not_after)));
  }
  for (const RotationChange& change : result.changes) {
    Emit("Normal", RotationActionName(change.action), change.reason);
  }
  if (result.adopted) {
    Emit("Normal", "AdoptedCertificates",
         "another replica published Secret " + options_.namespace_name + "/" +
             options_.secret_name + " first; adopted its material (resourceVersion " +
             result.secret_resource_version + ")");
  }
}

core::Status CertificateManager::Start() {
  {
    std::lock_guard<std::mutex> lock(loop_mu_);
    if (started_) return core::FailedPreconditionError("the certificate manager was started");
  }
  auto first = RunOnce();
  if (!first.ok()) return first.status();
  EnsureWatches();
  std::lock_guard<std::mutex> lock(loop_mu_);
  started_ = true;
  thread_ = std::thread([this] { Loop(); });
  return core::OkStatus();
}

void CertificateManager::Stop() {
  {
    std::lock_guard<std::mutex> lock(loop_mu_);
    if (!started_ || stopping_) return;
    stopping_ = true;
  }
  loop_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (watches_ != nullptr) watches_->Stop();
}

void CertificateManager::Trigger() {
  {
    std::lock_guard<std::mutex> lock(loop_mu_);
    if (!started_) return;
    triggered_ = true;
  }
  loop_cv_.notify_all();
}

size_t CertificateManager::WatchCount() const {
  return 1 + (options_.validating_webhook_name.empty() ? 0 : 1) +
         (options_.mutating_webhook_name.empty() ? 0 : 1);
}

void CertificateManager::EnsureWatches() {
  struct Target {
    core::GroupVersionKind gvk;
    std::string ns;
    std::string name;
  };
  std::vector<Target> targets = {{kSecretGvk, options_.namespace_name, options_.secret_name}};
  if (!options_.validating_webhook_name.empty()) {
    targets.push_back({kValidatingGvk, "", options_.validating_webhook_name});
  }
  if (!options_.mutating_webhook_name.empty()) {
    targets.push_back({kMutatingGvk, "", options_.mutating_webhook_name});
  }
  if (watches_ == nullptr) watches_ = std::make_unique<Watches>();
  if (watches_->Healthy(WatchCount())) return;
  watches_->Stop();
  for (const Target& t : targets) {
    core::WatchOptions watch_options;
    watch_options.field_selector = "metadata.name=" + t.name;
    core::WatchCallbacks callbacks;
    callbacks.on_event = [this](const core::WatchEvent& event) {
      if (event.type != core::WatchEvent::Type::kBookmark) Trigger();
      return true;
    };
    callbacks.on_close = [where = Where(t.gvk, t.name)](const core::Status& status) {
      core::Logger("certs")->warn("the watch on {} ended: {}", where, status.message());
    };
    auto handle = client_->Watch(t.gvk, t.ns, watch_options, std::move(callbacks));
    if (!handle.ok()) {
      core::Logger("certs")->warn("cannot watch {}: {}", Where(t.gvk, t.name),
                                  handle.status().message());
      continue;
    }
    watches_->handles.push_back(std::move(handle).value());
  }
}

void CertificateManager::Loop() {
  using Steady = std::chrono::steady_clock;
  auto backoff = options_.retry_initial_backoff;
  auto delay_after_success = [this](const CertificatePassResult& r) {
    auto until_due =
        std::chrono::duration_cast<std::chrono::milliseconds>(r.next_action_at - clock_->Now());
    auto delay = std::min<std::chrono::milliseconds>(options_.resync_interval, until_due);
    return std::max<std::chrono::milliseconds>(delay, std::chrono::seconds(1));
  };
  std::chrono::milliseconds delay;
  {
    CertificatePassResult last;
    std::lock_guard<std::mutex> lock(mu_);
    last.next_action_at = next_action_at_;
    delay = delay_after_success(last);
  }
  auto watch_backoff = options_.retry_initial_backoff;
  std::unique_lock<std::mutex> lock(loop_mu_);
  auto next = Steady::now() + delay;
  while (true) {
    loop_cv_.wait_until(lock, next, [this] { return stopping_ || triggered_; });
    if (stopping_) break;
    triggered_ = false;
    lock.unlock();
    EnsureWatches();
    auto result = RunOnce();
    if (result.ok()) {
      backoff = options_.retry_initial_backoff;
      delay = delay_after_success(*result);
    } else {
      delay = backoff;
      backoff = std::min(backoff * 2, options_.retry_max_backoff);
    }
    // A watch that ended for good (e.g. 410, or RBAC) is re-created at the next pass; do not
    // wait a whole resync for it.
    if (!watches_->Healthy(WatchCount())) {
      delay = std::min(delay, watch_backoff);
      watch_backoff = std::min(watch_backoff * 2, options_.retry_max_backoff);
    } else {
      watch_backoff = options_.retry_initial_backoff;
    }
    lock.lock();
    next = Steady::now() + delay;
  }
}

}  // namespace driftguard::certs
