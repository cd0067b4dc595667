// Errors as values.
//
//   Result<int> parse(...) { return fail(Code::kValueOutOfBounds, "too big"); }
//
// Every error has a stable `code` (part of the API: clients switch on it), a
// user-safe `message`, and operator `evidence` (rule ids, failing scopes,
// correlation ids) as key/value pairs. `kind` says how a caller should react,
// in the spirit of absl::StatusCode; the HTTP edge maps kinds to statuses.
#pragma once

#include <expected>
#include <string>
#include <utility>
#include <vector>

namespace ledger::domain {

enum class ErrorKind {
  kInvalidArgument,     // 400: malformed request
  kUnauthenticated,     // 401
  kPermissionDenied,    // 403
  kNotFound,            // 404
  kAborted,             // 409: retry the transaction (version conflict, stale precondition)
  kFailedPrecondition,  // 422: a rule said no
  kPayloadTooLarge,     // 413
  kResourceExhausted,   // 429: over a rate limit; evidence `retry_after_seconds`
  kUnavailable,         // 503: a dependency is down, retry the call; nothing written
  kInternal,            // 500
};

struct Error {
  ErrorKind kind = ErrorKind::kInternal;
  std::string code;     // stable, snake_case
  std::string message;  // safe to show to the caller
  std::vector<std::pair<std::string, std::string>> evidence;  // for operators

  Error& with(std::string key, std::string value) {
    evidence.emplace_back(std::move(key), std::move(value));
    return *this;
  }
};

template <typename T>
using Result = std::expected<T, Error>;

inline std::unexpected<Error> fail(ErrorKind kind, std::string code, std::string message) {
  return std::unexpected(Error{kind, std::move(code), std::move(message), {}});
}
inline std::unexpected<Error> fail(Error e) { return std::unexpected(std::move(e)); }

}  // namespace ledger::domain
