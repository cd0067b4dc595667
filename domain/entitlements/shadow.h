// The shadow check of a candidate policy version (issue 15 part 6): what a
// version would have answered to the entitlement checks the ledger really
// answered, before anyone activates it. Pure: the recorded checks come in
// (the decision log's entitlement_check records), the report goes out.
//
//   std::vector<RecordedCheck> checks = ...;   // one capability, one environment, a window
//   ShadowReport r = shadow(candidate.rules, checks, 10);
//   r.allow_to_deny.count, r.by_plan["free"].deny_to_allow, r.samples_allow_to_deny ...
//
// A recorded check is judged again with the candidate's rules on the plan it
// was decided on (an organization's plan as it was then): deny_overrides
// deny, allowed_plans allow, anything else denies (default deny). A check
// that found its capability unknown (not yet defined, or retired) is not the
// policy's to answer and stays as it was (`not_applicable`). Everything
// else counts: unchanged, allow -> deny, or deny -> allow.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "domain/entitlements/entitlements.h"

namespace ledger::domain::entitlements {

struct RecordedCheck {
  std::string decision_id, correlation_id, recorded_at;
  std::string organization_id;  // "" when the check named a plan
  std::string plan;             // the plan it was decided on
  bool allowed = false;         // as answered
  std::string reason;           // as answered
};

// What the candidate says to one plan: allowed and its reason
// (deny_override | plan_allowed | plan_not_allowed).
CheckResult judge(const Rules& rules, std::string_view plan);

struct FlipCounts {
  std::int64_t checked = 0;  // judged again (not_applicable excluded)
  std::int64_t allow_to_deny = 0;
  std::int64_t deny_to_allow = 0;
  friend bool operator==(const FlipCounts&, const FlipCounts&) = default;
};

struct Flip {
  RecordedCheck check;
  std::string candidate_reason;
  friend bool operator==(const Flip& a, const Flip& b) {
    return a.check.decision_id == b.check.decision_id && a.candidate_reason == b.candidate_reason;
  }
};

struct ShadowReport {
  std::int64_t considered = 0;      // recorded checks given
  std::int64_t not_applicable = 0;  // capability unknown when checked
  FlipCounts total;
  std::map<std::string, FlipCounts> by_plan;
  std::map<std::string, FlipCounts> by_organization;  // "" : checks that named a plan
  std::vector<Flip> samples_allow_to_deny;            // the first `max_samples` of each, in the order given
  std::vector<Flip> samples_deny_to_allow;
};

ShadowReport shadow(const Rules& candidate, std::span<const RecordedCheck> checks, std::size_t max_samples);

// What the query service signs and the command service verifies (a keyed
// digest under a key both derive from LEDGER_CONFIG_KEK,
// domain/config/secrets.h): this prefix, then the report's canonical JSON
// without its `signature`.
inline constexpr std::string_view kShadowSignaturePrefix = "ledger.shadow-report.v1\n";
inline std::string shadow_signing_input(std::string_view report_json) {
  return std::string(kShadowSignaturePrefix) + std::string(report_json);
}

}  // namespace ledger::domain::entitlements
