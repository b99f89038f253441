#include "core/log.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <unistd.h>

#include <chrono>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/json.h"

namespace driftguard::core {
namespace {

using ::testing::ElementsAre;
using ::testing::MatchesRegex;

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// 2024-05-01T12:34:56.789Z
std::chrono::system_clock::time_point FixedTime() {
  using namespace std::chrono;
  return sys_days{year{2024} / 5 / 1} + hours{12} + minutes{34} + seconds{56} + milliseconds{789};
}

class LogTest : public ::testing::Test {
 protected:
  // Routes every logger into out_ with the given options.
  void Capture(const std::string& format, const std::string& level) {
    ASSERT_TRUE(InitLogging(LogOptions{.format = format, .level = level},
                            std::make_shared<spdlog::sinks::ostream_sink_mt>(out_))
                    .ok());
  }
  void TearDown() override { ASSERT_TRUE(InitLogging(LogOptions{}).ok()); }

  std::ostringstream out_;
};

TEST(FormatLogLineTest, TextLayout) {
  EXPECT_EQ(FormatLogLine(LogFormat::kText, FixedTime(), spdlog::level::info, "webhook", "hello"),
            "2024-05-01T12:34:56.789Z info  [webhook] hello\n");
  EXPECT_EQ(FormatLogLine(LogFormat::kText, FixedTime(), spdlog::level::critical, "main", "x"),
            "2024-05-01T12:34:56.789Z critical [main] x\n");
}

TEST(FormatLogLineTest, JsonLayout) {
  EXPECT_EQ(FormatLogLine(LogFormat::kJson, FixedTime(), spdlog::level::warn, "source", "slow"),
            "{\"ts\":\"2024-05-01T12:34:56.789Z\",\"level\":\"warn\",\"logger\":\"source\","
            "\"msg\":\"slow\"}\n");
  EXPECT_EQ(FormatLogLine(LogFormat::kJson, FixedTime(), spdlog::level::err, "certs", ""),
            "{\"ts\":\"2024-05-01T12:34:56.789Z\",\"level\":\"error\",\"logger\":\"certs\","
            "\"msg\":\"\"}\n");
}

TEST(FormatLogLineTest, MillisecondsArePaddedAndTruncated) {
  using namespace std::chrono;
  auto t =
      sys_days{year{1999} / 12 / 31} + hours{23} + minutes{59} + seconds{59} + microseconds{7999};
  EXPECT_EQ(FormatLogLine(LogFormat::kText, t, spdlog::level::debug, "a", "b"),
            "1999-12-31T23:59:59.007Z debug [a] b\n");
}

TEST(FormatLogLineTest, JsonEscapesEveryUnsafeCharacter) {
  const std::string message = "say \"hi\"\\ \n\r\t\b\f\x01\x1f end";
  const std::string line =
      FormatLogLine(LogFormat::kJson, FixedTime(), spdlog::level::info, "webhook", message);
  EXPECT_EQ(line,
            "{\"ts\":\"2024-05-01T12:34:56.789Z\",\"level\":\"info\",\"logger\":\"webhook\","
            "\"msg\":\"say \\\"hi\\\"\\\\ \\n\\r\\t\\b\\f\\u0001\\u001f end\"}\n");
  auto parsed = ParseJson(line);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ((*parsed)["msg"], message);
}

TEST(FormatLogLineTest, JsonKeepsValidUtf8AndReplacesInvalidBytes) {
  // "é" (2 bytes), "€" (3 bytes), "😀" (4 bytes) pass through; a lone continuation byte, a
  // truncated sequence, an overlong "/" and an encoded surrogate become U+FFFD per bad byte.
  const std::string message =
      "\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80|\x80|\xE2\x82|\xC0\xAF|\xED\xA0\x80";
  const std::string line =
      FormatLogLine(LogFormat::kJson, FixedTime(), spdlog::level::info, "m", message);
  const std::string r = "\xEF\xBF\xBD";
  EXPECT_EQ(line,
            "{\"ts\":\"2024-05-01T12:34:56.789Z\",\"level\":\"info\",\"logger\":\"m\","
            "\"msg\":\"\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80|" +
                r + "|" + r + r + "|" + r + r + "|" + r + r + r + "\"}\n");
  EXPECT_TRUE(ParseJson(line).ok());
}

TEST(LogOptionsTest, ValidateNamesTheBadValue) {
  EXPECT_TRUE(LogOptions{}.Validate().ok());
  EXPECT_TRUE((LogOptions{.format = "json", .level = "warning"}).Validate().ok());
  EXPECT_EQ((LogOptions{.format = "xml"}).Validate(),
            InvalidArgumentError("log format \"xml\" is not one of: text, json"));
  EXPECT_EQ((LogOptions{.level = "loud"}).Validate(),
            InvalidArgumentError("log level \"loud\" is not one of: trace, debug, info, warn, "
                                 "error, critical, off"));
}

TEST(LogOptionsTest, ParseLogLevel) {
  EXPECT_EQ(*ParseLogLevel("trace"), spdlog::level::trace);
  EXPECT_EQ(*ParseLogLevel("debug"), spdlog::level::debug);
  EXPECT_EQ(*ParseLogLevel("info"), spdlog::level::info);
  EXPECT_EQ(*ParseLogLevel("warn"), spdlog::level::warn);
  EXPECT_EQ(*ParseLogLevel("error"), spdlog::level::err);
  EXPECT_EQ(*ParseLogLevel("critical"), spdlog::level::critical);
  EXPECT_EQ(*ParseLogLevel("off"), spdlog::level::off);
  EXPECT_FALSE(ParseLogLevel("INFO").ok());
}

TEST_F(LogTest, SameNameSameLogger) {
  EXPECT_EQ(Logger("reconciler").get(), Logger("reconciler").get());
  EXPECT_NE(Logger("reconciler").get(), Logger("webhook").get());
  EXPECT_EQ(Logger("reconciler")->name(), "reconciler");
}

TEST_F(LogTest, JsonLinesCarryExactFields) {
  auto log = Logger("webhook");  // created before InitLogging: must follow it
  Capture("json", "info");
  log->info("denied {} of {}", "UPDATE", "apps/Deployment \"web\"");
  Logger("certs")->error("line1\nline2");
  const auto lines = Lines(out_.str());
  ASSERT_EQ(lines.size(), 2u) << out_.str();

  auto first = ParseJson(lines[0]);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->size(), 4u);
  EXPECT_THAT((*first)["ts"].get<std::string>(),
              MatchesRegex("[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z"));
  EXPECT_EQ((*first)["level"], "info");
  EXPECT_EQ((*first)["logger"], "webhook");
  EXPECT_EQ((*first)["msg"], "denied UPDATE of apps/Deployment \"web\"");
  EXPECT_THAT(lines[0],
              ::testing::EndsWith(",\"msg\":\"denied UPDATE of apps/Deployment \\\"web\\\"\"}"));

  auto second = ParseJson(lines[1]);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ((*second)["level"], "error");
  EXPECT_EQ((*second)["logger"], "certs");
  EXPECT_EQ((*second)["msg"], "line1\nline2");
}

TEST_F(LogTest, TextLinesCarryLevelLoggerMessage) {
  Capture("text", "debug");
  Logger("source")->debug("fetched {}", "main@sha1:abc");
  Logger("main")->warn("careful");
  EXPECT_THAT(Lines(out_.str()),
              ElementsAre(MatchesRegex("[0-9T:.-]{23}Z debug \\[source\\] fetched main@sha1:abc"),
                          MatchesRegex("[0-9T:.-]{23}Z warn  \\[main\\] careful")));
}

TEST_F(LogTest, LevelFiltersEveryLogger) {
  auto a = Logger("level-a");
  Capture("json", "warn");
  auto b = Logger("level-b");  // created after InitLogging: gets the level too
  a->info("dropped");
  b->debug("dropped");
  a->warn("kept-a");
  b->critical("kept-b");
  const auto lines = Lines(out_.str());
  ASSERT_EQ(lines.size(), 2u) << out_.str();
  EXPECT_EQ((*ParseJson(lines[0]))["msg"], "kept-a");
  EXPECT_EQ((*ParseJson(lines[0]))["level"], "warn");
  EXPECT_EQ((*ParseJson(lines[1]))["msg"], "kept-b");
  EXPECT_EQ((*ParseJson(lines[1]))["level"], "critical");
}

TEST_F(LogTest, InvalidOptionsChangeNothing) {
  Capture("json", "info");
  std::ostringstream other;
  EXPECT_EQ(InitLogging(LogOptions{.format = "json", .level = "nope"},
                        std::make_shared<spdlog::sinks::ostream_sink_mt>(other)),
            InvalidArgumentError("log level \"nope\" is not one of: trace, debug, info, warn, "
                                 "error, critical, off"));
  Logger("main")->info("still here");
  EXPECT_EQ(other.str(), "");
  ASSERT_EQ(Lines(out_.str()).size(), 1u);
  EXPECT_EQ((*ParseJson(Lines(out_.str())[0]))["msg"], "still here");
}

TEST_F(LogTest, ConcurrentLoggingKeepsLinesWhole) {
  Capture("json", "info");
  constexpr int kThreads = 4;
  constexpr int kPerThread = 200;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([t] {
      auto log = Logger("thread-" + std::to_string(t));
      for (int i = 0; i < kPerThread; ++i) log->info("message {} from {}", i, t);
    });
  }
  for (auto& th : threads) th.join();
  const auto lines = Lines(out_.str());
  ASSERT_EQ(lines.size(), static_cast<size_t>(kThreads * kPerThread));
  std::vector<int> per_thread(kThreads, 0);
  for (const std::string& line : lines) {
    auto doc = ParseJson(line);
    ASSERT_TRUE(doc.ok()) << line;
    const std::string logger = (*doc)["logger"];
    ++per_thread[std::stoi(logger.substr(7))];
  }
  EXPECT_THAT(per_thread, ElementsAre(kPerThread, kPerThread, kPerThread, kPerThread));
}

// Reads what the pipe holds now (non-blocking).
std::string Drain(int fd) {
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  return out;
}

std::vector<std::string> Messages(const std::string& text) {
  std::vector<std::string> msgs;
  for (const std::string& line : Lines(text)) {
    auto doc = ParseJson(line);
    EXPECT_TRUE(doc.ok()) << line;
    if (doc.ok()) msgs.push_back((*doc)["msg"]);
  }
  return msgs;
}

// The writer thread delivers lines without any FlushLogs call, in order; FlushLogs delivers what
// waits. (How soon a warning goes out is a timing property, not asserted here.)
TEST_F(LogTest, BufferedSinkDeliversLinesInOrderByItselfAndOnFlush) {
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
  ASSERT_TRUE(
      InitLogging(LogOptions{.format = "json", .level = "info"}, MakeBufferedFdSink(fds[1])).ok());
  auto log = Logger("buffered");
  log->info("first");
  log->info("second");
  log->warn("third");
  std::string text;
  for (int i = 0; i < 1000 && Lines(text).size() < 3; ++i) {  // a bounded wait, up to 10 s
    text += Drain(fds[0]);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_THAT(Messages(text), ElementsAre("first", "second", "third"));

  log->info("fourth");
  FlushLogs();
  EXPECT_THAT(Messages(Drain(fds[0])), ElementsAre("fourth"));
  ASSERT_TRUE(InitLogging(LogOptions{}).ok());  // flushes and detaches the pipe before it closes
  ::close(fds[0]);
  ::close(fds[1]);
}

// Nobody reads the output: logging still returns (a blocking sink would hang this test), lines
// past the 8 MiB buffer are dropped, and the drop count arrives once the output takes lines again.
TEST_F(LogTest, BufferedSinkNeverBlocksOnAStuckOutputAndCountsWhatItDrops) {
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);  // blocking: the writer thread waits on a full pipe
  ASSERT_TRUE(
      InitLogging(LogOptions{.format = "json", .level = "info"}, MakeBufferedFdSink(fds[1])).ok());
  auto log = Logger("stuck");
  const std::string filler(100, 'x');
  constexpr int kLines = 150000;  // ~20 MB of lines: more than the pipe and the buffer hold
  for (int i = 0; i < kLines; ++i) log->info("line {} {}", i, filler);

  std::string text;
  std::thread reader([&] {
    char buf[65536];
    ssize_t n;
    while ((n = ::read(fds[0], buf, sizeof buf)) > 0) text.append(buf, static_cast<size_t>(n));
  });
  FlushLogs();
  ASSERT_TRUE(InitLogging(LogOptions{}).ok());
  ::close(fds[1]);
  reader.join();
  ::close(fds[0]);

  size_t delivered = 0;
  uint64_t dropped = 0;
  int last = -1;
  bool in_order = true;
  for (const std::string& msg : Messages(text)) {
    if (msg.starts_with("line ")) {
      const int i = std::stoi(msg.substr(5));
      in_order = in_order && i > last;
      last = i;
      ++delivered;
    } else {
      EXPECT_THAT(msg, MatchesRegex("[0-9]+ log lines were dropped: the log output took no lines "
                                    "while 8 MiB waited"));
      dropped += std::stoull(msg);
    }
  }
  EXPECT_TRUE(in_order);
  EXPECT_GT(dropped, 0u);
  EXPECT_EQ(delivered + dropped, static_cast<uint64_t>(kLines));
}

}  // namespace
}  // namespace driftguard::core
