// Quota ceilings (seed 001): the rules set at a scope, the delegations that
// let a scope's children go above it, and the composition rule that turns
// them into the ceiling in force for one request target.
//
// The ceiling rule, for one request target (dimension, window, region, SKU)
// and the chain of scopes from the requester up to global:
//
//   own(n)       the smallest ceiling set at n that matches the target
//   allowed(n)   what n's parent p lets n have:
//                  p delegated the dimension  -> min(p's delegation cap, allowed(p))
//                  otherwise                  -> effective(p)
//                allowed(global) = unlimited
//   effective(n) = min(own(n), allowed(n))   when n has a rule of its own
//                = effective(parent(n))       when it has none (it inherits;
//                                             a delegation is no rule)
//
// A write of a ceiling q at n is refused (`parent_ceiling_exceeded`) when
// q > allowed(n); the evidence names the scope and rule that bound it.
// Lowering a parent below its children is allowed: the children keep their
// own (recorded) ceilings, but their effective ceiling is clamped by the
// min() above and reports the parent as `inherited_from`. Revoking a
// delegation clamps the same way.
//
// Matching: a ceiling matches a request when dimension and window are equal
// and its region / SKU are empty (any) or equal. For a write, an ancestor's
// ceiling only binds if it is at least as general as the one written (its
// region / SKU empty or equal to the written one).
//
// Windows: "" (a standing quantity), minute / hour / day / month (a rate)
// and `request`: a per-request ceiling, the most ONE request may ask for
// (seed 001's last scope, "principal or api key -> request"). A `request`
// rule is set at any scope like any other window and composes down the
// chain by the same rule (own / allowed / effective, delegation, writes
// above allowed refused, clamping when a parent is lowered); windows never
// judge each other. A decision evaluates, besides the ceiling of its usage
// window (current_usage.scope_window), the effective `request` ceiling for
// the same dimension / region / SKU: requested_delta above it is a deny
// (`request_ceiling_exceeded`) whatever the usage window says. Usage,
// reservations and the warn threshold never apply to it. Reservations
// never consult it (a reservation's quantity is not a request).
//
// The ceiling commands (set, clear, delegate, revoke: commands.h) are
// decided in ceiling_rules.cc.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "domain/admission/hierarchy.h"
#include "events/admission_events.h"

namespace ledger::domain {

using events::CeilingTarget;

// The window of a per-request ceiling: it bounds one request's
// requested_delta, not usage over time (see decide_admission).
inline constexpr std::string_view kRequestWindow = "request";
bool valid_window(std::string_view w);  // "", minute, hour, day, month, request

struct CeilingRule {
  QuotaScope scope;
  std::string rule_id;
  std::int64_t rule_version = 0;
  CeilingTarget target;
  std::int64_t quantity = 0;
  std::string unit;
  friend bool operator==(const CeilingRule&, const CeilingRule&) = default;
};

struct Delegation {
  QuotaScope scope;
  std::string delegation_id;
  std::string dimension;
  std::optional<std::int64_t> max_quantity;
  std::int64_t version = 0;  // how many delegation events the scope's stream had for it
  friend bool operator==(const Delegation&, const Delegation&) = default;
};

// ------------------------------------------------------ effective ceilings

struct MatchedRule {
  std::string rule_id;
  QuotaScope scope;
  std::int64_t version = 0;
  std::string kind;  // "ceiling" or "delegation"
  friend bool operator==(const MatchedRule&, const MatchedRule&) = default;
};

struct Effective {
  std::optional<std::int64_t> quantity;  // nullopt: no ceiling anywhere on the chain
  std::string unit;
  std::optional<QuotaScope> inherited_from;  // the scope whose rule bound it
  std::string binding_rule_id;
  std::vector<MatchedRule> matched_rules;  // every rule on the chain that took part, broadest first
  friend bool operator==(const Effective&, const Effective&) = default;
};

// effective() for chain[0] and allowed() for chain[0] (what its parent lets
// it have; for validating a write at chain[0]). `for_write` switches to the
// write matching rule (ancestors' rules at least as general as `target`).
struct CeilingEvaluation {
  Effective effective;
  Effective allowed;
};
CeilingEvaluation evaluate_ceiling(std::span<const ChainNode> chain, std::span<const CeilingRule> rules,
                                   std::span<const Delegation> delegations, const CeilingTarget& target,
                                   bool for_write);

}  // namespace ledger::domain
