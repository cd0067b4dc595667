// What the .cc files of domain/admission/ share and nothing else may use:
// the error shapes, the ceiling walk behind evaluate_ceiling and
// decide_admission (ceiling_rules.cc), the capacity rule behind activation,
// moves and ceiling changes (reservations.cc), and the checks several
// commands make. Included only by domain/admission/*.cc.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/container/small_vector.hpp>

#include "domain/admission/commands.h"

namespace ledger::domain::admission_internal {

inline constexpr std::int64_t kUnlimited = std::numeric_limits<std::int64_t>::max();

// ------------------------------------------------------------ error shapes

inline Error err(ErrorKind kind, std::string code, std::string message) {
  return Error{kind, std::move(code), std::move(message), {}};
}
inline std::unexpected<Error> unknown_scope(const QuotaScope& s) {
  return fail(err(ErrorKind::kNotFound, "unknown_scope", "the scope does not exist").with("scope", scope_text(s)));
}
inline std::unexpected<Error> unknown_registry(const std::string& kind, const std::string& id) {
  return fail(err(ErrorKind::kFailedPrecondition, "unknown_registry_entry", "the " + kind + " is not registered")
                  .with("registry_kind", kind)
                  .with("entry_id", id));
}
// 400 and 422 with a code of the caller's.
inline std::unexpected<Error> invalid(std::string code, std::string message) {
  return fail(err(ErrorKind::kInvalidArgument, std::move(code), std::move(message)));
}
inline std::unexpected<Error> rule(std::string code, std::string message) {
  return fail(err(ErrorKind::kFailedPrecondition, std::move(code), std::move(message)));
}

// Whether two regions (or SKUs) overlap: empty means any.
inline bool overlaps(const std::string& a, const std::string& b) { return a.empty() || b.empty() || a == b; }

// ------------------------------------------- the ceiling walk (ceiling_rules.cc)

// A bound and where it came from: the rule or delegation of the spans
// evaluate_along was given, so an Along must not outlive them (a decision
// walks the chain twice; copying ids at every step cost more than the walk).
struct Bound {
  std::int64_t quantity = kUnlimited;
  const QuotaScope* from = nullptr;  // null: nothing bounds it
  std::string_view rule_id;
  std::string_view kind;  // ceiling | delegation
};

// A rule or delegation that took part, referred to where evaluate_along
// found it (a MatchedRule is made of it only for the walk that answers:
// a decision's per-request walk that does not decide copies nothing).
struct Matched {
  std::string_view id;
  const QuotaScope* scope = nullptr;
  std::int64_t version = 0;
  std::string_view kind;  // ceiling | delegation
};

// effective(n) and allowed(n) for every node of the chain (index = chain
// index). Chains are short (requester .. global: a handful of scopes), so
// the walk's lists live inline and a decision's two walks allocate nothing.
// Moving one never throws: a list inline is copied into inline room (its
// elements are trivially copyable), one on the heap is taken whole; Boost
// does not mark small_vector's move noexcept.
struct Along {  // NOLINT(bugprone-exception-escape)
  boost::container::small_vector<Bound, 8> effective;
  boost::container::small_vector<Bound, 8> allowed;
  boost::container::small_vector<Matched, 16> matched;  // broadest first
  std::string_view unit;
};

// Pointers to each of `rules`, in order (owned rules read as referred ones).
std::vector<const CeilingRule*> refer_to(std::span<const CeilingRule> rules);

Along evaluate_along(std::span<const ChainNode> chain, std::span<const CeilingRule> rules,
                     std::span<const Delegation> delegations, const CeilingTarget& target);
// The same over rules referred to (a decision's snapshot read from a model).
Along evaluate_along(std::span<const ChainNode> chain, std::span<const CeilingRule* const> rules,
                     std::span<const Delegation> delegations, const CeilingTarget& target);
// The answer of `b`, with a's unit and matched rules copied out of the
// rules and delegations they refer to.
Effective to_effective(const Bound& b, const Along& a);

// --------------------------------------------- the capacity rule (reservations.cc)

// Why `candidate` does not fit, when it does not.
struct Shortfall {
  QuotaScope scope;
  std::int64_t effective = 0;
  Peak peak;
  std::string rule_id;
};

// The capacity rule of activation (reservations.h "Windows"): under every
// scope from the candidate's owner up to its organization whose effective
// ceiling binds the owner, the candidate plus every other reservation under
// that scope that holds capacity, overlaps its region / SKU and its window,
// at their peak over [max(window_start, now), window_end), fit the scope's
// effective ceiling. `rules` and `dels` are those on `chain` (the owner's).
std::optional<Shortfall> capacity_shortfall(std::span<const ChainNode> chain, std::span<const CeilingRule> rules,
                                            std::span<const Delegation> dels, const ReservationView& candidate,
                                            std::span<const ReservationView> others, Instant now);

// 422 `ceiling_below_reserved`: a change after which `r` would not fit,
// with the first scope up from its owner that would be short.
Result<void> below_reserved(const ReservationView& r, const Shortfall& after);

// ------------------------------------------------------ command checks

inline Decided one(std::string stream, std::string tenant, events::Event e) {
  Decided d{std::move(stream), std::move(tenant), {}};
  d.events.push_back(std::move(e));
  return d;
}
inline Decided nothing(std::string stream, std::string tenant) {
  return Decided{std::move(stream), std::move(tenant), {}};
}

// An id of 1..128 of [A-Za-z0-9._:-] (400 `invalid_id`; hierarchy.cc).
Result<void> check_id(const std::string& id, const char* what);

// The dimension's registry entry and unit, or why not (registry.cc).
Result<std::string> dimension_unit(const AdmissionModel& m, const std::string& dimension, const std::string& unit);

// A ceiling target's window and ids are well formed (ceiling_rules.cc).
Result<void> check_target(const CeilingTarget& t);

// 422 `parent_ceiling_exceeded`: `quantity` at `at` is above what its
// parent allows (ceiling_rules.cc).
std::unexpected<Error> exceeded(const Effective& allowed, std::int64_t quantity, const QuotaScope& at);

}  // namespace ledger::domain::admission_internal
