#include "core/metrics.h"

#include <cassert>
#include <charconv>
#include <chrono>
#include <cmath>
#include <utility>

namespace driftguard::core {

using metrics_internal::FamilyBase;
using metrics_internal::MetricType;

namespace {

std::string_view TypeName(MetricType type) {
  switch (type) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kHistogram:
      return "histogram";
  }
  return "untyped";
}

bool IsMetricNameStart(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
}
bool IsLabelNameStart(char c) { return IsMetricNameStart(c) && c != ':'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

bool IsValidMetricName(std::string_view name) {
  if (name.empty() || !IsMetricNameStart(name[0])) return false;
  for (char c : name) {
    if (!IsMetricNameStart(c) && !IsDigit(c)) return false;
  }
  return true;
}

bool IsValidLabelName(std::string_view name) {
  if (name.empty() || !IsLabelNameStart(name[0])) return false;
  for (char c : name) {
    if (!IsLabelNameStart(c) && !IsDigit(c)) return false;
  }
  return true;
}

// Shortest text that parses back to `value`: plain decimals between 1e-4 and 1e21 ("0.0005",
// "1234567"), exponent form outside ("1e+21"), and Prometheus' spellings of NaN and infinities.
void AppendValue(std::string& out, double value) {
  if (std::isnan(value)) {
    out += "NaN";
    return;
  }
  if (std::isinf(value)) {
    out += value > 0 ? "+Inf" : "-Inf";
    return;
  }
  const double magnitude = std::fabs(value);
  const auto format = (magnitude != 0 && (magnitude < 1e-4 || magnitude >= 1e21))
                          ? std::chars_format::scientific
                          : std::chars_format::fixed;
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), value, format);
  out.append(buf, ec == std::errc() ? end : buf);
}

void AppendEscaped(std::string& out, std::string_view text, bool escape_quotes) {
  for (char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && escape_quotes) {
      out += "\\\"";
    } else {
      out += c;
    }
  }
}

void AppendHeader(std::string& out, const FamilyBase& family) {
  out += "# HELP ";
  out += family.name();
  out += ' ';
  AppendEscaped(out, family.help(), /*escape_quotes=*/false);
  out += "\n# TYPE ";
  out += family.name();
  out += ' ';
  out += TypeName(family.type());
  out += '\n';
}

// Appends `name{l1="v1",...,extra_name="extra_value"} value\n`; braces only when there are labels.
void AppendSample(std::string& out, std::string_view name, const std::vector<std::string>& labels,
                  const std::vector<std::string>& values, std::string_view extra_name,
                  std::string_view extra_value, double value) {
  out += name;
  if (!labels.empty() || !extra_name.empty()) {
    out += '{';
    for (size_t i = 0; i < labels.size(); ++i) {
      if (i > 0) out += ',';
      out += labels[i];
      out += "=\"";
      AppendEscaped(out, values[i], /*escape_quotes=*/true);
      out += '"';
    }
    if (!extra_name.empty()) {
      if (!labels.empty()) out += ',';
      out += extra_name;
      out += "=\"";
      out += extra_value;
      out += '"';
    }
    out += '}';
  }
  out += ' ';
  AppendValue(out, value);
  out += '\n';
}

std::string JoinLabels(const std::vector<std::string>& labels) {
  std::string out = "[";
  for (size_t i = 0; i < labels.size(); ++i) {
    if (i > 0) out += ", ";
    out += labels[i];
  }
  return out + "]";
}

// Every name a family's samples use: the family name, plus _bucket/_sum/_count for histograms.
std::vector<std::string> SampleNames(std::string_view name, MetricType type) {
  std::vector<std::string> names = {std::string(name)};
  if (type == MetricType::kHistogram) {
    for (const char* suffix : {"_bucket", "_sum", "_count"})
      names.push_back(std::string(name) + suffix);
  }
  return names;
}

class GaugeFuncFamily final : public FamilyBase {
 public:
  GaugeFuncFamily(std::string name, std::string help, std::function<double()> value)
      : FamilyBase(std::move(name), std::move(help), MetricType::kGauge, {}),
        value_(std::move(value)) {}

  void RenderTo(std::string& out) const override {
    AppendHeader(out, *this);
    AppendSample(out, name(), {}, {}, {}, {}, value_());
  }

 private:
  const std::function<double()> value_;
};

Status ValidateDefinition(std::string_view name, MetricType type,
                          const std::vector<std::string>& label_names,
                          const std::vector<double>* buckets) {
  if (!IsValidMetricName(name)) {
    return InvalidArgumentError("invalid metric name \"" + std::string(name) +
                                "\": must match [a-zA-Z_:][a-zA-Z0-9_:]*");
  }
  const std::string what = std::string(TypeName(type)) + " \"" + std::string(name) + "\"";
  for (size_t i = 0; i < label_names.size(); ++i) {
    const std::string& label = label_names[i];
    if (!IsValidLabelName(label)) {
      return InvalidArgumentError(what + ": invalid label name \"" + label +
                                  "\": must match [a-zA-Z_][a-zA-Z0-9_]*");
    }
    if (label.starts_with("__")) {
      return InvalidArgumentError(what + ": label name \"" + label +
                                  "\" is reserved (starts with \"__\")");
    }
    if (type == MetricType::kHistogram && label == "le") {
      return InvalidArgumentError(what + ": label name \"le\" is reserved for buckets");
    }
    for (size_t j = 0; j < i; ++j) {
      if (label_names[j] == label) {
        return InvalidArgumentError(what + ": duplicate label name \"" + label + "\"");
      }
    }
  }
  if (buckets != nullptr) {
    for (size_t i = 0; i < buckets->size(); ++i) {
      const double b = (*buckets)[i];
      if (!std::isfinite(b) || (i > 0 && !((*buckets)[i - 1] < b))) {
        std::string text;
        AppendValue(text, b);
        return InvalidArgumentError(what +
                                    ": bucket bounds must be finite and strictly increasing"
                                    " (bound " +
                                    std::to_string(i) + " is " + text + ")");
      }
    }
  }
  return OkStatus();
}

}  // namespace

std::vector<double> ExponentialBuckets(double start, double factor, int count) {
  std::vector<double> bounds;
  bounds.reserve(count > 0 ? count : 0);
  double bound = start;
  for (int i = 0; i < count; ++i) {
    bounds.push_back(bound);
    bound *= factor;
  }
  return bounds;
}

void Counter::Inc(double delta) {
  if (!(delta >= 0)) return;
  value_.fetch_add(delta, std::memory_order_relaxed);
}

void Gauge::SetToCurrentTime() {
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  Set(std::chrono::duration<double>(now).count());
}

Histogram::Histogram(std::shared_ptr<const std::vector<double>> bounds)
    : bounds_(std::move(bounds)),
      counts_(std::make_unique<std::atomic<uint64_t>[]>(bounds_->size() + 1)) {}

void Histogram::Observe(double value) {
  const std::vector<double>& b = *bounds_;
  const size_t bucket =
      std::isnan(value)
          ? b.size()
          : static_cast<size_t>(std::lower_bound(b.begin(), b.end(), value) - b.begin());
  counts_[bucket].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::Collect() const {
  Snapshot s;
  s.bounds = *bounds_;
  s.cumulative.resize(bounds_->size() + 1);
  uint64_t total = 0;
  for (size_t i = 0; i <= bounds_->size(); ++i) {
    total += counts_[i].load(std::memory_order_relaxed);
    s.cumulative[i] = total;
  }
  s.count = total;
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

template <typename T>
MetricFamily<T>::MetricFamily(std::string name, std::string help, MetricType type,
                              std::vector<std::string> label_names,
                              std::shared_ptr<const std::vector<double>> bounds)
    : FamilyBase(std::move(name), std::move(help), type, std::move(label_names)),
      bounds_(std::move(bounds)),
      detached_(MakeChild()) {
  if (this->label_names().empty()) {
    children_.emplace(std::vector<std::string>{}, MakeChild());
  }
}

template <typename T>
std::unique_ptr<T> MetricFamily<T>::MakeChild() const {
  if constexpr (std::is_same_v<T, Histogram>) {
    return std::make_unique<Histogram>(bounds_);
  } else {
    return std::make_unique<T>();
  }
}

template <typename T>
T& MetricFamily<T>::WithLabels(std::initializer_list<std::string_view> values) {
  return Get(std::span<const std::string_view>(values.begin(), values.size()));
}

template <typename T>
T& MetricFamily<T>::WithLabels(const std::vector<std::string>& values) {
  const std::vector<std::string_view> views(values.begin(), values.end());
  return Get(views);
}

template <typename T>
T& MetricFamily<T>::Get(std::span<const std::string_view> values) {
  if (values.size() != label_names().size()) {
    assert(false && "WithLabels: wrong number of label values");
    return *detached_;
  }
  {
    std::shared_lock<std::shared_mutex> lock(mu_);
    auto it = children_.find(values);
    if (it != children_.end()) return *it->second;
  }
  std::unique_lock<std::shared_mutex> lock(mu_);
  auto it = children_.find(values);
  if (it != children_.end()) return *it->second;
  std::vector<std::string> key(values.begin(), values.end());
  return *children_.emplace(std::move(key), MakeChild()).first->second;
}

template <typename T>
void MetricFamily<T>::RenderTo(std::string& out) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  if (children_.empty()) return;
  AppendHeader(out, *this);
  for (const auto& [values, child] : children_) {
    if constexpr (std::is_same_v<T, Histogram>) {
      const Histogram::Snapshot s = child->Collect();
      const std::string bucket_name = name() + "_bucket";
      std::string le;
      for (size_t i = 0; i <= s.bounds.size(); ++i) {
        le.clear();
        if (i < s.bounds.size()) {
          AppendValue(le, s.bounds[i]);
        } else {
          le = "+Inf";
        }
        AppendSample(out, bucket_name, label_names(), values, "le", le,
                     static_cast<double>(s.cumulative[i]));
      }
      AppendSample(out, name() + "_sum", label_names(), values, {}, {}, s.sum);
      AppendSample(out, name() + "_count", label_names(), values, {}, {},
                   static_cast<double>(s.count));
    } else {
      AppendSample(out, name(), label_names(), values, {}, {}, child->Value());
    }
  }
}

template class MetricFamily<Counter>;
template class MetricFamily<Gauge>;
template class MetricFamily<Histogram>;

Status MetricsRegistry::CheckNewNames(std::string_view name, MetricType type) const {
  for (const std::string& sample : SampleNames(name, type)) {
    for (const auto& family : families_) {
      for (const std::string& taken : SampleNames(family->name(), family->type())) {
        if (sample == taken) {
          return AlreadyExistsError(std::string(TypeName(type)) + " \"" + std::string(name) +
                                    "\" would expose \"" + sample + "\", already used by " +
                                    std::string(TypeName(family->type())) + " \"" + family->name() +
                                    "\"");
        }
      }
    }
  }
  return OkStatus();
}

template <typename F>
StatusOr<F*> MetricsRegistry::Register(std::string_view name, std::string_view help,
                                       MetricType type, std::vector<std::string> label_names,
                                       std::shared_ptr<const std::vector<double>> bounds) {
  RETURN_IF_ERROR(ValidateDefinition(name, type, label_names, bounds.get()));
  std::lock_guard<std::mutex> lock(mu_);
  if (auto it = by_name_.find(name); it != by_name_.end()) {
    auto* existing = dynamic_cast<F*>(it->second);
    const bool same = existing != nullptr && existing->type() == type && existing->help() == help &&
                      existing->label_names() == label_names &&
                      (bounds == nullptr || *existing->bounds() == *bounds);
    if (same) return existing;
    return AlreadyExistsError("metric \"" + std::string(name) +
                              "\" is already registered with a different definition (" +
                              std::string(TypeName(it->second->type())) + ", labels " +
                              JoinLabels(it->second->label_names()) + ")");
  }
  RETURN_IF_ERROR(CheckNewNames(name, type));
  auto family = std::make_unique<F>(std::string(name), std::string(help), type,
                                    std::move(label_names), std::move(bounds));
  F* raw = family.get();
  by_name_.emplace(raw->name(), raw);
  families_.push_back(std::move(family));
  return raw;
}

StatusOr<CounterFamily*> MetricsRegistry::RegisterCounter(std::string_view name,
                                                          std::string_view help,
                                                          std::vector<std::string> label_names) {
  return Register<CounterFamily>(name, help, MetricType::kCounter, std::move(label_names), nullptr);
}

StatusOr<GaugeFamily*> MetricsRegistry::RegisterGauge(std::string_view name, std::string_view help,
                                                      std::vector<std::string> label_names) {
  return Register<GaugeFamily>(name, help, MetricType::kGauge, std::move(label_names), nullptr);
}

StatusOr<HistogramFamily*> MetricsRegistry::RegisterHistogram(std::string_view name,
                                                              std::string_view help,
                                                              std::vector<std::string> label_names,
                                                              std::vector<double> buckets) {
  if (!buckets.empty() && std::isinf(buckets.back()) && buckets.back() > 0) buckets.pop_back();
  return Register<HistogramFamily>(name, help, MetricType::kHistogram, std::move(label_names),
                                   std::make_shared<const std::vector<double>>(std::move(buckets)));
}

Status MetricsRegistry::RegisterGaugeFunc(std::string_view name, std::string_view help,
                                          std::function<double()> value) {
  RETURN_IF_ERROR(ValidateDefinition(name, MetricType::kGauge, {}, nullptr));
  if (!value) return InvalidArgumentError("gauge \"" + std::string(name) + "\": empty function");
  std::lock_guard<std::mutex> lock(mu_);
  if (by_name_.contains(name)) {
    return AlreadyExistsError("metric \"" + std::string(name) + "\" is already registered");
  }
  RETURN_IF_ERROR(CheckNewNames(name, MetricType::kGauge));
  auto family =
      std::make_unique<GaugeFuncFamily>(std::string(name), std::string(help), std::move(value));
  by_name_.emplace(family->name(), family.get());
  families_.push_back(std::move(family));
  return OkStatus();
}

std::string MetricsRegistry::Render() const {
  std::string out;
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& family : families_) family->RenderTo(out);
  return out;
}

}  // namespace driftguard::core
