// The policy-key aggregate (domain/policy_key.h): given events -> when
// command -> then events or error. Pure: `now` is passed in, no clock.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "adapters/http/routes/http_json.h"
#include "domain/policy_key.h"

namespace ledger::domain {
namespace {

using events::Instant;
using events::PolicyKeyDefined;
using events::PolicyScope;
using events::PolicyValue;
using events::PolicyValueSet;
using events::ScopeLevel;
using events::ValueType;

constexpr Instant kNow{1'780'272'000'000'000};  // 2026-06-01T00:00:00Z
constexpr std::int64_t kMinute = 60'000'000;

PolicyValue int_value(std::int64_t v) { return PolicyValue{v}; }
PolicyValue str_value(std::string v) { return PolicyValue{std::move(v)}; }
PolicyValue bool_value(bool v) { return PolicyValue{v}; }

PolicyKeyDefined window_seconds() {
  PolicyKeyDefined d;
  d.key = "billing.window_seconds";
  d.value_type = ValueType::kInt;
  d.default_value = int_value(60);
  d.min = 1;
  d.max = 3600;
  d.description = "Billing accrual interval";
  return d;
}

PolicyKeyDefined isolation_model() {
  PolicyKeyDefined d;
  d.key = "allocation.isolation_model";
  d.value_type = ValueType::kString;
  d.default_value = str_value("user-revoke");
  d.allowed = {"user-revoke", "full-reimage"};
  return d;
}

PolicyKeyDefined maas_enabled() {
  PolicyKeyDefined d;
  d.key = "maas.enabled";
  d.value_type = ValueType::kBool;
  d.default_value = bool_value(false);
  return d;
}

PolicyKeyState given(const std::vector<events::Event>& history) {
  PolicyKeyState s;
  for (const auto& e : history) s = evolve(std::move(s), e);
  return s;
}

PolicyScope org(std::string id) { return {ScopeLevel::kOrganization, std::move(id)}; }
PolicyScope user(std::string id) { return {ScopeLevel::kUser, std::move(id)}; }
PolicyScope global() { return {ScopeLevel::kGlobal, ""}; }

SetPolicyValue set_window(PolicyScope scope, std::int64_t v) {
  SetPolicyValue c;
  c.key = "billing.window_seconds";
  c.scope = std::move(scope);
  c.value = int_value(v);
  c.reason = "customer request";
  return c;
}

std::string evidence(const Error& e, const std::string& key) {
  for (const auto& [k, v] : e.evidence_texts()) {
    if (k == key) return v;
  }
  return "<none>";
}

// Applies the events a decision returned, as the command service does.
PolicyKeyState then_apply(PolicyKeyState s, const Result<std::vector<events::Event>>& r) {
  for (const auto& e : *r) s = evolve(std::move(s), e);
  return s;
}

// ---------------------------------------------------------------------------
// Key names

TEST(PolicyKeyName, AcceptsDotSeparatedLowercaseSegments) {
  for (const char* ok : {"a.b", "billing.window_seconds", "rate_limit.api_requests_per_minute", "a1.b_2.c3",
                         "notification.low_balance_enabled", "x.y_"}) {
    EXPECT_TRUE(valid_policy_key_name(ok)) << ok;
  }
  std::string longest = "a." + std::string(126, 'b');
  ASSERT_EQ(longest.size(), 128u);
  EXPECT_TRUE(valid_policy_key_name(longest));
}

TEST(PolicyKeyName, RefusesMalformedNames) {
  for (const char* bad : {"", "billing", "Billing.window", "billing.Window", "billing..window", ".billing.window",
                          "billing.window.", "1billing.window", "billing.1window", "billing.win-dow", "billing.win dow",
                          "billing._window", "billing.window\n", "bïlling.window", "."}) {
    EXPECT_FALSE(valid_policy_key_name(bad)) << bad;
  }
  EXPECT_FALSE(valid_policy_key_name("a." + std::string(127, 'b')));  // 129 characters
}

TEST(PolicyKeyName, StreamIdIsPrefixedKey) {
  EXPECT_EQ(policy_stream_id("billing.window_seconds"), "policy-key:billing.window_seconds");
}

// ---------------------------------------------------------------------------
// Defining a key

TEST(PolicyKeyDefine, EmptyStreamAcceptsAWellFormedDefinition) {
  for (const auto& d : {window_seconds(), isolation_model(), maas_enabled()}) {
    auto r = decide(PolicyKeyState{}, DefinePolicyKey{d});
    ASSERT_TRUE(r.has_value()) << r.error().code << ": " << r.error().message;
    ASSERT_EQ(r->size(), 1u);
    EXPECT_EQ(std::get<PolicyKeyDefined>((*r)[0]), d);
  }
}

TEST(PolicyKeyDefine, StringKeyWithoutEnumAcceptsAnyString) {
  PolicyKeyDefined d = isolation_model();
  d.allowed.clear();
  EXPECT_TRUE(decide(PolicyKeyState{}, DefinePolicyKey{d}).has_value());
}

TEST(PolicyKeyDefine, DefaultMayEqualEitherBound) {
  PolicyKeyDefined d = window_seconds();
  d.default_value = int_value(1);
  EXPECT_TRUE(decide(PolicyKeyState{}, DefinePolicyKey{d}).has_value());
  d.default_value = int_value(3600);
  EXPECT_TRUE(decide(PolicyKeyState{}, DefinePolicyKey{d}).has_value());
  d.min = d.max = 3600;  // a pinned key
  EXPECT_TRUE(decide(PolicyKeyState{}, DefinePolicyKey{d}).has_value());
}

void expect_invalid_definition(const PolicyKeyDefined& d, const char* why) {
  auto r = decide(PolicyKeyState{}, DefinePolicyKey{d});
  ASSERT_FALSE(r.has_value()) << why;
  EXPECT_EQ(r.error().code, "invalid_policy_key") << why;
  EXPECT_EQ(r.error().kind, ErrorKind::kFailedPrecondition) << why;
  EXPECT_EQ(::ledger::routes::http_status(r.error().kind), 422) << why;
  EXPECT_EQ(evidence(r.error(), "key"), d.key) << why;
  EXPECT_FALSE(r.error().message.empty()) << why;
  // validate_definition says the same thing on its own.
  auto v = validate_definition(d);
  ASSERT_FALSE(v.has_value()) << why;
  EXPECT_EQ(v.error().code, "invalid_policy_key") << why;
}

TEST(PolicyKeyDefine, RefusesBadName) {
  for (const char* name : {"window_seconds", "Billing.Window", "billing..x", "billing.x-y"}) {
    PolicyKeyDefined d = window_seconds();
    d.key = name;
    expect_invalid_definition(d, name);
  }
}

TEST(PolicyKeyDefine, RefusesDefaultOfAnotherType) {
  PolicyKeyDefined d = window_seconds();
  d.default_value = str_value("60");
  expect_invalid_definition(d, "string default on int key");
  d = maas_enabled();
  d.default_value = int_value(0);
  expect_invalid_definition(d, "int default on bool key");
}

TEST(PolicyKeyDefine, RefusesDefaultBelowMin) {
  PolicyKeyDefined d = window_seconds();
  d.default_value = int_value(0);
  expect_invalid_definition(d, "default below min");
}

TEST(PolicyKeyDefine, RefusesDefaultAboveMax) {
  PolicyKeyDefined d = window_seconds();
  d.default_value = int_value(3601);
  expect_invalid_definition(d, "default above max");
}

TEST(PolicyKeyDefine, RefusesDefaultOutsideEnum) {
  PolicyKeyDefined d = isolation_model();
  d.default_value = str_value("never");
  expect_invalid_definition(d, "default not in enum");
}

TEST(PolicyKeyDefine, RefusesMinGreaterThanMax) {
  PolicyKeyDefined d = window_seconds();
  d.min = 100;
  d.max = 10;
  d.default_value = int_value(50);
  expect_invalid_definition(d, "min > max");
}

TEST(PolicyKeyDefine, RefusesEnumOnNonStringKeys) {
  PolicyKeyDefined d = window_seconds();
  d.allowed = {"60"};
  expect_invalid_definition(d, "enum on int");
  d = maas_enabled();
  d.allowed = {"true"};
  expect_invalid_definition(d, "enum on bool");
}

TEST(PolicyKeyDefine, RefusesBoundsOnNonIntKeys) {
  PolicyKeyDefined d = isolation_model();
  d.min = 1;
  expect_invalid_definition(d, "min on string");
  d = maas_enabled();
  d.max = 1;
  expect_invalid_definition(d, "max on bool");
}

TEST(PolicyKeyDefine, RefusesIntKeyWithoutBothBounds) {
  PolicyKeyDefined d = window_seconds();
  d.min.reset();
  expect_invalid_definition(d, "no min");
  d = window_seconds();
  d.max.reset();
  expect_invalid_definition(d, "no max");
  d = window_seconds();
  d.min.reset();
  d.max.reset();
  expect_invalid_definition(d, "no bounds at all");
}

TEST(PolicyKeyDefine, DefiningTwiceIdenticallyIsANoOp) {
  auto s = given({window_seconds()});
  auto r = decide(s, DefinePolicyKey{window_seconds()});
  ASSERT_TRUE(r.has_value()) << r.error().code;
  EXPECT_TRUE(r->empty());
}

TEST(PolicyKeyDefine, DefiningTwiceIdenticallyAfterValuesIsStillANoOp) {
  auto s = given({window_seconds(), PolicyValueSet{"billing.window_seconds", org("org-1"), int_value(60),
                                                   events::BeforeSource::kDefault, int_value(120), kNow, "r"}});
  auto r = decide(s, DefinePolicyKey{window_seconds()});
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->empty());
}

TEST(PolicyKeyDefine, DefiningTwiceDifferentlyIsAConflict) {
  auto s = given({window_seconds()});
  std::vector<PolicyKeyDefined> variants;
  variants.push_back(window_seconds());
  variants.back().default_value = int_value(61);
  variants.push_back(window_seconds());
  variants.back().max = 7200;
  variants.push_back(window_seconds());
  variants.back().min = 2;
  variants.push_back(window_seconds());
  variants.back().description = "something else";
  for (const auto& d : variants) {
    auto r = decide(s, DefinePolicyKey{d});
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, "policy_key_conflict");
    EXPECT_EQ(r.error().kind, ErrorKind::kAborted);
    EXPECT_EQ(::ledger::routes::http_status(r.error().kind), 409);
    EXPECT_EQ(evidence(r.error(), "key"), "billing.window_seconds");
  }
}

TEST(PolicyKeyDefine, MalformedRedefinitionIsReportedAsInvalidNotConflict) {
  auto s = given({window_seconds()});
  PolicyKeyDefined d = window_seconds();
  d.min = 5000;  // min > max
  auto r = decide(s, DefinePolicyKey{d});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, "invalid_policy_key");
}

// ---------------------------------------------------------------------------
// Setting a value

TEST(PolicyValueSetting, UnknownKeyIsNotFound) {
  auto r = decide(PolicyKeyState{}, set_window(org("org-1"), 120), kNow);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, ErrorKind::kNotFound);
  EXPECT_EQ(::ledger::routes::http_status(r.error().kind), 404);
  EXPECT_EQ(r.error().code, "unknown_policy_key");
  EXPECT_EQ(evidence(r.error(), "key"), "billing.window_seconds");
}

TEST(PolicyValueSetting, ValueOfWrongTypeIsRefused) {
  auto s = given({window_seconds()});
  for (const PolicyValue& v : {str_value("120"), bool_value(true)}) {
    auto c = set_window(org("org-1"), 0);
    c.value = v;
    auto r = decide(s, c, kNow);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, "value_type_mismatch");
    EXPECT_EQ(r.error().kind, ErrorKind::kFailedPrecondition);
    EXPECT_EQ(evidence(r.error(), "expected_type"), "int");
  }
  auto b = given({maas_enabled()});
  SetPolicyValue c{"maas.enabled", global(), int_value(1), std::nullopt, "r", std::nullopt};
  auto r = decide(b, c, kNow);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, "value_type_mismatch");
  EXPECT_EQ(evidence(r.error(), "got_type"), "int");
}

TEST(PolicyValueSetting, BelowMinIsOutOfBoundsWithRuleId) {
  auto s = given({window_seconds()});
  auto r = decide(s, set_window(org("org-1"), 0), kNow);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, "value_out_of_bounds");
  EXPECT_EQ(r.error().kind, ErrorKind::kFailedPrecondition);
  EXPECT_EQ(evidence(r.error(), "rule_id"), "billing.window_seconds#min");
  EXPECT_EQ(evidence(r.error(), "value"), "0");
}

TEST(PolicyValueSetting, AboveMaxIsOutOfBoundsWithRuleId) {
  auto s = given({window_seconds()});
  auto r = decide(s, set_window(org("org-1"), 3601), kNow);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, "value_out_of_bounds");
  EXPECT_EQ(evidence(r.error(), "rule_id"), "billing.window_seconds#max");
}

TEST(PolicyValueSetting, ExtremeIntegersAreOutOfBoundsNotOverflow) {
  auto s = given({window_seconds()});
  auto lo = decide(s, set_window(org("org-1"), INT64_MIN), kNow);
  ASSERT_FALSE(lo.has_value());
  EXPECT_EQ(evidence(lo.error(), "rule_id"), "billing.window_seconds#min");
  auto hi = decide(s, set_window(org("org-1"), INT64_MAX), kNow);
  ASSERT_FALSE(hi.has_value());
  EXPECT_EQ(evidence(hi.error(), "rule_id"), "billing.window_seconds#max");
}

TEST(PolicyValueSetting, BoundsAreInclusive) {
  auto s = given({window_seconds()});
  EXPECT_TRUE(decide(s, set_window(org("org-1"), 1), kNow).has_value());
  EXPECT_TRUE(decide(s, set_window(org("org-1"), 3600), kNow).has_value());
}

TEST(PolicyValueSetting, StringOutsideEnumIsOutOfBoundsWithRuleId) {
  auto s = given({isolation_model()});
  SetPolicyValue c{"allocation.isolation_model", org("org-1"), str_value("full-wipe"), std::nullopt, "r", std::nullopt};
  auto r = decide(s, c, kNow);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, "value_out_of_bounds");
  EXPECT_EQ(evidence(r.error(), "rule_id"), "allocation.isolation_model#enum");
  c.value = str_value("full-reimage");
  EXPECT_TRUE(decide(s, c, kNow).has_value());
}

TEST(PolicyValueSetting, AcceptedValueCarriesBeforeAfterAndReason) {
  auto s = given({window_seconds()});
  auto c = set_window(org("org-1"), 120);
  c.effective_at = Instant{kNow.micros + kMinute};
  auto r = decide(s, c, kNow);
  ASSERT_TRUE(r.has_value()) << r.error().code;
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ(std::get<PolicyValueSet>((*r)[0]),
            (PolicyValueSet{"billing.window_seconds", org("org-1"), int_value(60), events::BeforeSource::kDefault,
                            int_value(120), Instant{kNow.micros + kMinute}, "customer request"}));
}

TEST(PolicyValueSetting, BeforeIsTheLastValueAtTheExactScope) {
  auto s = given({window_seconds()});
  s = then_apply(s, decide(s, set_window(org("org-1"), 120), kNow));
  s = then_apply(s, decide(s, set_window(org("org-1"), 180), kNow));
  auto r = decide(s, set_window(org("org-1"), 240), kNow);
  ASSERT_TRUE(r.has_value());
  const auto& e = std::get<PolicyValueSet>((*r)[0]);
  EXPECT_EQ(e.before, int_value(180));
  EXPECT_EQ(e.before_source, events::BeforeSource::kScope);
  EXPECT_EQ(e.after, int_value(240));
}

TEST(PolicyValueSetting, OtherScopesStillStartFromTheDefault) {
  auto s = given({window_seconds()});
  s = then_apply(s, decide(s, set_window(org("org-1"), 120), kNow));
  s = then_apply(s, decide(s, set_window(global(), 90), kNow));
  // Same id at another level is another scope.
  for (const auto& scope : {org("org-2"), user("org-1"), PolicyScope{ScopeLevel::kPlan, "org-1"}}) {
    auto r = decide(s, set_window(scope, 300), kNow);
    ASSERT_TRUE(r.has_value());
    const auto& e = std::get<PolicyValueSet>((*r)[0]);
    EXPECT_EQ(e.before, int_value(60));
    EXPECT_EQ(e.before_source, events::BeforeSource::kDefault);
  }
}

TEST(PolicyValueSetting, OldValueMatchingTheDefaultIsAccepted) {
  auto s = given({window_seconds()});
  auto c = set_window(org("org-1"), 120);
  c.old_value = int_value(60);
  auto r = decide(s, c, kNow);
  ASSERT_TRUE(r.has_value()) << r.error().code;
  EXPECT_EQ(std::get<PolicyValueSet>((*r)[0]).before_source, events::BeforeSource::kDefault);
}

TEST(PolicyValueSetting, OldValueNotMatchingTheDefaultIsAStalePrecondition) {
  auto s = given({window_seconds()});
  auto c = set_window(org("org-1"), 120);
  c.old_value = int_value(30);
  auto r = decide(s, c, kNow);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, "old_value_mismatch");
  EXPECT_EQ(r.error().kind, ErrorKind::kAborted);
  EXPECT_EQ(evidence(r.error(), "current_value"), "60");
  EXPECT_EQ(evidence(r.error(), "old_value"), "30");
}

TEST(PolicyValueSetting, OldValueOfAnotherTypeNeverMatches) {
  auto s = given({window_seconds()});
  auto c = set_window(org("org-1"), 120);
  c.old_value = str_value("60");
  auto r = decide(s, c, kNow);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, "old_value_mismatch");
}

TEST(PolicyValueSetting, OldValueIsComparedWithTheLastValueAtTheScope) {
  auto s = given({window_seconds()});
  s = then_apply(s, decide(s, set_window(org("org-1"), 120), kNow));

  auto stale = set_window(org("org-1"), 180);
  stale.old_value = int_value(60);  // the default, but 120 was set since
  auto r = decide(s, stale, kNow);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, "old_value_mismatch");
  EXPECT_EQ(evidence(r.error(), "current_value"), "120");

  auto fresh = set_window(org("org-1"), 180);
  fresh.old_value = int_value(120);
  auto ok = decide(s, fresh, kNow);
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(std::get<PolicyValueSet>((*ok)[0]).before, int_value(120));
  EXPECT_EQ(std::get<PolicyValueSet>((*ok)[0]).before_source, events::BeforeSource::kScope);

  // A value at a less specific scope does not count for this one.
  auto other = set_window(user("u-1"), 180);
  other.old_value = int_value(60);
  EXPECT_TRUE(decide(s, other, kNow).has_value());
}

TEST(PolicyValueSetting, EffectiveAtDefaultsToNow) {
  auto s = given({window_seconds()});
  auto r = decide(s, set_window(org("org-1"), 120), kNow);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(std::get<PolicyValueSet>((*r)[0]).effective_at, kNow);
}

TEST(PolicyValueSetting, BackdatingUpToFiveMinutesIsAllowed) {
  auto s = given({window_seconds()});
  auto c = set_window(org("org-1"), 120);
  c.effective_at = Instant{kNow.micros - kMaxBackdateMicros};
  auto r = decide(s, c, kNow);
  ASSERT_TRUE(r.has_value()) << r.error().code;
  EXPECT_EQ(std::get<PolicyValueSet>((*r)[0]).effective_at, *c.effective_at);
  EXPECT_EQ(kMaxBackdateMicros, 5 * kMinute);
}

TEST(PolicyValueSetting, BackdatingMoreThanFiveMinutesIsRefused) {
  auto s = given({window_seconds()});
  for (std::int64_t back : std::vector<std::int64_t>{kMaxBackdateMicros + 1, 6 * kMinute, 365 * 24 * 60 * kMinute}) {
    auto c = set_window(org("org-1"), 120);
    c.effective_at = Instant{kNow.micros - back};
    auto r = decide(s, c, kNow);
    ASSERT_FALSE(r.has_value()) << back;
    EXPECT_EQ(r.error().code, "effective_at_in_past");
    EXPECT_EQ(r.error().kind, ErrorKind::kFailedPrecondition);
  }
}

TEST(PolicyValueSetting, FutureEffectiveAtIsAllowed) {
  auto s = given({window_seconds()});
  for (std::int64_t ahead : std::vector<std::int64_t>{1, kMinute, 365 * 24 * 60 * kMinute}) {
    auto c = set_window(org("org-1"), 120);
    c.effective_at = Instant{kNow.micros + ahead};
    auto r = decide(s, c, kNow);
    ASSERT_TRUE(r.has_value()) << ahead;
    EXPECT_EQ(std::get<PolicyValueSet>((*r)[0]).effective_at.micros, kNow.micros + ahead);
  }
}

TEST(PolicyValueSetting, SettingTheSameValueAgainStillRecordsAnEvent) {
  auto s = given({window_seconds()});
  s = then_apply(s, decide(s, set_window(org("org-1"), 120), kNow));
  auto r = decide(s, set_window(org("org-1"), 120), kNow);
  ASSERT_TRUE(r.has_value());
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ(std::get<PolicyValueSet>((*r)[0]).before, int_value(120));
}

// ---------------------------------------------------------------------------
// evolve

TEST(PolicyKeyEvolve, EveryEventIncrementsTheVersion) {
  PolicyKeyState s;
  EXPECT_EQ(s.version, 0);
  EXPECT_FALSE(s.definition.has_value());
  s = evolve(std::move(s), window_seconds());
  EXPECT_EQ(s.version, 1);
  ASSERT_TRUE(s.definition.has_value());
  EXPECT_EQ(*s.definition, window_seconds());
  EXPECT_TRUE(s.latest.empty());
  s = evolve(std::move(s), PolicyValueSet{"billing.window_seconds", org("org-1"), int_value(60),
                                          events::BeforeSource::kDefault, int_value(120), kNow, "r"});
  EXPECT_EQ(s.version, 2);
  s = evolve(std::move(s), PolicyValueSet{"billing.window_seconds", org("org-1"), int_value(120),
                                          events::BeforeSource::kScope, int_value(180), kNow, "r"});
  EXPECT_EQ(s.version, 3);
  ASSERT_EQ(s.latest.size(), 1u);
  EXPECT_EQ(s.latest.at(org("org-1")), int_value(180));
  s = evolve(std::move(s), PolicyValueSet{"billing.window_seconds", global(), int_value(60),
                                          events::BeforeSource::kDefault, int_value(30), kNow, "r"});
  EXPECT_EQ(s.version, 4);
  EXPECT_EQ(s.latest.size(), 2u);
  EXPECT_EQ(s.latest.at(global()), int_value(30));
}

TEST(PolicyKeyEvolve, LatestFollowsWriteOrderNotEffectiveOrder) {
  // `before` is "the value last set at exactly that scope": write order.
  auto s = given({window_seconds()});
  auto later = set_window(org("org-1"), 120);
  later.effective_at = Instant{kNow.micros + 10 * kMinute};
  s = then_apply(s, decide(s, later, kNow));
  auto sooner = set_window(org("org-1"), 180);
  sooner.effective_at = Instant{kNow.micros + kMinute};
  s = then_apply(s, decide(s, sooner, kNow));
  EXPECT_EQ(s.latest.at(org("org-1")), int_value(180));
  EXPECT_EQ(s.version, 3);
}

}  // namespace
}  // namespace ledger::domain
