// Resolving the effective value of a policy key for a caller (seed 000).
//
// Most specific scope wins: user -> project -> organization -> plan -> global.
// At one scope, the value in force at `as_of` is the one with the latest
// effective_at not after `as_of` (ties: the later write wins). A value set at
// the global level overrides the catalog default; with nothing in force
// anywhere, the catalog default answers.
//
// Only candidates that apply to the chain count (applies_to).
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
  // The tenant it was written for (the event's tenant: the organization its
  // scope names, else the writer's tenant; "platform" for the operators'),
  // nullopt for a read-model row from before the column existed.
  std::optional<std::string> tenant = std::nullopt;
};

// Whether a value written for `tenant` may answer for `chain` (invariant 7):
// the platform's values (and rows of unknown tenant) answer everyone; an
// organization's only chains of that organization. A chain with no
// organization — a platform principal, an operator's read that names none —
// sees the platform's values only, so a tenant that sets a value at a
// platform principal's user id (or at another organization's) changes
// nothing for it.
bool applies_to(const std::optional<std::string>& tenant, const ScopeChain& chain);

struct Resolution {
  events::PolicyValue value;
  events::PolicyScope source;                   // level and id that supplied the value
  bool is_default = false;                      // the catalog default answered
  std::optional<events::Instant> effective_at;  // when the answering value took effect
  std::optional<std::int64_t> position;         // the event that set it
};

Resolution resolve(const events::PolicyKeyDefined& key, const ScopeChain& chain,
                   std::span<const ValueCandidate> candidates, events::Instant as_of);

// The next scheduled change of what `resolve` answers after `as_of`: the
// resolution at the earliest effective_at later than `as_of` at which the
// answer (value, source or the write that supplied it) differs from the one
// at `as_of`; nullopt when none of the candidates changes it. A value
// scheduled at a scope that a more specific scope shadows is no change.
std::optional<Resolution> next_change(const events::PolicyKeyDefined& key, const ScopeChain& chain,
                                      std::span<const ValueCandidate> candidates, events::Instant as_of);

}  // namespace ledger::domain
