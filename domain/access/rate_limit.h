// Per-principal request budgets (seed 000's rate_limit.* keys, issue 5 part 7).
//
//   RateLimiter limiter;
//   auto v = limiter.admit("alice|rate_limit.api_requests_per_minute", 120, now_micros);
//   if (!v.allowed) reply 429 with Retry-After = v.retry_after_seconds();
//
// The algorithm is GCRA (the generic cell rate algorithm, a token bucket kept
// as one timestamp per budget): a budget of L requests per minute spaces
// requests T = ceil(60 s / L) apart and tolerates a burst of L. Each budget
// keeps its theoretical arrival time `tat`; a request at `now` moves it to
// max(tat, now) + T and is allowed when that is at most L*T after `now`.
// It is a token bucket of L tokens refilled at L per minute, the usual
// reading of "L requests per minute" in rate-limit services. Consequences
// the tests check:
//   - L requests at once are allowed from a fresh budget, then one per T;
//   - over any span of s seconds at most L + s/T requests are allowed (so a
//     60-second window holds at most 2L: a full burst and a minute of
//     refill; the long-run rate is L per minute);
//   - requests spaced T apart are never refused;
//   - a denied request is allowed again exactly `retry_after` later;
//   - a denied request costs nothing (it does not push `tat`).
// The limit is passed with every request, so a changed policy value applies
// to the next request; the budget's debt carries over.
//
// Thread-safe. Memory: one entry per budget in use; entries whose `tat` has
// passed are equivalent to fresh ones and are pruned as the map grows.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

namespace ledger::domain {

class RateLimiter {
 public:
  static constexpr std::int64_t kWindowMicros = 60'000'000;

  struct Verdict {
    bool allowed = true;
    std::int64_t limit = 0;               // requests per minute, as passed in
    std::int64_t remaining = 0;           // requests still allowed at once after this one
    std::int64_t retry_after_micros = 0;  // when denied: wait this long
    // Retry-After in whole seconds, rounded up, at least 1.
    std::int64_t retry_after_seconds() const;
  };

  // `per_minute` < 1 is treated as 1 (the catalog's minimum): a budget can
  // slow a caller down, never lock it out for good.
  Verdict admit(const std::string& budget, std::int64_t per_minute, std::int64_t now_micros);

  std::size_t budgets_in_use() const;

 private:
  void prune(std::int64_t now_micros);

  mutable std::mutex mu_;
  std::unordered_map<std::string, std::int64_t> tat_;
  std::size_t prune_at_ = 1024;
};

}  // namespace ledger::domain
