// The live, per-principal checks every edge makes once a caller is
// authenticated and before its roles are checked (issue 5, parts 1 and 7):
//
//   RequestGate gate(limits, clock);
//   if (auto ok = gate.admit(principal, family); !ok) return error_response(ok.error());
//
// 1. Token lifetime. A service account's token may live (exp - iat) at most
//    the policy value auth.service_account_token_ttl_seconds, resolved for
//    that principal. The token file's `service_account_token_ttl_seconds`
//    stays the static bound the verifier applies first (and the only one
//    while the ledger does not define the key). Too long -> 401
//    `unauthenticated`, evidence reason `lifetime_too_long`.
// 2. Standing. A principal the ledger records as expired (its
//    PrincipalCreated `expires_at` has passed) or as revoked, and a JWT whose
//    `jti` the ledger records as revoked, are refused with 401
//    `unauthenticated`, evidence reason `principal_expired`,
//    `principal_revoked` or `token_revoked` (PolicyLimits::standing).
// 3. Rate limits. Each route family draws on one rate_limit.* budget
//    (rate_limit_key), per principal (actor type and id within its
//    tenant). The limit is the key's policy value resolved for the principal
//    (user -> project -> organization -> plan -> global, as any policy value).
//    Over budget -> 429 `rate_limited` with Retry-After (evidence
//    `retry_after_seconds`, `limit_key`, `limit`). A key the ledger does not
//    define limits nothing.
//
// Live: values are re-read from the read model at most every
// `Options::refresh` per principal and key, so changing a key (at any scope)
// changes the limit without a restart, within `refresh` plus projection lag.
// If the read model cannot be read, the last value read stays in force; with
// none, the request is not limited (the route itself will answer 503 if it
// needs the database). Pure logic over the PolicyLimits port and the clock:
// unit-tested with fakes.
//
// Budgets are counted per process: N query-service replicas allow N times
// the limit to a principal spreading its requests over all of them. The
// command service applies the same gate to commands on `ledger.commands`
// (one budget for both of its edges); a refused command is answered on
// `ledger.command-results` with its code and evidence.
//
// Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "commands/access/authorization.h"
#include "commands/command.h"
#include "commands/ports.h"
#include "domain/access/rate_limit.h"
#include "domain/error.h"

namespace ledger::commands {

inline constexpr std::string_view kServiceAccountTokenTtlKey = "auth.service_account_token_ttl_seconds";

// Where the gate reads policy values from (adapters/postgres/read_model_limits.h
// reads the read models).
class PolicyLimits {
 public:
  virtual ~PolicyLimits() = default;
  // The integer value of `key` in force now for `who`; nullopt when the
  // ledger does not define the key (or it is not an integer).
  virtual domain::Result<std::optional<std::int64_t>> value(std::string_view key, const Principal& who) = 0;
  // Why the ledger no longer accepts `who` (its credentials) at `now`:
  // "principal_expired", "principal_revoked" or "token_revoked"; nullopt when
  // it records nothing against it.
  virtual domain::Result<std::optional<std::string>> standing(const Principal& who, events::Instant now) {
    (void)who;
    (void)now;
    return std::optional<std::string>();
  }
};

class RequestGate {
 public:
  struct Options {
    std::chrono::milliseconds refresh{1000};
  };
  RequestGate(PolicyLimits& limits, Clock& clock, Options options);
  RequestGate(PolicyLimits& limits, Clock& clock) : RequestGate(limits, clock, Options{}) {}

  domain::Result<void> admit(const Principal& who, RouteFamily family);
  // admit() for a decoded command: its family (command_family), drawing on
  // budget_principal(who, c)'s budget.
  domain::Result<void> admit(const Principal& who, const Command& c);

  // access.record_refusal commands refused for rate (dropped, not written).
  std::uint64_t dropped_refusal_records() const { return dropped_refusal_records_.load(); }

 private:
  domain::Result<void> admit(const Principal& who, RouteFamily family, const Principal& budget);
  std::optional<std::int64_t> live_value(std::string_view key, const Principal& who, std::int64_t now);
  std::optional<std::string> live_standing(const Principal& who, std::int64_t now);

  struct Cached {
    std::optional<std::int64_t> value;
    std::int64_t read_at = 0;  // micros, the gate's clock
  };

  PolicyLimits& limits_;
  Clock& clock_;
  Options options_;
  std::mutex mu_;
  std::unordered_map<std::string, Cached> cache_;
  struct CachedStanding {
    std::optional<std::string> refusal;
    std::int64_t read_at = 0;
  };
  std::unordered_map<std::string, CachedStanding> standing_;
  domain::RateLimiter limiter_;
  std::atomic<std::uint64_t> dropped_refusal_records_{0};
};

// "<tenant>|<actor type>|<actor id>": whose budget a request draws on.
std::string budget_owner(const Principal& who);

}  // namespace ledger::commands
