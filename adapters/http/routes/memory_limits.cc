#include "adapters/http/routes/memory_limits.h"

#include <variant>

#include "domain/policy_resolution.h"

namespace ledger::routes {

using events::QuotaLevel;

domain::Result<std::optional<std::int64_t>> MemoryLimits::value(std::string_view key, const commands::Principal& who) {
  if (!store_.ready()) return fallback_.value(key, who);
  const auto snap = store_.snapshot();
  const auto& m = snap->admission;
  // As ReadModelLimits::value: the principal's project and plan where the hierarchy knows them.
  domain::ScopeChain chain;
  chain.user_id = who.actor.id;
  if (commands::is_tenant_principal(who)) {
    chain.org_id = who.tenant;
    std::vector<domain::ChainNode> nodes;
    const auto* principal = m.node({QuotaLevel::kPrincipal, who.actor.id});
    if (principal && principal->organization_id == who.tenant) {
      nodes = m.chain(principal->scope);
    } else if (m.node({QuotaLevel::kOrganization, who.tenant})) {
      nodes = m.chain({QuotaLevel::kOrganization, who.tenant});
    }
    for (const auto& n : nodes) {
      if (n.scope.level == QuotaLevel::kProject && chain.project_id.empty()) chain.project_id = n.scope.id;
      if (n.scope.level == QuotaLevel::kPlan) chain.plan = n.scope.id;
    }
  }
  const std::string k(key);
  const auto* def = snap->policy.key(k);
  if (!def) return std::optional<std::int64_t>();
  const auto candidates = snap->policy.candidates(k, chain);
  const auto res = domain::resolve(*def, chain, candidates, clock_.now());
  if (const auto* v = std::get_if<std::int64_t>(&res.value.v)) return std::optional<std::int64_t>(*v);
  return std::optional<std::int64_t>();
}

domain::Result<std::optional<std::string>> MemoryLimits::standing(const commands::Principal& who, events::Instant now) {
  if (!store_.ready()) return fallback_.standing(who, now);
  const auto snap = store_.snapshot();
  const auto* node = snap->admission.node({QuotaLevel::kPrincipal, who.actor.id});
  if (node && node->organization_id == who.tenant && node->expires_at && node->expires_at->micros <= now.micros) {
    return std::optional<std::string>("principal_expired");
  }
  return snap->revocation(who.tenant, who.actor.id, who.token_id);
}

}  // namespace ledger::routes
