#include "domain/access/rate_limit.h"

#include <algorithm>

namespace ledger::domain {

std::int64_t RateLimiter::Verdict::retry_after_seconds() const {
  return std::max<std::int64_t>(1, (retry_after_micros + 999'999) / 1'000'000);
}

RateLimiter::Verdict RateLimiter::admit(const std::string& budget, std::int64_t per_minute, std::int64_t now_micros) {
  const std::int64_t limit = std::max<std::int64_t>(1, per_minute);
  const std::int64_t interval = (kWindowMicros + limit - 1) / limit;  // T
  const std::int64_t tolerance = interval * limit;                    // L*T >= 60 s
  Verdict v;
  v.limit = limit;

  std::lock_guard lock(mu_);
  auto it = tat_.find(budget);
  const std::int64_t tat = it == tat_.end() ? now_micros : std::max(it->second, now_micros);
  const std::int64_t next = tat + interval;
  if (next - now_micros > tolerance) {
    v.allowed = false;
    v.retry_after_micros = next - tolerance - now_micros;
    v.remaining = 0;
    return v;
  }
  if (it == tat_.end()) {
    if (tat_.size() >= prune_at_) prune(now_micros);
    tat_.emplace(budget, next);
  } else {
    it->second = next;
  }
  v.remaining = (tolerance - (next - now_micros)) / interval;
  return v;
}

void RateLimiter::prune(std::int64_t now_micros) {
  std::erase_if(tat_, [&](const auto& entry) { return entry.second <= now_micros; });
  // Grow the threshold with what is really in use, so a busy limiter does
  // not scan on every new budget.
  prune_at_ = std::max<std::size_t>(1024, tat_.size() * 2);
}

std::size_t RateLimiter::budgets_in_use() const {
  std::lock_guard lock(mu_);
  return tat_.size();
}

}  // namespace ledger::domain
