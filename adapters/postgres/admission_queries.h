// Read-only queries over the admission read model
// (projections/admission_projection.h): what a decision, the effective-
// ceiling endpoint, the reservation endpoints and the customer views need.
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

namespace ledger::adapters::postgres {

// One scope node as it stood at the snapshot.
struct ScopeNodeView {
  events::QuotaScope scope;
  events::QuotaScope parent;  // an organization's parent is plan:<plan_id>
  std::string organization_id;
  std::string name;
  std::string principal_type;  // principals only
  std::optional<events::Instant> expires_at;
  std::string default_department_id;  // organizations only
  std::string plan_id;                // organizations only
  std::int64_t version = 0;           // the node's stream version
  std::int64_t created_position = 0;
};

// Everything known of one reservation at the snapshot: the decision's view
// (owner chain included) plus its definition.
struct ReservationRecord {
  domain::ReservationView view;  // view.state is the recorded state
  std::string organization_id;
  std::string kind;
  std::string unit;
  std::map<std::string, std::string> attributes;
  std::int64_t version = 0;  // the reservation stream's version
  std::int64_t drafted_position = 0;
};

struct CeilingSnapshot {
  std::int64_t snapshot_version = 0;
  std::vector<domain::ChainNode> chain;         // the scope .. global; empty = unknown scope
  std::vector<domain::CeilingRule> rules;       // chain order, then rule id
  std::vector<domain::Delegation> delegations;  // chain order
};

struct ReservationLookup {
  std::int64_t snapshot_version = 0;
  std::optional<ReservationRecord> reservation;
};

// Unset filters match everything.
struct ReservationFilter {
  std::optional<std::string> organization_id;
  std::optional<events::QuotaScope> owner;  // exactly this owner
  // The state as it reads at `as_of` (domain::reservation_state_at: an
  // active, exhausted or suspended reservation past its window reads
  // `expired`); without `as_of`, the recorded state.
  std::optional<std::string> state;
  std::optional<events::Instant> as_of;
  // The page starts after (after_id, after_organization_id): ids are unique
  // per organization only, so pages run in (id, organization) order.
  std::string after_id;
  std::string after_organization_id;
  std::size_t limit = 100;
};

struct ReservationPage {
  std::int64_t snapshot_version = 0;
  std::vector<ReservationRecord> items;  // ascending (reservation id, organization id)
  bool has_more = false;
};

struct NodeLookup {
  std::int64_t snapshot_version = 0;
  std::optional<ScopeNodeView> node;
  std::vector<domain::ChainNode> chain;  // the node .. global
};

// Nodes by parent (the ones hanging directly under it at the snapshot) or by
// organization; optionally of one level. At least one of parent and
// organization_id must be set.
struct NodeFilter {
  std::optional<events::QuotaScope> parent;
  std::optional<std::string> organization_id;
  std::optional<events::QuotaLevel> level;
  std::string after_id;  // within ascending (level, node id): after this node id of the last level
  std::optional<events::QuotaLevel> after_level;
  std::size_t limit = 100;
};

struct NodePage {
  std::int64_t snapshot_version = 0;
  std::vector<ScopeNodeView> items;  // ascending (level, node id)
  bool has_more = false;
};

// A policy value a decision needs besides the admission model
// (quota.warn_threshold_percent), read in the decision's own transaction at
// its snapshot, as PgPolicyQueries::policy_snapshot reads it: the key's
// definition (nullopt when not defined at the snapshot) and its values at
// `chain` — hierarchy.project_id and the organization and plan on the
// requester's chain, no user. Resolve with domain::resolve(*key, chain, ...).
struct DecisionPolicyValue {
  domain::ScopeChain chain;
  std::optional<events::PolicyKeyDefined> key;
  std::vector<domain::ValueCandidate> candidates;
};

struct DecisionRead {
  domain::DecisionSnapshot snapshot;
  // Set when a policy key was asked for and the requester's chain is known.
  std::optional<DecisionPolicyValue> policy;
};

struct RegistryListing {
  std::int64_t snapshot_version = 0;
  std::vector<domain::RegistryEntry> entries;  // ascending (kind, entry id), latest version each
};

class PgAdmissionQueries {
 public:
  PgAdmissionQueries(std::string url, std::string schema, std::size_t pool_size);
  ~PgAdmissionQueries();
  PgAdmissionQueries(const PgAdmissionQueries&) = delete;
  PgAdmissionQueries& operator=(const PgAdmissionQueries&) = delete;

  // The "admission" projection's checkpoint.
  domain::Result<std::int64_t> checkpoint();
  // Whether the ledger has revoked principal `principal_id` of `tenant`
  // ("principal_revoked") or, when given, the JWT `token_id` of that tenant
  // ("token_revoked"); nullopt when neither (TokenRevoked, latest snapshot).
  domain::Result<std::optional<std::string>> revocation(const std::string& tenant, const std::string& principal_id,
                                                        const std::optional<std::string>& token_id);
  // The last global position of the event store (to refuse positions beyond it).
  domain::Result<std::int64_t> head_position();

  // What domain::decide_admission needs for `in`: the requester's chain (the
  // principal named by actor.actor_id if it belongs to hierarchy.project_id,
  // else the project; unknown project -> empty chain), the non-cleared
  // ceilings and active delegations on it for request.dimension, every
  // reservation of hierarchy.organization_id for that dimension (any state,
  // with owner chains) and the registry entries. warn_threshold_percent is
  // left at its default (it is a policy value, not admission's).
  domain::Result<domain::DecisionSnapshot> decision_snapshot(const domain::DecisionInput& in,
                                                             std::optional<std::int64_t> max_position);
  // Many at once, all from one snapshot (the same snapshot_version).
  domain::Result<std::vector<domain::DecisionSnapshot>> decision_snapshots(std::span<const domain::DecisionInput> in,
                                                                           std::optional<std::int64_t> max_position);
  // What POST /v1/decisions(:batch) reads: the snapshots as above plus, for
  // each input whose chain is known, the policy value `policy_key` at its
  // scopes, all in ONE transaction. The whole batch costs a fixed number of
  // prepared statements (checkpoint, chains, rules, delegations,
  // reservations, their owners' chains, registry entries, policy key and
  // values), each reading every distinct requester, dimension or
  // organization at once.
  domain::Result<std::vector<DecisionRead>> decision_reads(std::span<const domain::DecisionInput> in,
                                                           std::optional<std::int64_t> max_position,
                                                           const std::optional<std::string>& policy_key);

  // The chain of `scope` and every rule and delegation on it (every
  // dimension, or only `dimension` when given).
  domain::Result<CeilingSnapshot> effective_ceilings(const events::QuotaScope& scope,
                                                     const std::optional<std::string>& dimension,
                                                     std::optional<std::int64_t> max_position);

  // Ids are unique per organization: the reservation `reservation_id` of
  // `organization_id` (nullopt: none there).
  domain::Result<ReservationLookup> reservation(const std::string& organization_id, const std::string& reservation_id,
                                                std::optional<std::int64_t> max_position);
  domain::Result<ReservationPage> reservations(const ReservationFilter& filter,
                                               std::optional<std::int64_t> max_position);

  // One node with its chain; node nullopt when it did not exist then.
  domain::Result<NodeLookup> node(const events::QuotaScope& scope, std::optional<std::int64_t> max_position);
  domain::Result<NodePage> nodes(const NodeFilter& filter, std::optional<std::int64_t> max_position);

  // Registry entries (of one kind when given), latest version each.
  domain::Result<RegistryListing> registry(const std::optional<std::string>& kind,
                                           std::optional<std::int64_t> max_position);

  // The policy keys defined at or below the snapshot whose name starts with
  // `prefix` (e.g. "rate_limit."), ascending; for the customer views, which
  // resolve each with PgPolicyQueries. The snapshot is bounded by the
  // admission checkpoint like every call here: pass a position both read
  // models have reached.
  domain::Result<std::vector<std::string>> policy_key_names(const std::string& prefix,
                                                            std::optional<std::int64_t> max_position);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ledger::adapters::postgres
