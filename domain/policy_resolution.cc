#include "domain/policy_resolution.h"

#include <algorithm>
#include <array>
#include <vector>

namespace ledger::domain {

bool applies_to(const std::optional<std::string>& tenant, const ScopeChain& chain) {
  return !tenant || *tenant == "platform" || (!chain.org_id.empty() && *tenant == chain.org_id);
}

Resolution resolve(const events::PolicyKeyDefined& key, const ScopeChain& chain,
                   std::span<const ValueCandidate> candidates, events::Instant as_of) {
  using events::ScopeLevel;
  const std::array<events::PolicyScope, 5> order = {{
      {ScopeLevel::kUser, chain.user_id},
      {ScopeLevel::kProject, chain.project_id},
      {ScopeLevel::kOrganization, chain.org_id},
      {ScopeLevel::kPlan, chain.plan},
      {ScopeLevel::kGlobal, ""},
  }};
  for (const auto& scope : order) {
    if (scope.level != ScopeLevel::kGlobal && scope.id.empty()) continue;
    const ValueCandidate* best = nullptr;
    for (const auto& c : candidates) {
      if (c.scope != scope || c.effective_at > as_of || !applies_to(c.tenant, chain)) continue;
      if (!best || c.effective_at > best->effective_at ||
          (c.effective_at == best->effective_at && c.position > best->position)) {
        best = &c;
      }
    }
    if (best) return Resolution{best->value, scope, false, best->effective_at, best->position};
  }
  return Resolution{key.default_value, {ScopeLevel::kGlobal, ""}, true, std::nullopt, std::nullopt};
}

std::optional<Resolution> next_change(const events::PolicyKeyDefined& key, const ScopeChain& chain,
                                      std::span<const ValueCandidate> candidates, events::Instant as_of) {
  std::vector<events::Instant> later;
  for (const auto& c : candidates) {
    if (c.effective_at > as_of && applies_to(c.tenant, chain)) later.push_back(c.effective_at);
  }
  std::sort(later.begin(), later.end());
  later.erase(std::unique(later.begin(), later.end()), later.end());
  const Resolution now = resolve(key, chain, candidates, as_of);
  for (const auto& t : later) {
    Resolution then = resolve(key, chain, candidates, t);
    if (then.value != now.value || then.source != now.source || then.position != now.position) return then;
  }
  return std::nullopt;
}

}  // namespace ledger::domain
