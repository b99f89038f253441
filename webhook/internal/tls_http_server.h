// An HTTP/1.1-over-TLS server built on epoll event loops and non-blocking OpenSSL; the engine
// under WebhookServer's HTTPS listener.
//
// Model: `loops` threads, each with its own epoll instance. One non-blocking listening socket is
// registered in every loop with EPOLLEXCLUSIVE, so a new connection wakes one loop, which accepts
// it (a bounded batch of accept4 calls) and owns it until it closes. A connection is a state
// machine — TLS handshake → read a request (headers, then body) → serve → write → keep-alive or
// close — driven by non-blocking SSL_do_handshake / SSL_read / SSL_write; EPOLLOUT is registered
// only while a write waits for the socket. `serve` runs on the loop thread, so it must be pure CPU
// (microseconds, no I/O): a slow `serve` delays every connection of its loop. Each answer (status
// line, headers, body) leaves in one SSL_write, i.e. one TLS record for answers up to 16 KiB.
//
// Time limits (per connection, checked by its loop; the epoll_wait timeout is the time to the
// nearest one):
//   read_timeout      longest silence while a handshake or a request's headers are arriving
//                     (the connection is closed), and longest time for a whole body after its
//                     headers (answered 408, then closed)
//   request_deadline  a whole request — handshake included for the first one — counted from the
//                     accept, and on keep-alive from the end of the previous answer plus
//                     keep_alive_timeout; an overdue connection is closed and on_deadline_cut runs
//   keep_alive_timeout  idle time allowed between requests (then closed quietly)
//   write_timeout     longest wait for the socket to take more of an answer
// After an answer that closes the connection (Connection: close, an error, the request limit),
// the server sends close_notify and FIN and discards what the client still sends for a short
// while (lingering close), so a client still uploading reads the answer instead of a reset.
//
// Bounded resources: at most max_connections open connections (more are accepted and closed at
// once); per connection OpenSSL's record buffers while data is in flight (released when idle), a
// 32 KiB read buffer (allocated after the handshake), the request body
// (<= limits.max_body_bytes) and the answer. Running out of file descriptors pauses accepting in
// the loop that saw it for 100 ms (logged once per episode) instead of spinning.
//
// Stop(): the listening socket stops accepting at once; connections in a handshake, idle between
// requests or lingering are closed; a request being received or served finishes (within its time
// limits) and is answered with "Connection: close"; then the loop threads end.
//
// Thread safety: Start and Stop from one controlling thread. `serve`, `on_response` and
// `on_deadline_cut` are called concurrently from the loop threads. The SSL_CTX is shared by all
// loops and must not be changed after Start.
#ifndef DRIFTGUARD_WEBHOOK_INTERNAL_TLS_HTTP_SERVER_H_
#define DRIFTGUARD_WEBHOOK_INTERNAL_TLS_HTTP_SERVER_H_

#include <openssl/ssl.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/status.h"
#include "webhook/internal/http_request_parser.h"

namespace spdlog {
class logger;
}

namespace driftguard::webhook::internal {

// What `serve` fills in. The server adds Content-Length and, when closing, "Connection: close".
struct HttpResponse {
  int status = 200;
  std::string content_type;
  std::string body;
  std::string extra_headers;  // complete lines, each ending in "\r\n" (e.g. "Allow: POST\r\n")
  bool omit_body = false;     // HEAD: headers only, Content-Length still of `body`
};

struct TlsHttpServerOptions {
  std::string bind_address = "0.0.0.0";
  int port = 0;  // 0 picks a free port
  size_t loops = 1;
  size_t max_connections = 10000;
  HttpLimits limits;
  std::chrono::milliseconds read_timeout{10000};
  std::chrono::milliseconds write_timeout{10000};
  std::chrono::milliseconds request_deadline{10000};
  std::chrono::milliseconds keep_alive_timeout{5000};
  size_t keep_alive_max_requests = 1000;
};

struct TlsHttpServerCallbacks {
  // Answers one complete request. Must not throw (exceptions are caught, logged and answered 500,
  // but the callback should catch its own) and must not block.
  std::function<void(const HttpRequest&, HttpResponse&)> serve;
  // After each final answer is queued (interim 100 Continue excluded): the request path ("" when
  // the request line could not be parsed) and the status.
  std::function<void(std::string_view path, int status)> on_response;
  // A connection was closed by request_deadline.
  std::function<void()> on_deadline_cut;
};

class TlsHttpServer {
 public:
  // REQUIRES: ctx outlives the server; callbacks.serve is set; log != null. Start() turns on
  // SSL_MODE_ENABLE_PARTIAL_WRITE, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER, SSL_MODE_RELEASE_BUFFERS
  // and read-ahead on ctx.
  // SIGPIPE must be ignored by the process (writes go through OpenSSL's socket BIO).
  TlsHttpServer(TlsHttpServerOptions options, SSL_CTX* ctx, TlsHttpServerCallbacks callbacks,
                std::shared_ptr<spdlog::logger> log);
  ~TlsHttpServer();  // calls Stop()
  TlsHttpServer(const TlsHttpServer&) = delete;
  TlsHttpServer& operator=(const TlsHttpServer&) = delete;

  // Binds, listens and starts the loop threads. An error leaves nothing open or running.
  // REQUIRES: called at most once.
  core::Status Start();
  // See the overview. Idempotent; returns once every loop thread has ended.
  void Stop();

  int port() const { return port_; }

 private:
  class Loop;
  struct Shared;

  void CloseListener();

  std::unique_ptr<Shared> shared_;
  std::vector<std::unique_ptr<Loop>> loops_;
  std::vector<std::thread> threads_;
  int port_ = 0;
  bool stopped_ = false;
};

}  // namespace driftguard::webhook::internal

#endif  // DRIFTGUARD_WEBHOOK_INTERNAL_TLS_HTTP_SERVER_H_
