#include "domain/admission/ceiling_rules.h"

#include <algorithm>
#include <iterator>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "domain/admission/commands.h"
#include "domain/admission/internal.h"

namespace ledger::domain {
namespace {

bool matches(const CeilingTarget& rule, const CeilingTarget& t) {
  return rule.dimension == t.dimension && rule.window == t.window && (rule.region.empty() || rule.region == t.region) &&
         (rule.sku_or_model.empty() || rule.sku_or_model == t.sku_or_model);
}

}  // namespace

namespace admission_internal {

std::vector<const CeilingRule*> refer_to(std::span<const CeilingRule> rules) {
  std::vector<const CeilingRule*> refs;
  refs.reserve(rules.size());
  for (const auto& r : rules) refs.push_back(&r);
  return refs;
}

Along evaluate_along(std::span<const ChainNode> chain, std::span<const CeilingRule> rules,
                     std::span<const Delegation> delegations, const CeilingTarget& target) {
  return evaluate_along(chain, refer_to(rules), delegations, target);
}

Along evaluate_along(std::span<const ChainNode> chain, std::span<const CeilingRule* const> rules,
                     std::span<const Delegation> delegations, const CeilingTarget& target) {
  Along a;
  a.effective.resize(chain.size());
  a.allowed.resize(chain.size());
  Bound allowed;     // what the node may have: unlimited above global
  Bound parent_eff;  // its parent's effective ceiling: what it inherits with no rule of its own
  boost::container::small_vector<const CeilingRule*, 8> here;  // the node's matching rules (one buffer for the walk)
  for (std::size_t k = chain.size(); k-- > 0;) {
    const QuotaScope& scope = chain[k].scope;
    Bound own;
    here.clear();
    for (const CeilingRule* r : rules) {
      if (r->scope == scope && matches(r->target, target)) here.push_back(r);
    }
    std::sort(here.begin(), here.end(), [](auto* x, auto* y) { return x->rule_id < y->rule_id; });
    for (const auto* r : here) {
      a.matched.push_back(Matched{r->rule_id, &r->scope, r->rule_version, "ceiling"});
      if (a.unit.empty()) a.unit = r->unit;
      if (r->quantity < own.quantity) own = Bound{r->quantity, &r->scope, r->rule_id, "ceiling"};
    }
    a.allowed[k] = allowed;
    // Its own rule, held down by what it is allowed (ties go to the node's
    // own rule: it is the one written there); with no rule, the parent's.
    a.effective[k] = own.from ? (own.quantity <= allowed.quantity ? own : allowed) : parent_eff;
    if (k == 0) break;
    const Delegation* d = nullptr;
    for (const auto& x : delegations) {
      if (x.scope == scope && x.dimension == target.dimension) d = &x;
    }
    if (d) {
      // Children's own rules may exceed this scope's ceiling, up to the cap
      // and never beyond what this scope itself is allowed.
      a.matched.push_back(Matched{d->delegation_id, &d->scope, d->version, "delegation"});
      if (d->max_quantity && *d->max_quantity < allowed.quantity) {
        allowed = Bound{*d->max_quantity, &d->scope, d->delegation_id, "delegation"};
      }
    } else {
      allowed = a.effective[k];
    }
    parent_eff = a.effective[k];
  }
  return a;
}

namespace {

Effective bound_only(const Bound& b) {
  Effective e;
  if (b.from) {
    e.quantity = b.quantity;
    e.inherited_from = *b.from;
    e.binding_rule_id = b.rule_id;
  }
  return e;
}

}  // namespace

Effective to_effective(const Bound& b, const Along& a) {
  Effective e = bound_only(b);
  e.unit = a.unit;
  e.matched_rules.reserve(a.matched.size());
  for (const Matched& m : a.matched) {
    e.matched_rules.push_back(MatchedRule{std::string(m.id), *m.scope, m.version, std::string(m.kind)});
  }
  return e;
}

}  // namespace admission_internal

using admission_internal::Along;
using admission_internal::below_reserved;
using admission_internal::capacity_shortfall;
using admission_internal::check_id;
using admission_internal::check_target;
using admission_internal::dimension_unit;
using admission_internal::err;
using admission_internal::evaluate_along;
using admission_internal::exceeded;
using admission_internal::invalid;
using admission_internal::nothing;
using admission_internal::one;
using admission_internal::rule;
using admission_internal::to_effective;
using admission_internal::unknown_scope;

bool valid_window(std::string_view w) {
  return w.empty() || w == "minute" || w == "hour" || w == "day" || w == "month" || w == kRequestWindow;
}

CeilingEvaluation evaluate_ceiling(std::span<const ChainNode> chain, std::span<const CeilingRule> rules,
                                   std::span<const Delegation> delegations, const CeilingTarget& target,
                                   bool for_write) {
  CeilingEvaluation out;
  if (chain.empty()) return out;
  // A write at chain[0] is judged by what its ancestors allow; chain[0]'s
  // own rules are what the write replaces.
  std::vector<CeilingRule> above;
  if (for_write) {
    std::copy_if(rules.begin(), rules.end(), std::back_inserter(above),
                 [&](const CeilingRule& r) { return !(r.scope == chain[0].scope); });
  }
  const Along a = evaluate_along(chain, for_write ? std::span<const CeilingRule>(above) : rules, delegations, target);
  out.effective = to_effective(a.effective[0], a);
  out.allowed = to_effective(a.allowed[0], a);
  return out;
}

// ---------------------------------------------------------------- identities

std::string ceiling_rule_id(const QuotaScope& scope, const CeilingTarget& t) {
  std::string id = "ceiling:" + scope_text(scope) + ":" + t.dimension;
  if (!t.window.empty()) id += "/per_" + t.window;
  if (!t.region.empty()) id += "/region=" + t.region;
  if (!t.sku_or_model.empty()) id += "/sku=" + t.sku_or_model;
  return id;
}

std::string ceilings_stream_id(const QuotaScope& scope) { return "ceilings:" + scope_text(scope); }

// ------------------------------------------------------- the ceiling commands

namespace admission_internal {

Result<void> check_target(const CeilingTarget& t) {
  if (!valid_window(t.window)) {
    return invalid("invalid_window", "window must be empty, minute, hour, day, month or request");
  }
  for (const std::string* s : {&t.region, &t.sku_or_model}) {
    if (!s->empty() && !valid_entity_id(*s)) return invalid("invalid_id", "region and sku_or_model must be ids");
  }
  return {};
}

// Only for a bounded `allowed`: its quantity and where it comes from are set.
std::unexpected<Error> exceeded(const Effective& allowed, std::int64_t quantity, const QuotaScope& at) {
  // NOLINTBEGIN(bugprone-unchecked-optional-access)
  Error e = err(ErrorKind::kFailedPrecondition, "parent_ceiling_exceeded",
                "This limit cannot be higher than the one set above it.");
  e.with("scope", scope_text(at))
      .with("requested_quantity", quantity)
      .with("parent_effective_quantity", *allowed.quantity)
      .with("failing_parent_scope", scope_text(*allowed.inherited_from))
      .with("rule_id", allowed.binding_rule_id);
  // NOLINTEND(bugprone-unchecked-optional-access)
  return fail(std::move(e));
}

}  // namespace admission_internal

namespace {

std::string delegation_id_of(const QuotaScope& scope, const std::string& dimension) {
  return "delegation:" + scope_text(scope) + ":" + dimension;
}

Result<void> check_scope_exists(const AdmissionModel& m, const QuotaScope& s) {
  if (s.level == QuotaLevel::kGlobal) {
    if (!s.id.empty()) return invalid("invalid_scope", "the global scope has no id");
    return {};
  }
  if (auto ok = check_id(s.id, "the scope id"); !ok) return ok;
  if (s.level == QuotaLevel::kPlan) return {};  // plans are named by the organizations on them
  if (!m.node(s)) return unknown_scope(s);
  return {};
}

// The ceiling rules and delegations of one dimension as one ceiling command
// would leave them (exactly one of the changes is set).
struct CeilingChange {
  QuotaScope scope;
  std::string dimension;
  std::optional<CeilingRule> set_rule;
  std::string cleared_rule_id;
  std::optional<Delegation> set_delegation;
  bool revoke_delegation = false;

  std::vector<CeilingRule> rules_after(std::vector<CeilingRule> rules) const {
    const std::string id = set_rule ? set_rule->rule_id : cleared_rule_id;
    std::erase_if(rules, [&](const CeilingRule& r) { return r.scope == scope && r.rule_id == id; });
    if (set_rule) rules.push_back(*set_rule);
    return rules;
  }
  std::vector<Delegation> delegations_after(std::vector<Delegation> dels) const {
    if (!set_delegation && !revoke_delegation) return dels;
    std::erase_if(dels, [&](const Delegation& d) { return d.scope == scope; });
    if (set_delegation) dels.push_back(*set_delegation);
    return dels;
  }
};

// Refuses a ceiling command that lowers capacity under reservations that
// hold it (reservations.h): every reservation under the changed scope that
// holds capacity now or later and fitted before the change must still fit
// after it. One that did not fit before (history from before this rule, a
// move) is not this command's doing and does not refuse it.
Result<void> check_reserved_still_fit(const AdmissionModel& m, const CeilingChange& change, Instant now) {
  std::map<QuotaScope, std::vector<ReservationView>> by_organization;  // read once per organization
  for (const auto& r : m.reservations_under(change.scope, change.dimension)) {
    if (!state_holds_capacity(r.state) || r.window_end <= now) continue;
    const auto chain = m.chain(r.owner);
    const auto rules = m.rules_on(chain, change.dimension);
    const auto dels = m.delegations_on(chain, change.dimension);
    auto [at, fresh] = by_organization.try_emplace(r.owner_chain.back());
    if (fresh) at->second = m.reservations_under(r.owner_chain.back(), change.dimension);
    const auto& others = at->second;
    if (capacity_shortfall(chain, rules, dels, r, others, now)) continue;
    const auto after =
        capacity_shortfall(chain, change.rules_after(rules), change.delegations_after(dels), r, others, now);
    if (!after) continue;
    return below_reserved(r, *after);
  }
  return {};
}

}  // namespace

Result<Decided> decide(const AdmissionModel& m, const SetCeiling& c, Instant now) {
  if (auto ok = check_scope_exists(m, c.scope); !ok) return std::unexpected(ok.error());
  if (auto ok = check_target(c.target); !ok) return std::unexpected(ok.error());
  auto unit = dimension_unit(m, c.target.dimension, c.unit);
  if (!unit) return std::unexpected(unit.error());
  if (c.quantity < 0) return rule("invalid_quantity", "a ceiling cannot be negative");
  const auto chain = m.chain(c.scope);
  const auto rules = m.rules_on(chain, c.target.dimension);
  const auto delegations = m.delegations_on(chain, c.target.dimension);
  const auto eval = evaluate_ceiling(chain, rules, delegations, c.target, true);
  if (eval.allowed.quantity && c.quantity > *eval.allowed.quantity) return exceeded(eval.allowed, c.quantity, c.scope);
  const std::string id = ceiling_rule_id(c.scope, c.target);
  const std::string tenant = admission_tenant(m, c.scope);
  const std::string org = tenant == "platform" ? "" : tenant;
  std::optional<std::int64_t> before;
  std::int64_t version = 1;
  for (const auto& r : rules) {
    if (r.scope == c.scope && r.rule_id == id) before = r.quantity, version = r.rule_version + 1;
  }
  if (!before) version = m.rule_version(c.scope, id) + 1;  // a cleared rule set again counts on
  if (before && *before == c.quantity) return nothing(ceilings_stream_id(c.scope), tenant);
  // Reservations hold the standing window only; raising a rule lowers nothing.
  if (c.target.window.empty() && !(before && c.quantity > *before)) {
    CeilingChange change{c.scope, c.target.dimension, CeilingRule{c.scope, id, version, c.target, c.quantity, *unit},
                         "",      std::nullopt,       false};
    if (auto ok = check_reserved_still_fit(m, change, now); !ok) return std::unexpected(ok.error());
  }
  return one(ceilings_stream_id(c.scope), tenant,
             events::CeilingSet{c.scope, org, id, version, c.target, c.quantity, *unit, before, c.reason});
}

Result<Decided> decide(const AdmissionModel& m, const ClearCeiling& c, Instant now) {
  if (auto ok = check_scope_exists(m, c.scope); !ok) return std::unexpected(ok.error());
  if (auto ok = check_target(c.target); !ok) return std::unexpected(ok.error());
  const std::string id = ceiling_rule_id(c.scope, c.target);
  const auto chain = m.chain(c.scope);
  for (const auto& r : m.rules_on(chain, c.target.dimension)) {
    if (r.scope == c.scope && r.rule_id == id) {
      if (r.target.window.empty()) {
        // With no rule of its own the scope inherits, which may be lower.
        CeilingChange change{c.scope, c.target.dimension, std::nullopt, id, std::nullopt, false};
        if (auto ok = check_reserved_still_fit(m, change, now); !ok) return std::unexpected(ok.error());
      }
      const std::string tenant = admission_tenant(m, c.scope);
      return one(ceilings_stream_id(c.scope), tenant,
                 events::CeilingCleared{c.scope, tenant == "platform" ? "" : tenant, id, r.rule_version + 1, r.target,
                                        r.quantity, r.unit, c.reason});
    }
  }
  return fail(err(ErrorKind::kNotFound, "unknown_ceiling", "no such ceiling is set at that scope").with("rule_id", id));
}

Result<Decided> decide(const AdmissionModel& m, const DelegateCeiling& c, Instant now) {
  if (auto ok = check_scope_exists(m, c.scope); !ok) return std::unexpected(ok.error());
  if (c.scope.level == QuotaLevel::kPrincipal) {
    return rule("invalid_delegation", "a principal has no scopes below it to delegate to");
  }
  auto unit = dimension_unit(m, c.dimension, "");
  if (!unit) return std::unexpected(unit.error());
  if (c.max_quantity && *c.max_quantity < 0) return rule("invalid_quantity", "max_quantity cannot be negative");
  const auto chain = m.chain(c.scope);
  if (c.max_quantity) {
    const auto eval = evaluate_ceiling(chain, m.rules_on(chain, c.dimension), m.delegations_on(chain, c.dimension),
                                       CeilingTarget{c.dimension, "", "", ""}, true);
    if (eval.allowed.quantity && *c.max_quantity > *eval.allowed.quantity) {
      return exceeded(eval.allowed, *c.max_quantity, c.scope);
    }
  }
  const std::string tenant = admission_tenant(m, c.scope);
  const std::string id = delegation_id_of(c.scope, c.dimension);
  for (const auto& d : m.delegations_on(chain, c.dimension)) {
    if (d.scope == c.scope && d.max_quantity == c.max_quantity) return nothing(ceilings_stream_id(c.scope), tenant);
  }
  CeilingChange change{c.scope, c.dimension, std::nullopt, "", Delegation{c.scope, id, c.dimension, c.max_quantity, 0},
                       false};
  if (auto ok = check_reserved_still_fit(m, change, now); !ok) return std::unexpected(ok.error());
  return one(
      ceilings_stream_id(c.scope), tenant,
      events::CeilingDelegated{c.scope, tenant == "platform" ? "" : tenant, id, c.dimension, c.max_quantity, c.reason});
}

Result<Decided> decide(const AdmissionModel& m, const RevokeDelegation& c, Instant now) {
  if (auto ok = check_scope_exists(m, c.scope); !ok) return std::unexpected(ok.error());
  const auto chain = m.chain(c.scope);
  for (const auto& d : m.delegations_on(chain, c.dimension)) {
    if (d.scope == c.scope) {
      CeilingChange change{c.scope, c.dimension, std::nullopt, "", std::nullopt, true};
      if (auto ok = check_reserved_still_fit(m, change, now); !ok) return std::unexpected(ok.error());
      const std::string tenant = admission_tenant(m, c.scope);
      return one(ceilings_stream_id(c.scope), tenant,
                 events::CeilingDelegationRevoked{c.scope, tenant == "platform" ? "" : tenant, d.delegation_id,
                                                  c.dimension, c.reason});
    }
  }
  return fail(err(ErrorKind::kNotFound, "unknown_delegation", "the scope has not delegated that dimension")
                  .with("scope", scope_text(c.scope))
                  .with("dimension", c.dimension));
}

}  // namespace ledger::domain
