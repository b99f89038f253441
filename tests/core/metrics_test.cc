#include "core/metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/test_util.h"

namespace driftguard::core {
namespace {

using ::driftguard::testing::RunCommand;
using ::driftguard::testing::TempDir;
using ::driftguard::testing::WriteFile;

TEST(MetricsTest, CounterWithLabelsRendersSortedChildren) {
  MetricsRegistry registry;
  auto family =
      registry.RegisterCounter("driftguard_admission_requests_total",
                               "Admission requests by outcome.", {"operation", "decision", "mode"});
  ASSERT_TRUE(family.ok()) << family.status();
  (*family)->WithLabels({"UPDATE", "deny", "enforce"}).Inc();
  (*family)->WithLabels({"UPDATE", "deny", "enforce"}).Inc(2);
  (*family)->WithLabels({"DELETE", "allow", "audit"}).Inc(0.5);
  (*family)->WithLabels(std::vector<std::string>{"CREATE", "allow", "revert"});
  EXPECT_EQ(registry.Render(),
            "# HELP driftguard_admission_requests_total Admission requests by outcome.\n"
            "# TYPE driftguard_admission_requests_total counter\n"
            "driftguard_admission_requests_total{operation=\"CREATE\",decision=\"allow\","
            "mode=\"revert\"} 0\n"
            "driftguard_admission_requests_total{operation=\"DELETE\",decision=\"allow\","
            "mode=\"audit\"} 0.5\n"
            "driftguard_admission_requests_total{operation=\"UPDATE\",decision=\"deny\","
            "mode=\"enforce\"} 3\n");
}

TEST(MetricsTest, HandlesAreStableAndShared) {
  MetricsRegistry registry;
  CounterFamily* family = *registry.RegisterCounter("c_total", "h", {"a"});
  Counter& first = family->WithLabels({"x"});
  for (int i = 0; i < 100; ++i) family->WithLabels({"y" + std::to_string(i)});
  EXPECT_EQ(&first, &family->WithLabels({"x"}));
  EXPECT_EQ(&first, &family->WithLabels(std::vector<std::string>{"x"}));
  first.Inc();
  EXPECT_EQ(family->WithLabels({"x"}).Value(), 1);
}

TEST(MetricsTest, WrongLabelCountIsAProgrammingError) {
  MetricsRegistry registry;
  CounterFamily* family = *registry.RegisterCounter("w_total", "W.", {"a", "b"});
#ifdef NDEBUG
  // Release builds hand out a detached child that is never rendered.
  family->WithLabels({"only-one"}).Inc();
  family->WithLabels({"1", "2", "3"}).Inc();
  EXPECT_EQ(registry.Render(), "");
#else
  EXPECT_DEATH(family->WithLabels({"only-one"}), "wrong number of label values");
#endif
}

TEST(MetricsTest, CounterIgnoresNegativeAndNaN) {
  Counter c;
  c.Inc(-1);
  c.Inc(std::nan(""));
  c.Inc(4);
  EXPECT_EQ(c.Value(), 4);
}

TEST(MetricsTest, LabelLessFamiliesRenderZeroRightAway) {
  MetricsRegistry registry;
  ASSERT_TRUE(registry.RegisterCounter("b_total", "B.").ok());
  ASSERT_TRUE(registry.RegisterGauge("a", "A.").ok());
  ASSERT_TRUE(registry.RegisterGauge("unused_labeled", "never rendered", {"x"}).ok());
  EXPECT_EQ(registry.Render(),
            "# HELP b_total B.\n# TYPE b_total counter\nb_total 0\n"
            "# HELP a A.\n# TYPE a gauge\na 0\n");
}

TEST(MetricsTest, GaugeOperations) {
  MetricsRegistry registry;
  GaugeFamily* family = *registry.RegisterGauge("driftguard_inflight", "In flight.", {"kind"});
  Gauge& g = family->WithLabels({"webhook"});
  g.Set(10);
  g.Add(2.5);
  g.Sub(0.5);
  g.Inc();
  g.Dec();
  g.Dec();
  EXPECT_EQ(g.Value(), 11);
  family->WithLabels({"neg"}).Set(-3);
  EXPECT_EQ(registry.Render(),
            "# HELP driftguard_inflight In flight.\n# TYPE driftguard_inflight gauge\n"
            "driftguard_inflight{kind=\"neg\"} -3\ndriftguard_inflight{kind=\"webhook\"} 11\n");
  Gauge t;
  t.SetToCurrentTime();
  EXPECT_GT(t.Value(), 1.7e9);  // after 2023-11
}

TEST(MetricsTest, GaugeFuncIsEvaluatedAtRenderTime) {
  MetricsRegistry registry;
  double age = 12.5;
  ASSERT_TRUE(registry
                  .RegisterGaugeFunc("driftguard_desired_state_age_seconds",
                                     "Seconds since the desired state was built.",
                                     [&age] { return age; })
                  .ok());
  EXPECT_EQ(registry.Render(),
            "# HELP driftguard_desired_state_age_seconds Seconds since the desired state was "
            "built.\n# TYPE driftguard_desired_state_age_seconds gauge\n"
            "driftguard_desired_state_age_seconds 12.5\n");
  age = 30;
  EXPECT_THAT(registry.Render(), ::testing::EndsWith("driftguard_desired_state_age_seconds 30\n"));
  EXPECT_EQ(
      registry.RegisterGaugeFunc("driftguard_desired_state_age_seconds", "x", [] { return 1.0; }),
      AlreadyExistsError("metric \"driftguard_desired_state_age_seconds\" is already registered"));
  EXPECT_EQ(registry.RegisterGaugeFunc("g2", "x", nullptr),
            InvalidArgumentError("gauge \"g2\": empty function"));
}

TEST(MetricsTest, HistogramBucketsAreCumulative) {
  MetricsRegistry registry;
  HistogramFamily* family = *registry.RegisterHistogram(
      "driftguard_request_duration_seconds", "Latency.", {"handler"}, {0.001, 0.01, 0.1});
  Histogram& h = family->WithLabels({"validate"});
  h.Observe(0.0005);
  h.Observe(0.001);  // on the bound: counts in le="0.001"
  h.Observe(0.05);
  h.Observe(2);
  EXPECT_EQ(registry.Render(),
            "# HELP driftguard_request_duration_seconds Latency.\n"
            "# TYPE driftguard_request_duration_seconds histogram\n"
            "driftguard_request_duration_seconds_bucket{handler=\"validate\",le=\"0.001\"} 2\n"
            "driftguard_request_duration_seconds_bucket{handler=\"validate\",le=\"0.01\"} 2\n"
            "driftguard_request_duration_seconds_bucket{handler=\"validate\",le=\"0.1\"} 3\n"
            "driftguard_request_duration_seconds_bucket{handler=\"validate\",le=\"+Inf\"} 4\n"
            "driftguard_request_duration_seconds_sum{handler=\"validate\"} 2.0515\n"
            "driftguard_request_duration_seconds_count{handler=\"validate\"} 4\n");
}

TEST(MetricsTest, HistogramWithoutLabelsAndDefaultBuckets) {
  MetricsRegistry registry;
  HistogramFamily* family = *registry.RegisterHistogram("d_seconds", "D.");
  EXPECT_EQ(*family->bounds(), kDefaultLatencyBuckets);
  family->WithLabels({}).Observe(std::nan(""));
  const Histogram::Snapshot s = family->WithLabels({}).Collect();
  EXPECT_EQ(s.count, 1u);
  EXPECT_EQ(s.cumulative.size(), kDefaultLatencyBuckets.size() + 1);
  EXPECT_EQ(s.cumulative[kDefaultLatencyBuckets.size() - 1], 0u);  // NaN lands in +Inf only
  EXPECT_EQ(s.cumulative.back(), 1u);
  const std::string text = registry.Render();
  EXPECT_THAT(text, ::testing::HasSubstr("d_seconds_bucket{le=\"0.0005\"} 0\n"));
  EXPECT_THAT(text, ::testing::HasSubstr("d_seconds_bucket{le=\"2.5\"} 0\n"));
  EXPECT_THAT(text, ::testing::HasSubstr("d_seconds_bucket{le=\"+Inf\"} 1\n"));
  EXPECT_THAT(text, ::testing::EndsWith("d_seconds_sum NaN\nd_seconds_count 1\n"));
}

TEST(MetricsTest, TrailingInfBucketIsDroppedAndExponentialBuckets) {
  MetricsRegistry registry;
  HistogramFamily* family = *registry.RegisterHistogram(
      "e_seconds", "E.", {}, {1, 2, std::numeric_limits<double>::infinity()});
  EXPECT_EQ(*family->bounds(), (std::vector<double>{1, 2}));
  EXPECT_EQ(ExponentialBuckets(0.001, 2, 4), (std::vector<double>{0.001, 0.002, 0.004, 0.008}));
  EXPECT_TRUE(ExponentialBuckets(1, 2, 0).empty());
}

TEST(MetricsTest, ValuesAndEscaping) {
  MetricsRegistry registry;
  GaugeFamily* family =
      *registry.RegisterGauge("v", "Help with \\ and\nnewline \"quoted\".", {"l"});
  family->WithLabels({"a\\b\"c\nd"}).Set(1e21);
  family->WithLabels({"big"}).Set(1234567);
  family->WithLabels({"inf"}).Set(std::numeric_limits<double>::infinity());
  family->WithLabels({"minf"}).Set(-std::numeric_limits<double>::infinity());
  family->WithLabels({"small"}).Set(0.00001);
  family->WithLabels({"utf8 \xC3\xA9"}).Set(0.1);
  EXPECT_EQ(registry.Render(),
            "# HELP v Help with \\\\ and\\nnewline \"quoted\".\n"
            "# TYPE v gauge\n"
            "v{l=\"a\\\\b\\\"c\\nd\"} 1e+21\n"
            "v{l=\"big\"} 1234567\n"
            "v{l=\"inf\"} +Inf\n"
            "v{l=\"minf\"} -Inf\n"
            "v{l=\"small\"} 1e-05\n"
            "v{l=\"utf8 \xC3\xA9\"} 0.1\n");
}

TEST(MetricsTest, FamiliesRenderInRegistrationOrder) {
  MetricsRegistry registry;
  (*registry.RegisterCounter("z_total", "Z."))->WithLabels({}).Inc();
  (*registry.RegisterCounter("a_total", "A."))->WithLabels({}).Inc();
  EXPECT_EQ(registry.Render(),
            "# HELP z_total Z.\n# TYPE z_total counter\nz_total 1\n"
            "# HELP a_total A.\n# TYPE a_total counter\na_total 1\n");
}

TEST(MetricsTest, NameValidation) {
  MetricsRegistry registry;
  EXPECT_EQ(
      registry.RegisterCounter("1abc", "h").status(),
      InvalidArgumentError("invalid metric name \"1abc\": must match [a-zA-Z_:][a-zA-Z0-9_:]*"));
  EXPECT_EQ(registry.RegisterCounter("", "h").status(),
            InvalidArgumentError("invalid metric name \"\": must match [a-zA-Z_:][a-zA-Z0-9_:]*"));
  EXPECT_EQ(
      registry.RegisterGauge("a-b", "h").status(),
      InvalidArgumentError("invalid metric name \"a-b\": must match [a-zA-Z_:][a-zA-Z0-9_:]*"));
  EXPECT_TRUE(registry.RegisterGauge("ns:sub_system:x9", "h").ok());
  EXPECT_EQ(
      registry.RegisterCounter("c_total", "h", {"ok", "bad-label"}).status(),
      InvalidArgumentError("counter \"c_total\": invalid label name \"bad-label\": must match "
                           "[a-zA-Z_][a-zA-Z0-9_]*"));
  EXPECT_EQ(registry.RegisterCounter("c_total", "h", {"a:b"}).status(),
            InvalidArgumentError("counter \"c_total\": invalid label name \"a:b\": must match "
                                 "[a-zA-Z_][a-zA-Z0-9_]*"));
  EXPECT_EQ(registry.RegisterCounter("c_total", "h", {"__name"}).status(),
            InvalidArgumentError(
                "counter \"c_total\": label name \"__name\" is reserved (starts with \"__\")"));
  EXPECT_EQ(registry.RegisterCounter("c_total", "h", {"a", "b", "a"}).status(),
            InvalidArgumentError("counter \"c_total\": duplicate label name \"a\""));
  EXPECT_EQ(registry.RegisterHistogram("h_seconds", "h", {"le"}).status(),
            InvalidArgumentError("histogram \"h_seconds\": label name \"le\" is reserved for "
                                 "buckets"));
  EXPECT_EQ(registry.RegisterHistogram("h_seconds", "h", {}, {1, 0.5}).status(),
            InvalidArgumentError("histogram \"h_seconds\": bucket bounds must be finite and "
                                 "strictly increasing (bound 1 is 0.5)"));
  EXPECT_EQ(registry.RegisterHistogram("h_seconds", "h", {}, {1, 1}).status(),
            InvalidArgumentError("histogram \"h_seconds\": bucket bounds must be finite and "
                                 "strictly increasing (bound 1 is 1)"));
  EXPECT_EQ(registry.RegisterHistogram("h_seconds", "h", {}, {std::nan("")}).status(),
            InvalidArgumentError("histogram \"h_seconds\": bucket bounds must be finite and "
                                 "strictly increasing (bound 0 is NaN)"));
  EXPECT_TRUE(registry.RegisterCounter("c_total", "h", {"le"}).ok());  // fine outside histograms
  // Nothing that failed was registered.
  EXPECT_EQ(registry.Render(),
            "# HELP ns:sub_system:x9 h\n# TYPE ns:sub_system:x9 gauge\nns:sub_system:x9 0\n");
}

TEST(MetricsTest, ReRegistration) {
  MetricsRegistry registry;
  CounterFamily* first = *registry.RegisterCounter("r_total", "R.", {"a", "b"});
  auto again = registry.RegisterCounter("r_total", "R.", {"a", "b"});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, first);
  const Status conflict = AlreadyExistsError(
      "metric \"r_total\" is already registered with a different definition (counter, labels "
      "[a, b])");
  EXPECT_EQ(registry.RegisterCounter("r_total", "R.", {"b", "a"}).status(), conflict);
  EXPECT_EQ(registry.RegisterCounter("r_total", "Other help.", {"a", "b"}).status(), conflict);
  EXPECT_EQ(registry.RegisterGauge("r_total", "R.", {"a", "b"}).status(), conflict);
  EXPECT_EQ(registry.RegisterGaugeFunc("r_total", "R.", [] { return 1.0; }),
            AlreadyExistsError("metric \"r_total\" is already registered"));

  HistogramFamily* h = *registry.RegisterHistogram("lat_seconds", "L.", {}, {1, 2});
  EXPECT_EQ(*registry.RegisterHistogram("lat_seconds", "L.", {}, {1, 2}), h);
  EXPECT_EQ(registry.RegisterHistogram("lat_seconds", "L.", {}, {1, 3}).status(),
            AlreadyExistsError("metric \"lat_seconds\" is already registered with a different "
                               "definition (histogram, labels [])"));
}

TEST(MetricsTest, HistogramSampleNamesCannotCollide) {
  MetricsRegistry registry;
  ASSERT_TRUE(registry.RegisterHistogram("x", "X.").ok());
  EXPECT_EQ(registry.RegisterCounter("x_count", "C.").status(),
            AlreadyExistsError("counter \"x_count\" would expose \"x_count\", already used by "
                               "histogram \"x\""));
  ASSERT_TRUE(registry.RegisterGauge("y_sum", "Y.").ok());
  EXPECT_EQ(registry.RegisterHistogram("y", "Y.").status(),
            AlreadyExistsError("histogram \"y\" would expose \"y_sum\", already used by gauge "
                               "\"y_sum\""));
}

TEST(MetricsTest, ConcurrentUpdatesAreNotLost) {
  MetricsRegistry registry;
  CounterFamily* counters = *registry.RegisterCounter("conc_total", "C.", {"t"});
  HistogramFamily* hist = *registry.RegisterHistogram("conc_seconds", "H.", {}, {0.5});
  constexpr int kThreads = 4;
  constexpr int kIterations = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kIterations; ++i) {
        // New tuples appear while other threads increment existing ones.
        counters->WithLabels({std::to_string(i % 50)}).Inc();
        hist->WithLabels({}).Observe(t % 2 == 0 ? 0.25 : 1.0);
        if (i % 5000 == 0) registry.Render();
      }
    });
  }
  for (auto& th : threads) th.join();
  double total = 0;
  for (int i = 0; i < 50; ++i) total += counters->WithLabels({std::to_string(i)}).Value();
  EXPECT_EQ(total, kThreads * kIterations);
  const Histogram::Snapshot s = hist->WithLabels({}).Collect();
  EXPECT_EQ(s.cumulative[0], static_cast<uint64_t>(kThreads / 2 * kIterations));
  EXPECT_EQ(s.count, static_cast<uint64_t>(kThreads * kIterations));
  EXPECT_EQ(s.sum, kThreads / 2 * kIterations * 0.25 + kThreads / 2 * kIterations * 1.0);
}

// promtool (Debian's prometheus package, installed by scripts/install-deps.sh) parses and lints
// the exposition: exit 0 means the text is valid and follows the naming conventions.
driftguard::testing::CommandResult Promtool(const std::string& exposition) {
  TempDir dir;
  WriteFile(dir.path() / "metrics.txt", exposition);
  return RunCommand("promtool check metrics < '" + (dir.path() / "metrics.txt").string() +
                    "' 2>&1");
}

TEST(MetricsPromtoolTest, RenderedTextPassesPromtool) {
  ASSERT_EQ(RunCommand("command -v promtool >/dev/null 2>&1").exit_code, 0)
      << "promtool not found: run scripts/install-deps.sh";
  MetricsRegistry registry;
  CounterFamily* requests =
      *registry.RegisterCounter("driftguard_admission_requests_total", "Admission requests.",
                                {"operation", "decision", "mode"});
  requests->WithLabels({"UPDATE", "deny", "enforce"}).Inc(3);
  requests->WithLabels({"DELETE", "al\"low\\\n", "audit"}).Inc();
  GaugeFamily* info = *registry.RegisterGauge("driftguard_build_info", "Build.", {"version"});
  info->WithLabels({"0.1.0"}).Set(1);
  ASSERT_TRUE(
      registry
          .RegisterGaugeFunc("driftguard_desired_state_age_seconds", "Age.", [] { return 3.25; })
          .ok());
  HistogramFamily* latency = *registry.RegisterHistogram("driftguard_admission_duration_seconds",
                                                         "Latency.", {"operation"});
  latency->WithLabels({"UPDATE"}).Observe(0.003);
  latency->WithLabels({"CREATE"}).Observe(12);
  (*registry.RegisterHistogram("driftguard_apply_duration_seconds", "Apply.", {}, {}))
      ->WithLabels({})
      .Observe(1);
  (*registry.RegisterGauge("driftguard_weird_values", "Weird."))->WithLabels({}).Set(-1e-30);

  const std::string text = registry.Render();
  const auto result = Promtool(text);
  EXPECT_EQ(result.exit_code, 0) << result.output << "\n" << text;
  EXPECT_EQ(result.output, "");
}

TEST(MetricsPromtoolTest, PromtoolRejectsBrokenText) {
  // Proves the check above can fail: an unescaped newline in a label value.
  const auto result = Promtool("# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"1\n\"} 1\n");
  EXPECT_NE(result.exit_code, 0);
  EXPECT_THAT(result.output, ::testing::HasSubstr("unescaped new-line"));
}

}  // namespace
}  // namespace driftguard::core
