// Resolving the effective value of a key (domain/policy_resolution.h):
// most specific scope wins, values take effect at their effective_at.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "domain/policy_resolution.h"

namespace ledger::domain {
namespace {

using events::Instant;
using events::PolicyKeyDefined;
using events::PolicyScope;
using events::PolicyValue;
using events::ScopeLevel;

constexpr std::int64_t kT0 = 1'780'272'000'000'000;  // 2026-06-01T00:00:00Z

PolicyKeyDefined refund_window_days() {
  PolicyKeyDefined d;
  d.key = "allocation.refund_window_days";
  d.value_type = events::ValueType::kInt;
  d.default_value = PolicyValue{std::int64_t{30}};
  d.min = 0;
  d.max = 365;
  return d;
}

PolicyValue iv(std::int64_t v) { return PolicyValue{v}; }

ValueCandidate candidate(ScopeLevel level, std::string id, std::int64_t value, std::int64_t effective,
                         std::int64_t position) {
  return ValueCandidate{{level, std::move(id)}, iv(value), Instant{effective}, position};
}

ScopeChain full_chain() { return ScopeChain{"u-1", "p-1", "o-1", "pro"}; }

Resolution at(const std::vector<ValueCandidate>& cs, ScopeChain chain, std::int64_t as_of) {
  return resolve(refund_window_days(), chain, cs, Instant{as_of});
}

TEST(PolicyResolution, NothingSetAnswersTheCatalogDefault) {
  auto r = at({}, full_chain(), kT0);
  EXPECT_EQ(r.value, iv(30));
  EXPECT_TRUE(r.is_default);
  EXPECT_EQ(r.source, (PolicyScope{ScopeLevel::kGlobal, ""}));
  EXPECT_FALSE(r.effective_at.has_value());
  EXPECT_FALSE(r.position.has_value());
}

TEST(PolicyResolution, MostSpecificScopeWins) {
  // One value at every level; remove the most specific one at a time.
  std::vector<ValueCandidate> cs = {
      candidate(ScopeLevel::kGlobal, "", 5, kT0, 1),          candidate(ScopeLevel::kPlan, "pro", 4, kT0, 2),
      candidate(ScopeLevel::kOrganization, "o-1", 3, kT0, 3), candidate(ScopeLevel::kProject, "p-1", 2, kT0, 4),
      candidate(ScopeLevel::kUser, "u-1", 1, kT0, 5),
  };
  const std::vector<std::pair<ScopeLevel, std::int64_t>> expected = {
      {ScopeLevel::kUser, 1}, {ScopeLevel::kProject, 2}, {ScopeLevel::kOrganization, 3},
      {ScopeLevel::kPlan, 4}, {ScopeLevel::kGlobal, 5},
  };
  for (const auto& [level, value] : expected) {
    auto r = at(cs, full_chain(), kT0);
    EXPECT_EQ(r.value, iv(value));
    EXPECT_EQ(r.source.level, level);
    EXPECT_FALSE(r.is_default);
    ASSERT_TRUE(r.position.has_value());
    EXPECT_EQ(*r.position, cs.back().position);
    EXPECT_EQ(r.effective_at, Instant{kT0});
    cs.pop_back();
  }
  auto r = at(cs, full_chain(), kT0);
  EXPECT_TRUE(r.is_default);
  EXPECT_EQ(r.value, iv(30));
}

TEST(PolicyResolution, WriteOrderDoesNotChangeSpecificity) {
  // The user value was written first, yet still beats the later org value.
  std::vector<ValueCandidate> cs = {candidate(ScopeLevel::kUser, "u-1", 1, kT0, 1),
                                    candidate(ScopeLevel::kOrganization, "o-1", 3, kT0, 2)};
  EXPECT_EQ(at(cs, full_chain(), kT0).value, iv(1));
}

TEST(PolicyResolution, ScopesOfOtherCallersAreIgnored) {
  std::vector<ValueCandidate> cs = {
      candidate(ScopeLevel::kUser, "u-2", 1, kT0, 1),
      candidate(ScopeLevel::kProject, "p-2", 2, kT0, 2),
      candidate(ScopeLevel::kOrganization, "o-2", 3, kT0, 3),
      candidate(ScopeLevel::kPlan, "free", 4, kT0, 4),
      // Same id, wrong level: an org named like our user is not our user.
      candidate(ScopeLevel::kOrganization, "u-1", 6, kT0, 5),
  };
  auto r = at(cs, full_chain(), kT0);
  EXPECT_TRUE(r.is_default);
  EXPECT_EQ(r.value, iv(30));
}

TEST(PolicyResolution, LevelsTheCallerDoesNotNameAreSkipped) {
  std::vector<ValueCandidate> cs = {candidate(ScopeLevel::kUser, "u-1", 1, kT0, 1),
                                    candidate(ScopeLevel::kOrganization, "o-1", 3, kT0, 2)};
  EXPECT_EQ(at(cs, ScopeChain{"", "p-1", "o-1", ""}, kT0).value, iv(3));
  EXPECT_TRUE(at(cs, ScopeChain{}, kT0).is_default);
}

TEST(PolicyResolution, GlobalValueOverridesTheDefault) {
  std::vector<ValueCandidate> cs = {candidate(ScopeLevel::kGlobal, "", 45, kT0, 7)};
  auto r = at(cs, ScopeChain{}, kT0);
  EXPECT_EQ(r.value, iv(45));
  EXPECT_FALSE(r.is_default);
  EXPECT_EQ(r.source, (PolicyScope{ScopeLevel::kGlobal, ""}));
  EXPECT_EQ(r.position, 7);
}

TEST(PolicyResolution, FutureDatedValueIsNotInForceBeforeItsEffectiveAt) {
  std::vector<ValueCandidate> cs = {candidate(ScopeLevel::kOrganization, "o-1", 45, kT0, 1)};
  auto before = at(cs, full_chain(), kT0 - 1);
  EXPECT_TRUE(before.is_default);
  EXPECT_EQ(before.value, iv(30));
  auto exactly = at(cs, full_chain(), kT0);
  EXPECT_EQ(exactly.value, iv(45));
  EXPECT_FALSE(exactly.is_default);
  auto after = at(cs, full_chain(), kT0 + 86'400'000'000);
  EXPECT_EQ(after.value, iv(45));
}

TEST(PolicyResolution, FutureDatedSpecificValueLetsLessSpecificOneAnswerUntilThen) {
  std::vector<ValueCandidate> cs = {candidate(ScopeLevel::kUser, "u-1", 1, kT0 + 100, 2),
                                    candidate(ScopeLevel::kOrganization, "o-1", 3, kT0, 1)};
  EXPECT_EQ(at(cs, full_chain(), kT0 + 99).value, iv(3));
  EXPECT_EQ(at(cs, full_chain(), kT0 + 100).value, iv(1));
}

TEST(PolicyResolution, LatestEffectiveAtNotAfterAsOfWinsAtOneScope) {
  // Written out of effective order: position does not decide, effective_at does.
  std::vector<ValueCandidate> cs = {
      candidate(ScopeLevel::kOrganization, "o-1", 20, kT0 + 200, 1),
      candidate(ScopeLevel::kOrganization, "o-1", 10, kT0 + 100, 2),
      candidate(ScopeLevel::kOrganization, "o-1", 30, kT0 + 300, 3),
  };
  EXPECT_TRUE(at(cs, full_chain(), kT0 + 99).is_default);
  EXPECT_EQ(at(cs, full_chain(), kT0 + 100).value, iv(10));
  EXPECT_EQ(at(cs, full_chain(), kT0 + 199).value, iv(10));
  EXPECT_EQ(at(cs, full_chain(), kT0 + 200).value, iv(20));
  EXPECT_EQ(at(cs, full_chain(), kT0 + 200).position, 1);
  EXPECT_EQ(at(cs, full_chain(), kT0 + 299).value, iv(20));
  EXPECT_EQ(at(cs, full_chain(), kT0 + 300).value, iv(30));
  EXPECT_EQ(at(cs, full_chain(), kT0 + 300).effective_at, Instant{kT0 + 300});
}

TEST(PolicyResolution, TiesOnEffectiveAtGoToTheLaterWrite) {
  std::vector<ValueCandidate> cs = {
      candidate(ScopeLevel::kOrganization, "o-1", 20, kT0, 9),
      candidate(ScopeLevel::kOrganization, "o-1", 10, kT0, 4),
      candidate(ScopeLevel::kOrganization, "o-1", 40, kT0, 12),
      candidate(ScopeLevel::kOrganization, "o-1", 30, kT0, 7),
  };
  auto r = at(cs, full_chain(), kT0);
  EXPECT_EQ(r.value, iv(40));
  EXPECT_EQ(r.position, 12);
}

TEST(PolicyResolution, AnswersStringAndBoolKeysToo) {
  PolicyKeyDefined model;
  model.key = "allocation.isolation_model";
  model.value_type = events::ValueType::kString;
  model.default_value = PolicyValue{std::string("user-revoke")};
  std::vector<ValueCandidate> cs = {
      ValueCandidate{{ScopeLevel::kProject, "p-1"}, PolicyValue{std::string("full-reimage")}, Instant{kT0}, 1}};
  EXPECT_EQ(resolve(model, full_chain(), cs, Instant{kT0}).value, PolicyValue{std::string("full-reimage")});
  EXPECT_EQ(resolve(model, ScopeChain{"u-9", "p-9", "", ""}, cs, Instant{kT0}).value,
            PolicyValue{std::string("user-revoke")});
}

// ---------------------------------------------------------------------------
// Property: resolve agrees with a brute-force oracle.

// The oracle: for each level of the caller's chain in specificity order, sort
// that scope's values in force by (effective_at, position) and take the last;
// the first level with any value answers, else the default.
Resolution oracle(const PolicyKeyDefined& key, const ScopeChain& chain, std::vector<ValueCandidate> cs, Instant as_of) {
  const std::vector<PolicyScope> levels = {{ScopeLevel::kUser, chain.user_id},
                                           {ScopeLevel::kProject, chain.project_id},
                                           {ScopeLevel::kOrganization, chain.org_id},
                                           {ScopeLevel::kPlan, chain.plan},
                                           {ScopeLevel::kGlobal, ""}};
  for (const auto& scope : levels) {
    if (scope.level != ScopeLevel::kGlobal && scope.id.empty()) continue;
    std::vector<ValueCandidate> in_force;
    std::copy_if(cs.begin(), cs.end(), std::back_inserter(in_force), [&](const ValueCandidate& c) {
      return c.scope.level == scope.level && c.scope.id == scope.id && c.effective_at.micros <= as_of.micros;
    });
    if (in_force.empty()) continue;
    std::sort(in_force.begin(), in_force.end(), [](const ValueCandidate& a, const ValueCandidate& b) {
      return std::pair(a.effective_at.micros, a.position) < std::pair(b.effective_at.micros, b.position);
    });
    const auto& w = in_force.back();
    return Resolution{w.value, w.scope, false, w.effective_at, w.position};
  }
  return Resolution{key.default_value, {ScopeLevel::kGlobal, ""}, true, std::nullopt, std::nullopt};
}

ScopeLevel level_of(int i) { return static_cast<ScopeLevel>(i); }

RC_GTEST_PROP(PolicyResolution, AgreesWithBruteForceOracle, ()) {
  const std::vector<std::string> ids = {"a", "b", "c"};
  const auto id_gen = rc::gen::elementOf(ids);
  const auto n = *rc::gen::inRange<std::size_t>(0, 40);

  // Positions are unique (a log), handed out in a random order relative to
  // effective times, which come from a small range so that ties are common.
  std::vector<std::int64_t> positions(n);
  for (std::size_t i = 0; i < n; ++i) positions[i] = static_cast<std::int64_t>(i + 1);
  for (std::size_t i = n; i > 1; --i) std::swap(positions[i - 1], positions[*rc::gen::inRange<std::size_t>(0, i)]);

  std::vector<ValueCandidate> cs;
  for (std::size_t i = 0; i < n; ++i) {
    const ScopeLevel level = level_of(*rc::gen::inRange(0, 5));
    std::string id = level == ScopeLevel::kGlobal ? std::string() : *id_gen;
    const std::int64_t value = *rc::gen::inRange<std::int64_t>(0, 366);
    const std::int64_t effective = kT0 + *rc::gen::inRange<std::int64_t>(0, 12);
    cs.push_back(ValueCandidate{{level, std::move(id)}, iv(value), Instant{effective}, positions[i]});
  }

  auto maybe_id = [&] { return *rc::gen::oneOf(rc::gen::just(std::string()), id_gen); };
  ScopeChain chain;
  chain.user_id = maybe_id();
  chain.project_id = maybe_id();
  chain.org_id = maybe_id();
  chain.plan = maybe_id();
  const Instant as_of{kT0 + *rc::gen::inRange<std::int64_t>(-1, 14)};

  const auto key = refund_window_days();
  const Resolution got = resolve(key, chain, cs, as_of);
  const Resolution want = oracle(key, chain, cs, as_of);
  RC_ASSERT(got.value == want.value);
  RC_ASSERT(got.source == want.source);
  RC_ASSERT(got.is_default == want.is_default);
  RC_ASSERT(got.effective_at == want.effective_at);
  RC_ASSERT(got.position == want.position);
}

TEST(PolicyResolution, NextChangeIsTheFirstScheduledValueThatChangesTheAnswer) {
  const std::vector<ValueCandidate> cs = {
      candidate(ScopeLevel::kOrganization, "o-1", 10, kT0, 1),
      candidate(ScopeLevel::kPlan, "pro", 20, kT0 + 5, 2),          // shadowed by the organization's value
      candidate(ScopeLevel::kOrganization, "o-1", 10, kT0 + 7, 3),  // same value, but another write
      candidate(ScopeLevel::kProject, "p-1", 40, kT0 + 9, 4),
  };
  auto next = next_change(refund_window_days(), full_chain(), cs, Instant{kT0});
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->position, 3);
  EXPECT_EQ(next->effective_at, Instant{kT0 + 7});
  next = next_change(refund_window_days(), full_chain(), cs, Instant{kT0 + 7});
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->value, iv(40));
  EXPECT_EQ(next->source, (PolicyScope{ScopeLevel::kProject, "p-1"}));
  EXPECT_FALSE(next_change(refund_window_days(), full_chain(), cs, Instant{kT0 + 9}).has_value());
  // Another caller's project is never its next change.
  EXPECT_FALSE(next_change(refund_window_days(), ScopeChain{"", "p-2", "o-1", "pro"}, cs, Instant{kT0 + 7}));
}

RC_GTEST_PROP(PolicyResolution, NextChangeAgreesWithWalkingEveryInstant, ()) {
  const std::vector<std::string> ids = {"a", "b"};
  const auto id_gen = rc::gen::elementOf(ids);
  const auto n = *rc::gen::inRange<std::size_t>(0, 25);
  std::vector<ValueCandidate> cs;
  for (std::size_t i = 0; i < n; ++i) {
    const ScopeLevel level = level_of(*rc::gen::inRange(0, 5));
    std::string id = level == ScopeLevel::kGlobal ? std::string() : *id_gen;
    const std::int64_t value = *rc::gen::inRange<std::int64_t>(0, 3);  // repeats are common
    const std::int64_t effective = kT0 + *rc::gen::inRange<std::int64_t>(0, 12);
    std::optional<std::string> tenant;
    if (*rc::gen::inRange(0, 3) == 0) tenant = *id_gen;
    cs.push_back(ValueCandidate{
        {level, std::move(id)}, iv(value), Instant{effective}, static_cast<std::int64_t>(i + 1), tenant});
  }
  auto maybe_id = [&] { return *rc::gen::oneOf(rc::gen::just(std::string()), id_gen); };
  ScopeChain chain{maybe_id(), maybe_id(), maybe_id(), maybe_id()};
  const std::int64_t as_of = kT0 + *rc::gen::inRange<std::int64_t>(-1, 14);

  const auto key = refund_window_days();
  const Resolution now = resolve(key, chain, cs, Instant{as_of});
  std::optional<Resolution> want;
  for (std::int64_t t = as_of + 1; t <= kT0 + 13 && !want; ++t) {
    Resolution then = resolve(key, chain, cs, Instant{t});
    if (then.value != now.value || then.source != now.source || then.position != now.position) want = then;
  }
  const auto got = next_change(key, chain, cs, Instant{as_of});
  RC_ASSERT(got.has_value() == want.has_value());
  if (got) {
    RC_ASSERT(got->value == want->value);
    RC_ASSERT(got->source == want->source);
    RC_ASSERT(got->position == want->position);
    RC_ASSERT(got->effective_at == want->effective_at);
  }
}

}  // namespace
}  // namespace ledger::domain
