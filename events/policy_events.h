// Events of the policy-key stream (seed 000: policy keys and scoped values).
//
// One stream per key, `policy-key:<key>`: the key's definition first, then
// every value set at any scope. Events are facts in the past tense and are
// never changed once written; a correction is a new event.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "events/values.h"

namespace ledger::events {

// A key entered the catalog with its type, default and bounds.
struct PolicyKeyDefined {
  static constexpr const char* kType = "PolicyKeyDefined";
  static constexpr int kSchemaVersion = 1;

  std::string key;
  ValueType value_type = ValueType::kInt;
  PolicyValue default_value;
  std::optional<std::int64_t> min;        // ints only
  std::optional<std::int64_t> max;        // ints only
  std::vector<std::string> allowed;       // strings only; empty = any string
  std::string description;
  friend bool operator==(const PolicyKeyDefined&, const PolicyKeyDefined&) = default;
};

// A value was set for a key at one scope. `before` is what the scope resolved
// to at its own level when the command was decided (the value last set there,
// or the key's default when nothing was), so the event alone tells the change.
struct PolicyValueSet {
  static constexpr const char* kType = "PolicyValueSet";
  static constexpr int kSchemaVersion = 1;

  std::string key;
  PolicyScope scope;
  PolicyValue before;
  bool before_was_default = true;
  PolicyValue after;
  Instant effective_at;
  std::string reason;
  friend bool operator==(const PolicyValueSet&, const PolicyValueSet&) = default;
};

}  // namespace ledger::events
