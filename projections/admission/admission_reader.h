// The admission read model, read: the ports every reader of it goes through.
//
//   AdmissionReader   what one snapshot answers: a decision's reads, the
//                     effective ceilings of a scope, one reservation.
//                     Implemented over PostgreSQL (any past position:
//                     adapters/postgres/admission_queries.h) and over the
//                     query service's in-memory snapshot (its own position
//                     only: projections/admission/snapshot_reader.h).
//   AdmissionHistory  the stored read model: everything above at any past
//                     position, plus the listings (nodes, reservations,
//                     registry) and the event store's head. PostgreSQL only
//                     (the in-memory model keeps no history).
//
// Every answer carries the snapshot_version it was read at. A call with
// `max_position` reads the read model as it stood at that position (time
// travel); without it, at the reader's current position. Errors are values
// (domain::Result): kUnavailable `database_unavailable` when a stored read
// model cannot be reached; nothing here throws.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "domain/admission.h"
#include "domain/error.h"
#include "domain/policy_resolution.h"

namespace ledger::projections {

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

class AdmissionReader {
 public:
  AdmissionReader() = default;
  AdmissionReader(const AdmissionReader&) = delete;
  AdmissionReader& operator=(const AdmissionReader&) = delete;
  virtual ~AdmissionReader() = default;

  // The position the reader answers at when no max_position is given.
  virtual domain::Result<events::GlobalPosition> checkpoint() = 0;
  // What domain::decide_admission needs for each input (the requester's
  // chain, the ceilings and delegations on it for the input's dimension,
  // the organization's reservations of that dimension, the registry), and
  // when `policy_key` is given the key's values at the requester's chain,
  // all from one snapshot (the same snapshot_version).
  virtual domain::Result<std::vector<DecisionRead>> decision_reads(std::span<const domain::DecisionInput> in,
                                                                   std::optional<events::GlobalPosition> max_position,
                                                                   const std::optional<std::string>& policy_key) = 0;
  // The chain of `scope` and every rule and delegation on it (every
  // dimension, or only `dimension` when given).
  virtual domain::Result<CeilingSnapshot> effective_ceilings(const events::QuotaScope& scope,
                                                             const std::optional<std::string>& dimension,
                                                             std::optional<events::GlobalPosition> max_position) = 0;
  // Ids are unique per organization: the reservation `reservation_id` of
  // `organization_id` (nullopt: none there).
  virtual domain::Result<ReservationLookup> reservation(const std::string& organization_id,
                                                        const std::string& reservation_id,
                                                        std::optional<events::GlobalPosition> max_position) = 0;
};

class AdmissionHistory : public AdmissionReader {
 public:
  // The last global position of the event store (to refuse positions beyond it).
  virtual domain::Result<events::GlobalPosition> head_position() = 0;
  virtual domain::Result<ReservationPage> reservations(const ReservationFilter& filter,
                                                       std::optional<events::GlobalPosition> max_position) = 0;
  // One node with its chain; node nullopt when it did not exist then.
  virtual domain::Result<NodeLookup> node(const events::QuotaScope& scope,
                                          std::optional<events::GlobalPosition> max_position) = 0;
  virtual domain::Result<NodePage> nodes(const NodeFilter& filter,
                                         std::optional<events::GlobalPosition> max_position) = 0;
  // Registry entries (of one kind when given), latest version each.
  virtual domain::Result<RegistryListing> registry(const std::optional<std::string>& kind,
                                                   std::optional<events::GlobalPosition> max_position) = 0;
};

}  // namespace ledger::projections
