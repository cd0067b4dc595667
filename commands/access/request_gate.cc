#include "commands/access/request_gate.h"

namespace ledger::commands {

namespace {

// Entries kept before the value cache is dropped and refilled.
constexpr std::size_t kMaxCachedValues = 100'000;

}  // namespace

std::string budget_owner(const Principal& who) { return who.tenant + "|" + who.actor.type + "|" + who.actor.id; }

RequestGate::RequestGate(PolicyLimits& limits, Clock& clock, Options options)
    : limits_(limits), clock_(clock), options_(options) {}

std::optional<std::int64_t> RequestGate::live_value(std::string_view key, const Principal& who, std::int64_t now) {
  const std::string cache_key = std::string(key) + "|" + budget_owner(who);
  const std::int64_t refresh = std::chrono::duration_cast<std::chrono::microseconds>(options_.refresh).count();
  std::optional<Cached> stale;
  {
    std::lock_guard lock(mu_);
    if (auto it = cache_.find(cache_key); it != cache_.end()) {
      if (now - it->second.read_at < refresh && now >= it->second.read_at) return it->second.value;
      stale = it->second;
    }
  }
  // Read outside the lock: a slow database must not serialize every request.
  auto read = limits_.value(key, who);
  if (!read) return stale ? stale->value : std::nullopt;
  std::lock_guard lock(mu_);
  if (cache_.size() >= kMaxCachedValues) cache_.clear();
  cache_[cache_key] = Cached{*read, now};
  return *read;
}

std::optional<std::string> RequestGate::live_standing(const Principal& who, std::int64_t now) {
  const std::string cache_key = budget_owner(who) + "|" + who.token_id.value_or("");
  const std::int64_t refresh = std::chrono::duration_cast<std::chrono::microseconds>(options_.refresh).count();
  std::optional<CachedStanding> stale;
  {
    std::lock_guard lock(mu_);
    if (auto it = standing_.find(cache_key); it != standing_.end()) {
      if (now - it->second.read_at < refresh && now >= it->second.read_at) return it->second.refusal;
      stale = it->second;
    }
  }
  auto read = limits_.standing(who, events::Instant{now});
  if (!read) return stale ? stale->refusal : std::nullopt;
  std::lock_guard lock(mu_);
  if (standing_.size() >= kMaxCachedValues) standing_.clear();
  standing_[cache_key] = CachedStanding{*read, now};
  return *read;
}

domain::Result<void> RequestGate::admit(const Principal& who, RouteFamily family) { return admit(who, family, who); }

domain::Result<void> RequestGate::admit(const Principal& who, const Command& c) {
  return admit(who, command_family(c), budget_principal(who, c));
}

domain::Result<void> RequestGate::admit(const Principal& who, RouteFamily family, const Principal& budget) {
  const std::int64_t now = clock_.now().micros;
  if (auto refusal = live_standing(who, now)) {
    domain::Error e{domain::ErrorKind::kUnauthenticated, "unauthenticated", "a valid bearer token is required", {}};
    e.with("reason", *refusal);
    return std::unexpected(std::move(e));
  }
  if (who.actor.type == "service_account" && who.token_lifetime_seconds) {
    if (auto ttl = live_value(kServiceAccountTokenTtlKey, who, now); ttl && *who.token_lifetime_seconds > *ttl) {
      domain::Error e{domain::ErrorKind::kUnauthenticated, "unauthenticated", "a valid bearer token is required", {}};
      e.with("reason", "lifetime_too_long").with("max_lifetime_seconds", *ttl);
      return std::unexpected(std::move(e));
    }
  }
  const auto key = rate_limit_key(family);
  if (!key) return {};
  const auto limit = live_value(*key, budget, now);
  if (!limit) return {};
  const auto verdict = limiter_.admit(std::string(*key) + "|" + budget_owner(budget), *limit, now);
  if (verdict.allowed) return {};
  if (family == RouteFamily::kAccessRecord) ++dropped_refusal_records_;
  domain::Error e{domain::ErrorKind::kResourceExhausted,
                  "rate_limited",
                  "too many requests; retry after the time in Retry-After",
                  {}};
  e.with("retry_after_seconds", verdict.retry_after_seconds())
      .with("limit_key", std::string(*key))
      .with("limit", verdict.limit);
  return std::unexpected(std::move(e));
}

}  // namespace ledger::commands
