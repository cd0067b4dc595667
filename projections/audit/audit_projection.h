// The audit read model: one row per event, for auditors and compliance.
//
// Table `audit_log` (see adapters/postgres/sql/read_model.sql), keyed by the
// event's global position:
//   position, event_id, tenant, stream_id, stream_version,
//   event_type, schema_version        the event as the projection saw it
//   subject_kind, subject_key         what changed: "policy_key" + the key,
//                                     or an admission subject (below)
//   scope_level, scope_id             where (NULL when the event has no scope)
//   before, before_source, after      jsonb values; `before` NULL when there
//                                     was none (a key's definition)
//   reason                            NULL when the event carries none
//   actor_type, actor_id, actor_roles who (roles as a jsonb array)
//   occurred_at, recorded_at          business time and commit time
//   effective_at                      when the change takes effect (or NULL)
//   correlation_id, causation_id, command_id
//
// Pure like every projection: no clock, no state between events. Rows are
// never removed, so any past position can be answered (time travel) with no
// garbage-collection window. `event_type` / `schema_version` describe the
// event after upcasting (events/codec), so a history holding old schema
// versions yields exactly the rows an all-current history would; the
// version as recorded stays in the event store, under the hash chain.
//
// PolicyKeyDefined: scope global, before NULL, after the definition
//   {value_type, default_value, min, max, allowed, description}.
// PolicyValueSet: the key's scope, before/after values, before_source,
//   effective_at and reason.
//
// Admission events (events/admission_events.h): `after` is the event's
// encoded payload, `before` an object of its before_* fields (NULL when it
// has none), `reason` the event's reason (NULL for registry and hierarchy
// events). Scope levels are the quota levels (global, plan, organization,
// department, project, principal).
//   subject_kind  subject_key            scope
//   registry      "<kind>:<entry_id>"    global
//   hierarchy     the node id            the node itself
//   ceiling       the dimension          the ceiling's scope     before {quantity, unit}
//   delegation    the dimension          the delegating scope
//   reservation   the reservation id     its owner (ReservationDrafted) or its
//                                        organization (later events, which do
//                                        not repeat the owner)
//   access        the route family       the organization reached for (global
//                                        when that was the platform); an
//                                        AccessRefused event, `reason` its
//                                        reason code, the actor who tried
#pragma once

#include "projections/projection.h"

namespace ledger::projections {

class AuditProjection final : public Projection {
 public:
  static constexpr std::string_view kName = "audit";
  static constexpr std::string_view kTable = "audit_log";
  std::string_view name() const override { return kName; }
  std::vector<RowOp> apply(const events::Envelope& e) const override;
};

}  // namespace ledger::projections
