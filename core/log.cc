#include "core/log.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/sink.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <map>
#include <mutex>
#include <thread>
#include <utility>

#include "core/json.h"

namespace driftguard::core {
namespace {

std::string_view LevelName(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace:
      return "trace";
    case spdlog::level::debug:
      return "debug";
    case spdlog::level::info:
      return "info";
    case spdlog::level::warn:
      return "warn";
    case spdlog::level::err:
      return "error";
    case spdlog::level::critical:
      return "critical";
    default:
      return "off";
  }
}

void AppendTimestamp(std::string& out, std::chrono::system_clock::time_point time) {
  const auto secs = std::chrono::floor<std::chrono::seconds>(time);
  const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(time - secs).count();
  // "YYYY-MM-DDTHH:MM:SS." is formatted once per second per thread: gmtime_r and snprintf were
  // a third of the cost of a log line.
  struct Cached {
    std::chrono::system_clock::time_point secs = std::chrono::system_clock::time_point::min();
    char text[32] = {};
    size_t size = 0;
  };
  thread_local Cached cached;
  if (secs != cached.secs) {
    const std::time_t t = std::chrono::system_clock::to_time_t(secs);
    std::tm tm{};
    gmtime_r(&t, &tm);
    const int n = std::snprintf(cached.text, sizeof(cached.text), "%04d-%02d-%02dT%02d:%02d:%02d.",
                                tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                                tm.tm_sec);
    cached.size = n > 0 ? std::min(static_cast<size_t>(n), sizeof(cached.text) - 1) : 0;
    cached.secs = secs;
  }
  out.append(cached.text, cached.size);
  const int ms = static_cast<int>(millis);
  out += static_cast<char>('0' + ms / 100);
  out += static_cast<char>('0' + ms / 10 % 10);
  out += static_cast<char>('0' + ms % 10);
  out += 'Z';
}

class LineFormatter final : public spdlog::formatter {
 public:
  explicit LineFormatter(LogFormat format) : format_(format) {}

  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const std::string line =
        FormatLogLine(format_, msg.time, msg.level,
                      std::string_view(msg.logger_name.data(), msg.logger_name.size()),
                      std::string_view(msg.payload.data(), msg.payload.size()));
    dest.append(line.data(), line.data() + line.size());
  }

  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<LineFormatter>(format_);
  }

 private:
  const LogFormat format_;
};

// The one sink every logger holds. It forwards to the current output, which InitLogging may swap
// at any time; the mutex orders a swap against in-flight messages.
class SwitchableSink final : public spdlog::sinks::sink {
 public:
  explicit SwitchableSink(spdlog::sink_ptr output) : output_(std::move(output)) {}

  void SetOutput(spdlog::sink_ptr output) {
    std::lock_guard<std::mutex> lock(mu_);
    output_->flush();
    output_ = std::move(output);
  }

  void log(const spdlog::details::log_msg& msg) override {
    std::lock_guard<std::mutex> lock(mu_);
    output_->log(msg);
  }
  // The output is flushed without holding mu_: a slow write must not stop other threads' logging.
  void flush() override {
    spdlog::sink_ptr output;
    {
      std::lock_guard<std::mutex> lock(mu_);
      output = output_;
    }
    output->flush();
  }
  // The format is chosen only through InitLogging.
  void set_pattern(const std::string&) override {}
  void set_formatter(std::unique_ptr<spdlog::formatter>) override {}

 private:
  std::mutex mu_;
  spdlog::sink_ptr output_;
};

// Wakes the flusher thread (StartFlusher) before its next 100 ms tick.
struct FlusherWake {
  std::mutex mu;
  std::condition_variable cv;
  std::atomic<bool> pending{false};
};

FlusherWake& Flusher() {
  static FlusherWake* wake = new FlusherWake();  // never destroyed: the thread outlives statics
  return *wake;
}

void WakeFlusher() {
  FlusherWake& f = Flusher();
  if (f.pending.exchange(true)) return;  // already asked
  { std::lock_guard<std::mutex> lock(f.mu); }
  f.cv.notify_one();
}

// See MakeBufferedFdSink in the header.
class BufferedFdSink final : public spdlog::sinks::sink {
 public:
  explicit BufferedFdSink(int fd)
      : fd_(fd), formatter_(std::make_unique<spdlog::pattern_formatter>()) {}

  void log(const spdlog::details::log_msg& msg) override {
    bool urgent = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      line_.clear();
      formatter_->format(msg, line_);
      if (buffer_.size() + line_.size() > kMaxBuffered) {
        ++dropped_;  // the output has not taken lines for a while; never block the caller
        return;
      }
      buffer_.append(line_.data(), line_.size());
      urgent = msg.level >= spdlog::level::warn || buffer_.size() >= kWriteAt;
    }
    if (urgent) WakeFlusher();
  }

  // Writes what waits, outside the lock loggers take, then says how many lines were dropped.
  void flush() override {
    std::lock_guard<std::mutex> writing(write_mu_);
    uint64_t dropped = 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      batch_.swap(buffer_);  // batch_ was left empty by the previous flush
      dropped = std::exchange(dropped_, 0);
      if (dropped != 0) {
        const std::string text = std::to_string(dropped) +
                                 " log lines were dropped: the log output took no lines while " +
                                 std::to_string(kMaxBuffered >> 20) + " MiB waited";
        spdlog::details::log_msg note("log", spdlog::level::warn, text);
        line_.clear();
        formatter_->format(note, line_);
        batch_.append(line_.data(), line_.size());
      }
    }
    WriteAll(batch_);
    batch_.clear();
    if (batch_.capacity() > 4 * kWriteAt) std::string().swap(batch_);
  }

  void set_pattern(const std::string& pattern) override {
    set_formatter(std::make_unique<spdlog::pattern_formatter>(pattern));
  }
  void set_formatter(std::unique_ptr<spdlog::formatter> formatter) override {
    std::lock_guard<std::mutex> lock(mu_);
    formatter_ = std::move(formatter);
  }

 private:
  static constexpr size_t kWriteAt = 64 * 1024;
  static constexpr size_t kMaxBuffered = 8 * 1024 * 1024;

  void WriteAll(const std::string& data) const {
    size_t done = 0;
    while (done < data.size()) {
      ssize_t n = ::write(fd_, data.data() + done, data.size() - done);
      if (n > 0) {
        done += static_cast<size_t>(n);
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else {
        break;  // nowhere to report a failing log output; drop the batch
      }
    }
  }

  const int fd_;
  std::mutex mu_;  // buffer_, dropped_, formatter_, line_
  std::string buffer_;
  uint64_t dropped_ = 0;
  std::unique_ptr<spdlog::formatter> formatter_;
  spdlog::memory_buf_t line_;
  std::mutex write_mu_;  // one writer at a time; batch_
  std::string batch_;
};

spdlog::sink_ptr MakeStderrSink(LogFormat format) {
  spdlog::sink_ptr sink = MakeBufferedFdSink(STDERR_FILENO);
  sink->set_formatter(std::make_unique<LineFormatter>(format));
  return sink;
}

struct LogState {
  std::mutex mu;
  spdlog::level::level_enum level = spdlog::level::info;
  std::shared_ptr<SwitchableSink> sink =
      std::make_shared<SwitchableSink>(MakeStderrSink(LogFormat::kText));
  std::map<std::string, std::shared_ptr<spdlog::logger>, std::less<>> loggers;
};

// Never destroyed, so loggers stay usable from static destructors and exiting threads.
LogState& State() {
  static LogState* state = new LogState();
  return *state;
}

// Flushes the shared sink every 100 ms, and at once when a BufferedFdSink asks (WakeFlusher);
// started with the first buffered sink, never stopped (the process's exit flushes through
// FlushLogs).
void StartFlusher() {
  static std::once_flag once;
  std::call_once(once, [] {
    std::atexit(FlushLogs);
    std::thread([] {
      FlusherWake& f = Flusher();
      while (true) {
        {
          std::unique_lock<std::mutex> lock(f.mu);
          f.cv.wait_for(lock, std::chrono::milliseconds(100), [&f] { return f.pending.load(); });
        }
        f.pending.store(false);
        FlushLogs();
      }
    }).detach();
  });
}

}  // namespace

spdlog::sink_ptr MakeBufferedFdSink(int fd) {
  StartFlusher();
  return std::make_shared<BufferedFdSink>(fd);
}

void FlushLogs() { State().sink->flush(); }

StatusOr<LogFormat> ParseLogFormat(std::string_view format) {
  if (format == "text") return LogFormat::kText;
  if (format == "json") return LogFormat::kJson;
  return InvalidArgumentError("log format \"" + std::string(format) +
                              "\" is not one of: text, json");
}

StatusOr<spdlog::level::level_enum> ParseLogLevel(std::string_view level) {
  if (level == "trace") return spdlog::level::trace;
  if (level == "debug") return spdlog::level::debug;
  if (level == "info") return spdlog::level::info;
  if (level == "warn" || level == "warning") return spdlog::level::warn;
  if (level == "error") return spdlog::level::err;
  if (level == "critical") return spdlog::level::critical;
  if (level == "off") return spdlog::level::off;
  return InvalidArgumentError("log level \"" + std::string(level) +
                              "\" is not one of: trace, debug, info, warn, error, critical, off");
}

Status LogOptions::Validate() const {
  RETURN_IF_ERROR(ParseLogFormat(format));
  RETURN_IF_ERROR(ParseLogLevel(level));
  return OkStatus();
}

Status InitLogging(const LogOptions& options) {
  ASSIGN_OR_RETURN(LogFormat format, ParseLogFormat(options.format));
  return InitLogging(options, MakeStderrSink(format));
}

Status InitLogging(const LogOptions& options, spdlog::sink_ptr output) {
  if (output == nullptr) return InvalidArgumentError("InitLogging: output sink is null");
  ASSIGN_OR_RETURN(LogFormat format, ParseLogFormat(options.format));
  ASSIGN_OR_RETURN(spdlog::level::level_enum level, ParseLogLevel(options.level));
  output->set_formatter(std::make_unique<LineFormatter>(format));
  LogState& state = State();
  std::lock_guard<std::mutex> lock(state.mu);
  state.sink->SetOutput(std::move(output));
  state.level = level;
  for (auto& [name, logger] : state.loggers) logger->set_level(level);
  return OkStatus();
}

std::shared_ptr<spdlog::logger> Logger(std::string_view name) {
  LogState& state = State();
  std::lock_guard<std::mutex> lock(state.mu);
  auto it = state.loggers.find(name);
  if (it != state.loggers.end()) return it->second;
  auto logger = std::make_shared<spdlog::logger>(std::string(name), state.sink);
  logger->set_level(state.level);
  state.loggers.emplace(std::string(name), logger);
  return logger;
}

std::string FormatLogLine(LogFormat format, std::chrono::system_clock::time_point time,
                          spdlog::level::level_enum level, std::string_view logger,
                          std::string_view message) {
  std::string out;
  out.reserve(message.size() + logger.size() + 80);
  if (format == LogFormat::kJson) {
    out += "{\"ts\":\"";
    AppendTimestamp(out, time);
    out += "\",\"level\":\"";
    out += LevelName(level);
    out += "\",\"logger\":";
    AppendJsonString(out, logger, /*replace_invalid=*/true);
    out += ",\"msg\":";
    AppendJsonString(out, message, /*replace_invalid=*/true);
    out += "}\n";
    return out;
  }
  AppendTimestamp(out, time);
  out += ' ';
  const std::string_view level_name = LevelName(level);
  out += level_name;
  if (level_name.size() < 5) out.append(5 - level_name.size(), ' ');
  out += " [";
  out += logger;
  out += "] ";
  out += message;
  out += '\n';
  return out;
}

}  // namespace driftguard::core
