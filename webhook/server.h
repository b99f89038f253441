// The admission webhook's HTTPS server.
//
// Serves AdmissionReviews (admission.k8s.io/v1 and v1beta1) over TLS and hands each decoded request
// to an AdmissionHandler:
//
//   POST /validate, POST /mutate   AdmissionReview in, AdmissionReview out (query such as
//                                  "?timeout=5s" is ignored)
//   GET  /healthz                  200 "ok" while the process serves
//   GET  /readyz                   200 "ok" when the readiness callback returns OK, else 503 with
//   its
//                                  message
//   GET  /metrics                  on a separate plain-HTTP listener (metrics_bind_address)
//
// Failures are answered, never dropped: a body over max_body_bytes → 413, a body that is not an
// AdmissionReview → 400 with the decoder's reason as text/plain, Content-Type not application/json
// → 415, a known path with the wrong method → 405, an unknown path → 404, a handler that throws →
// 500 with a generic message (the exception is logged).
//
// TLS: TLS 1.2 minimum; TLS 1.2 offers only ECDHE with AES-GCM or ChaCha20-Poly1305; TLS 1.3 uses
// OpenSSL's defaults. The serving certificate and key are read per handshake from a holder that a
// watcher thread swaps when the files change (checked every cert_reload_interval by mtime, size and
// inode), so rotation (cert-manager, `driftguard certs`) needs no restart and drops no request. A
// changed pair is installed only when both files parse and the key matches the certificate;
// otherwise the previous pair stays and the failure is logged (and retried when the files change
// again). When client_ca_file is set, clients must present a certificate signed by it.
//
// Concurrency model (cpp-httplib): a fixed pool of worker_threads; each open connection occupies
// one worker until it closes (keep-alive included). read_timeout bounds every read and the time a
// request body may take to arrive; request_deadline bounds the whole of each request (handshake,
// headers, body) — httplib itself bounds single reads only — so a stalled or trickling client
// holds its worker for a bounded time and never blocks requests on other workers. A watchdog
// thread enforces request_deadline by shutting the overdue connection's socket down.
//
//   WebhookServerOptions options;
//   options.tls_cert_file = "/certs/tls.crt";
//   options.tls_key_file = "/certs/tls.key";
//   RETURN_IF_ERROR(options.Validate());
//   WebhookServer server(options, &guard, {.readiness = [&] { return state.Ready(); },
//                                          .metrics = [&] { return registry.Render(); }});
//   RETURN_IF_ERROR(server.Start());
//   ...
//   server.Stop();
//
// Thread safety: Start and Stop are called from one controlling thread; the accessors may be
// called from any thread. The handler and the callbacks are called concurrently from worker
// threads and must be thread-safe; they must outlive the server.
#ifndef DRIFTGUARD_WEBHOOK_SERVER_H_
#define DRIFTGUARD_WEBHOOK_SERVER_H_

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "core/metrics.h"
#include "core/status.h"
#include "webhook/admission.h"

namespace driftguard::webhook {

// Decides admission requests. Implementations must be thread-safe (called concurrently from the
// server's workers) and must not block on I/O (no Git, no API server calls). An exception that
// escapes is answered with HTTP 500 and logged, but implementations should not throw.
class AdmissionHandler {
 public:
  virtual ~AdmissionHandler() = default;
  // POST /validate: answer allowed or denied; a patch in the answer is ignored by the API server.
  virtual AdmissionResponse Validate(const AdmissionRequest& request) = 0;
  // POST /mutate: answer allowed (optionally with a JSONPatch) or denied.
  virtual AdmissionResponse Mutate(const AdmissionRequest& request) = 0;
};

struct WebhookServerOptions {
  // Address the HTTPS listener binds to.
  std::string bind_address = "0.0.0.0";
  // HTTPS port; 0 picks a free port (see WebhookServer::secure_port()).
  int secure_port = 9443;
  // PEM serving certificate (leaf first, then intermediates) and its private key. Required.
  std::string tls_cert_file;
  std::string tls_key_file;
  // PEM CA bundle; when set, clients must present a certificate it signed. "" disables.
  std::string client_ca_file;
  // Largest accepted request body; larger bodies get 413. The API server's own limit is 3 MiB.
  size_t max_body_bytes = 3 * 1024 * 1024;
  // Longest wait for any single read, and for a whole request body after its headers.
  std::chrono::milliseconds read_timeout{10000};
  // Longest time a client may take to deliver one whole request: TLS handshake (first request on a
  // connection), request line, headers and body. Counted from the start of the handshake, and on a
  // keep-alive connection from the end of the previous answer plus keep_alive_timeout (the idle
  // time allowed before the next request). A connection still sending when it passes is closed
  // without an answer, so a client trickling bytes — each read within read_timeout — cannot hold a
  // worker longer than this. Checked at a tenth of its value (at least every 250 ms).
  std::chrono::milliseconds request_deadline{10000};
  // Longest wait for any single write.
  std::chrono::milliseconds write_timeout{10000};
  // How long an idle keep-alive connection is kept (whole seconds, at least 1).
  std::chrono::seconds keep_alive_timeout{5};
  // Requests served on one connection before it is closed.
  size_t keep_alive_max_requests = 1000;
  // Size of the fixed worker pool (one worker per open connection).
  size_t worker_threads = 16;
  // How often the certificate and key files are checked for changes.
  std::chrono::milliseconds cert_reload_interval{1000};
  // "host:port" of the plain-HTTP /metrics listener; ":8080" binds every address; port 0 picks a
  // free port (see metrics_port()); "" disables the listener.
  std::string metrics_bind_address = ":8080";

  // OK when every field is usable; the error names the field and the bad value.
  core::Status Validate() const;
};

// Callbacks the server calls on its worker threads.
struct WebhookServerHooks {
  // /readyz: OK → 200 "ok"; an error → 503 with the error's message. Unset → always ready.
  std::function<core::Status()> readiness;
  // /metrics body in the Prometheus text format. Unset → registry->Render() when a registry is
  // set, else an empty body.
  std::function<std::string()> metrics;
  // When set, Start() registers the server's own metrics here:
  //   driftguard_webhook_http_requests_total{path,code}  (path: a served path or "other")
  //   driftguard_webhook_certificate_reloads_total{result} (result: "success" | "failure")
  //   driftguard_webhook_request_deadline_exceeded_total    (connections cut by request_deadline)
  // Not owned; must outlive the server.
  core::MetricsRegistry* registry = nullptr;
};

// Counts of certificate reload attempts, for tests and metrics.
struct CertReloadStats {
  uint64_t reloads = 0;   // changed pairs installed
  uint64_t failures = 0;  // changed pairs rejected (the previous pair stayed)
};

class WebhookServer {
 public:
  // REQUIRES: options.Validate().ok(); handler != nullptr. Does not take ownership of `handler`.
  WebhookServer(WebhookServerOptions options, AdmissionHandler* handler, WebhookServerHooks hooks);
  ~WebhookServer();  // calls Stop()

  WebhookServer(const WebhookServer&) = delete;
  WebhookServer& operator=(const WebhookServer&) = delete;

  // Loads the certificate pair, binds both listeners and starts serving; returns once requests
  // are accepted. Errors (unreadable or mismatched certificate files, port in use) leave nothing
  // running. Ignores SIGPIPE process-wide (a peer closing mid-write must not kill the process).
  // REQUIRES: called at most once.
  core::Status Start();

  // Stops accepting, lets in-flight requests finish (idle keep-alive connections close within
  // keep_alive_timeout), joins every thread. Idempotent.
  void Stop();

  // Bound ports; valid after a successful Start(). metrics_port() is 0 when metrics are disabled.
  int secure_port() const;
  int metrics_port() const;

  CertReloadStats cert_reload_stats() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace driftguard::webhook

#endif  // DRIFTGUARD_WEBHOOK_SERVER_H_
