// The policy-key aggregate (seed 000): a key's definition and the values set
// for it at every scope, as pure decide/evolve functions.
//
//   PolicyKeyState s;                       // empty stream
//   for (auto& e : history) s = evolve(std::move(s), e);
//   Result<std::vector<Event>> r = decide(s, SetPolicyValue{...}, now);
//
// Rules enforced here (stable error codes):
//   - a key is defined once; redefining it identically is a no-op, differently
//     is `policy_key_conflict` (409);
//   - a definition is well formed: key name `a.b_c`, default within bounds,
//     min <= max, enum only for strings (`invalid_policy_key`, 422);
//   - a value is for a defined key (`unknown_policy_key`, 404), of the key's
//     type (`value_type_mismatch`, 422), inside its min/max/enum
//     (`value_out_of_bounds`, 422);
//   - `old_value`, when given, equals what the scope holds at its own level:
//     the value last set at exactly that scope, or the key's default if none
//     was (`old_value_mismatch`, 409);
//   - a key whose write audience is the platform takes values from platform
//     principals only (`policy_key_platform_only`, 403; check_write_audience);
//   - `effective_at` defaults to now and may not lie more than
//     kMaxBackdate in the past (`effective_at_in_past`, 422): history is not
//     rewritten by back-dating.
// No I/O, no clock: `now` is passed in.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "domain/error.h"
#include "events/event.h"

namespace ledger::domain {

using events::Instant;
using events::PolicyScope;
using events::PolicyValue;

inline constexpr std::int64_t kMaxBackdateMicros = 5LL * 60 * 1'000'000;  // 5 minutes

struct DefinePolicyKey {
  events::PolicyKeyDefined definition;
};

struct SetPolicyValue {
  std::string key;
  PolicyScope scope;
  PolicyValue value;
  std::optional<Instant> effective_at;
  std::string reason;
  std::optional<PolicyValue> old_value;
};

struct PolicyKeyState {
  std::int64_t version = 0;  // stream version of the last event applied
  std::optional<events::PolicyKeyDefined> definition;
  std::map<PolicyScope, PolicyValue> latest;  // last value written at each scope
};

std::string policy_stream_id(std::string_view key);
bool valid_policy_key_name(std::string_view key);

Result<void> validate_definition(const events::PolicyKeyDefined& d);
// Type and bounds check of one value against a definition.
Result<void> check_value(const events::PolicyKeyDefined& d, const PolicyValue& v);

// Whether the writer may set values of `d`: every key for a platform
// principal; for an organization's principal (`tenant_writer`) only keys of
// write audience kTenant, else 403 `policy_key_platform_only`.
Result<void> check_write_audience(const events::PolicyKeyDefined& d, bool tenant_writer);

Result<std::vector<events::Event>> decide(const PolicyKeyState& s, const DefinePolicyKey& c);
Result<std::vector<events::Event>> decide(const PolicyKeyState& s, const SetPolicyValue& c, Instant now);
PolicyKeyState evolve(PolicyKeyState s, const events::Event& e);

}  // namespace ledger::domain
