// Resolving the effective value of a policy key for a caller (seed 000).
//
// Most specific scope wins: user -> project -> organization -> plan -> global.
// At one scope, the value in force at `as_of` is the one with the latest
// effective_at not after `as_of` (ties: the later write wins). A value set at
// the global level overrides the catalog default; with nothing in force
// anywhere, the catalog default answers.
//
// Pure: the caller fetches the candidate values (any superset of the rows for
// the caller's scopes is fine) and passes the instant in.
#pragma once

#include <optional>
#include <span>
#include <string>

#include "events/event.h"

namespace ledger::domain {

// The caller's position in the scope hierarchy; empty = not given.
struct ScopeChain {
  std::string user_id;
  std::string project_id;
  std::string org_id;
  std::string plan;
};

// One value ever set for the key, as the read model keeps it.
struct ValueCandidate {
  events::PolicyScope scope;
  events::PolicyValue value;
  events::Instant effective_at;
  std::int64_t position = 0;
};

struct Resolution {
  events::PolicyValue value;
  events::PolicyScope source;                 // level and id that supplied the value
  bool is_default = false;                    // the catalog default answered
  std::optional<events::Instant> effective_at;  // when the answering value took effect
  std::optional<std::int64_t> position;        // the event that set it
};

Resolution resolve(const events::PolicyKeyDefined& key, const ScopeChain& chain,
                   std::span<const ValueCandidate> candidates, events::Instant as_of);

}  // namespace ledger::domain
