#include "webhook/internal/tls_http_server.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <spdlog/logger.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <system_error>

namespace driftguard::webhook::internal {
namespace {

using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;
constexpr TimePoint kNever = TimePoint::max();

// A connection's read buffer. Only an incomplete line and not yet parsed bytes stay in it (body
// bytes move to the request as they arrive), so 32 KiB always leaves room for a full TLS record.
constexpr size_t kReadBufferBytes = 32 * 1024;
constexpr size_t kMinReadSpace = 16 * 1024;
// An answer buffer grown past this by one large answer is released afterwards.
constexpr size_t kKeptAnswerCapacity = 64 * 1024;
constexpr int kAcceptBatch = 64;
constexpr auto kAcceptPause = std::chrono::milliseconds(100);
// Longest lingering close; shorter when read_timeout is.
constexpr auto kMaxLinger = std::chrono::milliseconds(5000);
// Reads per readiness event while lingering, so one uploading client cannot monopolize a loop.
constexpr int kLingerReadsPerEvent = 16;
constexpr int kMaxEvents = 256;

enum class State { kHandshake, kReading, kWriting, kLingering, kClosed };

struct Connection {
  explicit Connection(const HttpLimits& limits) : parser(limits) {}

  // True once bytes of a request have arrived (the idle time between requests is over).
  bool receiving() const { return parser.started() || in_end > in_begin; }

  int fd = -1;
  SSL* ssl = nullptr;
  State state = State::kHandshake;
  bool want_write = false;       // the pending SSL call waits for the socket to be writable
  uint32_t events = 0;           // interest registered with epoll
  bool skip_read_probe = false;  // an answer was just written: wait for epoll before reading
  bool write_deferred = false;   // queued in the loop's deferred writes (see Loop::Run)
  size_t index = 0;              // position in Loop::conns_
  HttpRequestParser parser;
  std::unique_ptr<char[]> in;  // kReadBufferBytes, allocated after the handshake
  size_t in_begin = 0;
  size_t in_end = 0;
  std::string out;
  size_t out_done = 0;
  bool interim = false;  // `out` is "100 Continue"
  bool close_after_write = false;
  size_t served = 0;
  TimePoint last_io;                    // last readiness event or write progress
  TimePoint request_deadline = kNever;  // the request being received must be whole by then
  TimePoint idle_deadline = kNever;     // no byte of the next request by then: close quietly
  TimePoint body_deadline = kNever;     // headers received; body must be whole by then (408)
  TimePoint linger_deadline = kNever;
  TimePoint deadline = kNever;  // the earliest of the above that applies in `state`
};

void AppendNumber(std::string& out, size_t n) {
  char buf[24];
  char* end = buf + sizeof(buf);
  char* p = end;
  do {
    *--p = static_cast<char>('0' + n % 10);
    n /= 10;
  } while (n != 0);
  out.append(p, end);
}

}  // namespace

struct TlsHttpServer::Shared {
  TlsHttpServerOptions options;
  SSL_CTX* ctx = nullptr;
  TlsHttpServerCallbacks callbacks;
  std::shared_ptr<spdlog::logger> log;
  int listen_fd = -1;
  std::atomic<bool> stopping{false};
  std::atomic<size_t> connections{0};
};

class TlsHttpServer::Loop {
 public:
  explicit Loop(Shared& shared) : s_(shared) {}

  ~Loop() {
    while (!conns_.empty()) Close(*conns_.back());
    graveyard_.clear();
    if (epfd_ >= 0) ::close(epfd_);
    if (wake_fd_ >= 0) ::close(wake_fd_);
  }

  core::Status Init() {
    epfd_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (epfd_ < 0) return core::InternalError(std::string("epoll_create1: ") + strerror(errno));
    wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wake_fd_ < 0) return core::InternalError(std::string("eventfd: ") + strerror(errno));
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = &wake_fd_;
    if (::epoll_ctl(epfd_, EPOLL_CTL_ADD, wake_fd_, &ev) != 0 || !AddListener()) {
      return core::InternalError(std::string("epoll_ctl: ") + strerror(errno));
    }
    return core::OkStatus();
  }

  // Any thread: asks the loop to begin stopping (see TlsHttpServer::Stop).
  void Wake() {
    uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(wake_fd_, &one, sizeof(one));
  }

  void Run() {
    epoll_event events[kMaxEvents];
    while (true) {
      now_ = Clock::now();
      if (stopping_ && conns_.empty()) break;
      int n = ::epoll_wait(epfd_, events, kMaxEvents, TimeoutMs());
      if (n < 0 && errno != EINTR) {
        s_.log->critical("epoll_wait failed, HTTPS loop ends: {}", strerror(errno));
        break;
      }
      now_ = Clock::now();
      // Answers are written after every ready connection has been read and served: the first
      // write of a batch wakes the client, the rest find it awake. Writing each answer as soon as
      // it is ready made every write pay for a wakeup (most of the server's kernel time).
      defer_writes_ = true;
      for (int i = 0; i < n; ++i) {
        void* tag = events[i].data.ptr;
        if (tag == &wake_fd_) {
          uint64_t count;
          [[maybe_unused]] ssize_t r = ::read(wake_fd_, &count, sizeof(count));
          BeginStop();
        } else if (tag == &listen_tag_) {
          Accept();
        } else {
          auto* c = static_cast<Connection*>(tag);
          if (c->state == State::kClosed) continue;  // closed earlier in this batch
          c->last_io = now_;
          c->skip_read_probe = false;
          Drive(*c);
        }
      }
      defer_writes_ = false;
      for (Connection* c : deferred_) {
        c->write_deferred = false;
        if (c->state != State::kClosed) Drive(*c);
      }
      deferred_.clear();
      if (accept_paused_ && now_ >= accept_resume_ && !stopping_) {
        accept_paused_ = false;
        AddListener();
      }
      if (now_ >= next_check_) CheckDeadlines();
      graveyard_.clear();
    }
  }

 private:
  const TlsHttpServerOptions& options() const { return s_.options; }

  int TimeoutMs() const {
    TimePoint next = next_check_;
    if (accept_paused_) next = std::min(next, accept_resume_);
    if (next == kNever) return -1;
    if (next <= now_) return 0;
    auto ms = std::chrono::ceil<std::chrono::milliseconds>(next - now_).count();
    return static_cast<int>(std::min<int64_t>(ms, INT_MAX));
  }

  bool AddListener() {
    if (listening_ || s_.listen_fd < 0) return true;
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLEXCLUSIVE;
    ev.data.ptr = &listen_tag_;
    if (::epoll_ctl(epfd_, EPOLL_CTL_ADD, s_.listen_fd, &ev) != 0) return false;
    listening_ = true;
    return true;
  }

  void RemoveListener() {
    if (!listening_) return;
    ::epoll_ctl(epfd_, EPOLL_CTL_DEL, s_.listen_fd, nullptr);
    listening_ = false;
  }

  void Accept() {
    for (int i = 0; i < kAcceptBatch; ++i) {
      int fd = ::accept4(s_.listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        int err = errno;
        switch (err) {
          case EAGAIN:
            return;
          case EINTR:
          case ECONNABORTED:
          case EPROTO:
          case ENETDOWN:
          case ENOPROTOOPT:
          case EHOSTDOWN:
          case ENONET:
          case EHOSTUNREACH:
          case ENETUNREACH:
            continue;  // that connection failed; others may be waiting
          default:
            if (s_.stopping.load()) {  // the listening socket was shut down
              RemoveListener();
              return;
            }
            // EMFILE, ENFILE, ENOBUFS, ENOMEM and anything unexpected: retrying at once would
            // spin, so this loop stops accepting for a moment.
            if (!accept_error_logged_) {
              s_.log->error("accepting HTTPS connections failed ({}); pausing accepts for {} ms",
                            strerror(err), kAcceptPause.count());
              accept_error_logged_ = true;
            }
            RemoveListener();
            accept_paused_ = true;
            accept_resume_ = now_ + kAcceptPause;
            return;
        }
      }
      accept_error_logged_ = false;
      if (s_.connections.fetch_add(1, std::memory_order_relaxed) >= options().max_connections) {
        s_.connections.fetch_sub(1, std::memory_order_relaxed);
        ::close(fd);
        if (!limit_logged_) {
          s_.log->warn("{} HTTPS connections are open; closing new ones until some end",
                       options().max_connections);
          limit_logged_ = true;
        }
        continue;
      }
      limit_logged_ = false;
      AddConnection(fd);
    }
  }

  void AddConnection(int fd) {
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    SSL* ssl = SSL_new(s_.ctx);
    if (ssl == nullptr || SSL_set_fd(ssl, fd) != 1) {
      s_.log->error("cannot create a TLS session for a new connection");
      ERR_clear_error();
      if (ssl != nullptr) SSL_free(ssl);
      ::close(fd);
      s_.connections.fetch_sub(1, std::memory_order_relaxed);
      return;
    }
    SSL_set_accept_state(ssl);
    auto c = std::make_unique<Connection>(options().limits);
    c->fd = fd;
    c->ssl = ssl;
    c->last_io = now_;
    c->request_deadline = now_ + options().request_deadline;
    c->events = EPOLLIN;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = c.get();
    c->index = conns_.size();
    conns_.push_back(std::move(c));
    Connection& conn = *conns_.back();
    if (::epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
      s_.log->error("epoll_ctl(ADD) for a new connection: {}", strerror(errno));
      Close(conn);
      return;
    }
    UpdateDeadline(conn);
  }

  // Runs the connection's state machine until it has to wait for the socket (or closes).
  void Drive(Connection& c) {
    while (true) {
      switch (c.state) {
        case State::kHandshake: {
          int r = SSL_do_handshake(c.ssl);
          if (r == 1) {
            c.in = std::make_unique<char[]>(kReadBufferBytes);
            c.state = State::kReading;
            c.idle_deadline = std::min(c.request_deadline, now_ + options().read_timeout);
            continue;
          }
          if (!Await(c, r)) return Close(c);
          return Rearm(c);
        }

        case State::kReading: {
          if (ParseBuffered(c)) continue;
          if (c.skip_read_probe && SSL_has_pending(c.ssl) == 0) {
            // Level-triggered epoll reports the next request; reading now would only find
            // nothing (one wasted syscall per answer).
            c.skip_read_probe = false;
            c.want_write = false;
            return Rearm(c);
          }
          if (kReadBufferBytes - c.in_end < kMinReadSpace) {
            std::memmove(c.in.get(), c.in.get() + c.in_begin, c.in_end - c.in_begin);
            c.in_end -= c.in_begin;
            c.in_begin = 0;
          }
          int r =
              SSL_read(c.ssl, c.in.get() + c.in_end, static_cast<int>(kReadBufferBytes - c.in_end));
          if (r > 0) {
            c.in_end += static_cast<size_t>(r);
            continue;
          }
          if (!Await(c, r)) return Close(c);
          return Rearm(c);
        }

        case State::kWriting: {
          if (defer_writes_) {
            if (!c.write_deferred) {
              c.write_deferred = true;
              deferred_.push_back(&c);
            }
            return;
          }
          int r = SSL_write(c.ssl, c.out.data() + c.out_done,
                            static_cast<int>(std::min<size_t>(c.out.size() - c.out_done, INT_MAX)));
          if (r > 0) {
            c.out_done += static_cast<size_t>(r);
            c.last_io = now_;
            if (c.out_done == c.out.size()) FinishWrite(c);
            continue;
          }
          if (!Await(c, r)) return Close(c);
          return Rearm(c);
        }

        case State::kLingering: {
          for (int i = 0; i < kLingerReadsPerEvent; ++i) {
            ssize_t n = ::recv(c.fd, scratch_, sizeof(scratch_), 0);
            if (n > 0) continue;
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && errno == EAGAIN) break;
            return Close(c);  // the client closed (or reset) its side
          }
          c.want_write = false;
          return Rearm(c);
        }

        case State::kClosed:
          return;
      }
    }
  }

  // After an SSL call returned `r` <= 0: true when it waits for the socket (want_write tells
  // which way); false when the connection is over (peer closed, I/O or protocol error).
  bool Await(Connection& c, int r) {
    switch (SSL_get_error(c.ssl, r)) {
      case SSL_ERROR_WANT_READ:
        c.want_write = false;
        return true;
      case SSL_ERROR_WANT_WRITE:
        c.want_write = true;
        return true;
      case SSL_ERROR_SSL:
        if (s_.log->should_log(spdlog::level::debug)) {
          unsigned long code = ERR_peek_error();  // NOLINT(runtime/int): OpenSSL's type
          char text[256] = "unknown";
          if (code != 0) ERR_error_string_n(code, text, sizeof(text));
          s_.log->debug("TLS error on an HTTPS connection: {}", text);
        }
        break;
      default:  // SSL_ERROR_ZERO_RETURN, SSL_ERROR_SYSCALL (EOF or socket error)
        break;
    }
    ERR_clear_error();
    return false;
  }

  // Parses what is buffered. True when the state changed (an answer was queued) or the header
  // section just completed; false when more input is needed.
  bool ParseBuffered(Connection& c) {
    size_t used = 0;
    ParseProgress p =
        c.parser.Parse(std::string_view(c.in.get() + c.in_begin, c.in_end - c.in_begin), &used);
    c.in_begin += used;
    if (c.in_begin == c.in_end) c.in_begin = c.in_end = 0;
    switch (p) {
      case ParseProgress::kNeedMore:
        return false;
      case ParseProgress::kHeadersComplete:
        c.body_deadline = now_ + options().read_timeout;
        if (c.parser.request().expect_continue && c.in_begin == c.in_end) {
          c.out.assign("HTTP/1.1 100 Continue\r\n\r\n");
          c.out_done = 0;
          c.interim = true;
          c.last_io = now_;
          c.state = State::kWriting;
        }
        return true;
      case ParseProgress::kComplete:
        Serve(c);
        return true;
      case ParseProgress::kError:
        QueueError(c, c.parser.error_status(), c.parser.error_text());
        return true;
    }
    return false;
  }

  void Serve(Connection& c) {
    const HttpRequest& request = c.parser.request();
    response_.status = 200;
    response_.content_type.clear();
    response_.body.clear();
    response_.extra_headers.clear();
    response_.omit_body = false;
    try {
      s_.callbacks.serve(request, response_);
    } catch (const std::exception& e) {
      s_.log->error("{} {}: unhandled exception: {}", request.method, request.path(), e.what());
      SetInternalError();
    } catch (...) {
      s_.log->error("{} {}: unhandled exception", request.method, request.path());
      SetInternalError();
    }
    ++c.served;
    bool keep_alive = request.keep_alive && c.served < options().keep_alive_max_requests &&
                      !s_.stopping.load(std::memory_order_relaxed);
    QueueAnswer(c, response_, keep_alive, request.path(), request.minor_version == 0);
    c.parser.Reset();
    c.body_deadline = kNever;
  }

  void SetInternalError() {
    response_.status = 500;
    response_.content_type = "text/plain; charset=utf-8";
    response_.body = "internal error while handling the request\n";
    response_.extra_headers.clear();
    response_.omit_body = false;
  }

  // Answers `status` with `text` and closes the connection afterwards.
  void QueueError(Connection& c, int status, std::string_view text) {
    response_.status = status;
    response_.content_type = "text/plain; charset=utf-8";
    response_.body.assign(text);
    response_.body += '\n';
    response_.extra_headers.clear();
    response_.omit_body = false;
    const HttpRequest& request = c.parser.request();
    QueueAnswer(c, response_, false, request.target.empty() ? "" : request.path(), false);
  }

  // `http10`: an HTTP/1.0 client keeps the connection only when the answer says so.
  void QueueAnswer(Connection& c, const HttpResponse& res, bool keep_alive, std::string_view path,
                   bool http10) {
    std::string& out = c.out;
    out.clear();
    out += "HTTP/1.1 ";
    AppendNumber(out, static_cast<size_t>(res.status));
    out += ' ';
    out += HttpReasonPhrase(res.status);
    out += "\r\n";
    if (!res.content_type.empty()) {
      out += "Content-Type: ";
      out += res.content_type;
      out += "\r\n";
    }
    out += "Content-Length: ";
    AppendNumber(out, res.body.size());
    out += "\r\n";
    if (!keep_alive) {
      out += "Connection: close\r\n";
    } else if (http10) {
      out += "Connection: keep-alive\r\n";
    }
    out += res.extra_headers;
    out += "\r\n";
    if (!res.omit_body) out += res.body;
    c.out_done = 0;
    c.interim = false;
    c.close_after_write = !keep_alive;
    c.last_io = now_;
    c.state = State::kWriting;
    if (s_.callbacks.on_response) s_.callbacks.on_response(path, res.status);
  }

  void FinishWrite(Connection& c) {
    if (c.interim) {
      c.interim = false;
      c.state = State::kReading;
      return;
    }
    if (c.out.capacity() > kKeptAnswerCapacity) std::string().swap(c.out);
    if (c.close_after_write || stopping_) return StartLingering(c);
    c.state = State::kReading;
    c.idle_deadline = now_ + options().keep_alive_timeout;
    c.request_deadline = c.idle_deadline + options().request_deadline;
    c.skip_read_probe = true;
  }

  // Sends close_notify and FIN, then discards input until the client closes (see the overview).
  void StartLingering(Connection& c) {
    SSL_shutdown(c.ssl);  // best effort; a full socket buffer just skips it
    ERR_clear_error();
    ::shutdown(c.fd, SHUT_WR);
    if (stopping_) return Close(c);  // Stop() does not wait for lingering clients
    c.state = State::kLingering;
    c.linger_deadline =
        now_ + std::min<std::chrono::milliseconds>(options().read_timeout, kMaxLinger);
  }

  // Registers the interest the connection's pending operation needs and recomputes its deadline.
  void Rearm(Connection& c) {
    uint32_t wanted = c.want_write ? EPOLLOUT : EPOLLIN;
    if (wanted != c.events) {
      epoll_event ev{};
      ev.events = wanted;
      ev.data.ptr = &c;
      if (::epoll_ctl(epfd_, EPOLL_CTL_MOD, c.fd, &ev) != 0) {
        s_.log->error("epoll_ctl(MOD) on an HTTPS connection: {}", strerror(errno));
        return Close(c);
      }
      c.events = wanted;
    }
    UpdateDeadline(c);
  }

  void UpdateDeadline(Connection& c) {
    const auto& o = options();
    switch (c.state) {
      case State::kHandshake:
        c.deadline = std::min(c.request_deadline, c.last_io + o.read_timeout);
        break;
      case State::kReading:
        if (!c.receiving()) {
          c.deadline = c.idle_deadline;
        } else if (c.body_deadline != kNever) {
          c.deadline = std::min(c.request_deadline, c.body_deadline);
        } else {
          c.deadline = std::min(c.request_deadline, c.last_io + o.read_timeout);
        }
        break;
      case State::kWriting:
        c.deadline = c.last_io + o.write_timeout;
        break;
      case State::kLingering:
        c.deadline = c.linger_deadline;
        break;
      case State::kClosed:
        return;
    }
    next_check_ = std::min(next_check_, c.deadline);
  }

  void CheckDeadlines() {
    next_check_ = kNever;
    for (size_t i = 0; i < conns_.size();) {
      Connection& c = *conns_[i];
      if (now_ >= c.deadline) {
        Expire(c);
        if (c.state == State::kClosed) continue;  // conns_[i] is now another connection
      }
      next_check_ = std::min(next_check_, c.deadline);
      ++i;
    }
  }

  void Expire(Connection& c) {
    switch (c.state) {
      case State::kHandshake:
      case State::kReading:
        if (c.state == State::kReading && !c.receiving()) return Close(c);  // idle keep-alive
        if (c.body_deadline <= now_ && c.body_deadline <= c.request_deadline) {
          QueueError(c, 408, "request body not received within the read timeout");
          return Drive(c);
        }
        if (c.request_deadline <= now_) {
          s_.log->warn("closed a connection whose request was not received within {} ms",
                       options().request_deadline.count());
          if (s_.callbacks.on_deadline_cut) s_.callbacks.on_deadline_cut();
        }
        return Close(c);  // the deadline, or read_timeout without a byte
      case State::kWriting:
        s_.log->debug("closed a connection that took no answer bytes for {} ms",
                      options().write_timeout.count());
        return Close(c);
      case State::kLingering:
        return Close(c);
      case State::kClosed:
        return;
    }
  }

  void BeginStop() {
    stopping_ = true;
    RemoveListener();
    accept_paused_ = false;
    for (size_t i = 0; i < conns_.size();) {
      Connection& c = *conns_[i];
      bool idle = c.state == State::kHandshake || c.state == State::kLingering ||
                  (c.state == State::kReading && !c.receiving());
      if (idle) {
        Close(c);
      } else {
        ++i;
      }
    }
  }

  void Close(Connection& c) {
    if (c.state == State::kClosed) return;
    c.state = State::kClosed;
    SSL_free(c.ssl);
    c.ssl = nullptr;
    ::close(c.fd);  // also removes it from the epoll set
    c.fd = -1;
    s_.connections.fetch_sub(1, std::memory_order_relaxed);
    size_t i = c.index;
    std::unique_ptr<Connection> owned = std::move(conns_[i]);
    if (i + 1 != conns_.size()) {
      conns_[i] = std::move(conns_.back());
      conns_[i]->index = i;
    }
    conns_.pop_back();
    graveyard_.push_back(std::move(owned));  // events of this batch may still point at it
  }

  Shared& s_;
  int epfd_ = -1;
  int wake_fd_ = -1;
  char listen_tag_ = 0;  // its address tags the listener's epoll events
  bool listening_ = false;
  bool accept_paused_ = false;
  TimePoint accept_resume_ = kNever;
  bool accept_error_logged_ = false;
  bool limit_logged_ = false;
  bool stopping_ = false;
  TimePoint now_;
  TimePoint next_check_ = kNever;
  std::vector<std::unique_ptr<Connection>> conns_;
  std::vector<std::unique_ptr<Connection>> graveyard_;
  HttpResponse response_;              // reused for every answer
  bool defer_writes_ = false;          // while the events of one epoll_wait are handled
  std::vector<Connection*> deferred_;  // connections whose answer waits for the batch's end
  char scratch_[64 * 1024];
};

TlsHttpServer::TlsHttpServer(TlsHttpServerOptions options, SSL_CTX* ctx,
                             TlsHttpServerCallbacks callbacks, std::shared_ptr<spdlog::logger> log)
    : shared_(std::make_unique<Shared>()) {
  // The read buffer must always hold one incomplete line plus a TLS record.
  options.limits.max_line_bytes = std::min(options.limits.max_line_bytes, kMinReadSpace - 1);
  shared_->options = std::move(options);
  shared_->ctx = ctx;
  shared_->callbacks = std::move(callbacks);
  shared_->log = std::move(log);
}

TlsHttpServer::~TlsHttpServer() { Stop(); }

void TlsHttpServer::CloseListener() {
  if (shared_->listen_fd >= 0) ::close(shared_->listen_fd);
  shared_->listen_fd = -1;
}

core::Status TlsHttpServer::Start() {
  const TlsHttpServerOptions& o = shared_->options;
  // RELEASE_BUFFERS: an idle connection gives OpenSSL's ~34 KB of record buffers back; measured
  // at no CPU cost on the keep-alive benchmark (47.2 vs 47.6 us of server CPU per request).
  SSL_CTX_set_mode(shared_->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
                                     SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                                     SSL_MODE_RELEASE_BUFFERS);
  // A whole TLS record (usually a whole request) per read syscall instead of header, then body.
  SSL_CTX_set_read_ahead(shared_->ctx, 1);

  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* addrs = nullptr;
  const std::string where = o.bind_address + ":" + std::to_string(o.port);
  if (int rc =
          ::getaddrinfo(o.bind_address.c_str(), std::to_string(o.port).c_str(), &hints, &addrs);
      rc != 0) {
    return core::UnavailableError("cannot bind " + where + ": " + gai_strerror(rc));
  }
  std::string reason = "no address";
  for (addrinfo* a = addrs; a != nullptr && shared_->listen_fd < 0; a = a->ai_next) {
    int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) {
      reason = strerror(errno);
      continue;
    }
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (::bind(fd, a->ai_addr, a->ai_addrlen) != 0 || ::listen(fd, SOMAXCONN) != 0) {
      reason = strerror(errno);
      ::close(fd);
      continue;
    }
    shared_->listen_fd = fd;
  }
  ::freeaddrinfo(addrs);
  if (shared_->listen_fd < 0) return core::UnavailableError("cannot bind " + where + ": " + reason);

  sockaddr_storage bound{};
  socklen_t len = sizeof(bound);
  if (::getsockname(shared_->listen_fd, reinterpret_cast<sockaddr*>(&bound), &len) != 0) {
    CloseListener();
    return core::InternalError(std::string("getsockname: ") + strerror(errno));
  }
  port_ = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                            : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);

  for (size_t i = 0; i < o.loops; ++i) {
    auto loop = std::make_unique<Loop>(*shared_);
    if (core::Status s = loop->Init(); !s.ok()) {
      loops_.clear();
      CloseListener();
      return s;
    }
    loops_.push_back(std::move(loop));
  }
  try {
    for (auto& loop : loops_) threads_.emplace_back([l = loop.get()] { l->Run(); });
  } catch (const std::system_error& e) {
    Stop();
    return core::InternalError(std::string("cannot start the HTTPS loop threads: ") + e.what());
  }
  return core::OkStatus();
}

void TlsHttpServer::Stop() {
  if (stopped_) return;
  stopped_ = true;
  shared_->stopping.store(true);
  // Refuses new connections at once; loops blocked in epoll_wait see the listener fail and the
  // wake-up.
  if (shared_->listen_fd >= 0) ::shutdown(shared_->listen_fd, SHUT_RDWR);
  for (auto& loop : loops_) loop->Wake();
  for (auto& t : threads_) t.join();
  threads_.clear();
  loops_.clear();
  CloseListener();
}

}  // namespace driftguard::webhook::internal
