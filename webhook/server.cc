#include "webhook/server.h"

#include <httplib.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "core/log.h"
#include "webhook/internal/http_request_parser.h"
#include "webhook/internal/tls_credentials.h"
#include "webhook/internal/tls_http_server.h"

namespace driftguard::webhook {
namespace {

using core::Status;
using internal::TlsCredentials;

// TLS 1.2 suites: forward secrecy (ECDHE) with AEAD ciphers only. TLS 1.3 keeps OpenSSL's defaults
// (all AEAD, all forward-secret).
constexpr char kTls12Ciphers[] =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

constexpr char kTextPlain[] = "text/plain; charset=utf-8";
constexpr char kInternalErrorText[] = "internal error while handling the request\n";

struct HostPort {
  std::string host;
  int port = 0;
};

// "host:port", ":port", "[v6]:port".
core::StatusOr<HostPort> ParseHostPort(const std::string& address) {
  size_t colon = address.rfind(':');
  if (colon == std::string::npos) {
    return core::InvalidArgumentError("\"" + address + "\" is not host:port");
  }
  HostPort out;
  out.host = address.substr(0, colon);
  if (out.host.size() >= 2 && out.host.front() == '[' && out.host.back() == ']') {
    out.host = out.host.substr(1, out.host.size() - 2);
  }
  if (out.host.empty()) out.host = "0.0.0.0";
  std::string port = address.substr(colon + 1);
  if (port.empty() || port.size() > 5 ||
      port.find_first_not_of("0123456789") != std::string::npos || std::stoi(port) > 65535) {
    return core::InvalidArgumentError("\"" + address + "\" has no valid port (0-65535)");
  }
  out.port = std::stoi(port);
  return out;
}

// What identifies a file's content cheaply: a rename or rewrite changes at least one of these.
struct FileSignature {
  bool exists = false;
  dev_t dev = 0;
  ino_t ino = 0;
  off_t size = 0;
  int64_t mtime_ns = 0;
  bool operator==(const FileSignature&) const = default;
};

FileSignature Stat(const std::string& path) {
  struct stat st;
  FileSignature sig;
  if (::stat(path.c_str(), &st) != 0) return sig;
  sig.exists = true;
  sig.dev = st.st_dev;
  sig.ino = st.st_ino;
  sig.size = st.st_size;
  sig.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  return sig;
}

bool IsJsonContentType(const std::string& value) {
  std::string_view v(value);
  size_t semi = v.find(';');
  std::string_view media = v.substr(0, semi);
  while (!media.empty() && media.back() == ' ') media.remove_suffix(1);
  if (media.size() != 16) return false;
  constexpr std::string_view kJson = "application/json";
  for (size_t i = 0; i < media.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(media[i])) != kJson[i]) return false;
  }
  return true;
}

// Bodies for statuses the metrics listener's httplib answers on its own.
std::string StatusText(int status) {
  switch (status) {
    case 400:
      return "malformed HTTP request";
    case 404:
      return "no such path";
    case 408:
      return "request not received within the read timeout";
    case 413:
      return "request body too large";
    case 414:
      return "request URI too long";
    default:
      return "HTTP status " + std::to_string(status);
  }
}

void SetText(httplib::Response& res, int status, std::string text) {
  res.status = status;
  if (text.empty() || text.back() != '\n') text += '\n';
  res.set_content(std::move(text), kTextPlain);
}

void SetText(internal::HttpResponse& res, int status, std::string_view text) {
  res.status = status;
  res.content_type = kTextPlain;
  res.body.assign(text);
  if (text.empty() || text.back() != '\n') res.body += '\n';
}

// The paths counted under their own label in driftguard_webhook_http_requests_total; index 0 is
// "other".
constexpr std::array<std::string_view, 5> kCountedPaths = {"other", "/validate", "/mutate",
                                                           "/healthz", "/readyz"};
constexpr int kMinCountedStatus = 100;
constexpr int kMaxCountedStatus = 599;

// Largest number of event-loop threads the default picks.
constexpr size_t kMaxDefaultWorkerThreads = 16;
// Open HTTPS connections per server; more are accepted and closed at once.
constexpr size_t kMaxConnections = 10000;

}  // namespace

size_t DefaultWebhookWorkerThreads() {
  return std::clamp<size_t>(std::thread::hardware_concurrency(), 1, kMaxDefaultWorkerThreads);
}

Status WebhookServerOptions::Validate() const {
  if (bind_address.empty()) return core::InvalidArgumentError("bind_address is empty");
  if (secure_port < 0 || secure_port > 65535) {
    return core::InvalidArgumentError("secure_port " + std::to_string(secure_port) +
                                      " is not in 0-65535");
  }
  if (tls_cert_file.empty()) return core::InvalidArgumentError("tls_cert_file is required");
  if (tls_key_file.empty()) return core::InvalidArgumentError("tls_key_file is required");
  if (max_body_bytes == 0) return core::InvalidArgumentError("max_body_bytes must be positive");
  if (read_timeout.count() <= 0) return core::InvalidArgumentError("read_timeout must be positive");
  if (write_timeout.count() <= 0) {
    return core::InvalidArgumentError("write_timeout must be positive");
  }
  if (request_deadline.count() <= 0) {
    return core::InvalidArgumentError("request_deadline must be positive");
  }
  if (keep_alive_timeout.count() < 1) {
    return core::InvalidArgumentError("keep_alive_timeout must be at least 1s");
  }
  if (keep_alive_max_requests == 0) {
    return core::InvalidArgumentError("keep_alive_max_requests must be positive");
  }
  if (worker_threads == 0 || worker_threads > 4096) {
    return core::InvalidArgumentError("worker_threads " + std::to_string(worker_threads) +
                                      " is not in 1-4096");
  }
  if (cert_reload_interval.count() <= 0) {
    return core::InvalidArgumentError("cert_reload_interval must be positive");
  }
  if (!metrics_bind_address.empty()) {
    auto hp = ParseHostPort(metrics_bind_address);
    if (!hp.ok()) return hp.status().WithPrefix("metrics_bind_address");
  }
  return core::OkStatus();
}

class WebhookServer::Impl {
 public:
  Impl(WebhookServerOptions options, AdmissionHandler* handler, WebhookServerHooks hooks)
      : options_(std::move(options)),
        handler_(handler),
        hooks_(std::move(hooks)),
        log_(core::Logger("webhook")) {}

  ~Impl() {
    Stop();
    tls_.reset();
    if (ctx_ != nullptr) SSL_CTX_free(ctx_);
  }

  Status Start() {
    if (started_) return core::FailedPreconditionError("WebhookServer::Start called twice");
    started_ = true;
    RETURN_IF_ERROR(options_.Validate());
    ::signal(SIGPIPE, SIG_IGN);

    cert_sig_ = Stat(options_.tls_cert_file);
    key_sig_ = Stat(options_.tls_key_file);
    ASSIGN_OR_RETURN(std::shared_ptr<const TlsCredentials> creds,
                     TlsCredentials::Load(options_.tls_cert_file, options_.tls_key_file));
    SetCredentials(std::move(creds));

    RETURN_IF_ERROR(RegisterMetrics());

    ctx_ = SSL_CTX_new(TLS_server_method());
    if (ctx_ == nullptr) {
      return core::InternalError("cannot create the TLS context: " + internal::TakeOpenSslError());
    }
    RETURN_IF_ERROR(SetUpSslContext(*ctx_));

    internal::TlsHttpServerOptions http;
    http.bind_address = options_.bind_address;
    http.port = options_.secure_port;
    http.loops = options_.worker_threads;
    http.max_connections = kMaxConnections;
    http.limits.max_body_bytes = options_.max_body_bytes;
    http.read_timeout = options_.read_timeout;
    http.write_timeout = options_.write_timeout;
    http.request_deadline = options_.request_deadline;
    http.keep_alive_timeout = options_.keep_alive_timeout;
    http.keep_alive_max_requests = options_.keep_alive_max_requests;
    internal::TlsHttpServerCallbacks callbacks;
    callbacks.serve = [this](const internal::HttpRequest& req, internal::HttpResponse& res) {
      Serve(req, res);
    };
    callbacks.on_response = [this](std::string_view path, int status) {
      CountRequest(path, status);
    };
    callbacks.on_deadline_cut = [this] {
      if (deadline_cut_ != nullptr) deadline_cut_->Inc();
    };
    tls_ = std::make_unique<internal::TlsHttpServer>(http, ctx_, std::move(callbacks), log_);
    RETURN_IF_ERROR(tls_->Start().WithPrefix("secure listener"));
    secure_port_.store(tls_->port());

    if (!options_.metrics_bind_address.empty()) {
      auto hp = ParseHostPort(options_.metrics_bind_address);
      Status bound = hp.status();
      if (hp.ok()) {
        metrics_ = std::make_unique<httplib::Server>();
        ConfigureMetrics(*metrics_);
        bound = Bind(*metrics_, hp->host, hp->port, &metrics_port_);
      }
      if (!bound.ok()) {
        tls_->Stop();
        tls_.reset();
        metrics_.reset();
        return bound.WithPrefix("metrics listener");
      }
    }

    if (metrics_) metrics_thread_ = std::thread([this] { metrics_->listen_after_bind(); });
    watcher_thread_ = std::thread([this] { WatchCertificates(); });
    // Stop() reaches the metrics listener only once its accept loop runs; wait for it.
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (metrics_ && !metrics_->is_running()) {
      if (std::chrono::steady_clock::now() > give_up) {
        return core::InternalError("the metrics listener did not start within 10s");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    serving_ = true;
    log_->info("serving admission reviews on https://{}:{} with {} event loop(s) (metrics: {})",
               options_.bind_address, secure_port_.load(), options_.worker_threads,
               metrics_ ? "http://" + options_.metrics_bind_address + " port " +
                              std::to_string(metrics_port_.load())
                        : std::string("disabled"));
    return core::OkStatus();
  }

  void Stop() {
    {
      std::lock_guard<std::mutex> lock(watch_mutex_);
      if (stopping_) return;
      stopping_ = true;
    }
    watch_cv_.notify_all();
    if (watcher_thread_.joinable()) watcher_thread_.join();
    if (tls_) tls_->Stop();
    if (metrics_) metrics_->stop();
    if (metrics_thread_.joinable()) metrics_thread_.join();
    if (serving_) log_->info("webhook server stopped");
  }

  int secure_port() const { return secure_port_.load(); }
  int metrics_port() const { return metrics_port_.load(); }
  CertReloadStats cert_reload_stats() const {
    return {reloads_.load(std::memory_order_relaxed), failures_.load(std::memory_order_relaxed)};
  }

 private:
  Status RegisterMetrics() {
    if (hooks_.registry == nullptr) return core::OkStatus();
    ASSIGN_OR_RETURN(http_requests_,
                     hooks_.registry->RegisterCounter("driftguard_webhook_http_requests_total",
                                                      "HTTPS requests served, by path and status.",
                                                      {"path", "code"}));
    ASSIGN_OR_RETURN(
        core::CounterFamily * reloads,
        hooks_.registry->RegisterCounter(
            "driftguard_webhook_certificate_reloads_total",
            "Serving certificate reloads after the files changed, by result.", {"result"}));
    reload_success_ = &reloads->WithLabels({"success"});
    reload_failure_ = &reloads->WithLabels({"failure"});
    ASSIGN_OR_RETURN(core::CounterFamily * cut,
                     hooks_.registry->RegisterCounter(
                         "driftguard_webhook_request_deadline_exceeded_total",
                         "HTTPS connections closed because a request was not received within "
                         "the request deadline.",
                         {}));
    deadline_cut_ = &cut->WithLabels({});
    return core::OkStatus();
  }

  // Called from the loop threads for every answer; the counter of each (path, code) is looked up
  // in the registry once and cached.
  void CountRequest(std::string_view path, int status) {
    if (http_requests_ == nullptr) return;
    size_t p = 0;
    for (size_t i = 1; i < kCountedPaths.size(); ++i) {
      if (path == kCountedPaths[i]) p = i;
    }
    if (status < kMinCountedStatus || status > kMaxCountedStatus) {
      http_requests_->WithLabels({kCountedPaths[p], std::to_string(status)}).Inc();
      return;
    }
    std::atomic<core::Counter*>& slot =
        counters_[p][static_cast<size_t>(status - kMinCountedStatus)];
    core::Counter* counter = slot.load(std::memory_order_acquire);
    if (counter == nullptr) {
      counter = &http_requests_->WithLabels({kCountedPaths[p], std::to_string(status)});
      slot.store(counter, std::memory_order_release);
    }
    counter->Inc();
  }

  std::shared_ptr<const TlsCredentials> CurrentCredentials() const {
    std::lock_guard<std::mutex> lock(creds_mutex_);
    return creds_;
  }
  void SetCredentials(std::shared_ptr<const TlsCredentials> creds) {
    std::lock_guard<std::mutex> lock(creds_mutex_);
    creds_ = std::move(creds);
  }

  // Runs during each handshake, before the server picks its certificate.
  static int CertCallback(SSL* ssl, void* arg) {
    auto creds = static_cast<Impl*>(arg)->CurrentCredentials();
    return creds != nullptr && creds->ApplyTo(ssl) ? 1 : 0;
  }

  Status SetUpSslContext(SSL_CTX& ctx) {
    if (SSL_CTX_set_min_proto_version(&ctx, TLS1_2_VERSION) != 1 ||
        SSL_CTX_set_cipher_list(&ctx, kTls12Ciphers) != 1) {
      return core::InternalError("TLS setup: " + internal::TakeOpenSslError());
    }
    SSL_CTX_set_options(
        &ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_cert_cb(&ctx, &Impl::CertCallback, this);
    if (!options_.client_ca_file.empty()) {
      const char* ca = options_.client_ca_file.c_str();
      if (SSL_CTX_load_verify_locations(&ctx, ca, nullptr) != 1) {
        return core::InvalidArgumentError(
            options_.client_ca_file + ": cannot load client CA: " + internal::TakeOpenSslError());
      }
      STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(ca);
      if (names == nullptr) {
        return core::InvalidArgumentError(options_.client_ca_file +
                                          ": no CA certificate in the file");
      }
      SSL_CTX_set_client_CA_list(&ctx, names);
      SSL_CTX_set_verify(&ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
    }
    return core::OkStatus();
  }

  // Routes one HTTPS request (on a loop thread).
  void Serve(const internal::HttpRequest& req, internal::HttpResponse& res) {
    const std::string_view path = req.path();
    const std::string& method = req.method;
    if (path == "/validate" || path == "/mutate") {
      if (method != "POST") return MethodNotAllowed(res, method, path, "POST");
      return ServeReview(
          req, res, path == "/validate" ? &AdmissionHandler::Validate : &AdmissionHandler::Mutate);
    }
    if (path == "/healthz" || path == "/readyz") {
      const bool head = method == "HEAD";
      if (method != "GET" && !head) return MethodNotAllowed(res, method, path, "GET, HEAD");
      if (path == "/healthz") {
        SetText(res, 200, "ok");
      } else {
        ServeReadyz(res);
      }
      res.omit_body = head;
      return;
    }
    SetText(res, 404, "no such path: " + std::string(path));
  }

  static void MethodNotAllowed(internal::HttpResponse& res, const std::string& method,
                               std::string_view path, std::string_view allow) {
    res.extra_headers = "Allow: " + std::string(allow) + "\r\n";
    SetText(res, 405, "method " + method + " is not allowed on " + std::string(path));
  }

  void ConfigureMetrics(httplib::Server& server) {
    server.set_read_timeout(
        std::chrono::duration_cast<std::chrono::microseconds>(options_.read_timeout));
    server.set_write_timeout(
        std::chrono::duration_cast<std::chrono::microseconds>(options_.write_timeout));
    server.set_keep_alive_timeout(options_.keep_alive_timeout.count());
    server.set_keep_alive_max_count(options_.keep_alive_max_requests);
    server.set_payload_max_length(options_.max_body_bytes);
    server.set_tcp_nodelay(true);
    // Fills the body of statuses httplib produces itself (413, 404, 400 on unreadable requests).
    server.set_error_handler(
        httplib::Server::HandlerWithResponse([](const httplib::Request&, httplib::Response& res) {
          if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
          SetText(res, res.status, StatusText(res.status));
          return httplib::Server::HandlerResponse::Handled;
        }));
    server.set_exception_handler(
        [this](const httplib::Request& req, httplib::Response& res, std::exception_ptr) {
          log_->error("unhandled exception serving {} {}", req.method, req.path);
          SetText(res, 500, kInternalErrorText);
        });
    server.new_task_queue = [] { return new httplib::ThreadPool(2); };
    server.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      try {
        std::string body = hooks_.metrics    ? hooks_.metrics()
                           : hooks_.registry ? hooks_.registry->Render()
                                             : std::string();
        res.status = 200;
        res.set_content(std::move(body), std::string(core::kPrometheusContentType));
      } catch (const std::exception& e) {
        log_->error("rendering /metrics failed: {}", e.what());
        SetText(res, 500, kInternalErrorText);
      } catch (...) {
        log_->error("rendering /metrics failed: unknown exception");
        SetText(res, 500, kInternalErrorText);
      }
    });
    // After the real route: another method on /metrics → 405, anything else → 404.
    auto fallback = [](const httplib::Request& req, httplib::Response& res) {
      if (req.path == "/metrics") {
        res.set_header("Allow", "GET, HEAD");
        SetText(res, 405, "method " + req.method + " is not allowed on /metrics");
        return;
      }
      SetText(res, 404, "no such path: " + req.path);
    };
    server.Get(".*", fallback);
    server.Post(".*", fallback);
    server.Put(".*", fallback);
    server.Patch(".*", fallback);
    server.Delete(".*", fallback);
    server.Options(".*", fallback);
  }

  void ServeReadyz(internal::HttpResponse& res) {
    try {
      Status ready = hooks_.readiness ? hooks_.readiness() : core::OkStatus();
      if (ready.ok()) {
        SetText(res, 200, "ok");
      } else {
        SetText(res, 503, ready.message());
      }
    } catch (const std::exception& e) {
      log_->error("readiness check threw: {}", e.what());
      SetText(res, 503, "readiness check failed");
    } catch (...) {
      log_->error("readiness check threw an unknown exception");
      SetText(res, 503, "readiness check failed");
    }
  }

  void ServeReview(const internal::HttpRequest& req, internal::HttpResponse& res,
                   AdmissionResponse (AdmissionHandler::*decide)(const AdmissionRequest&)) {
    try {
      const std::string* content_type = req.FindHeader("Content-Type");
      if (!IsJsonContentType(content_type != nullptr ? *content_type : std::string())) {
        SetText(res, 415,
                "Content-Type must be application/json, got \"" +
                    (content_type != nullptr ? *content_type : std::string()) + "\"");
        return;
      }
      core::StatusOr<AdmissionRequest> request = DecodeAdmissionReview(req.body);
      if (!request.ok()) {
        SetText(res, 400, request.status().message());
        return;
      }
      AdmissionResponse response = (handler_->*decide)(*request);
      core::StatusOr<std::string> encoded = EncodeAdmissionReview(*request, response);
      if (!encoded.ok()) {
        log_->error("{} {} uid={}: cannot encode the handler's response: {}", req.method,
                    req.path(), request->uid, encoded.status().message());
        SetText(res, 500, kInternalErrorText);
        return;
      }
      res.status = 200;
      res.content_type = "application/json";
      res.body = std::move(encoded).value();
    } catch (const std::exception& e) {
      log_->error("{} {}: handler threw: {}", req.method, req.path(), e.what());
      SetText(res, 500, kInternalErrorText);
    } catch (...) {
      log_->error("{} {}: handler threw an unknown exception", req.method, req.path());
      SetText(res, 500, kInternalErrorText);
    }
  }

  static Status Bind(httplib::Server& server, const std::string& host, int port,
                     std::atomic<int>* bound) {
    if (port == 0) {
      int p = server.bind_to_any_port(host);
      if (p <= 0) return core::UnavailableError("cannot bind " + host + " to a free port");
      bound->store(p);
    } else {
      if (!server.bind_to_port(host, port)) {
        return core::UnavailableError("cannot bind " + host + ":" + std::to_string(port));
      }
      bound->store(port);
    }
    return core::OkStatus();
  }

  void WatchCertificates() {
    std::unique_lock<std::mutex> lock(watch_mutex_);
    while (!watch_cv_.wait_for(lock, options_.cert_reload_interval, [this] { return stopping_; })) {
      lock.unlock();
      CheckCertificates();
      lock.lock();
    }
  }

  void CheckCertificates() {
    FileSignature cert = Stat(options_.tls_cert_file);
    FileSignature key = Stat(options_.tls_key_file);
    if (cert == cert_sig_ && key == key_sig_) return;
    cert_sig_ = cert;
    key_sig_ = key;
    auto creds = TlsCredentials::Load(options_.tls_cert_file, options_.tls_key_file);
    if (!creds.ok()) {
      failures_.fetch_add(1, std::memory_order_relaxed);
      if (reload_failure_ != nullptr) reload_failure_->Inc();
      log_->error("certificate files changed but cannot be used, keeping the current pair: {}",
                  creds.status().message());
      return;
    }
    std::string serial = (*creds)->SerialHex();
    SetCredentials(std::move(creds).value());
    reloads_.fetch_add(1, std::memory_order_relaxed);
    if (reload_success_ != nullptr) reload_success_->Inc();
    log_->info("reloaded the serving certificate from {} (serial {})", options_.tls_cert_file,
               serial);
  }

  const WebhookServerOptions options_;
  AdmissionHandler* const handler_;
  const WebhookServerHooks hooks_;
  std::shared_ptr<spdlog::logger> log_;
  bool started_ = false;
  bool serving_ = false;

  mutable std::mutex creds_mutex_;
  std::shared_ptr<const TlsCredentials> creds_;
  FileSignature cert_sig_;  // watcher thread only (after Start)
  FileSignature key_sig_;
  std::atomic<uint64_t> reloads_{0};
  std::atomic<uint64_t> failures_{0};
  core::CounterFamily* http_requests_ = nullptr;  // null without a registry
  // counters_[path index][status - kMinCountedStatus], filled on first use.
  std::array<std::array<std::atomic<core::Counter*>, kMaxCountedStatus - kMinCountedStatus + 1>,
             kCountedPaths.size()>
      counters_{};
  core::Counter* reload_success_ = nullptr;
  core::Counter* reload_failure_ = nullptr;
  core::Counter* deadline_cut_ = nullptr;

  SSL_CTX* ctx_ = nullptr;  // shared by every connection; outlives tls_
  std::unique_ptr<internal::TlsHttpServer> tls_;
  std::unique_ptr<httplib::Server> metrics_;
  std::atomic<int> secure_port_{0};
  std::atomic<int> metrics_port_{0};
  std::thread metrics_thread_;
  std::thread watcher_thread_;
  std::mutex watch_mutex_;
  std::condition_variable watch_cv_;
  bool stopping_ = false;
};

WebhookServer::WebhookServer(WebhookServerOptions options, AdmissionHandler* handler,
                             WebhookServerHooks hooks)
    : impl_(std::make_unique<Impl>(std::move(options), handler, std::move(hooks))) {}

WebhookServer::~WebhookServer() { impl_->Stop(); }

Status WebhookServer::Start() { return impl_->Start(); }
void WebhookServer::Stop() { impl_->Stop(); }
int WebhookServer::secure_port() const { return impl_->secure_port(); }
int WebhookServer::metrics_port() const { return impl_->metrics_port(); }
CertReloadStats WebhookServer::cert_reload_stats() const { return impl_->cert_reload_stats(); }

}  // namespace driftguard::webhook
