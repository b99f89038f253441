// Named loggers, one per component, sharing one output whose format is chosen at start-up.
//
// Every component asks for its logger by name ("webhook", "reconciler", "source", "certs", "main")
// and keeps the returned pointer. All loggers write through one shared sink, so InitLogging can
// switch format, level and destination for every logger at once, including loggers created before
// it ran. Formats:
//
//   text: 2024-05-01T12:00:00.123Z info  [webhook] denied kubectl edit of apps/Deployment/web
//   json: {"ts":"2024-05-01T12:00:00.123Z","level":"info","logger":"webhook","msg":"denied ..."}
//
// Timestamps are UTC, RFC 3339 with milliseconds. JSON messages are escaped so that every line is
// one valid JSON object whatever the message holds (quotes, newlines, control bytes; invalid UTF-8
// is replaced by U+FFFD). Level names are trace, debug, info, warn, error, critical.
//
//   core::LogOptions opts{.format = "json", .level = "debug"};
//   RETURN_IF_ERROR(opts.Validate());
//   RETURN_IF_ERROR(core::InitLogging(opts));
//   auto log = core::Logger("webhook");
//   log->info("listening on {}", address);
//
// Thread safety: every function here and every logger may be used from any thread. Until
// InitLogging runs, loggers write text at level info to stderr.
#ifndef DRIFTGUARD_CORE_LOG_H_
#define DRIFTGUARD_CORE_LOG_H_

#include <spdlog/logger.h>
#include <spdlog/sinks/sink.h>

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "core/status.h"

namespace driftguard::core {

enum class LogFormat { kText, kJson };

struct LogOptions {
  // "text" (for people) or "json" (one object per line, for log pipelines).
  std::string format = "text";
  // Least severe level written: trace, debug, info, warn, error, critical or off.
  std::string level = "info";

  // OK when format and level are among the values above.
  Status Validate() const;
};

// "text" / "json"; anything else is InvalidArgument naming the value.
StatusOr<LogFormat> ParseLogFormat(std::string_view format);

// trace, debug, info, warn (or warning), error, critical, off.
StatusOr<spdlog::level::level_enum> ParseLogLevel(std::string_view level);

// Applies `options` to every existing and future logger; output goes to stderr through
// MakeBufferedFdSink(2). Returns the Validate() error, changing nothing, when the options are
// invalid.
Status InitLogging(const LogOptions& options);

// As above, but writes to `output` (e.g. an ostream_sink in tests). `output`'s own formatter is
// replaced by driftguard's. REQUIRES: output != nullptr.
Status InitLogging(const LogOptions& options, spdlog::sink_ptr output);

// A sink writing lines to file descriptor `fd` (not owned) in batches, never on the logging
// thread: a line is appended to a buffer and a flusher thread writes the buffer out every 100 ms,
// at once after a warn or more severe line or once 64 KiB wait, and on FlushLogs() (also run at
// exit). One write(2) per batch, so logging a line per denied request costs the webhook no system
// call, and a stuck output (a full pipe) never blocks a caller: once 8 MiB wait, further lines are
// dropped and counted, and the count is written as a warning with the next batch the output
// takes. A process killed without exiting (SIGKILL) loses at most the last 100 ms of lines.
spdlog::sink_ptr MakeBufferedFdSink(int fd);

// Writes out whatever the current output holds back. Thread-safe.
void FlushLogs();

// Returns the logger called `name`, creating it on first use. The same name always yields the same
// logger. Cheap enough to call at start-up; on hot paths keep the pointer.
std::shared_ptr<spdlog::logger> Logger(std::string_view name);

// The formatted form of one message, exposed for tests and for code that must log without spdlog
// (e.g. a crash handler). Ends with '\n'.
std::string FormatLogLine(LogFormat format, std::chrono::system_clock::time_point time,
                          spdlog::level::level_enum level, std::string_view logger,
                          std::string_view message);

}  // namespace driftguard::core

#endif  // DRIFTGUARD_CORE_LOG_H_
