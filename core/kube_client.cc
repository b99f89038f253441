#include "core/kube_client.h"

#include <httplib.h>
#include <openssl/x509.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>

#include "core/internal/kube_tls.h"
#include "core/log.h"

namespace driftguard::core {
namespace {

using Clock = std::chrono::steady_clock;
using Params = std::vector<std::pair<std::string, std::string>>;

constexpr std::string_view kHttpSuffix = " (HTTP ";

std::string UrlEncode(std::string_view in) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : in) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::string WithQuery(std::string path, const Params& params) {
  char sep = '?';
  for (const auto& [k, v] : params) {
    path += sep;
    path += UrlEncode(k);
    path += '=';
    path += UrlEncode(v);
    sep = '&';
  }
  return path;
}

StatusCode CodeForHttp(int http, std::string_view reason) {
  switch (http) {
    case 400:
    case 422:
      return StatusCode::kInvalidArgument;
    case 401:
      return StatusCode::kUnauthenticated;
    case 403:
      return StatusCode::kPermissionDenied;
    case 404:
      return StatusCode::kNotFound;
    case 405:
      return StatusCode::kUnimplemented;
    case 409:
      return reason == "AlreadyExists" ? StatusCode::kAlreadyExists : StatusCode::kAborted;
    case 410:
      return StatusCode::kOutOfRange;
    case 429:
      return StatusCode::kResourceExhausted;
    case 504:
      return StatusCode::kDeadlineExceeded;
    default:
      if (http >= 500) return StatusCode::kUnavailable;
      return StatusCode::kUnknown;
  }
}

std::string DefaultReason(int http) {
  switch (http) {
    case 400:
      return "BadRequest";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "NotFound";
    case 405:
      return "MethodNotAllowed";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 415:
      return "UnsupportedMediaType";
    case 422:
      return "Invalid";
    case 429:
      return "TooManyRequests";
    case 500:
      return "InternalError";
    case 503:
      return "ServiceUnavailable";
    case 504:
      return "Timeout";
    default:
      return "Unknown";
  }
}

// Decodes a failure: a `Status` object when the server sent one, else the raw body.
Status DecodeApiError(int http, const std::string& body, std::string_view what) {
  std::string message;
  std::string reason;
  auto parsed = ParseJson(body, "response");
  if (parsed.ok() && parsed->is_object() && parsed->value("kind", "") == "Status") {
    message = parsed->value("message", "");
    reason = parsed->value("reason", "");
    if (auto code = parsed->find("code"); code != parsed->end() && code->is_number_integer()) {
      int c = code->get<int>();
      if (c >= 400 && c < 600) http = c;
    }
  } else {
    message = body.substr(0, 256);
    while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) {
      message.pop_back();
    }
  }
  if (reason.empty()) reason = DefaultReason(http);
  if (message.empty()) message = std::string(what) + ": " + reason;
  return Status(CodeForHttp(http, reason),
                message + std::string(kHttpSuffix) + std::to_string(http) + " " + reason + ")");
}

int64_t ParseRetryAfter(const std::string& value) {
  if (value.empty()) return -1;
  int64_t seconds = 0;
  for (char c : value) {
    if (c < '0' || c > '9') return -1;
    seconds = seconds * 10 + (c - '0');
    if (seconds > 3600) return 3600;
  }
  return seconds;
}

// The bearer token, re-read from its file whenever the file's mtime or size changes.
class TokenSource {
 public:
  TokenSource(std::string inline_token, std::string file)
      : token_(std::move(inline_token)), file_(std::move(file)) {}

  StatusOr<std::string> Get() {
    if (file_.empty()) return token_;
    std::lock_guard<std::mutex> lock(mu_);
    struct stat st {};
    if (::stat(file_.c_str(), &st) != 0) {
      if (loaded_) return token_;  // keep the last good token while the file is being replaced
      return UnauthenticatedError("token file " + file_ + " cannot be read");
    }
    std::pair<int64_t, int64_t> stamp{
        static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000LL + st.st_mtim.tv_nsec,
        static_cast<int64_t>(st.st_size)};
    if (loaded_ && stamp == stamp_) return token_;
    std::ifstream in(file_, std::ios::binary);
    if (!in) {
      if (loaded_) return token_;
      return UnauthenticatedError("token file " + file_ + " cannot be read");
    }
    std::ostringstream ss;
    ss << in.rdbuf();
    std::string token = ss.str();
    while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back()))) {
      token.pop_back();
    }
    token_ = std::move(token);
    stamp_ = stamp;
    loaded_ = true;
    return token_;
  }

 private:
  std::mutex mu_;
  std::string token_;
  const std::string file_;
  std::pair<int64_t, int64_t> stamp_{0, 0};
  bool loaded_ = false;
};

struct HttpResult {
  int status = 0;
  std::string body;
  httplib::Headers headers;
};

std::string PropagationName(PropagationPolicy p) {
  switch (p) {
    case PropagationPolicy::kForeground:
      return "Foreground";
    case PropagationPolicy::kOrphan:
      return "Orphan";
    case PropagationPolicy::kBackground:
      break;
  }
  return "Background";
}

std::string NameOf(const Json& object) {
  const Json* name = FindPointer(object, "/metadata/name");
  return name != nullptr && name->is_string() ? name->get<std::string>() : "";
}

std::string NamespaceOf(const Json& object) {
  const Json* ns = FindPointer(object, "/metadata/namespace");
  return ns != nullptr && ns->is_string() ? ns->get<std::string>() : "";
}

}  // namespace

std::optional<KubeErrorInfo> KubeErrorOf(const Status& status) {
  if (status.ok()) return std::nullopt;
  const std::string& m = status.message();
  size_t at = m.rfind(kHttpSuffix);
  if (at == std::string::npos || m.back() != ')') return std::nullopt;
  std::string_view rest(m.data() + at + kHttpSuffix.size(), m.size() - at - kHttpSuffix.size() - 1);
  size_t space = rest.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  KubeErrorInfo info;
  for (char c : rest.substr(0, space)) {
    if (c < '0' || c > '9') return std::nullopt;
    info.http_code = info.http_code * 10 + (c - '0');
  }
  info.reason = std::string(rest.substr(space + 1));
  return info;
}

bool IsNotFound(const Status& s) {
  auto e = KubeErrorOf(s);
  return e && e->http_code == 404;
}
bool IsAlreadyExists(const Status& s) {
  auto e = KubeErrorOf(s);
  return e && e->http_code == 409 && e->reason == "AlreadyExists";
}
bool IsConflict(const Status& s) {
  auto e = KubeErrorOf(s);
  return e && e->http_code == 409 && e->reason != "AlreadyExists";
}
bool IsGone(const Status& s) {
  auto e = KubeErrorOf(s);
  return e && e->http_code == 410;
}
bool IsInvalid(const Status& s) {
  auto e = KubeErrorOf(s);
  return e && e->http_code == 422;
}
bool IsTransient(const Status& s) {
  if (s.ok()) return false;
  auto e = KubeErrorOf(s);
  if (e) return e->http_code == 429 || e->http_code >= 500;
  return s.code() == StatusCode::kUnavailable || s.code() == StatusCode::kDeadlineExceeded;
}

std::string_view WatchEventTypeName(WatchEvent::Type type) {
  switch (type) {
    case WatchEvent::Type::kAdded:
      return "ADDED";
    case WatchEvent::Type::kModified:
      return "MODIFIED";
    case WatchEvent::Type::kDeleted:
      return "DELETED";
    case WatchEvent::Type::kBookmark:
      return "BOOKMARK";
  }
  return "UNKNOWN";
}

class HttpKubeClient::Impl {
 public:
  Impl(KubeConfig config, internal::ServerUrl url) : config_(std::move(config)), url_(url) {}

  Status Init() {
    if (!config_.certificate_authority_pem.empty()) {
      ASSIGN_OR_RETURN(ca_, internal::ParseCertificates(config_.certificate_authority_pem));
    }
    if (!config_.client_certificate_pem.empty()) {
      ASSIGN_OR_RETURN(auto id, internal::ParseClientIdentity(config_.client_certificate_pem,
                                                              config_.client_key_pem));
      identity_ = std::move(id);
    }
    token_ = std::make_unique<TokenSource>(config_.token, config_.token_file);
    if (!config_.token_file.empty()) RETURN_IF_ERROR(token_->Get().status());
    return OkStatus();
  }

  const KubeConfig& config() const { return config_; }

  // A new connection (not yet connected). `read_timeout` bounds each read.
  std::unique_ptr<httplib::ClientImpl> NewConnection(std::chrono::milliseconds read_timeout) {
    std::unique_ptr<httplib::ClientImpl> conn;
    if (url_.tls) {
      std::unique_ptr<httplib::SSLClient> ssl;
      if (identity_) {
        ssl = std::make_unique<httplib::SSLClient>(
            url_.host, url_.port, identity_->certificate.get(), identity_->key.get());
      } else {
        ssl = std::make_unique<httplib::SSLClient>(url_.host, url_.port);
      }
      if (!ca_.empty()) {
        X509_STORE* store = X509_STORE_new();
        for (const auto& cert : ca_) X509_STORE_add_cert(store, cert.get());
        ssl->set_ca_cert_store(store);  // takes ownership
      }
      ssl->enable_server_certificate_verification(!config_.insecure_skip_tls_verify);
      conn = std::move(ssl);
    } else {
      conn = std::make_unique<httplib::ClientImpl>(url_.host, url_.port);
    }
    conn->set_keep_alive(true);
    conn->set_tcp_nodelay(true);  // headers and body go out in separate writes
    conn->set_url_encode(false);
    conn->set_connection_timeout(config_.connect_timeout);
    conn->set_read_timeout(read_timeout);
    conn->set_write_timeout(config_.request_timeout);
    return conn;
  }

  StatusOr<httplib::Headers> Headers(const std::string& content_type) {
    httplib::Headers headers{{"User-Agent", config_.user_agent}, {"Accept", "application/json"}};
    if (!content_type.empty()) headers.emplace("Content-Type", content_type);
    ASSIGN_OR_RETURN(std::string token, token_->Get());
    if (!token.empty()) headers.emplace("Authorization", "Bearer " + token);
    return headers;
  }

  std::string FullPath(const std::string& path) const { return url_.base_path + path; }

  // One request with retries. `idempotent` requests are retried after 5xx and connection
  // failures too.
  StatusOr<HttpResult> Send(const std::string& method, const std::string& path,
                            const std::string& content_type, const std::string& body,
                            bool idempotent) {
    std::chrono::milliseconds backoff = config_.retry_backoff;
    for (int attempt = 0;; ++attempt) {
      bool last = attempt >= config_.max_retries;
      ASSIGN_OR_RETURN(httplib::Headers headers, Headers(content_type));
      httplib::Request req;
      req.method = method;
      req.path = FullPath(path);
      req.headers = std::move(headers);
      req.body = body;
      httplib::Response res;
      httplib::Error error = httplib::Error::Success;
      bool sent;
      {
        auto conn = Acquire();
        sent = conn->send(req, res, error);
        Release(std::move(conn));
      }
      std::chrono::milliseconds wait = backoff;
      backoff = std::min(backoff * 2, config_.max_retry_wait);
      if (!sent) {
        Status failure = error == httplib::Error::SSLServerVerification
                             ? UnavailableError(method + " " + url_.host + path +
                                                ": TLS server certificate verification failed")
                             : UnavailableError(method + " " + url_.host + path + ": " +
                                                httplib::to_string(error));
        if (!idempotent || last) return failure;
        log_->debug("{} {}: {}; retrying in {} ms", method, path, httplib::to_string(error),
                    wait.count());
        Sleep(wait);
        continue;
      }
      int64_t retry_after = ParseRetryAfter(res.get_header_value("Retry-After"));
      bool retryable = res.status == 429 || (res.status >= 500 && (idempotent || retry_after >= 0));
      if (retryable && !last) {
        if (retry_after >= 0) {
          wait = std::min<std::chrono::milliseconds>(std::chrono::seconds(retry_after),
                                                     config_.max_retry_wait);
        }
        log_->debug("{} {}: HTTP {}; retrying in {} ms", method, path, res.status, wait.count());
        Sleep(wait);
        continue;
      }
      return HttpResult{res.status, std::move(res.body), std::move(res.headers)};
    }
  }

  // Send + decode: JSON on 2xx, the API's Status as an error otherwise.
  StatusOr<Json> Call(const std::string& method, const std::string& path,
                      const std::string& content_type, const std::string& body, bool idempotent) {
    ASSIGN_OR_RETURN(HttpResult r, Send(method, path, content_type, body, idempotent));
    if (r.status < 200 || r.status >= 300) {
      return DecodeApiError(r.status, r.body, method + " " + path);
    }
    auto parsed = ParseJson(r.body, method + " " + path);
    if (!parsed.ok()) return InternalError("malformed response: " + parsed.status().message());
    return std::move(parsed).value();
  }

  StatusOr<ResourceMapping> Mapping(const GroupVersionKind& gvk) {
    std::lock_guard<std::mutex> lock(mapper_mu_);
    if (!discovered_) RETURN_IF_ERROR(RefreshLocked());
    auto found = mapper_.Find(gvk);
    if (found.ok()) return found;
    if (Clock::now() - last_refresh_ < config_.discovery_min_refresh_interval) return found;
    RETURN_IF_ERROR(RefreshLocked());
    return mapper_.Find(gvk);
  }

  Status Refresh() {
    std::lock_guard<std::mutex> lock(mapper_mu_);
    return RefreshLocked();
  }

  std::shared_ptr<spdlog::logger> log() const { return log_; }

 private:
  Status RefreshLocked() {
    RestMapper mapper;
    ASSIGN_OR_RETURN(Json core, Call("GET", "/api", "", "", true));
    std::vector<std::string> paths;
    if (auto versions = core.find("versions"); versions != core.end() && versions->is_array()) {
      for (const Json& v : *versions) {
        if (v.is_string()) paths.push_back("/api/" + v.get<std::string>());
      }
    }
    ASSIGN_OR_RETURN(Json groups, Call("GET", "/apis", "", "", true));
    if (auto list = groups.find("groups"); list != groups.end() && list->is_array()) {
      for (const Json& g : *list) {
        auto versions = g.find("versions");
        if (versions == g.end() || !versions->is_array()) continue;
        for (const Json& v : *versions) {
          std::string gv = v.value("groupVersion", "");
          if (!gv.empty()) paths.push_back("/apis/" + gv);
        }
      }
    }
    for (const std::string& path : paths) {
      auto list = Call("GET", path, "", "", true);
      if (!list.ok()) {
        // An aggregated API that is down must not hide every other group.
        log_->warn("discovery of {} failed: {}", path, list.status().message());
        continue;
      }
      RETURN_IF_ERROR(mapper.AddResourceList(*list).WithPrefix("discovery " + path));
    }
    mapper_ = std::move(mapper);
    discovered_ = true;
    last_refresh_ = Clock::now();
    return OkStatus();
  }

  std::unique_ptr<httplib::ClientImpl> Acquire() {
    std::unique_lock<std::mutex> lock(pool_mu_);
    pool_cv_.wait(lock, [this] { return in_flight_ < config_.max_concurrent_requests; });
    ++in_flight_;
    if (!idle_.empty()) {
      auto conn = std::move(idle_.back());
      idle_.pop_back();
      return conn;
    }
    lock.unlock();
    return NewConnection(config_.request_timeout);
  }

  void Release(std::unique_ptr<httplib::ClientImpl> conn) {
    std::lock_guard<std::mutex> lock(pool_mu_);
    --in_flight_;
    if (static_cast<int>(idle_.size()) < config_.max_idle_connections) {
      idle_.push_back(std::move(conn));
    }
    pool_cv_.notify_one();
  }

  static void Sleep(std::chrono::milliseconds d) { std::this_thread::sleep_for(d); }

  KubeConfig config_;
  internal::ServerUrl url_;
  std::vector<internal::X509Ptr> ca_;
  std::optional<internal::ClientIdentity> identity_;
  std::unique_ptr<TokenSource> token_;
  std::shared_ptr<spdlog::logger> log_ = Logger("kube");

  std::mutex pool_mu_;
  std::condition_variable pool_cv_;
  int in_flight_ = 0;
  std::vector<std::unique_ptr<httplib::ClientImpl>> idle_;

  std::mutex mapper_mu_;
  RestMapper mapper_;
  bool discovered_ = false;
  Clock::time_point last_refresh_{};
};

namespace {

class HttpWatch : public WatchHandle {
 public:
  HttpWatch(HttpKubeClient::Impl* client, ResourceMapping mapping, std::string ns,
            WatchOptions options, WatchCallbacks callbacks)
      : client_(client),
        mapping_(std::move(mapping)),
        ns_(std::move(ns)),
        options_(std::move(options)),
        callbacks_(std::move(callbacks)),
        last_rv_(options_.resource_version) {}

  ~HttpWatch() override { Stop(); }

  void Start() {
    thread_ = std::thread([this] { Run(); });
  }

  void Stop() override {
    stop_ = true;
    {
      std::lock_guard<std::mutex> lock(mu_);
      cv_.notify_all();
    }
    // httplib's stop() only interrupts a connection that exists; repeat until the thread ends.
    while (!finished_) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (current_ != nullptr) current_->stop();
      }
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait_for(lock, std::chrono::milliseconds(20), [this] { return finished_.load(); });
    }
    if (thread_.joinable()) thread_.join();
  }

  bool Done() const override { return finished_ || stop_; }

  std::string LastResourceVersion() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return last_rv_;
  }

 private:
  enum class Outcome { kEnded, kStoppedByCallback, kStopped, kFailed, kRetry };

  void Run() {
    std::chrono::milliseconds backoff = client_->config().retry_backoff;
    while (!stop_) {
      Status failure;
      Outcome outcome = RunOnce(failure);
      if (outcome == Outcome::kStopped || outcome == Outcome::kStoppedByCallback || stop_) break;
      if (outcome == Outcome::kEnded) {
        backoff = client_->config().retry_backoff;
        if (options_.resume) continue;
        Close(OkStatus());
        break;
      }
      if (outcome == Outcome::kRetry && options_.resume) {
        client_->log()->debug("watch {}: {}; reconnecting in {} ms", mapping_.resource,
                              failure.message(), backoff.count());
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait_for(lock, backoff, [this] { return stop_.load(); });
        backoff = std::min(backoff * 2, client_->config().max_retry_wait);
        continue;
      }
      Close(failure);
      break;
    }
    std::lock_guard<std::mutex> lock(mu_);
    finished_ = true;
    cv_.notify_all();
  }

  void Close(const Status& status) {
    if (callbacks_.on_close) callbacks_.on_close(status);
  }

  Outcome RunOnce(Status& failure) {
    Params params{{"watch", "true"}};
    std::string rv = LastResourceVersion();
    if (!rv.empty()) params.emplace_back("resourceVersion", rv);
    if (options_.allow_bookmarks) params.emplace_back("allowWatchBookmarks", "true");
    if (options_.timeout_seconds > 0) {
      params.emplace_back("timeoutSeconds", std::to_string(options_.timeout_seconds));
    }
    if (!options_.label_selector.empty())
      params.emplace_back("labelSelector", options_.label_selector);
    if (!options_.field_selector.empty())
      params.emplace_back("fieldSelector", options_.field_selector);
    const std::string path = WithQuery(mapping_.Path(ns_), params);

    auto headers = client_->Headers("");
    if (!headers.ok()) {
      failure = headers.status();
      return Outcome::kFailed;
    }
    auto conn = client_->NewConnection(std::chrono::seconds(options_.timeout_seconds + 30));
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stop_) return Outcome::kStopped;
      current_ = conn.get();
    }
    httplib::Request req;
    req.method = "GET";
    req.path = client_->FullPath(path);
    req.headers = std::move(*headers);
    int http_status = 0;
    std::string error_body;
    std::string buffer;
    Outcome outcome = Outcome::kEnded;
    req.response_handler = [&](const httplib::Response& res) {
      http_status = res.status;
      return true;
    };
    req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
      if (stop_) return false;
      if (http_status != 200) {
        if (error_body.size() < 65536) error_body.append(data, n);
        return true;
      }
      buffer.append(data, n);
      size_t start = 0;
      for (size_t nl; (nl = buffer.find('\n', start)) != std::string::npos; start = nl + 1) {
        std::string_view line(buffer.data() + start, nl - start);
        if (line.find_first_not_of(" \r\t") == std::string_view::npos) continue;
        if (!HandleLine(line, outcome, failure)) {
          buffer.erase(0, nl + 1);
          return false;
        }
      }
      buffer.erase(0, start);
      return true;
    };
    httplib::Response res;
    httplib::Error error = httplib::Error::Success;
    bool sent = conn->send(req, res, error);
    {
      std::lock_guard<std::mutex> lock(mu_);
      current_ = nullptr;
    }
    if (stop_) return Outcome::kStopped;
    if (outcome != Outcome::kEnded) return outcome;
    if (http_status != 0 && http_status != 200) {
      failure = DecodeApiError(http_status, error_body, "watch " + mapping_.resource);
      return IsTransient(failure) ? Outcome::kRetry : Outcome::kFailed;
    }
    if (!sent && error != httplib::Error::Canceled) {
      failure = UnavailableError("watch " + mapping_.resource + ": " + httplib::to_string(error));
      return Outcome::kRetry;
    }
    return Outcome::kEnded;
  }

  // Returns false to end the stream (setting `outcome`).
  bool HandleLine(std::string_view line, Outcome& outcome, Status& failure) {
    auto parsed = ParseJson(line, "watch event");
    if (!parsed.ok() || !parsed->is_object()) {
      failure = UnavailableError("watch " + mapping_.resource + ": malformed event");
      outcome = Outcome::kRetry;
      return false;
    }
    std::string type = parsed->value("type", "");
    Json object = parsed->contains("object") ? (*parsed)["object"] : Json::object();
    if (type == "ERROR") {
      int code = object.value("code", 500);
      failure = DecodeApiError(code, object.dump(), "watch " + mapping_.resource);
      outcome = IsTransient(failure) ? Outcome::kRetry : Outcome::kFailed;
      return false;
    }
    WatchEvent event;
    if (type == "ADDED") {
      event.type = WatchEvent::Type::kAdded;
    } else if (type == "MODIFIED") {
      event.type = WatchEvent::Type::kModified;
    } else if (type == "DELETED") {
      event.type = WatchEvent::Type::kDeleted;
    } else if (type == "BOOKMARK") {
      event.type = WatchEvent::Type::kBookmark;
    } else {
      client_->log()->warn("watch {}: ignoring event of unknown type \"{}\"", mapping_.resource,
                           type);
      return true;
    }
    if (object.is_object()) {
      if (!object.contains("apiVersion")) object["apiVersion"] = mapping_.gvk.ApiVersion();
      if (!object.contains("kind")) object["kind"] = mapping_.gvk.kind;
    }
    const Json* rv = FindPointer(object, "/metadata/resourceVersion");
    if (rv != nullptr && rv->is_string()) {
      std::lock_guard<std::mutex> lock(mu_);
      last_rv_ = rv->get<std::string>();
    }
    event.object = std::move(object);
    if (callbacks_.on_event && !callbacks_.on_event(event)) {
      outcome = Outcome::kStoppedByCallback;
      stop_ = true;
      return false;
    }
    return true;
  }

  HttpKubeClient::Impl* client_;
  const ResourceMapping mapping_;
  const std::string ns_;
  const WatchOptions options_;
  WatchCallbacks callbacks_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> finished_{false};
  mutable std::mutex mu_;
  std::condition_variable cv_;
  httplib::ClientImpl* current_ = nullptr;  // guarded by mu_
  std::string last_rv_;                     // guarded by mu_
};

}  // namespace

StatusOr<std::unique_ptr<HttpKubeClient>> HttpKubeClient::Create(const KubeConfig& config) {
  RETURN_IF_ERROR(config.Validate());
  ASSIGN_OR_RETURN(internal::ServerUrl url, internal::ParseServerUrl(config.server));
  auto impl = std::make_unique<Impl>(config, url);
  RETURN_IF_ERROR(impl->Init());
  return std::unique_ptr<HttpKubeClient>(new HttpKubeClient(std::move(impl)));
}

HttpKubeClient::HttpKubeClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpKubeClient::~HttpKubeClient() = default;

StatusOr<ResourceMapping> HttpKubeClient::Mapping(const GroupVersionKind& gvk) {
  return impl_->Mapping(gvk);
}

Status HttpKubeClient::RefreshDiscovery() { return impl_->Refresh(); }

std::string HttpKubeClient::DefaultNamespace() const { return impl_->config().namespace_; }

StatusOr<Json> HttpKubeClient::GetPath(const std::string& path) {
  return impl_->Call("GET", path, "", "", true);
}

StatusOr<Json> HttpKubeClient::Get(const GroupVersionKind& gvk, std::string_view ns,
                                   std::string_view name) {
  ASSIGN_OR_RETURN(ResourceMapping m, impl_->Mapping(gvk));
  if (name.empty()) return InvalidArgumentError("get " + m.resource + ": name is empty");
  ASSIGN_OR_RETURN(Json object, impl_->Call("GET", m.Path(ns, name), "", "", true));
  return object;
}

StatusOr<ObjectList> HttpKubeClient::List(const GroupVersionKind& gvk, std::string_view ns,
                                          const ListOptions& options) {
  ASSIGN_OR_RETURN(ResourceMapping m, impl_->Mapping(gvk));
  ObjectList out;
  std::string continue_token;
  bool first = true;
  while (first || !continue_token.empty()) {
    Params params;
    if (!options.label_selector.empty())
      params.emplace_back("labelSelector", options.label_selector);
    if (!options.field_selector.empty())
      params.emplace_back("fieldSelector", options.field_selector);
    if (options.limit > 0) params.emplace_back("limit", std::to_string(options.limit));
    if (!continue_token.empty()) params.emplace_back("continue", continue_token);
    ASSIGN_OR_RETURN(Json page, impl_->Call("GET", WithQuery(m.Path(ns), params), "", "", true));
    const Json* rv = FindPointer(page, "/metadata/resourceVersion");
    if (first && rv != nullptr && rv->is_string()) out.resource_version = rv->get<std::string>();
    const Json* cont = FindPointer(page, "/metadata/continue");
    continue_token = cont != nullptr && cont->is_string() ? cont->get<std::string>() : "";
    if (auto items = page.find("items"); items != page.end() && items->is_array()) {
      for (Json& item : *items) {
        if (!item.is_object()) continue;
        item["apiVersion"] = m.gvk.ApiVersion();
        item["kind"] = m.gvk.kind;
        out.items.push_back(std::move(item));
      }
    }
    first = false;
  }
  return out;
}

namespace {

struct Target {
  ResourceMapping mapping;
  std::string ns;
  std::string name;
};

StatusOr<Target> TargetOf(HttpKubeClient::Impl& impl, const Json& object, bool need_name,
                          std::string_view verb) {
  if (!object.is_object()) return InvalidArgumentError(std::string(verb) + ": not an object");
  GroupVersionKind gvk = GroupVersionKind::FromObject(object);
  if (gvk.version.empty() || gvk.kind.empty()) {
    return InvalidArgumentError(std::string(verb) + ": object has no apiVersion or kind");
  }
  Target t;
  ASSIGN_OR_RETURN(t.mapping, impl.Mapping(gvk));
  t.name = NameOf(object);
  if (need_name && t.name.empty()) {
    return InvalidArgumentError(std::string(verb) + " " + gvk.ToString() +
                                ": metadata.name is empty");
  }
  if (t.mapping.namespaced) {
    t.ns = NamespaceOf(object);
    if (t.ns.empty()) t.ns = impl.config().namespace_;
  }
  return t;
}

}  // namespace

StatusOr<Json> HttpKubeClient::Create(const Json& object, const WriteOptions& options) {
  ASSIGN_OR_RETURN(Target t, TargetOf(*impl_, object, false, "create"));
  Json body = object;
  if (t.mapping.namespaced) body["metadata"]["namespace"] = t.ns;
  Params params{{"fieldManager", options.field_manager.empty() ? impl_->config().field_manager
                                                               : options.field_manager}};
  if (options.dry_run) params.emplace_back("dryRun", "All");
  return impl_->Call("POST", WithQuery(t.mapping.Path(t.ns), params), "application/json",
                     body.dump(), false);
}

StatusOr<Json> HttpKubeClient::Update(const Json& object, const WriteOptions& options) {
  ASSIGN_OR_RETURN(Target t, TargetOf(*impl_, object, true, "update"));
  Json body = object;
  if (t.mapping.namespaced) body["metadata"]["namespace"] = t.ns;
  Params params{{"fieldManager", options.field_manager.empty() ? impl_->config().field_manager
                                                               : options.field_manager}};
  if (options.dry_run) params.emplace_back("dryRun", "All");
  return impl_->Call("PUT", WithQuery(t.mapping.Path(t.ns, t.name, options.subresource), params),
                     "application/json", body.dump(), false);
}

StatusOr<Json> HttpKubeClient::Apply(const Json& object, const ApplyOptions& options) {
  ASSIGN_OR_RETURN(Target t, TargetOf(*impl_, object, true, "apply"));
  Json body = object;
  if (t.mapping.namespaced) body["metadata"]["namespace"] = t.ns;
  Params params{{"fieldManager", options.field_manager.empty() ? impl_->config().field_manager
                                                               : options.field_manager}};
  if (options.force) params.emplace_back("force", "true");
  if (options.dry_run) params.emplace_back("dryRun", "All");
  // Apply is idempotent: a retry after a lost response converges to the same object.
  return impl_->Call("PATCH", WithQuery(t.mapping.Path(t.ns, t.name, options.subresource), params),
                     "application/apply-patch+yaml", body.dump(), true);
}

StatusOr<Json> HttpKubeClient::MergePatch(const GroupVersionKind& gvk, std::string_view ns,
                                          std::string_view name, const Json& patch,
                                          const WriteOptions& options) {
  ASSIGN_OR_RETURN(ResourceMapping m, impl_->Mapping(gvk));
  if (name.empty()) return InvalidArgumentError("patch " + m.resource + ": name is empty");
  std::string target_ns = m.namespaced && ns.empty() ? impl_->config().namespace_ : std::string(ns);
  Params params{{"fieldManager", options.field_manager.empty() ? impl_->config().field_manager
                                                               : options.field_manager}};
  if (options.dry_run) params.emplace_back("dryRun", "All");
  return impl_->Call("PATCH", WithQuery(m.Path(target_ns, name, options.subresource), params),
                     "application/merge-patch+json", patch.dump(), false);
}

StatusOr<Json> HttpKubeClient::Delete(const GroupVersionKind& gvk, std::string_view ns,
                                      std::string_view name, const DeleteOptions& options) {
  ASSIGN_OR_RETURN(ResourceMapping m, impl_->Mapping(gvk));
  if (name.empty()) return InvalidArgumentError("delete " + m.resource + ": name is empty");
  std::string target_ns = m.namespaced && ns.empty() ? impl_->config().namespace_ : std::string(ns);
  Json body = {{"kind", "DeleteOptions"},
               {"apiVersion", "v1"},
               {"propagationPolicy", PropagationName(options.propagation)}};
  if (options.grace_period_seconds) body["gracePeriodSeconds"] = *options.grace_period_seconds;
  if (!options.precondition_resource_version.empty()) {
    body["preconditions"] = {{"resourceVersion", options.precondition_resource_version}};
  }
  Params params;
  if (options.dry_run) {
    body["dryRun"] = Json::array({"All"});
    params.emplace_back("dryRun", "All");
  }
  return impl_->Call("DELETE", WithQuery(m.Path(target_ns, name), params), "application/json",
                     body.dump(), false);
}

StatusOr<std::unique_ptr<WatchHandle>> HttpKubeClient::Watch(const GroupVersionKind& gvk,
                                                             std::string_view ns,
                                                             const WatchOptions& options,
                                                             WatchCallbacks callbacks) {
  ASSIGN_OR_RETURN(ResourceMapping m, impl_->Mapping(gvk));
  if (options.timeout_seconds < 0) return InvalidArgumentError("watch: timeout_seconds < 0");
  auto watch = std::make_unique<HttpWatch>(impl_.get(), std::move(m), std::string(ns), options,
                                           std::move(callbacks));
  watch->Start();
  return std::unique_ptr<WatchHandle>(std::move(watch));
}

}  // namespace driftguard::core
