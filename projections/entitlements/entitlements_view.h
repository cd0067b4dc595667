// The query service's in-memory entitlement read model (seed 003): the
// entitlements model (domain/entitlements/entitlements.h: capabilities,
// plans, policy versions, every activation with its position and time) plus
// the plan history of every organization, so that an entitlement check for
// an organization is answered from memory at the head or as of any past
// position or instant.
//
// It lives inside projections::QuerySnapshot (admission_store.h), fed by the
// same apply loop (adapters/projector/memory_feed.cc) and published with the
// same left-right swap: a reader's snapshot never changes under it.
//
//   const auto& view = snapshot->entitlements;
//   auto r = view.check({tenant, "production", /*organization*/ "org-acme", /*plan*/ "", "export-data"}, cut);
//
// Thread-compatible: apply() from the apply loop on a copy no reader holds;
// const methods from any number of readers.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "domain/entitlements/entitlements.h"
#include "events/event.h"

namespace ledger::projections {

struct EntitlementCheckRequest {
  std::string tenant, environment, organization_id, plan, capability;
};

struct EntitlementCheckAnswer {
  domain::entitlements::CheckResult result;
  std::string plan;                   // the plan decided on (the organization's, when one was named)
  bool unknown_organization = false;  // organization_id named, not known at the cut
};

class EntitlementsView {
 public:
  void apply(const events::Envelope& e);

  const domain::entitlements::EntitlementsModel& model() const { return model_; }

  // The organization's plan at the cut (nullopt: no such organization then).
  std::optional<std::string> plan_of(const std::string& organization_id, const domain::entitlements::Cut& cut) const;

  EntitlementCheckAnswer check(const EntitlementCheckRequest& in, const domain::entitlements::Cut& cut) const;

 private:
  struct PlanAt {
    std::int64_t position;
    events::Instant at;
    std::string plan_id;
  };
  domain::entitlements::EntitlementsModel model_;
  std::map<std::string, std::vector<PlanAt>> organization_plans_;
};

}  // namespace ledger::projections
