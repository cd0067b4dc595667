// Plain value types that events carry: instants, policy values and scopes.
//
// These are the vocabulary of the event payloads, so they live at the bottom
// of the dependency graph (standard library only). The rules about them
// (bounds, resolution order) live in domain/.
#pragma once

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>

namespace ledger::events {

// A point in time: microseconds since the Unix epoch, UTC. Persisted as
// timestamptz (microsecond precision), written as RFC 3339 with six digits.
struct Instant {
  std::int64_t micros = 0;
  friend auto operator<=>(const Instant&, const Instant&) = default;
};

// The type a policy key declares for its values (seed 000: int, string, bool).
enum class ValueType : std::uint8_t { kInt, kString, kBool };

// One policy value. Integers are 64-bit; nothing is a float.
struct PolicyValue {
  std::variant<bool, std::int64_t, std::string> v;

  ValueType type() const {
    switch (v.index()) {
      case 0:
        return ValueType::kBool;
      case 1:
        return ValueType::kInt;
      default:
        return ValueType::kString;
    }
  }
  friend bool operator==(const PolicyValue&, const PolicyValue&) = default;
};

// The levels a policy value can be set at, most specific first (seed 000):
// user -> project -> organization -> plan -> global default.
enum class ScopeLevel : std::uint8_t { kUser, kProject, kOrganization, kPlan, kGlobal };

// Where a policy value is set. `id` is empty for the global level.
// `organization` is the tenant the scope belongs to when known (a user or
// project scope may name its organization too); it does not change identity.
struct PolicyScope {
  ScopeLevel level = ScopeLevel::kGlobal;
  std::string id;
  friend auto operator<=>(const PolicyScope&, const PolicyScope&) = default;
};

}  // namespace ledger::events
