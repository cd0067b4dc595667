#include "adapters/postgres/read_model_limits.h"

#include <variant>

#include "adapters/postgres/admission_queries.h"
#include "adapters/postgres/read_model_store.h"
#include "domain/policy_resolution.h"

namespace ledger::adapters::postgres {

using events::QuotaLevel;

domain::Result<std::optional<std::int64_t>> ReadModelLimits::value(std::string_view key,
                                                                   const commands::Principal& who) {
  domain::ScopeChain chain;
  chain.user_id = who.actor.id;
  if (commands::is_tenant_principal(who)) {
    chain.org_id = who.tenant;
    // The principal's project and the organization's plan, where the
    // hierarchy knows them.
    auto found = admission_.node({QuotaLevel::kPrincipal, who.actor.id}, std::nullopt);
    if (!found) return std::unexpected(found.error());
    const auto& node = found->node;
    const bool own_principal = node && node->organization_id == who.tenant;
    if (!own_principal) {
      found = admission_.node({QuotaLevel::kOrganization, who.tenant}, std::nullopt);
      if (!found) return std::unexpected(found.error());
    }
    for (const auto& n : found->chain) {
      if (n.scope.level == QuotaLevel::kProject && chain.project_id.empty()) chain.project_id = n.scope.id;
      if (n.scope.level == QuotaLevel::kPlan) chain.plan = n.scope.id;
    }
  }
  const std::string k(key);
  auto snap = policy_.policy_snapshot(k, chain, std::nullopt);
  if (!snap) return std::unexpected(snap.error());
  const auto& policy_key = snap->key;
  if (!policy_key) return std::optional<std::int64_t>();
  const auto res = domain::resolve(*policy_key, chain, snap->candidates, clock_.now());
  if (const auto* v = std::get_if<std::int64_t>(&res.value.v)) return std::optional<std::int64_t>(*v);
  return std::optional<std::int64_t>();
}

domain::Result<std::optional<std::string>> ReadModelLimits::standing(const commands::Principal& who,
                                                                     events::Instant now) {
  auto found = admission_.node({QuotaLevel::kPrincipal, who.actor.id}, std::nullopt);
  if (!found) return std::unexpected(found.error());
  // A principal of the hierarchy is an organization's: a token of another
  // tenant that happens to carry the same id is not that principal.
  const auto& node = found->node;
  if (node && node->organization_id == who.tenant && node->expires_at && node->expires_at->micros <= now.micros) {
    return std::optional<std::string>("principal_expired");
  }
  // Revoked by token.revoke: the principal (within its tenant), or this JWT.
  return admission_.revocation(who.tenant, who.actor.id, who.token_id);
}

}  // namespace ledger::adapters::postgres
