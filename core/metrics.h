// A small metrics registry that renders the Prometheus text exposition format 0.0.4.
//
// Metrics are registered once, at start-up, as families: a name, a help text and a fixed set of
// label names. A family hands out one child per tuple of label values; a child is a cheap, stable
// handle whose updates are single atomic operations. Rendering walks families in registration
// order and children sorted by label values, so the output is deterministic.
//
//   MetricsRegistry registry;
//   ASSIGN_OR_RETURN(CounterFamily* requests,
//                    registry.RegisterCounter("driftguard_admission_requests_total",
//                                             "Admission requests by outcome.",
//                                             {"operation", "decision", "mode"}));
//   Counter& denied = requests->WithLabels({"UPDATE", "deny", "enforce"});  // keep the reference
//   denied.Inc();
//
//   ASSIGN_OR_RETURN(HistogramFamily* latency,
//                    registry.RegisterHistogram("driftguard_admission_duration_seconds",
//                                               "Time to decide.", {}, kDefaultLatencyBuckets));
//   latency->WithLabels({}).Observe(0.0021);
//   std::string body = registry.Render();  // serve with kPrometheusContentType
//
// Contracts:
// - Names follow Prometheus: metric names match [a-zA-Z_:][a-zA-Z0-9_:]*, label names
//   [a-zA-Z_][a-zA-Z0-9_]* and must not start with "__"; histograms may not use the label "le".
//   Sample names a family produces (a histogram's _bucket/_sum/_count) may not collide with another
//   family's.
// - Registering a name again with the same definition (type, help, labels, buckets) returns the
//   existing family; a different definition is AlreadyExists.
// - Families and children live as long as the registry; pointers and references to them stay
//   valid until it is destroyed.
// - Thread safety: everything may be called from any thread. Updating a child is lock-free;
//   WithLabels takes a shared lock, and an exclusive one only when a new label tuple appears;
//   Render takes the registry lock and each family's shared lock.
// - A family without labels renders its single child (0 before any update) right away; a family
//   with labels renders nothing until its first WithLabels.
#ifndef DRIFTGUARD_CORE_METRICS_H_
#define DRIFTGUARD_CORE_METRICS_H_

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace driftguard::core {

inline constexpr std::string_view kPrometheusContentType =
    "text/plain; version=0.0.4; charset=utf-8";

// Upper bounds (seconds) for request latencies: 0.5 ms .. 10 s. "+Inf" is implicit.
inline const std::vector<double> kDefaultLatencyBuckets = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

// `count` bounds start, start*factor, start*factor^2, ... REQUIRES: start > 0, factor > 1.
std::vector<double> ExponentialBuckets(double start, double factor, int count);

// A monotonically increasing value.
class Counter {
 public:
  // REQUIRES: delta >= 0 (negative or NaN deltas are ignored).
  void Inc(double delta = 1);
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// A value that goes up and down.
class Gauge {
 public:
  void Set(double value) { value_.store(value, std::memory_order_relaxed); }
  void Add(double delta) { value_.fetch_add(delta, std::memory_order_relaxed); }
  void Sub(double delta) { value_.fetch_sub(delta, std::memory_order_relaxed); }
  void Inc() { Add(1); }
  void Dec() { Sub(1); }
  // Sets the gauge to the current time in seconds since the Unix epoch.
  void SetToCurrentTime();
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// Counts observations into buckets with fixed upper bounds.
class Histogram {
 public:
  // `bounds`: strictly increasing, finite upper bounds; an implicit +Inf bucket follows them.
  explicit Histogram(std::shared_ptr<const std::vector<double>> bounds);

  // A NaN observation counts in the +Inf bucket (as Prometheus' Go client does).
  void Observe(double value);

  struct Snapshot {
    std::vector<double> bounds;        // without +Inf
    std::vector<uint64_t> cumulative;  // bounds.size() + 1 entries; last one is +Inf
    double sum = 0;
    uint64_t count = 0;  // equals cumulative.back()
  };
  Snapshot Collect() const;

 private:
  std::shared_ptr<const std::vector<double>> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;  // per bucket, not cumulative
  std::atomic<double> sum_{0};
};

namespace metrics_internal {

enum class MetricType { kCounter, kGauge, kHistogram };

// Orders label-value tuples lexicographically; also compares a stored tuple with a span of views so
// that looking up an existing child allocates nothing.
struct LabelValuesLess {
  using is_transparent = void;
  template <typename A, typename B>
  bool operator()(const A& a, const B& b) const {
    return std::lexicographical_compare(
        a.begin(), a.end(), b.begin(), b.end(),
        [](const auto& x, const auto& y) { return std::string_view(x) < std::string_view(y); });
  }
};

// What every family shares: its definition and how it renders.
class FamilyBase {
 public:
  FamilyBase(std::string name, std::string help, MetricType type,
             std::vector<std::string> label_names)
      : name_(std::move(name)),
        help_(std::move(help)),
        type_(type),
        label_names_(std::move(label_names)) {}
  virtual ~FamilyBase() = default;

  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  MetricType type() const { return type_; }
  const std::vector<std::string>& label_names() const { return label_names_; }

  // Appends the HELP, TYPE and sample lines (nothing when there are no children).
  virtual void RenderTo(std::string& out) const = 0;

 private:
  const std::string name_;
  const std::string help_;
  const MetricType type_;
  const std::vector<std::string> label_names_;
};

}  // namespace metrics_internal

// A family of children of type T (Counter, Gauge or Histogram) keyed by label values.
template <typename T>
class MetricFamily final : public metrics_internal::FamilyBase {
 public:
  MetricFamily(std::string name, std::string help, metrics_internal::MetricType type,
               std::vector<std::string> label_names,
               std::shared_ptr<const std::vector<double>> bounds = nullptr);

  // Returns the child for `values`, creating it on first use. Values pair with label_names() by
  // position; any string is a valid value (escaped when rendered).
  // REQUIRES: values.size() == label_names().size(). On a mismatch (a programming error) this
  // asserts in debug builds and otherwise returns a detached child that is never rendered.
  T& WithLabels(std::initializer_list<std::string_view> values);
  T& WithLabels(const std::vector<std::string>& values);

  // The buckets of a histogram family; null for other types.
  const std::shared_ptr<const std::vector<double>>& bounds() const { return bounds_; }

  void RenderTo(std::string& out) const override;

 private:
  T& Get(std::span<const std::string_view> values);
  std::unique_ptr<T> MakeChild() const;

  const std::shared_ptr<const std::vector<double>> bounds_;
  mutable std::shared_mutex mu_;
  std::map<std::vector<std::string>, std::unique_ptr<T>, metrics_internal::LabelValuesLess>
      children_;
  std::unique_ptr<T> detached_;
};

using CounterFamily = MetricFamily<Counter>;
using GaugeFamily = MetricFamily<Gauge>;
using HistogramFamily = MetricFamily<Histogram>;

class MetricsRegistry {
 public:
  MetricsRegistry() = default;
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  StatusOr<CounterFamily*> RegisterCounter(std::string_view name, std::string_view help,
                                           std::vector<std::string> label_names = {});
  StatusOr<GaugeFamily*> RegisterGauge(std::string_view name, std::string_view help,
                                       std::vector<std::string> label_names = {});
  // `buckets`: strictly increasing finite upper bounds (a trailing +Inf is accepted and dropped).
  StatusOr<HistogramFamily*> RegisterHistogram(
      std::string_view name, std::string_view help, std::vector<std::string> label_names = {},
      std::vector<double> buckets = kDefaultLatencyBuckets);

  // A label-less gauge whose value is `value()` at render time (e.g. the age of the desired state).
  // `value` runs under the registry lock: it must be quick, thread-safe, must not call back into
  // this registry, and must stay callable for the registry's lifetime. A second registration of
  // the same name is AlreadyExists (functions cannot be compared).
  Status RegisterGaugeFunc(std::string_view name, std::string_view help,
                           std::function<double()> value);

  // The whole exposition, families in registration order. Ends with '\n' unless empty.
  std::string Render() const;

 private:
  template <typename F>
  StatusOr<F*> Register(std::string_view name, std::string_view help,
                        metrics_internal::MetricType type, std::vector<std::string> label_names,
                        std::shared_ptr<const std::vector<double>> bounds);
  Status CheckNewNames(std::string_view name, metrics_internal::MetricType type) const;

  mutable std::mutex mu_;
  std::vector<std::unique_ptr<metrics_internal::FamilyBase>> families_;
  std::map<std::string, metrics_internal::FamilyBase*, std::less<>> by_name_;
};

}  // namespace driftguard::core

#endif  // DRIFTGUARD_CORE_METRICS_H_
