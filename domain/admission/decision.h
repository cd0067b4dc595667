// The admission decision (seed 001's policy_decision_input and its answer):
// one request against one snapshot of the hierarchy, ceilings, delegations,
// reservations and registry, at an instant the caller passes in. Pure: the
// caller takes the snapshot from an AdmissionModel at one position
// (AdmissionModel::snapshot_for, model.h) and passes it in.
//
//   DecisionSnapshot s = model.snapshot_for(in);
//   Result<DecisionOutput> out = decide_admission(in, s, as_of);
#pragma once

#include <boost/container/flat_map.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "domain/admission/ceiling_rules.h"
#include "domain/admission/hierarchy.h"
#include "domain/admission/registry.h"
#include "domain/admission/reservations.h"
#include "domain/error.h"
#include "domain/shared.h"

namespace ledger::domain {

// Seed 001's policy_decision_input (numbers are integers here).
struct DecisionInput {
  struct {
    std::string actor_type, actor_id;
    std::vector<std::string> roles, scopes;
  } actor;
  struct {
    std::string organization_id, department_id, project_id;
  } hierarchy;
  struct {
    std::string product_id, resource_type, resource_id, action;
  } product;
  struct {
    std::string dimension;
    std::int64_t requested_delta = 0;
    std::string unit, region, sku_or_model;
  } request;
  struct {
    std::string scope_window;
    std::int64_t quantity = 0;
    std::string unit;
  } current_usage;
  std::map<std::string, std::string> registry_versions;  // pinned by the caller (optional)
  std::string correlation_id;
};

// What the read model (or the command side's model) supplies for one
// decision, all at one snapshot. Reservations and registry entries are
// shared with the in-memory model they were read from (copying a snapshot
// copies reference counts), and its ceiling rules are referred to there
// (rule_refs, below); the SQL path makes its own.
struct DecisionSnapshot {
  std::int64_t snapshot_version = 0;
  std::vector<ChainNode> chain;  // requester .. global; empty = unknown scope
  // The ids of the places of `chain` in the model it was read from
  // (AdmissionModel::snapshot_for; 0 for a scope without a place), when the
  // chain has at most kMax scopes; none otherwise, and on the SQL path.
  // With them and the slots of a sealed reservation list, a decision
  // compares owner chains by id (ReservationSlot); the answer is the same.
  struct ChainPlaces {
    static constexpr std::size_t kMax = 10;
    std::uint32_t ids[kMax] = {};
    std::size_t size = 0;
  } chain_places;
  // The ceiling rules of `dimension` on the chain, requester's scope first,
  // each scope's in rule id order: owned (`rules`: the SQL path, a caller's
  // own snapshot) or referred to where the model they were read from keeps
  // them (`rule_refs`: AdmissionModel::snapshot_for, which copied seven
  // strings per rule before). One of the two is empty; a decision reads
  // `rule_refs` when it is not. A snapshot that refers must not outlive the
  // model it was read from, nor the model change meanwhile: the query
  // service's readers hold their copy for their answer (left-right,
  // projections/admission/admission_store.h). rules_of() reads either.
  std::vector<CeilingRule> rules;
  std::vector<const CeilingRule*> rule_refs;
  std::vector<Delegation> delegations;
  ReservationList reservations;  // of the organization in the dimension, any state
  // When chain[0] is a principal: its expires_at (a decision at or after it
  // is deny `principal_expired`).
  std::optional<Instant> requester_expires_at;
  Shared<RegistryEntry> dimension;
  Shared<RegistryEntry> product;
  Shared<RegistryEntry> resource_type;
  Shared<RegistryEntry> usage_unit;
  std::int64_t warn_threshold_percent = 80;  // policy value quota.warn_threshold_percent
};

// The rules `s` holds or refers to, as values.
std::vector<CeilingRule> rules_of(const DecisionSnapshot& s);

using RegistryVersions = boost::container::flat_map<std::string, std::string>;

struct DecisionOutput {
  std::string decision;  // allow | deny | warn
  std::string reason_code;
  std::string user_message;
  Effective effective;
  std::optional<std::int64_t> available;        // effective minus capacity reserved for others
  std::optional<std::int64_t> limit_remaining;  // after this request (allow/warn), or before it (deny)
  std::int64_t reserved_for_others = 0;
  // By registry kind (product, quota_dimension, resource_type, scope,
  // usage_unit): one sorted block, made with every decision, where a map
  // made five nodes and rebalanced its tree.
  RegistryVersions registry_versions;
  // `effective` is the per-request cap (the request's `request`-window
  // ceiling), not the usage window's: the API reports inherited_from level
  // `request`, with the scope that set it as inherited_from_scope.
  bool per_request = false;
  // Where the answer came from; a literal, so no decision copies it.
  std::string_view snapshot_kind = "effective_ceiling";
  std::int64_t snapshot_version = 0;
  std::string correlation_id;
  friend bool operator==(const DecisionOutput&, const DecisionOutput&) = default;
};

// Errors (not decisions): malformed input (400 `invalid_decision_input`,
// among it an actor.actor_type other than user, service_account, api_key or
// worker; empty means not given),
// unknown scope (404 `unknown_scope`), unregistered dimension/product/
// resource type (422 `unknown_registry_entry`), unit mismatch (422
// `unit_mismatch`), hierarchy that disagrees with the ledger (422
// `hierarchy_mismatch`), pinned registry version not current (409
// `registry_version_mismatch`).
// Decisions: `within_ceiling` (allow), `near_limit` (warn, usage after the
// request above warn_threshold_percent of the available capacity),
// `ceiling_exceeded` (deny), `capacity_reserved` (deny: only others'
// reservations are in the way), `no_ceiling` (allow: the dimension is
// registered but no scope on the path sets a ceiling for it),
// `principal_expired` (deny: the requester is a principal whose expires_at
// is at or before as_of; judged before any ceiling, with `effective` the
// usage window's, available and limit_remaining null).
// The per-request cap is judged first: requested_delta above the effective
// `request`-window ceiling is deny `request_ceiling_exceeded` with
// `effective` = that ceiling (per_request = true, matched_rules its rules),
// limit_remaining = the cap (the most one request may ask for), available
// null and reserved_for_others 0. Otherwise the usage window decides and
// the output is exactly what it would be with no request ceiling (deny over
// warn over allow: the cap can only make an outcome stricter).
// current_usage.scope_window `request` is accepted and judged the same way
// by the cap alone (usage is never measured per request, so
// current_usage.quantity is ignored): deny `request_ceiling_exceeded`,
// allow `within_ceiling` (limit_remaining = cap - requested_delta, available
// null) or allow `no_ceiling`; per_request is true. Never warn.
Result<void> validate_decision_input(const DecisionInput& in);
Result<DecisionOutput> decide_admission(const DecisionInput& in, const DecisionSnapshot& s, Instant as_of);

}  // namespace ledger::domain
