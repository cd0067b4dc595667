#include "projections/entitlements/entitlements_view.h"

namespace ledger::projections {

void EntitlementsView::apply(const events::Envelope& e) {
  if (const auto* c = std::get_if<events::OrganizationCreated>(&e.event)) {
    organization_plans_[c->organization_id].push_back({e.meta.global_position.value, e.meta.recorded_at, c->plan_id});
  } else if (const auto* p = std::get_if<events::OrganizationPlanChanged>(&e.event)) {
    organization_plans_[p->organization_id].push_back({e.meta.global_position.value, e.meta.recorded_at, p->plan_id});
  } else {
    model_.apply(e.meta, e.event);
  }
}

std::optional<std::string> EntitlementsView::plan_of(const std::string& organization_id,
                                                     const domain::entitlements::Cut& cut) const {
  auto it = organization_plans_.find(organization_id);
  if (it == organization_plans_.end()) return std::nullopt;
  std::optional<std::string> plan;
  for (const auto& p : it->second) {
    if (!cut.admits(p.position, p.at)) break;  // in position order
    plan = p.plan_id;
  }
  return plan;
}

EntitlementCheckAnswer EntitlementsView::check(const EntitlementCheckRequest& in,
                                               const domain::entitlements::Cut& cut) const {
  EntitlementCheckAnswer out;
  out.plan = in.plan;
  if (!in.organization_id.empty()) {
    auto plan = plan_of(in.organization_id, cut);
    if (!plan) {
      out.unknown_organization = true;
      out.result.reason = "unknown_organization";
      return out;
    }
    out.plan = *plan;
  }
  out.result = model_.check({in.tenant, in.environment, out.plan, in.capability}, cut);
  return out;
}

}  // namespace ledger::projections
