// The policy-values read model (seed 000).
//
// Tables (see adapters/postgres/sql/read_model.sql):
//   policy_keys(key PK, value_type, default_value, min_value, max_value,
//               allowed, description, position)
//   policy_values(key, scope_level, scope_id, position PK...,
//                 value, effective_at, event_id, actor_id, reason, recorded_at)
// Every value ever set is a row (keyed by its position), so answers for any
// `as_of` instant are computed at query time, never by the projector.
#pragma once

#include "projections/projection.h"

namespace ledger::projections {

class PolicyValuesProjection final : public Projection {
 public:
  static constexpr std::string_view kName = "policy_values";
  std::string_view name() const override { return kName; }
  std::vector<RowOp> apply(const events::Envelope& e) const override;
};

}  // namespace ledger::projections
