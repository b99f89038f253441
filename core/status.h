// Status and StatusOr<T>: errors are values.
//
// Every function that can fail returns a Status (or StatusOr<T> when it also produces a value). A
// Status carries a code and a message a person can act on; messages name what failed and where
// ("kustomization.yaml:12:3: unknown field 'resorces'"). Exceptions from third-party libraries are
// translated into a Status at the adapter that calls them and never escape a public function.
//
//   StatusOr<Json> ReadManifest(const std::string& path) {
//     ASSIGN_OR_RETURN(std::string text, ReadFile(path));
//     ASSIGN_OR_RETURN(auto docs, ParseYamlStream(text, path));
//     if (docs.empty()) return InvalidArgumentError(path + ": no documents");
//     return docs.front().value;
//   }
#ifndef DRIFTGUARD_CORE_STATUS_H_
#define DRIFTGUARD_CORE_STATUS_H_

#include <cassert>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace driftguard::core {

enum class StatusCode {
  kOk = 0,
  kCancelled,
  kUnknown,
  kInvalidArgument,
  kDeadlineExceeded,
  kNotFound,
  kAlreadyExists,
  kPermissionDenied,
  kResourceExhausted,
  kFailedPrecondition,
  kAborted,
  kOutOfRange,
  kUnimplemented,
  kInternal,
  kUnavailable,
  kDataLoss,
  kUnauthenticated,
};

std::string_view StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // "INVALID_ARGUMENT: message", or "OK".
  std::string ToString() const;

  // Returns a copy whose message is "prefix: message" (no-op on OK). Used to add context while an
  // error travels up: `return s.WithPrefix("rendering " + dir);`
  Status WithPrefix(std::string_view prefix) const;

  // Explicitly discards a Status (for best-effort calls whose failure is already logged elsewhere).
  void IgnoreError() const {}

  friend bool operator==(const Status& a, const Status& b) {
    return a.code_ == b.code_ && a.message_ == b.message_;
  }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

std::ostream& operator<<(std::ostream& os, const Status& s);

inline Status OkStatus() { return Status(); }
inline Status InvalidArgumentError(std::string m) {
  return {StatusCode::kInvalidArgument, std::move(m)};
}
inline Status NotFoundError(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
inline Status AlreadyExistsError(std::string m) {
  return {StatusCode::kAlreadyExists, std::move(m)};
}
inline Status FailedPreconditionError(std::string m) {
  return {StatusCode::kFailedPrecondition, std::move(m)};
}
inline Status InternalError(std::string m) { return {StatusCode::kInternal, std::move(m)}; }
inline Status UnavailableError(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
inline Status UnimplementedError(std::string m) {
  return {StatusCode::kUnimplemented, std::move(m)};
}
inline Status ResourceExhaustedError(std::string m) {
  return {StatusCode::kResourceExhausted, std::move(m)};
}
inline Status DeadlineExceededError(std::string m) {
  return {StatusCode::kDeadlineExceeded, std::move(m)};
}
inline Status PermissionDeniedError(std::string m) {
  return {StatusCode::kPermissionDenied, std::move(m)};
}
inline Status UnauthenticatedError(std::string m) {
  return {StatusCode::kUnauthenticated, std::move(m)};
}
inline Status AbortedError(std::string m) { return {StatusCode::kAborted, std::move(m)}; }
inline Status OutOfRangeError(std::string m) { return {StatusCode::kOutOfRange, std::move(m)}; }
inline Status CancelledError(std::string m) { return {StatusCode::kCancelled, std::move(m)}; }
inline Status UnknownError(std::string m) { return {StatusCode::kUnknown, std::move(m)}; }
inline Status DataLossError(std::string m) { return {StatusCode::kDataLoss, std::move(m)}; }

// Holds either a value or a non-OK Status. Shaped like std::expected: check ok() (or operator bool)
// before value(); value() on an error is a programming error (asserts in debug builds).
template <typename T>
class [[nodiscard]] StatusOr {
 public:
  StatusOr(const Status& status) : rep_(status) {  // NOLINT: implicit by design
    assert(!status.ok() && "StatusOr constructed from an OK Status without a value");
    if (status.ok()) rep_ = Status(StatusCode::kInternal, "StatusOr built from OK status");
  }
  StatusOr(Status&& status) : rep_(std::move(status)) {  // NOLINT: implicit by design
    assert(!std::get<Status>(rep_).ok());
    if (std::get<Status>(rep_).ok()) {
      rep_ = Status(StatusCode::kInternal, "StatusOr built from OK status");
    }
  }
  StatusOr(const T& value) : rep_(value) {}        // NOLINT: implicit by design
  StatusOr(T&& value) : rep_(std::move(value)) {}  // NOLINT: implicit by design
  template <typename U>
  requires(std::is_constructible_v<T, U&&> && !std::is_same_v<std::decay_t<U>, T> &&
           !std::is_same_v<std::decay_t<U>, Status> &&
           !std::is_same_v<std::decay_t<U>, StatusOr<T>>) StatusOr(U&& value)
      : rep_(std::in_place_index<1>, std::forward<U>(value)) {}  // NOLINT

  bool ok() const { return rep_.index() == 1; }
  explicit operator bool() const { return ok(); }

  Status status() const { return ok() ? OkStatus() : std::get<0>(rep_); }

  T& value() & {
    assert(ok());
    return std::get<1>(rep_);
  }
  const T& value() const& {
    assert(ok());
    return std::get<1>(rep_);
  }
  T&& value() && {
    assert(ok());
    return std::get<1>(std::move(rep_));
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  template <typename U>
  T value_or(U&& fallback) const& {
    return ok() ? std::get<1>(rep_) : static_cast<T>(std::forward<U>(fallback));
  }

 private:
  std::variant<Status, T> rep_;
};

namespace internal {
inline const Status& ToStatus(const Status& s) { return s; }
template <typename T>
Status ToStatus(const StatusOr<T>& s) {
  return s.status();
}
}  // namespace internal

}  // namespace driftguard::core

#define DG_STATUS_CONCAT_INNER(a, b) a##b
#define DG_STATUS_CONCAT(a, b) DG_STATUS_CONCAT_INNER(a, b)

// Returns from the enclosing function if `expr` (a Status or StatusOr) is not OK.
#define RETURN_IF_ERROR(expr)                                                              \
  do {                                                                                     \
    auto&& dg_status_tmp = (expr);                                                         \
    if (!dg_status_tmp.ok()) return ::driftguard::core::internal::ToStatus(dg_status_tmp); \
  } while (0)

// `ASSIGN_OR_RETURN(lhs, expr)`: evaluates `expr` (a StatusOr<T>); on error returns its Status from
// the enclosing function, otherwise moves the value into `lhs` (which may be a declaration).
#define ASSIGN_OR_RETURN(lhs, expr) \
  DG_ASSIGN_OR_RETURN_IMPL(DG_STATUS_CONCAT(dg_statusor_, __LINE__), lhs, expr)
#define DG_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                             \
  if (!tmp.ok()) return tmp.status();            \
  lhs = std::move(tmp).value()

#endif  // DRIFTGUARD_CORE_STATUS_H_
