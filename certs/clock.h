// Clock: the injected source of "now" for certificate generation and rotation.
//
// Production code passes SystemClock; tests pass FakeClock and move it to the instants they want to
// check (e.g. 29 days before the serving certificate expires).
//
//   certs::FakeClock clock(certs::FromUnixSeconds(1767225600));  // 2026-01-01T00:00:00Z
//   auto material = certs::Generate(opts, clock);
//   clock.Advance(std::chrono::days(336));
//
// Thread safety: Now() may be called concurrently; FakeClock::Set/Advance are atomic.
#ifndef DRIFTGUARD_CERTS_CLOCK_H_
#define DRIFTGUARD_CERTS_CLOCK_H_

#include <atomic>
#include <chrono>
#include <cstdint>

namespace driftguard::certs {

using TimePoint = std::chrono::system_clock::time_point;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint Now() const = 0;
};

// Reads std::chrono::system_clock.
class SystemClock final : public Clock {
 public:
  TimePoint Now() const override { return std::chrono::system_clock::now(); }
};

// A clock that only moves when told to.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(TimePoint start) : nanos_(ToNanos(start)) {}
  TimePoint Now() const override {
    return TimePoint(std::chrono::duration_cast<TimePoint::duration>(
        std::chrono::nanoseconds(nanos_.load(std::memory_order_relaxed))));
  }
  void Set(TimePoint t) { nanos_.store(ToNanos(t), std::memory_order_relaxed); }
  void Advance(std::chrono::nanoseconds d) {
    nanos_.fetch_add(d.count(), std::memory_order_relaxed);
  }

 private:
  static int64_t ToNanos(TimePoint t) {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  }
  std::atomic<int64_t> nanos_;
};

inline TimePoint FromUnixSeconds(int64_t seconds) {
  return TimePoint(std::chrono::seconds(seconds));
}
inline int64_t ToUnixSeconds(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

}  // namespace driftguard::certs

#endif  // DRIFTGUARD_CERTS_CLOCK_H_
