// The policy-values read model (seed 000) in memory: the policy-key catalog
// and every value ever set, evolved from PolicyKeyDefined / PolicyValueSet in
// global order. What GET /v1/policy-values and a decision's near-limit
// threshold read when the query service answers from memory
// (projections/admission/admission_store.h holds it beside the admission
// model, at one position).
//
//   PolicyValuesModel m;
//   m.apply(envelope);                                   // in global order
//   if (const auto* key = m.key("quota.warn_threshold_percent")) {
//     auto res = domain::resolve(*key, chain, m.candidates(key->key, chain), now);
//   }
//
// Answers are those of PgPolicyQueries::policy_snapshot over the projected
// tables at the same position: the latest definition of the key and the
// values at the chain's scopes, a user or project value only when written
// for the chain's organization, by the platform, or of unknown tenant (the
// same filter as the SQL; domain::resolve applies domain::applies_to too).
//
// A plain value type: copyable, thread-compatible (readers share an
// immutable copy, see the store).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "domain/policy_resolution.h"
#include "events/event.h"

namespace ledger::projections {

class PolicyValuesModel {
 public:
  // Applies one event (anything other than the two policy events is ignored).
  void apply(const events::Envelope& e);

  // The key's definition; nullptr when it is not in the catalog.
  const events::PolicyKeyDefined* key(const std::string& name) const;
  // Every value of `key` that policy_snapshot would read for `chain`, in
  // position order.
  std::vector<domain::ValueCandidate> candidates(const std::string& key, const domain::ScopeChain& chain) const;
  // The catalog's key names starting with `prefix`, ascending.
  std::vector<std::string> key_names(const std::string& prefix) const;

  std::size_t value_count() const { return values_; }

  // Every value ever set for a key, by (scope level, scope id), each
  // scope's values in position order (a user or project id may carry
  // values of several organizations: ValueCandidate::tenant tells them
  // apart).
  using ValuesByScope = std::map<std::pair<events::ScopeLevel, std::string>, std::vector<domain::ValueCandidate>>;
  // The values of `key`; nullptr when none was ever set.
  const ValuesByScope* values_of(const std::string& key) const;

 private:
  struct KeyValues {
    ValuesByScope at;
  };
  std::map<std::string, events::PolicyKeyDefined> keys_;
  std::map<std::string, KeyValues> values_by_key_;
  std::size_t values_ = 0;
};

}  // namespace ledger::projections
