// Errors as values.
//
//   Result<int> parse(...) { return fail(Code::kValueOutOfBounds, "too big"); }
//
// Every error has a stable `code` (part of the API: clients switch on it), a
// user-safe `message`, and operator `evidence` (rule ids, failing scopes,
// correlation ids, positions, quantities) as key/value pairs whose values keep
// their JSON type: text, an integer or a boolean. `kind` says how a caller should react,
// in the spirit of absl::StatusCode; the HTTP edge maps kinds to statuses.
#pragma once

#include <concepts>
#include <cstdint>
#include <expected>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <variant>
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

// One evidence value: a JSON string, integer or boolean.
using EvidenceValue = std::variant<std::string, std::int64_t, bool>;

// The value as text: a string as it is, a number in decimal, true/false.
inline std::string evidence_text(const EvidenceValue& v) {
  if (const auto* s = std::get_if<std::string>(&v)) return *s;
  if (const auto* i = std::get_if<std::int64_t>(&v)) return std::to_string(*i);
  return std::get<bool>(v) ? "true" : "false";
}

struct Error {
  ErrorKind kind = ErrorKind::kInternal;
  std::string code;                                             // stable, snake_case
  std::string message;                                          // safe to show to the caller
  std::vector<std::pair<std::string, EvidenceValue>> evidence;  // for operators

  // NOLINTNEXTLINE(performance-unnecessary-value-param): moved, through add()'s forwarding
  Error& with(std::string key, std::string value) { return add<std::string>(std::move(key), std::move(value)); }
  Error& with(std::string key, const char* value) { return add<std::string>(std::move(key), value); }
  Error& with(std::string key, bool value) { return add<bool>(std::move(key), value); }
  // Positions, versions, quantities, limits: JSON integers.
  template <std::integral T>
    requires(!std::same_as<T, bool> && !std::same_as<T, char>)
  Error& with(std::string key, T value) {
    return add<std::int64_t>(std::move(key), static_cast<std::int64_t>(value));
  }

  // The first value under `key`, or nullptr.
  const EvidenceValue* find(std::string_view key) const {
    for (const auto& [k, v] : evidence) {
      if (k == key) return &v;
    }
    return nullptr;
  }
  // The first value under `key` as text ("" when there is none).
  std::string evidence_text(std::string_view key) const {
    const auto* v = find(key);
    return v ? domain::evidence_text(*v) : std::string();
  }
  // Every pair with its value as text, for logs and messages.
  std::vector<std::pair<std::string, std::string>> evidence_texts() const {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& [k, v] : evidence) out.emplace_back(k, domain::evidence_text(v));
    return out;
  }

 private:
  // Built in place: GCC 12 warns (falsely) about moving a variant here.
  template <typename T, typename V>
  Error& add(std::string key, V&& value) {  // NOLINT(performance-unnecessary-value-param): moved in place
    evidence.emplace_back(std::piecewise_construct, std::forward_as_tuple(std::move(key)),
                          std::forward_as_tuple(std::in_place_type<T>, std::forward<V>(value)));
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
