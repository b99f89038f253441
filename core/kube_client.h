// The Kubernetes API client: the seam between driftguard and the API server.
//
// KubeClient is abstract (it touches the outside world; tests substitute it); HttpKubeClient
// speaks HTTPS to a real API server with cpp-httplib. Objects are Json. Kinds are resolved to
// REST paths through discovery (a RestMapper), re-read when a kind is unknown (a CRD just
// appeared), at most once per KubeConfig::discovery_min_refresh_interval.
//
//   ASSIGN_OR_RETURN(auto client, HttpKubeClient::Create(config));
//   ASSIGN_OR_RETURN(Json live, client->Get({"apps", "v1", "Deployment"}, "default", "web"));
//   ASSIGN_OR_RETURN(Json applied, client->Apply(desired, {.force = true}));
//   Status s = client->Get(gvk, "default", "gone").status();
//   if (IsNotFound(s)) ...
//
// Errors: every operation returns a Status decoded from the API server's `Status` object. Its
// message is the server's message followed by " (HTTP <code> <Reason>)", e.g.
//   configmaps "x" not found (HTTP 404 NotFound)
// and its code follows the HTTP code: 400/422 InvalidArgument, 401 Unauthenticated,
// 403 PermissionDenied, 404 NotFound, 409 AlreadyExists (reason AlreadyExists) or Aborted
// (Conflict), 410 OutOfRange, 429 ResourceExhausted, 504 DeadlineExceeded, other 5xx and
// connection failures Unavailable. KubeErrorOf() recovers HTTP code and reason (also after
// Status::WithPrefix). 429 is retried, honouring Retry-After, up to KubeConfig::max_retries;
// reads are also retried after 5xx and connection failures; writes only when the server sent
// Retry-After.
//
// Thread safety: every method of HttpKubeClient may be called from any thread. At most
// max_concurrent_requests requests run at once (callers beyond wait); watches run on their own
// threads and connections and do not count. Secrets (tokens, keys) are never logged.
#ifndef DRIFTGUARD_CORE_KUBE_CLIENT_H_
#define DRIFTGUARD_CORE_KUBE_CLIENT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/json.h"
#include "core/kube_config.h"
#include "core/rest_mapper.h"
#include "core/status.h"

namespace driftguard::core {

// What KubeErrorOf recovers from a client error.
struct KubeErrorInfo {
  int http_code = 0;
  std::string reason;  // the Status reason: NotFound, Conflict, AlreadyExists, Invalid, Expired...
};
std::optional<KubeErrorInfo> KubeErrorOf(const Status& status);
bool IsNotFound(const Status& status);       // 404
bool IsAlreadyExists(const Status& status);  // 409 AlreadyExists
bool IsConflict(const Status& status);       // 409 other than AlreadyExists (stale, SSA conflict)
bool IsGone(const Status& status);           // 410 (Gone/Expired): re-list
bool IsInvalid(const Status& status);        // 422
// Worth retrying later: 429, 5xx, timeouts, connection failures.
bool IsTransient(const Status& status);

struct ListOptions {
  std::string label_selector;  // "app=web,tier!=db"
  std::string field_selector;  // "metadata.name=web"
  // Page size; 0 = no limit (one request). List() follows `continue` until the last page.
  int64_t limit = 0;
};

struct ObjectList {
  std::string resource_version;  // of the list: where a watch resumes
  std::vector<Json> items;       // each with apiVersion and kind filled in
};

struct WriteOptions {
  bool dry_run = false;       // dryRun=All: validated and admitted, never persisted
  std::string field_manager;  // "" = KubeConfig::field_manager
  std::string subresource;    // "" or "status"
};

struct ApplyOptions {
  bool force = false;  // take ownership of conflicting fields
  bool dry_run = false;
  std::string field_manager;  // "" = KubeConfig::field_manager
  std::string subresource;    // "" or "status"
};

enum class PropagationPolicy { kBackground, kForeground, kOrphan };

struct DeleteOptions {
  PropagationPolicy propagation = PropagationPolicy::kBackground;
  bool dry_run = false;
  std::optional<int64_t> grace_period_seconds;
  // Delete only if the object still has this resourceVersion (409 otherwise).
  std::string precondition_resource_version;
};

struct WatchEvent {
  enum class Type { kAdded, kModified, kDeleted, kBookmark };
  Type type = Type::kAdded;
  Json object;  // for bookmarks only apiVersion, kind and metadata.resourceVersion
};
std::string_view WatchEventTypeName(WatchEvent::Type type);

struct WatchOptions {
  std::string label_selector;
  std::string field_selector;
  // Start after this version (usually a List's resource_version); "" = from now, with synthetic
  // ADDED events for existing objects as the API server sends them.
  std::string resource_version;
  bool allow_bookmarks = true;
  // Server-side bound of one watch request; the stream then reconnects from the last version
  // seen (events or bookmarks) without gaps or repeats.
  int64_t timeout_seconds = 300;
  // Reconnect after a dropped stream or a transient error (with backoff) instead of closing.
  bool resume = true;
};

struct WatchCallbacks {
  // Called on the watch thread, one event at a time. Return false to stop the watch.
  std::function<bool(const WatchEvent&)> on_event;
  // Called once, on the watch thread, when the watch ends for a reason other than Stop():
  // OutOfRange (IsGone) when the version is too old (re-list, then watch again), or the error
  // that ended it (with resume=false, OK when the server closed the stream).
  std::function<void(const Status&)> on_close;
};

// A running watch. Destroying it stops it.
class WatchHandle {
 public:
  virtual ~WatchHandle() = default;
  // Stops the watch and joins its thread; no callback runs after Stop returns. Idempotent.
  // Must not be called from a callback.
  virtual void Stop() = 0;
  // True once the watch ended (on_close ran) or was stopped.
  virtual bool Done() const = 0;
  // The last resourceVersion delivered (event or bookmark).
  virtual std::string LastResourceVersion() const = 0;
};

class KubeClient {
 public:
  virtual ~KubeClient() = default;

  // The REST mapping of `gvk` (refreshing discovery when unknown, rate-limited).
  virtual StatusOr<ResourceMapping> Mapping(const GroupVersionKind& gvk) = 0;
  // Re-reads discovery now (ignores the rate limit).
  virtual Status RefreshDiscovery() = 0;

  virtual StatusOr<Json> Get(const GroupVersionKind& gvk, std::string_view ns,
                             std::string_view name) = 0;
  // All pages; `ns` "" on a namespaced kind lists every namespace.
  virtual StatusOr<ObjectList> List(const GroupVersionKind& gvk, std::string_view ns,
                                    const ListOptions& options = {}) = 0;
  // POST; the object's apiVersion, kind and metadata.namespace (or the config's namespace for
  // namespaced kinds when absent) select the collection.
  virtual StatusOr<Json> Create(const Json& object, const WriteOptions& options = {}) = 0;
  // PUT; with metadata.resourceVersion set, a stale object fails with 409 Conflict.
  virtual StatusOr<Json> Update(const Json& object, const WriteOptions& options = {}) = 0;
  // Server-side apply: PATCH application/apply-patch+yaml with fieldManager (and force).
  virtual StatusOr<Json> Apply(const Json& object, const ApplyOptions& options = {}) = 0;
  // PATCH application/merge-patch+json (RFC 7386).
  virtual StatusOr<Json> MergePatch(const GroupVersionKind& gvk, std::string_view ns,
                                    std::string_view name, const Json& patch,
                                    const WriteOptions& options = {}) = 0;
  // DELETE; returns what the server returned (the object, or a Status object).
  virtual StatusOr<Json> Delete(const GroupVersionKind& gvk, std::string_view ns,
                                std::string_view name, const DeleteOptions& options = {}) = 0;
  // Starts a watch on its own thread. Fails at once when the kind is unknown.
  virtual StatusOr<std::unique_ptr<WatchHandle>> Watch(const GroupVersionKind& gvk,
                                                       std::string_view ns,
                                                       const WatchOptions& options,
                                                       WatchCallbacks callbacks) = 0;

  // The namespace of the configuration (context or service account).
  virtual std::string DefaultNamespace() const = 0;
};

class HttpKubeClient : public KubeClient {
 public:
  // Validates `config` and prepares TLS material; connects lazily. The token file (if any) must
  // be readable now.
  static StatusOr<std::unique_ptr<HttpKubeClient>> Create(const KubeConfig& config);
  ~HttpKubeClient() override;

  StatusOr<ResourceMapping> Mapping(const GroupVersionKind& gvk) override;
  Status RefreshDiscovery() override;
  StatusOr<Json> Get(const GroupVersionKind& gvk, std::string_view ns,
                     std::string_view name) override;
  StatusOr<ObjectList> List(const GroupVersionKind& gvk, std::string_view ns,
                            const ListOptions& options = {}) override;
  StatusOr<Json> Create(const Json& object, const WriteOptions& options = {}) override;
  StatusOr<Json> Update(const Json& object, const WriteOptions& options = {}) override;
  StatusOr<Json> Apply(const Json& object, const ApplyOptions& options = {}) override;
  StatusOr<Json> MergePatch(const GroupVersionKind& gvk, std::string_view ns, std::string_view name,
                            const Json& patch, const WriteOptions& options = {}) override;
  StatusOr<Json> Delete(const GroupVersionKind& gvk, std::string_view ns, std::string_view name,
                        const DeleteOptions& options = {}) override;
  StatusOr<std::unique_ptr<WatchHandle>> Watch(const GroupVersionKind& gvk, std::string_view ns,
                                               const WatchOptions& options,
                                               WatchCallbacks callbacks) override;
  std::string DefaultNamespace() const override;

  // A raw GET of an API path ("/version", "/api"), decoded as JSON, with retries.
  StatusOr<Json> GetPath(const std::string& path);

  class Impl;

 private:
  explicit HttpKubeClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace driftguard::core

#endif  // DRIFTGUARD_CORE_KUBE_CLIENT_H_
