// The admission webhook's HTTPS server.
//
// Serves AdmissionReviews (admission.k8s.io/v1 and v1beta1) over TLS and hands each decoded request
// to an AdmissionHandler:
//
//   POST /validate, POST /mutate   AdmissionReview in, AdmissionReview out (query such as
//                                  "?timeout=5s" is ignored)
//   GET  /healthz                  200 "ok" while the process serves
//   GET  /readyz                   200 "ok" when the readiness callback returns OK, else 503
//                                  with its message
//   GET  /metrics                  on a separate plain-HTTP listener (metrics_bind_address)
//
// Failures are answered, never dropped: a body over max_body_bytes → 413, a body that is not an
// AdmissionReview → 400 with the decoder's reason as text/plain, Content-Type not application/json
// → 415, a known path with the wrong method → 405, an unknown path → 404, a handler that throws →
// 500 with a generic message (the exception is logged). HEAD is answered on /healthz and /readyz.
//
// TLS: TLS 1.2 minimum; TLS 1.2 offers only ECDHE with AES-GCM or ChaCha20-Poly1305; TLS 1.3 uses
// OpenSSL's defaults. The serving certificate and key are read per handshake from a holder that a
// watcher thread swaps when the files change (checked every cert_reload_interval by mtime, size and
// inode), so rotation (cert-manager, `driftguard certs`) needs no restart and drops no request. A
// changed pair is installed only when both files parse and the key matches the certificate;
// otherwise the previous pair stays and the failure is logged (and retried when the files change
// again). When client_ca_file is set, clients must present a certificate signed by it.
//
// Concurrency model: worker_threads event-loop threads (epoll, non-blocking OpenSSL; see
// webhook/internal/tls_http_server.h). Every loop accepts from the one listening socket and serves
// the connections it accepted; a connection costs a loop nothing while it waits, so a stalled,
// trickling or idle client never delays another client. The handler runs on the loop thread
// between reading a request and writing its answer — it is pure CPU by contract (no I/O), which
// is what lets a few loops serve thousands of connections. Each answer leaves in one TLS record.
// Limits: read_timeout bounds the silence while a handshake or headers arrive (then the
// connection is closed) and the time a body may take after its headers (answered 408);
// request_deadline bounds the whole of each request (handshake, headers, body); at most 10,000
// open connections (more are accepted and closed at once). HTTP/1.1 keep-alive, pipelining,
// chunked request bodies and "Expect: 100-continue" are supported; header limits: 8 KiB per line
// (414 for the request line, 431 for a header), 64 KiB and 100 lines in all (431).
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
// called from any thread. The handler and the callbacks are called concurrently from the event
// loop threads and must be thread-safe; they must outlive the server.
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
// server's event-loop threads) and must not block on I/O (no Git, no API server calls): a call
// holds up every other connection of its loop until it returns. An exception that
// escapes is answered with HTTP 500 and logged, but implementations should not throw.
class AdmissionHandler {
 public:
  virtual ~AdmissionHandler() = default;
  // POST /validate: answer allowed or denied; a patch in the answer is ignored by the API server.
  virtual AdmissionResponse Validate(const AdmissionRequest& request) = 0;
  // POST /mutate: answer allowed (optionally with a JSONPatch) or denied.
  virtual AdmissionResponse Mutate(const AdmissionRequest& request) = 0;
};

// The default of WebhookServerOptions::worker_threads: the number of CPUs clamped to 1-16.
size_t DefaultWebhookWorkerThreads();

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
  // Longest silence while a TLS handshake or a request's headers arrive (then the connection is
  // closed), and longest time for a whole request body after its headers (then 408 and close).
  std::chrono::milliseconds read_timeout{10000};
  // Longest time a client may take to deliver one whole request: TLS handshake (first request on a
  // connection), request line, headers and body. Counted from the start of the handshake, and on a
  // keep-alive connection from the end of the previous answer plus keep_alive_timeout (the idle
  // time allowed before the next request). A connection still sending when it passes is closed
  // without an answer (driftguard_webhook_request_deadline_exceeded_total counts it), so a client
  // trickling bytes — each within read_timeout — cannot hold a connection longer than this.
  std::chrono::milliseconds request_deadline{10000};
  // Longest wait for the client to take more of an answer (then the connection is closed).
  std::chrono::milliseconds write_timeout{10000};
  // How long an idle keep-alive connection is kept (whole seconds, at least 1). Stop() closes
  // idle connections at once.
  std::chrono::seconds keep_alive_timeout{5};
  // Requests served on one connection before it is closed.
  size_t keep_alive_max_requests = 1000;
  // Event-loop threads serving HTTPS (1-4096). Each serves many connections, so more threads than
  // CPUs only add context switches. Default: the number of CPUs, at least 1, at most 16.
  size_t worker_threads = DefaultWebhookWorkerThreads();
  // How often the certificate and key files are checked for changes.
  std::chrono::milliseconds cert_reload_interval{1000};
  // "host:port" of the plain-HTTP /metrics listener; ":8080" binds every address; port 0 picks a
  // free port (see metrics_port()); "" disables the listener.
  std::string metrics_bind_address = ":8080";

  // OK when every field is usable; the error names the field and the bad value.
  core::Status Validate() const;
};

// Callbacks the server calls: readiness on the event-loop threads, metrics on the metrics
// listener's threads.
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

  // Stops accepting, closes idle connections (between requests or mid-handshake) at once, lets
  // requests being received or handled finish (answered with "Connection: close", within their
  // time limits), joins every thread. Idempotent.
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
