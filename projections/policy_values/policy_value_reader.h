// The policy-value read model, read: the port every reader of it goes
// through. Implemented over PostgreSQL (any past position:
// adapters/postgres/read_model_store.h, PgPolicyQueries) and over the query
// service's in-memory snapshot (its own position only:
// projections/admission/snapshot_reader.h). Errors are values; nothing here
// throws.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "domain/error.h"
#include "domain/policy_resolution.h"
#include "events/event.h"

namespace ledger::projections {

// What the query service reads for one policy value, from one consistent
// snapshot of the read model.
struct PolicySnapshot {
  std::int64_t snapshot_version = 0;  // the position the rows reflect
  std::optional<events::PolicyKeyDefined> key;
  std::vector<domain::ValueCandidate> candidates;
};

class PolicyValueReader {
 public:
  PolicyValueReader() = default;
  PolicyValueReader(const PolicyValueReader&) = delete;
  PolicyValueReader& operator=(const PolicyValueReader&) = delete;
  virtual ~PolicyValueReader() = default;

  // The position the reader answers at when no max_position is given.
  virtual domain::Result<events::GlobalPosition> checkpoint() = 0;
  // Key definition and every value at the chain's scopes, with position at
  // or below `max_position` when given (time travel by position). With
  // chain.org_id set, values at user and project scopes count only when
  // written for that organization or by the platform (ids the hierarchy
  // does not know are not unique across organizations).
  virtual domain::Result<PolicySnapshot> policy_snapshot(const std::string& key, const domain::ScopeChain& chain,
                                                         std::optional<events::GlobalPosition> max_position) = 0;
  // The catalog's key names starting with `prefix` (e.g. "rate_limit."),
  // ascending, as defined at `max_position` (or now).
  virtual domain::Result<std::vector<std::string>> key_names(const std::string& prefix,
                                                             std::optional<events::GlobalPosition> max_position) = 0;
};

}  // namespace ledger::projections
