// Per-principal budgets (domain/access/rate_limit.h) and the request gate that
// applies them with live policy values (commands/access/request_gate.h).
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <deque>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "adapters/http/routes/http_json.h"
#include "commands/access/request_gate.h"
#include "domain/access/rate_limit.h"

namespace ledger {
namespace {

using domain::RateLimiter;
constexpr std::int64_t kSecond = 1'000'000;
constexpr std::int64_t kMinute = 60 * kSecond;

TEST(RateLimiter, AFreshBudgetAllowsItsWholeLimitAtOnceThenRefuses) {
  RateLimiter l;
  for (int i = 0; i < 5; ++i) {
    auto v = l.admit("alice", 5, 1000);
    ASSERT_TRUE(v.allowed) << i;
    EXPECT_EQ(v.remaining, 4 - i);
  }
  auto refused = l.admit("alice", 5, 1000);
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.remaining, 0);
  // One request comes back every 12 s.
  EXPECT_EQ(refused.retry_after_micros, 12 * kSecond);
  EXPECT_EQ(refused.retry_after_seconds(), 12);
  // Another budget is untouched.
  EXPECT_TRUE(l.admit("bob", 5, 1000).allowed);
}

TEST(RateLimiter, ADeniedRequestIsAllowedExactlyRetryAfterLaterAndNotBefore) {
  RateLimiter l;
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(l.admit("k", 3, 0).allowed);
  auto refused = l.admit("k", 3, 5 * kSecond);
  ASSERT_FALSE(refused.allowed);
  EXPECT_FALSE(l.admit("k", 3, 5 * kSecond + refused.retry_after_micros - 1).allowed);
  EXPECT_TRUE(l.admit("k", 3, 5 * kSecond + refused.retry_after_micros).allowed);
}

TEST(RateLimiter, ARaisedLimitAppliesToTheNextRequest) {
  RateLimiter l;
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(l.admit("k", 2, 0).allowed);
  ASSERT_FALSE(l.admit("k", 2, 0).allowed);
  // The debt of 2 requests at 30 s each is a minute; at 1,000 per minute a
  // request costs 60 ms, and the minute of tolerance is reached again once
  // the minute of debt has drained by that much.
  EXPECT_FALSE(l.admit("k", 1000, 0).allowed);
  EXPECT_TRUE(l.admit("k", 1000, 60'000).allowed);
}

TEST(RateLimiter, RetryAfterIsRoundedUpToWholeSecondsAndAtLeastOne) {
  RateLimiter::Verdict v;
  v.retry_after_micros = 1;
  EXPECT_EQ(v.retry_after_seconds(), 1);
  v.retry_after_micros = kSecond;
  EXPECT_EQ(v.retry_after_seconds(), 1);
  v.retry_after_micros = kSecond + 1;
  EXPECT_EQ(v.retry_after_seconds(), 2);
}

TEST(RateLimiter, BudgetsThatHaveDrainedArePruned) {
  RateLimiter l;
  // Ten waves of 3,000 callers, ten minutes apart: drained budgets are
  // dropped as new ones arrive, so the table never holds all 30,000.
  for (int wave = 0; wave < 10; ++wave) {
    for (int i = 0; i < 3000; ++i) l.admit(std::to_string(wave) + "-" + std::to_string(i), 600, wave * 10 * kMinute);
    EXPECT_LE(l.budgets_in_use(), 2u * 3000 + 1024) << wave;
  }
  EXPECT_GE(l.budgets_in_use(), 3000u);  // the last wave is still in use
}

// The rule, for any limit and any arrival pattern: over any span of s
// seconds at most L + s/T requests are allowed (a burst of L, then the
// refill), and a request is refused only when the budget is really spent.
RC_GTEST_PROP(RateLimiter, NoSpanHoldsMoreThanABurstPlusItsRefill, ()) {
  const auto limit = *rc::gen::inRange<std::int64_t>(1, 40);
  const auto gaps = *rc::gen::container<std::vector<std::int64_t>>(rc::gen::inRange<std::int64_t>(0, 8 * kSecond));
  RateLimiter l;
  std::int64_t now = 0;
  std::vector<std::int64_t> allowed;
  for (auto gap : gaps) {
    now += gap;
    auto v = l.admit("k", limit, now);
    if (v.allowed) {
      allowed.push_back(now);
      RC_ASSERT(v.remaining >= 0);
      RC_ASSERT(v.remaining < limit);
    } else {
      RC_ASSERT(v.retry_after_micros > 0);
      RC_ASSERT(v.retry_after_micros <= kMinute);
      // Refused: at least one allowed request in the last minute.
      RC_ASSERT(!allowed.empty() && now - allowed.back() < kMinute);
    }
  }
  const std::int64_t pace = (kMinute + limit - 1) / limit;
  for (std::size_t i = 0; i < allowed.size(); ++i) {
    for (std::size_t j = i; j < allowed.size(); ++j) {
      const auto count = static_cast<std::int64_t>(j - i + 1);
      RC_ASSERT(count <= limit + (allowed[j] - allowed[i]) / pace);
    }
  }
  // And within one minute, never more than twice the limit.
  for (std::size_t i = 0; i < allowed.size(); ++i) {
    const auto end = std::lower_bound(allowed.begin(), allowed.end(), allowed[i] + kMinute);
    RC_ASSERT(end - (allowed.begin() + static_cast<std::ptrdiff_t>(i)) <= 2 * limit);
  }
}

// Requests spaced at the budget's pace are never refused.
RC_GTEST_PROP(RateLimiter, RequestsAtTheSustainedPaceAreNeverRefused, ()) {
  const auto limit = *rc::gen::inRange<std::int64_t>(1, 1000);
  const std::int64_t pace = (kMinute + limit - 1) / limit;
  RateLimiter l;
  for (std::int64_t i = 0; i < 3 * limit; ++i) RC_ASSERT(l.admit("k", limit, i * pace).allowed);
}

// ------------------------------------------------------------ the gate

class FakeClock : public commands::Clock {
 public:
  events::Instant now() override { return events::Instant{micros}; }
  std::int64_t micros = 1'700'000'000LL * kSecond;
};

// Policy values by key for everyone; counts reads; can fail.
class FakeLimits : public commands::PolicyLimits {
 public:
  domain::Result<std::optional<std::int64_t>> value(std::string_view key, const commands::Principal&) override {
    ++reads;
    if (down) return domain::fail(domain::ErrorKind::kUnavailable, "database_unavailable", "down");
    auto it = values.find(std::string(key));
    if (it == values.end()) return std::optional<std::int64_t>();
    return std::optional<std::int64_t>(it->second);
  }
  std::map<std::string, std::int64_t> values;
  int reads = 0;
  bool down = false;
};

commands::Principal principal(std::string type, std::string id, std::string tenant = "acme") {
  return commands::Principal{events::Actor{std::move(type), std::move(id), {"service"}}, std::move(tenant)};
}

std::string evidence(const domain::Error& e, const std::string& key) {
  for (const auto& [k, v] : e.evidence_texts()) {
    if (k == key) return v;
  }
  return {};
}

TEST(RequestGate, EachFamilyDrawsOnItsBudgetPerPrincipal) {
  FakeClock clock;
  FakeLimits limits;
  limits.values = {{"rate_limit.api_requests_per_minute", 2},
                   {"rate_limit.admin_overview_requests_per_minute", 3},
                   {"rate_limit.financial_requests_per_minute", 1}};
  commands::RequestGate gate(limits, clock);
  const auto alice = principal("user", "alice");
  using commands::RouteFamily;
  ASSERT_TRUE(gate.admit(alice, RouteFamily::kDecision).has_value());
  ASSERT_TRUE(gate.admit(alice, RouteFamily::kPolicyValueRead).has_value());
  auto refused = gate.admit(alice, RouteFamily::kCeilingRead);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().kind, domain::ErrorKind::kResourceExhausted);
  EXPECT_EQ(refused.error().code, "rate_limited");
  EXPECT_EQ(evidence(refused.error(), "limit_key"), "rate_limit.api_requests_per_minute");
  EXPECT_EQ(evidence(refused.error(), "retry_after_seconds"), "30");
  EXPECT_EQ(::ledger::routes::http_status(refused.error().kind), 429);
  // Views and audit share the overview budget, reservations the financial one.
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(gate.admit(alice, i % 2 ? RouteFamily::kViewRead : RouteFamily::kAuditRead));
  EXPECT_FALSE(gate.admit(alice, RouteFamily::kViewRead).has_value());
  EXPECT_TRUE(gate.admit(alice, RouteFamily::kReservationWrite).has_value());
  EXPECT_FALSE(gate.admit(alice, RouteFamily::kReservationWrite).has_value());
  // access.record has its own budget, which this ledger does not define here.
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(gate.admit(alice, RouteFamily::kAccessRecord).has_value());
  // Another principal, or the same id in another organization, has its own budget.
  EXPECT_TRUE(gate.admit(principal("user", "bob"), RouteFamily::kDecision).has_value());
  EXPECT_TRUE(gate.admit(principal("user", "alice", "globex"), RouteFamily::kDecision).has_value());
}

TEST(RequestGate, RefusalRecordsHaveTheirOwnBudgetAndAreCountedWhenDropped) {
  FakeClock clock;
  FakeLimits limits;
  limits.values = {{"rate_limit.api_requests_per_minute", 100}, {"rate_limit.access_refusal_records_per_minute", 2}};
  commands::RequestGate gate(limits, clock);
  const auto alice = principal("user", "alice");
  using commands::RouteFamily;
  EXPECT_TRUE(gate.admit(alice, RouteFamily::kAccessRecord).has_value());
  EXPECT_TRUE(gate.admit(alice, RouteFamily::kAccessRecord).has_value());
  auto refused = gate.admit(alice, RouteFamily::kAccessRecord);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(evidence(refused.error(), "limit_key"), "rate_limit.access_refusal_records_per_minute");
  EXPECT_EQ(gate.dropped_refusal_records(), 1u);
  // The API budget is untouched by it.
  EXPECT_TRUE(gate.admit(alice, RouteFamily::kDecision).has_value());
}

// What the ledger records against principals and token ids.
class StandingLimits : public FakeLimits {
 public:
  domain::Result<std::optional<std::string>> standing(const commands::Principal& who, events::Instant) override {
    ++standing_reads;
    if (who.token_id && revoked_jti.contains(*who.token_id)) return std::optional<std::string>("token_revoked");
    if (expired.contains(who.actor.id)) return std::optional<std::string>("principal_expired");
    return std::optional<std::string>();
  }
  std::set<std::string> expired, revoked_jti;
  int standing_reads = 0;
};

TEST(RequestGate, APrincipalTheLedgerRecordsAsExpiredIsRefusedWithinTheRefresh) {
  FakeClock clock;
  StandingLimits limits;
  commands::RequestGate gate(limits, clock, {.refresh = std::chrono::milliseconds(1000)});
  auto alice = principal("user", "alice");
  ASSERT_TRUE(gate.admit(alice, commands::RouteFamily::kDecision).has_value());
  limits.expired.insert("alice");
  clock.micros += 500'000;
  EXPECT_TRUE(gate.admit(alice, commands::RouteFamily::kDecision).has_value());  // cached
  clock.micros += 600'000;
  auto refused = gate.admit(alice, commands::RouteFamily::kDecision);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code, "unauthenticated");
  EXPECT_EQ(::ledger::routes::http_status(refused.error().kind), 401);
  EXPECT_EQ(evidence(refused.error(), "reason"), "principal_expired");
  // A revoked token id refuses that token only.
  auto bob = principal("user", "bob");
  bob.token_id = "jti-1";
  auto bob2 = bob;
  bob2.token_id = "jti-2";
  limits.revoked_jti.insert("jti-1");
  EXPECT_EQ(evidence(gate.admit(bob, commands::RouteFamily::kDecision).error(), "reason"), "token_revoked");
  EXPECT_TRUE(gate.admit(bob2, commands::RouteFamily::kDecision).has_value());
}

TEST(RequestGate, AChangedValueAppliesAfterTheRefreshWithoutARestart) {
  FakeClock clock;
  FakeLimits limits;
  limits.values = {{"rate_limit.api_requests_per_minute", 1}};
  commands::RequestGate gate(limits, clock, {.refresh = std::chrono::milliseconds(1000)});
  const auto alice = principal("user", "alice");
  ASSERT_TRUE(gate.admit(alice, commands::RouteFamily::kDecision).has_value());
  ASSERT_FALSE(gate.admit(alice, commands::RouteFamily::kDecision).has_value());
  const int reads = limits.reads;
  limits.values["rate_limit.api_requests_per_minute"] = 600;
  clock.micros += 500'000;  // within the refresh: the cached value still applies
  EXPECT_FALSE(gate.admit(alice, commands::RouteFamily::kDecision).has_value());
  EXPECT_EQ(limits.reads, reads);
  clock.micros += 600'000;  // past it: read again
  EXPECT_TRUE(gate.admit(alice, commands::RouteFamily::kDecision).has_value());
  EXPECT_EQ(limits.reads, reads + 1);
}

TEST(RequestGate, AnUndefinedKeyLimitsNothingAndAnOutageKeepsTheLastValue) {
  FakeClock clock;
  FakeLimits limits;
  commands::RequestGate gate(limits, clock);
  const auto alice = principal("user", "alice");
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(gate.admit(alice, commands::RouteFamily::kDecision).has_value());

  limits.values = {{"rate_limit.api_requests_per_minute", 1}};
  const auto bob = principal("user", "bob");
  ASSERT_TRUE(gate.admit(bob, commands::RouteFamily::kDecision).has_value());
  limits.down = true;
  clock.micros += 2 * kSecond;
  EXPECT_FALSE(gate.admit(bob, commands::RouteFamily::kDecision).has_value());  // still 1 per minute
}

TEST(RequestGate, AServiceAccountTokenMayNotOutliveTheLiveTtl) {
  FakeClock clock;
  FakeLimits limits;
  commands::RequestGate gate(limits, clock, {.refresh = std::chrono::milliseconds(0)});
  auto svc = principal("service_account", "billing");
  svc.token_lifetime_seconds = 900;
  EXPECT_TRUE(gate.admit(svc, commands::RouteFamily::kDecision).has_value());  // key not defined

  limits.values = {{"auth.service_account_token_ttl_seconds", 600}};
  auto refused = gate.admit(svc, commands::RouteFamily::kDecision);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().kind, domain::ErrorKind::kUnauthenticated);
  EXPECT_EQ(evidence(refused.error(), "reason"), "lifetime_too_long");
  EXPECT_EQ(evidence(refused.error(), "max_lifetime_seconds"), "600");

  svc.token_lifetime_seconds = 600;
  EXPECT_TRUE(gate.admit(svc, commands::RouteFamily::kDecision).has_value());
  // Users' tokens and static tokens are not service-account tokens.
  auto user = principal("user", "alice");
  user.token_lifetime_seconds = 86400;
  EXPECT_TRUE(gate.admit(user, commands::RouteFamily::kDecision).has_value());
  auto static_svc = principal("service_account", "legacy");
  EXPECT_TRUE(gate.admit(static_svc, commands::RouteFamily::kDecision).has_value());
}

}  // namespace
}  // namespace ledger
