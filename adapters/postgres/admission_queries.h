// The admission read model in PostgreSQL (projections/admission/admission_projection.h),
// read through its ports (projections/admission/admission_reader.h): what a
// decision, the effective-ceiling endpoint, the reservation endpoints and the
// customer views need, at any past position.
//
//   PgAdmissionQueries q(url, "rm", 8);
//   auto snap = q.decision_snapshot(input, std::nullopt);   // now
//   auto then = q.decision_snapshot(input, 1234);           // as at position 1234
//   if (snap) auto out = domain::decide_admission(input, *snap, as_of);
//
// Every call reads in ONE repeatable-read, read-only transaction, so all rows
// of an answer come from one snapshot, and returns its snapshot version: the
// "admission" checkpoint, or `max_position` when given and lower (time
// travel: only rows at or below it are read, so any past position answers as
// the ledger stood then). Callers wanting a position the read model has not
// reached yet wait for checkpoint() first.
//
// Fast at 1,000,000 scope nodes: a chain is one recursive query that walks
// up through "latest link at or below P" index probes; rules, delegations,
// reservations and registry entries are one query each. The decision
// statements are prepared once per pooled connection.
//
// Thread-safe: a pool of `pool_size` connections, one per concurrent call.
// Errors: kUnavailable `database_unavailable` when PostgreSQL cannot be
// reached, kInternal otherwise; nothing here throws.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "domain/admission.h"
#include "domain/error.h"
#include "domain/policy_resolution.h"
#include "projections/admission/admission_reader.h"

namespace ledger::adapters::postgres {

class PgAdmissionQueries final : public projections::AdmissionHistory {
 public:
  PgAdmissionQueries(const std::string& url, std::string schema, std::size_t pool_size);
  ~PgAdmissionQueries() override;

  // The "admission" projection's checkpoint.
  domain::Result<events::GlobalPosition> checkpoint() override;
  // Whether the ledger has revoked principal `principal_id` of `tenant`
  // ("principal_revoked") or, when given, the JWT `token_id` of that tenant
  // ("token_revoked"); nullopt when neither (TokenRevoked, latest snapshot).
  domain::Result<std::optional<std::string>> revocation(const std::string& tenant, const std::string& principal_id,
                                                        const std::optional<std::string>& token_id);
  domain::Result<events::GlobalPosition> head_position() override;

  // What domain::decide_admission needs for `in`: the requester's chain (the
  // principal named by actor.actor_id if it belongs to hierarchy.project_id,
  // else the project; unknown project -> empty chain), the non-cleared
  // ceilings and active delegations on it for request.dimension, every
  // reservation of hierarchy.organization_id for that dimension (any state,
  // with owner chains) and the registry entries. warn_threshold_percent is
  // left at its default (it is a policy value, not admission's).
  domain::Result<domain::DecisionSnapshot> decision_snapshot(const domain::DecisionInput& in,
                                                             std::optional<events::GlobalPosition> max_position);
  // Many at once, all from one snapshot (the same snapshot_version).
  domain::Result<std::vector<domain::DecisionSnapshot>> decision_snapshots(
      std::span<const domain::DecisionInput> in, std::optional<events::GlobalPosition> max_position);
  // The snapshots as above plus, for each input whose chain is known, the
  // policy value `policy_key` at its scopes, all in ONE transaction. The
  // whole batch costs a fixed number of prepared statements (checkpoint,
  // chains, rules, delegations, reservations, their owners' chains,
  // registry entries, policy key and values), each reading every distinct
  // requester, dimension or organization at once.
  domain::Result<std::vector<projections::DecisionRead>> decision_reads(
      std::span<const domain::DecisionInput> in, std::optional<events::GlobalPosition> max_position,
      const std::optional<std::string>& policy_key) override;
  domain::Result<projections::CeilingSnapshot> effective_ceilings(
      const events::QuotaScope& scope, const std::optional<std::string>& dimension,
      std::optional<events::GlobalPosition> max_position) override;
  domain::Result<projections::ReservationLookup> reservation(
      const std::string& organization_id, const std::string& reservation_id,
      std::optional<events::GlobalPosition> max_position) override;
  domain::Result<projections::ReservationPage> reservations(
      const projections::ReservationFilter& filter, std::optional<events::GlobalPosition> max_position) override;
  domain::Result<projections::NodeLookup> node(const events::QuotaScope& scope,
                                               std::optional<events::GlobalPosition> max_position) override;
  domain::Result<projections::NodePage> nodes(const projections::NodeFilter& filter,
                                              std::optional<events::GlobalPosition> max_position) override;
  domain::Result<projections::RegistryListing> registry(const std::optional<std::string>& kind,
                                                        std::optional<events::GlobalPosition> max_position) override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ledger::adapters::postgres
