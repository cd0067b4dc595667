// The admission read model (seed 001): registries, the scope hierarchy,
// quota ceilings, delegations and capacity reservations, as history rows.
//
// Every row is keyed by its entity and the global position of the event that
// wrote it, and rows are never removed, so the state at any past position is
// "the latest row at or below it" (like policy_values). Time-dependent
// answers (a reservation past its window) are computed at query time.
//
// Tables (adapters/postgres/sql/read_model.sql):
//   registry_entries (kind, entry_id, position)   version, description, attributes
//   scope_nodes      (level, node_id)             what a node is, from its creation:
//                                                 organization_id, name, principal_type,
//                                                 expires_at, default_department_id, position
//   scope_links      (level, node_id, position)   where it hangs: parent_level, parent_id,
//                                                 version (the node's stream version).
//                                                 An organization's parent is plan:<plan_id>.
//   ceiling_rules    (scope_level, scope_id, rule_id, position)
//                                                 dimension, window, region, sku_or_model,
//                                                 quantity (NULL: cleared), unit,
//                                                 rule_version, organization_id
//   delegations      (scope_level, scope_id, dimension, position)
//                                                 delegation_id, active, max_quantity
//   reservations     (organization_id, reservation_id)
//                                                 the definition (ReservationDrafted);
//                                                 ids are unique per organization
//   reservation_states (organization_id, reservation_id, position)
//                                                 state, consumed (NULL: unchanged by
//                                                 that event), version
//
// Why the node is split in two tables and reservation_states has nullable
// columns: a projection keeps no state, and DepartmentMoved / ProjectMoved /
// OrganizationPlanChanged do not repeat a node's name, nor does
// ReservationStateChanged repeat `consumed` (or ReservationConsumed the
// state). Each table holds only what its events carry; queries take the
// latest non-NULL value at or below a position.
//
// Versions: a node's version is the stream version of the event that last
// wrote its link (the default department created with its organization
// takes the organization stream's version, as domain::AdmissionModel does).
// A delegation's version is the number of delegation events for its
// (scope, dimension) — its delegation id — up to the position asked for: a
// count over its rows, taken at query time.
#pragma once

#include "projections/projection.h"

namespace ledger::projections {

class AdmissionProjection final : public Projection {
 public:
  static constexpr std::string_view kName = "admission";
  std::string_view name() const override { return kName; }
  std::vector<RowOp> apply(const events::Envelope& e) const override;

  // The tables it writes, in creation order.
  static const std::vector<std::string_view>& tables();
};

}  // namespace ledger::projections
