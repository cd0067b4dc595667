// Events of the policy-key stream (seed 000: policy keys and scoped values).
//
// One stream per key, `policy-key:<key>`: the key's definition first, then
// every value set at any scope. Events are facts in the past tense and are
// never changed once written; a correction is a new event.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "events/values.h"

namespace ledger::events {

// Who may set a key's values (invariant 7: no tenant throttles another, or
// lifts its own limits). Written as the strings "platform" / "tenant".
//   kPlatform  platform principals only: rate_limit.*, auth.* and quota.*,
//              the keys that govern the ledger itself (codec::
//              implied_write_audience)
//   kTenant    also an organization's own principals (tenant_admin), within
//              the key's bounds, at their own organization's scopes
enum class WriteAudience : std::uint8_t { kPlatform, kTenant };

// A key entered the catalog with its type, default, bounds and write audience.
//
// Schema versions (old rows are never rewritten; events/codec upcasts them):
//   v1  {key, value_type, default_value, min, max, allowed, description}
//   v2  v1 + write_audience: "platform" | "tenant". Upcast: the audience the
//       key's name implies (codec::implied_write_audience), the same rule a
//       definition that names no audience gets, so re-loading the catalog
//       over a v1 history is still a no-op.
struct PolicyKeyDefined {
  static constexpr const char* kType = "PolicyKeyDefined";
  static constexpr int kSchemaVersion = 2;

  std::string key;
  ValueType value_type = ValueType::kInt;
  PolicyValue default_value;
  std::optional<std::int64_t> min;   // ints only
  std::optional<std::int64_t> max;   // ints only
  std::vector<std::string> allowed;  // strings only; empty = any string
  std::string description;
  WriteAudience write_audience = WriteAudience::kPlatform;  // fail closed
  friend bool operator==(const PolicyKeyDefined&, const PolicyKeyDefined&) = default;
};

// Where the `before` of a PolicyValueSet came from.
//   kDefault  nothing was set at that scope: `before` is the key's default
//   kScope    `before` is the value last set at exactly that scope
// Written as the strings "default" / "scope". New sources (a plan
// entitlement, an inherited parent scope, an imported value) become new
// strings here without another change to the payload's shape.
enum class BeforeSource : std::uint8_t { kDefault, kScope };

// A value was set for a key at one scope. `before` is what the scope resolved
// to at its own level when the command was decided (the value last set there,
// or the key's default when nothing was), so the event alone tells the change.
//
// Schema versions (old rows are never rewritten; events/codec upcasts them on
// read, and the hash chain keeps covering the payload as it was recorded):
//   v1  {key, scope: {level, id}, before, before_was_default: bool, after,
//        effective_at, reason}
//   v2  {key, scope: {level, id}, before, before_source: "default" | "scope",
//        after, effective_at, reason}
//       The one change: the boolean `before_was_default` became the enum
//       string `before_source`. A boolean can only say "default or not"; an
//       auditor asking "from what, and from where" needs the origin named,
//       and the next origins (plan entitlements, inherited ceilings) must fit
//       without a v3. It also reads unambiguously in a JSON Lines export
//       consumed without this codec. Upcast: true -> "default",
//       false -> "scope"; nothing else changes.
struct PolicyValueSet {
  static constexpr const char* kType = "PolicyValueSet";
  static constexpr int kSchemaVersion = 2;

  std::string key;
  PolicyScope scope;
  PolicyValue before;
  BeforeSource before_source = BeforeSource::kDefault;
  PolicyValue after;
  Instant effective_at;
  std::string reason;
  friend bool operator==(const PolicyValueSet&, const PolicyValueSet&) = default;
};

}  // namespace ledger::events
