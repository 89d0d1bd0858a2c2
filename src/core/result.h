// Error codes and Result<T>: the one way Hearth reports expected failures.
// Thread-safety: value types; safe to move between threads.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace hearth {

// One canonical set of error codes (after absl::StatusCode). server/error_mapping.cpp maps each
// to an HTTP status and an OpenAI-style error body.
enum class ErrorCode {
  kInvalidArgument,    // 400: the request is malformed or names a bad value
  kUnauthenticated,    // 401
  kPermissionDenied,   // 403
  kNotFound,           // 404
  kPayloadTooLarge,    // 413
  kResourceExhausted,  // 429: a bounded queue is full; retry later
  kUnavailable,        // 503: cannot serve now (model loading failed, shutting down)
  kDeadlineExceeded,   // 504
  kCancelled,          // the caller went away
  kInternal,           // 500: a bug or a failure inside a third-party library
};

const char* error_code_name(ErrorCode code);

struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;
  std::string param;              // the offending request field, when there is one
  std::string type_override;      // OpenAI "code" field, e.g. "context_length_exceeded"
  int retry_after_s = 0;          // for kResourceExhausted / kUnavailable

  Error() = default;
  Error(ErrorCode c, std::string msg, std::string p = {})
      : code(c), message(std::move(msg)), param(std::move(p)) {}
};

inline Error invalid_argument(std::string msg, std::string param = {}) {
  return {ErrorCode::kInvalidArgument, std::move(msg), std::move(param)};
}
inline Error not_found(std::string msg) { return {ErrorCode::kNotFound, std::move(msg)}; }
inline Error internal_error(std::string msg) { return {ErrorCode::kInternal, std::move(msg)}; }
inline Error unavailable(std::string msg, int retry_after_s = 0) {
  Error e{ErrorCode::kUnavailable, std::move(msg)};
  e.retry_after_s = retry_after_s;
  return e;
}
inline Error resource_exhausted(std::string msg, int retry_after_s = 1) {
  Error e{ErrorCode::kResourceExhausted, std::move(msg)};
  e.retry_after_s = retry_after_s;
  return e;
}

// Result<T>: a value or an Error. [[nodiscard]] so that failures cannot be dropped silently.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}  // NOLINT

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { assert(ok()); return std::get<0>(v_); }
  const T& value() const& { assert(ok()); return std::get<0>(v_); }
  T&& value() && { assert(ok()); return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const Error& error() const { assert(!ok()); return std::get<1>(v_); }
  Error&& take_error() { assert(!ok()); return std::get<1>(std::move(v_)); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : err_(std::move(error)), ok_(false) {}  // NOLINT
  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { assert(!ok_); return err_; }
  Error&& take_error() { assert(!ok_); return std::move(err_); }

 private:
  Error err_;
  bool ok_ = true;
};

using Status = Result<void>;

}  // namespace hearth

// Propagate an error from an expression returning Result<...>.
#define HEARTH_TRY(expr)                                   \
  do {                                                     \
    auto _hearth_r = (expr);                               \
    if (!_hearth_r.ok()) return _hearth_r.take_error();    \
  } while (0)
