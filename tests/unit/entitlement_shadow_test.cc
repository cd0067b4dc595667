// The shadow check's report (domain/entitlements/shadow.h) against a brute
// force over the same recorded checks, for random candidates and traffic.
#include "domain/entitlements/shadow.h"

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

namespace {

namespace ent = ledger::domain::entitlements;

const std::vector<std::string> kPlans = {"free", "pro", "team", "enterprise"};
const std::vector<std::string> kOrgs = {"", "org-a", "org-b", "org-c"};

TEST(EntitlementShadow, JudgesLikeTheCheckDenyOverridesFirstDefaultDeny) {
  ent::Rules r;
  r.allowed_plans = {"pro", "enterprise"};
  r.deny_overrides = {"enterprise"};
  EXPECT_EQ(ent::judge(r, "pro").reason, "plan_allowed");
  EXPECT_TRUE(ent::judge(r, "pro").allowed);
  EXPECT_EQ(ent::judge(r, "enterprise").reason, "deny_override");
  EXPECT_FALSE(ent::judge(r, "enterprise").allowed);
  EXPECT_EQ(ent::judge(r, "free").reason, "plan_not_allowed");
  EXPECT_FALSE(ent::judge(r, "").allowed);
}

TEST(EntitlementShadow, UnknownCapabilityChecksAreNotThePolicysToFlip) {
  ent::Rules r;
  r.allowed_plans = {"free"};
  std::vector<ent::RecordedCheck> checks = {{"d1", "c1", "t", "", "free", false, "unknown_capability"},
                                            {"d2", "c2", "t", "org-a", "free", false, "plan_not_allowed"}};
  const auto rep = ent::shadow(r, checks, 10);
  EXPECT_EQ(rep.considered, 2);
  EXPECT_EQ(rep.not_applicable, 1);
  EXPECT_EQ(rep.total.checked, 1);
  EXPECT_EQ(rep.total.deny_to_allow, 1);
  ASSERT_EQ(rep.samples_deny_to_allow.size(), 1u);
  EXPECT_EQ(rep.samples_deny_to_allow[0].check.decision_id, "d2");
  EXPECT_EQ(rep.samples_deny_to_allow[0].candidate_reason, "plan_allowed");
}

RC_GTEST_PROP(EntitlementShadow, ReportEqualsABruteForceOverTheRecordedChecks, ()) {
  auto subset = [] {
    std::vector<std::string> out;
    for (const auto& p : kPlans) {
      if (*rc::gen::arbitrary<bool>()) out.push_back(p);
    }
    return out;
  };
  ent::Rules candidate;
  candidate.allowed_plans = subset();
  candidate.deny_overrides = subset();
  const auto n = *rc::gen::inRange<std::size_t>(0, 60);
  const auto samples = *rc::gen::inRange<std::size_t>(0, 5);
  std::vector<ent::RecordedCheck> checks;
  for (std::size_t i = 0; i < n; ++i) {
    ent::RecordedCheck c;
    c.decision_id = "d" + std::to_string(i);
    c.plan = *rc::gen::elementOf(kPlans);
    c.organization_id = *rc::gen::elementOf(kOrgs);
    c.reason = *rc::gen::element<std::string>("plan_allowed", "plan_not_allowed", "deny_override", "no_active_policy",
                                              "unknown_capability");
    c.allowed = c.reason == "plan_allowed";
    checks.push_back(c);
  }
  const auto rep = ent::shadow(candidate, checks, samples);

  // Brute force: membership tests written out, every group recounted.
  auto in = [](const std::vector<std::string>& v, const std::string& x) {
    return std::count(v.begin(), v.end(), x) > 0;
  };
  std::int64_t applicable = 0, to_deny = 0, to_allow = 0;
  std::map<std::string, ent::FlipCounts> plan, org;
  std::vector<std::string> first_to_deny, first_to_allow;
  for (const auto& c : checks) {
    if (c.reason == "unknown_capability") continue;
    ++applicable;
    const bool now = in(candidate.allowed_plans, c.plan) && !in(candidate.deny_overrides, c.plan);
    ++plan[c.plan].checked;
    ++org[c.organization_id].checked;
    if (c.allowed && !now) {
      ++to_deny, ++plan[c.plan].allow_to_deny, ++org[c.organization_id].allow_to_deny;
      if (first_to_deny.size() < samples) first_to_deny.push_back(c.decision_id);
    }
    if (!c.allowed && now) {
      ++to_allow, ++plan[c.plan].deny_to_allow, ++org[c.organization_id].deny_to_allow;
      if (first_to_allow.size() < samples) first_to_allow.push_back(c.decision_id);
    }
  }
  RC_ASSERT(rep.considered == static_cast<std::int64_t>(n));
  RC_ASSERT(rep.not_applicable == static_cast<std::int64_t>(n) - applicable);
  RC_ASSERT(rep.total == (ent::FlipCounts{applicable, to_deny, to_allow}));
  RC_ASSERT(rep.by_plan == plan);
  RC_ASSERT(rep.by_organization == org);
  std::vector<std::string> got_deny, got_allow;
  for (const auto& f : rep.samples_allow_to_deny) got_deny.push_back(f.check.decision_id);
  for (const auto& f : rep.samples_deny_to_allow) got_allow.push_back(f.check.decision_id);
  RC_ASSERT(got_deny == first_to_deny);
  RC_ASSERT(got_allow == first_to_allow);
}

}  // namespace
