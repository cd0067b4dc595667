#include "domain/entitlements/shadow.h"

#include <algorithm>

namespace ledger::domain::entitlements {

CheckResult judge(const Rules& rules, std::string_view plan) {
  CheckResult r;
  auto has = [&](const std::vector<std::string>& v) { return std::find(v.begin(), v.end(), plan) != v.end(); };
  if (has(rules.deny_overrides)) {
    r.reason = "deny_override";
  } else if (has(rules.allowed_plans)) {
    r.allowed = true;
    r.reason = "plan_allowed";
  } else {
    r.reason = "plan_not_allowed";
  }
  return r;
}

ShadowReport shadow(const Rules& candidate, std::span<const RecordedCheck> checks, std::size_t max_samples) {
  ShadowReport out;
  for (const auto& c : checks) {
    ++out.considered;
    if (c.reason == "unknown_capability") {
      ++out.not_applicable;
      continue;
    }
    const CheckResult now = judge(candidate, c.plan);
    FlipCounts* counts[] = {&out.total, &out.by_plan[c.plan], &out.by_organization[c.organization_id]};
    for (auto* f : counts) ++f->checked;
    if (now.allowed == c.allowed) continue;
    for (auto* f : counts) ++(c.allowed ? f->allow_to_deny : f->deny_to_allow);
    auto& samples = c.allowed ? out.samples_allow_to_deny : out.samples_deny_to_allow;
    if (samples.size() < max_samples) samples.push_back({c, now.reason});
  }
  return out;
}

}  // namespace ledger::domain::entitlements
