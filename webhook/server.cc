#include "webhook/server.h"

#include <fcntl.h>
#include <httplib.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <limits>
#include <mutex>
#include <thread>
#include <vector>

#include "core/log.h"
#include "webhook/internal/tls_credentials.h"

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

// Bodies for statuses that httplib answers on its own.
std::string StatusText(int status) {
  switch (status) {
    case 400:
      return "malformed HTTP request";
    case 404:
      return "no such path";
    case 408:
      return "request not received within the read timeout";
    case 414:
      return "request URI too long";
    default:
      return "HTTP status " + std::to_string(status);
  }
}

// Largest request body buffer a worker keeps between requests.
constexpr size_t kKeptBodyCapacity = 256 * 1024;

// The request's Content-Length, or 0 when absent or not a plain decimal number.
size_t ContentLength(const httplib::Request& req) {
  auto it = req.headers.find("Content-Length");
  if (it == req.headers.end()) return 0;
  size_t n = 0;
  for (char c : it->second) {
    if (c < '0' || c > '9' || n > (size_t{1} << 40)) return 0;
    n = n * 10 + static_cast<size_t>(c - '0');
  }
  return n;
}

void SetText(httplib::Response& res, int status, std::string text) {
  res.status = status;
  if (text.empty() || text.back() != '\n') text += '\n';
  res.set_content(std::move(text), kTextPlain);
}

// Bounds the time a client may take to deliver one request on the TLS listener.
//
// httplib bounds each read (read_timeout) but not a request as a whole, so a client sending one
// byte per read_timeout would hold its worker forever. Each TLS worker owns a Slot holding a
// duplicate of its connection's socket and the deadline of the request being read; a watchdog
// thread shuts overdue sockets down, which fails the worker's pending read and closes the
// connection. The duplicate keeps the socket number ours until the connection task ends, so a
// shutdown can never reach a later connection that reused the number.
class RequestDeadlines {
 public:
  struct Slot {
    RequestDeadlines* owner = nullptr;
    std::mutex mu;  // guards fd
    int fd = -1;    // duplicate of the connection's socket; -1 between connections
    std::atomic<int64_t> deadline_ns{kNever};
  };

  RequestDeadlines(size_t slots, std::chrono::milliseconds limit, std::chrono::milliseconds idle)
      : slots_(slots), limit_(limit), idle_(idle) {
    for (Slot& s : slots_) s.owner = this;
  }

  Slot& slot(size_t i) { return slots_[i]; }

  // The worker's slot, set on the TLS pool's threads only.
  static Slot*& Current() {
    thread_local Slot* slot = nullptr;
    return slot;
  }

  // OpenSSL info callback: at the start of a connection's TLS handshake on a TLS worker, the
  // first request's clock starts.
  static void OnTlsInfo(const SSL* ssl, int where, int /*ret*/) {
    if ((where & SSL_CB_HANDSHAKE_START) == 0) return;
    if (Slot* s = Current()) s->owner->Arm(SSL_get_fd(ssl));
  }
  void Arm(int fd) {
    Slot* s = Current();
    if (s == nullptr || fd < 0) return;
    std::lock_guard<std::mutex> lock(s->mu);
    if (s->fd >= 0) return;  // already armed for this connection
    s->fd = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
    s->deadline_ns.store(Now() + limit_ns(), std::memory_order_relaxed);
  }
  // The request has been read: nothing more to bound until the answer is written.
  static void Disarm() {
    if (Slot* s = Current()) s->deadline_ns.store(kNever, std::memory_order_relaxed);
  }
  // The answer was written; the next request on this keep-alive connection may first idle for
  // up to keep_alive_timeout.
  void Rearm() {
    if (Slot* s = Current()) {
      s->deadline_ns.store(Now() + idle_ns() + limit_ns(), std::memory_order_relaxed);
    }
  }
  // The connection task ended (the socket is closed).
  static void Release() {
    Slot* s = Current();
    if (s == nullptr) return;
    std::lock_guard<std::mutex> lock(s->mu);
    if (s->fd >= 0) ::close(s->fd);
    s->fd = -1;
    s->deadline_ns.store(kNever, std::memory_order_relaxed);
  }

  // Shuts down every overdue connection; returns how many.
  size_t CutOverdue() {
    size_t cut = 0;
    const int64_t now = Now();
    for (Slot& s : slots_) {
      if (s.deadline_ns.load(std::memory_order_relaxed) > now) continue;
      std::lock_guard<std::mutex> lock(s.mu);
      if (s.fd < 0 || s.deadline_ns.load(std::memory_order_relaxed) > now) continue;
      ::shutdown(s.fd, SHUT_RDWR);
      s.deadline_ns.store(kNever, std::memory_order_relaxed);
      ++cut;
    }
    return cut;
  }

  // How often the watchdog looks: a tenth of the limit, within [10 ms, 250 ms].
  std::chrono::milliseconds tick() const {
    return std::clamp(limit_ / 10, std::chrono::milliseconds(10), std::chrono::milliseconds(250));
  }

 private:
  static constexpr int64_t kNever = std::numeric_limits<int64_t>::max();
  static int64_t Now() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
  int64_t limit_ns() const { return std::chrono::nanoseconds(limit_).count(); }
  int64_t idle_ns() const { return std::chrono::nanoseconds(idle_).count(); }

  std::deque<Slot> slots_;  // Slot is neither copyable nor movable
  const std::chrono::milliseconds limit_;
  const std::chrono::milliseconds idle_;
};

// httplib's fixed pool, with each worker bound to its deadline slot. Like httplib::ThreadPool,
// shutdown() runs the queued connections before joining.
class DeadlinePool : public httplib::TaskQueue {
 public:
  DeadlinePool(size_t threads, RequestDeadlines* deadlines) {
    for (size_t i = 0; i < threads; ++i) {
      threads_.emplace_back([this, slot = &deadlines->slot(i)] { Work(slot); });
    }
  }
  ~DeadlinePool() override { shutdown(); }

  void enqueue(std::function<void()> fn) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      jobs_.push_back(std::move(fn));
    }
    cv_.notify_one();
  }

  void shutdown() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return;
      stopping_ = true;
    }
    cv_.notify_all();
    for (std::thread& t : threads_) t.join();
  }

 private:
  void Work(RequestDeadlines::Slot* slot) {
    RequestDeadlines::Current() = slot;
    for (;;) {
      std::function<void()> job;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
        if (jobs_.empty()) return;  // stopping, nothing queued
        job = std::move(jobs_.front());
        jobs_.pop_front();
      }
      job();
      RequestDeadlines::Release();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace

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

  ~Impl() { Stop(); }

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

    deadlines_ = std::make_unique<RequestDeadlines>(
        options_.worker_threads, options_.request_deadline, options_.keep_alive_timeout);
    Status setup_status;
    tls_ = std::make_unique<httplib::SSLServer>(
        [this, &setup_status](SSL_CTX& ctx) { return SetUpSslContext(ctx, &setup_status); });
    if (!setup_status.ok()) return setup_status;
    if (!tls_->is_valid()) return core::InternalError("cannot create the TLS context");
    ConfigureTls(*tls_);

    RETURN_IF_ERROR(Bind(*tls_, options_.bind_address, options_.secure_port, &secure_port_)
                        .WithPrefix("secure listener"));
    if (!options_.metrics_bind_address.empty()) {
      ASSIGN_OR_RETURN(HostPort hp, ParseHostPort(options_.metrics_bind_address));
      metrics_ = std::make_unique<httplib::Server>();
      ConfigureMetrics(*metrics_);
      Status bound = Bind(*metrics_, hp.host, hp.port, &metrics_port_);
      if (!bound.ok()) {
        tls_.reset();
        return bound.WithPrefix("metrics listener");
      }
    }

    tls_thread_ = std::thread([this] { tls_->listen_after_bind(); });
    if (metrics_) metrics_thread_ = std::thread([this] { metrics_->listen_after_bind(); });
    watcher_thread_ = std::thread([this] { WatchCertificates(); });
    deadline_thread_ = std::thread([this] { WatchDeadlines(); });
    // Stop() is only effective once the accept loops run; wait for them (microseconds).
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!tls_->is_running() || (metrics_ && !metrics_->is_running())) {
      if (std::chrono::steady_clock::now() > give_up) {
        return core::InternalError("the listeners did not start within 10s");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    log_->info("serving admission reviews on https://{}:{} (metrics: {})", options_.bind_address,
               secure_port_.load(),
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
    const bool was_serving = tls_thread_.joinable();
    if (watcher_thread_.joinable()) watcher_thread_.join();
    if (tls_) tls_->stop();
    if (metrics_) metrics_->stop();
    if (tls_thread_.joinable()) tls_thread_.join();
    if (metrics_thread_.joinable()) metrics_thread_.join();
    if (deadline_thread_.joinable()) deadline_thread_.join();
    if (was_serving) log_->info("webhook server stopped");
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

  void CountRequest(const httplib::Request& req, const httplib::Response& res) {
    if (http_requests_ == nullptr) return;
    std::string_view path = "other";
    for (std::string_view known : {"/validate", "/mutate", "/healthz", "/readyz"}) {
      if (req.path == known) path = known;
    }
    http_requests_->WithLabels({path, std::to_string(res.status)}).Inc();
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

  bool SetUpSslContext(SSL_CTX& ctx, Status* status) {
    if (SSL_CTX_set_min_proto_version(&ctx, TLS1_2_VERSION) != 1 ||
        SSL_CTX_set_cipher_list(&ctx, kTls12Ciphers) != 1) {
      *status = core::InternalError("TLS setup: " + internal::TakeOpenSslError());
      return false;
    }
    SSL_CTX_set_options(
        &ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_cert_cb(&ctx, &Impl::CertCallback, this);
    SSL_CTX_set_info_callback(&ctx, &RequestDeadlines::OnTlsInfo);
    if (!options_.client_ca_file.empty()) {
      const char* ca = options_.client_ca_file.c_str();
      if (SSL_CTX_load_verify_locations(&ctx, ca, nullptr) != 1) {
        *status = core::InvalidArgumentError(
            options_.client_ca_file + ": cannot load client CA: " + internal::TakeOpenSslError());
        return false;
      }
      STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(ca);
      if (names == nullptr) {
        *status =
            core::InvalidArgumentError(options_.client_ca_file + ": no CA certificate in the file");
        return false;
      }
      SSL_CTX_set_client_CA_list(&ctx, names);
      SSL_CTX_set_verify(&ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
    }
    return true;
  }

  void ConfigureCommon(httplib::Server& server) {
    server.set_read_timeout(
        std::chrono::duration_cast<std::chrono::microseconds>(options_.read_timeout));
    server.set_write_timeout(
        std::chrono::duration_cast<std::chrono::microseconds>(options_.write_timeout));
    server.set_keep_alive_timeout(options_.keep_alive_timeout.count());
    server.set_keep_alive_max_count(options_.keep_alive_max_requests);
    server.set_payload_max_length(options_.max_body_bytes);
    // Answers are written as headers then body; without TCP_NODELAY the second write waits for the
    // client's delayed ACK (~40 ms per request on keep-alive connections).
    server.set_tcp_nodelay(true);
    // Fills the body of statuses httplib produces itself (413, 404, 400 on unreadable requests).
    server.set_error_handler(httplib::Server::HandlerWithResponse(
        [this](const httplib::Request&, httplib::Response& res) {
          RequestDeadlines::Disarm();
          if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
          if (res.status == 413) {
            SetText(res, 413, TooLargeText());
          } else {
            SetText(res, res.status, StatusText(res.status));
          }
          return httplib::Server::HandlerResponse::Handled;
        }));
    server.set_exception_handler(
        [this](const httplib::Request& req, httplib::Response& res, std::exception_ptr) {
          log_->error("unhandled exception serving {} {}", req.method, req.path);
          SetText(res, 500, kInternalErrorText);
        });
  }

  void ConfigureTls(httplib::Server& server) {
    ConfigureCommon(server);
    server.new_task_queue = [this] {
      return new DeadlinePool(options_.worker_threads, deadlines_.get());
    };
    // Called once the answer is written: the clock of the next request on the connection starts.
    server.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
      deadlines_->Rearm();
      CountRequest(req, res);
    });
    server.Post("/validate", [this](const httplib::Request& req, httplib::Response& res,
                                    const httplib::ContentReader& reader) {
      ServeReview(req, res, reader, &AdmissionHandler::Validate);
    });
    server.Post("/mutate", [this](const httplib::Request& req, httplib::Response& res,
                                  const httplib::ContentReader& reader) {
      ServeReview(req, res, reader, &AdmissionHandler::Mutate);
    });
    server.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
      RequestDeadlines::Disarm();
      SetText(res, 200, "ok");
    });
    server.Get("/readyz", [this](const httplib::Request&, httplib::Response& res) {
      RequestDeadlines::Disarm();
      ServeReadyz(res);
    });
    RegisterFallbacks(server, {"/validate", "/mutate", "/healthz", "/readyz"});
  }

  void ConfigureMetrics(httplib::Server& server) {
    ConfigureCommon(server);
    server.new_task_queue = [] { return new httplib::ThreadPool(2); };
    server.Get("/metrics", [this](const httplib::Request& req, httplib::Response& res) {
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
    RegisterFallbacks(server, {"/metrics"});
  }

  // After the real routes: a known path with another method → 405, anything else → 404.
  static void RegisterFallbacks(httplib::Server& server, std::vector<std::string> known) {
    auto fallback = [known = std::move(known)](const httplib::Request& req,
                                               httplib::Response& res) {
      RequestDeadlines::Disarm();
      for (const std::string& path : known) {
        if (req.path == path) {
          bool post = path == "/validate" || path == "/mutate";
          res.set_header("Allow", post ? "POST" : "GET, HEAD");
          SetText(res, 405, "method " + req.method + " is not allowed on " + path);
          return;
        }
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

  std::string TooLargeText() const {
    return "request body exceeds the limit of " + std::to_string(options_.max_body_bytes) +
           " bytes";
  }

  void ServeReadyz(httplib::Response& res) {
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

  void ServeReview(const httplib::Request& req, httplib::Response& res,
                   const httplib::ContentReader& reader,
                   AdmissionResponse (AdmissionHandler::*decide)(const AdmissionRequest&)) {
    try {
      // One body buffer per worker, reused across requests: a review is ~10 KB and growing a new
      // string for each one costs several large allocations per request. A buffer grown by an
      // unusually large body is released afterwards.
      thread_local std::string body;
      body.clear();
      if (body.capacity() > kKeptBodyCapacity) body.shrink_to_fit();
      if (size_t announced = ContentLength(req); announced <= options_.max_body_bytes) {
        body.reserve(announced);
      }
      bool too_large = false;
      bool too_slow = false;
      const auto start = std::chrono::steady_clock::now();
      const auto deadline = start + options_.read_timeout;
      bool read = reader([&](const char* data, size_t length) {
        if (body.size() + length > options_.max_body_bytes) {
          too_large = true;
          return false;
        }
        if (std::chrono::steady_clock::now() > deadline) {
          too_slow = true;
          return false;
        }
        body.append(data, length);
        return true;
      });
      RequestDeadlines::Disarm();
      if (!read) {
        if (too_large || res.status == 413) {
          SetText(res, 413, TooLargeText());
        } else if (too_slow || std::chrono::steady_clock::now() - start >= options_.read_timeout) {
          SetText(res, 408, "request body not received within the read timeout");
        } else {
          SetText(res, 400, "cannot read the request body");
        }
        return;
      }
      if (!IsJsonContentType(req.get_header_value("Content-Type"))) {
        SetText(res, 415,
                "Content-Type must be application/json, got \"" +
                    req.get_header_value("Content-Type") + "\"");
        return;
      }
      core::StatusOr<AdmissionRequest> request = DecodeAdmissionReview(body);
      if (!request.ok()) {
        SetText(res, 400, request.status().message());
        return;
      }
      AdmissionResponse response = (handler_->*decide)(*request);
      core::StatusOr<std::string> encoded = EncodeAdmissionReview(*request, response);
      if (!encoded.ok()) {
        log_->error("{} {} uid={}: cannot encode the handler's response: {}", req.method, req.path,
                    request->uid, encoded.status().message());
        SetText(res, 500, kInternalErrorText);
        return;
      }
      res.status = 200;
      res.set_content(std::move(encoded).value(), "application/json");
    } catch (const std::exception& e) {
      log_->error("{} {}: handler threw: {}", req.method, req.path, e.what());
      SetText(res, 500, kInternalErrorText);
    } catch (...) {
      log_->error("{} {}: handler threw an unknown exception", req.method, req.path);
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

  void WatchDeadlines() {
    std::unique_lock<std::mutex> lock(watch_mutex_);
    while (!watch_cv_.wait_for(lock, deadlines_->tick(), [this] { return stopping_; })) {
      lock.unlock();
      if (size_t cut = deadlines_->CutOverdue(); cut > 0) {
        if (deadline_cut_ != nullptr) deadline_cut_->Inc(static_cast<double>(cut));
        log_->warn("closed {} connection(s) whose request was not received within {} ms", cut,
                   options_.request_deadline.count());
      }
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

  mutable std::mutex creds_mutex_;
  std::shared_ptr<const TlsCredentials> creds_;
  FileSignature cert_sig_;  // watcher thread only (after Start)
  FileSignature key_sig_;
  std::atomic<uint64_t> reloads_{0};
  std::atomic<uint64_t> failures_{0};
  core::CounterFamily* http_requests_ = nullptr;  // null without a registry
  core::Counter* reload_success_ = nullptr;
  core::Counter* reload_failure_ = nullptr;
  core::Counter* deadline_cut_ = nullptr;

  std::unique_ptr<RequestDeadlines> deadlines_;  // before tls_: its workers use the slots
  std::unique_ptr<httplib::SSLServer> tls_;
  std::unique_ptr<httplib::Server> metrics_;
  std::atomic<int> secure_port_{0};
  std::atomic<int> metrics_port_{0};
  std::thread tls_thread_;
  std::thread metrics_thread_;
  std::thread watcher_thread_;
  std::thread deadline_thread_;
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
