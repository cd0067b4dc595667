#include "domain/admission.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iterator>
#include <limits>

namespace ledger::domain {
namespace {

using events::Event;
using Node = AdmissionModel::Node;

__extension__ using Wide = __int128;  // products of two quantities
constexpr std::int64_t kUnlimited = std::numeric_limits<std::int64_t>::max();

Error err(ErrorKind kind, std::string code, std::string message) {
  return Error{kind, std::move(code), std::move(message), {}};
}
std::unexpected<Error> unknown_scope(const QuotaScope& s) {
  return fail(err(ErrorKind::kNotFound, "unknown_scope", "the scope does not exist").with("scope", scope_text(s)));
}
std::unexpected<Error> unknown_registry(const std::string& kind, const std::string& id) {
  return fail(err(ErrorKind::kFailedPrecondition, "unknown_registry_entry", "the " + kind + " is not registered")
                  .with("registry_kind", kind)
                  .with("entry_id", id));
}
std::unexpected<Error> invalid(std::string code, std::string message) {
  return fail(err(ErrorKind::kInvalidArgument, std::move(code), std::move(message)));
}
std::unexpected<Error> rule(std::string code, std::string message) {
  return fail(err(ErrorKind::kFailedPrecondition, std::move(code), std::move(message)));
}

bool matches(const CeilingTarget& rule, const CeilingTarget& t) {
  return rule.dimension == t.dimension && rule.window == t.window && (rule.region.empty() || rule.region == t.region) &&
         (rule.sku_or_model.empty() || rule.sku_or_model == t.sku_or_model);
}

// A bound and where it came from.
struct Bound {
  std::int64_t quantity = kUnlimited;
  std::optional<QuotaScope> from;
  std::string rule_id;
  std::string kind;  // ceiling | delegation
};

// effective(n) and allowed(n) for every node of the chain (index = chain index).
struct Along {
  std::vector<Bound> effective;
  std::vector<Bound> allowed;
  std::vector<MatchedRule> matched;  // broadest first
  std::string unit;
};

Along evaluate_along(std::span<const ChainNode> chain, std::span<const CeilingRule> rules,
                     std::span<const Delegation> delegations, const CeilingTarget& target) {
  Along a;
  a.effective.resize(chain.size());
  a.allowed.resize(chain.size());
  Bound allowed;     // what the node may have: unlimited above global
  Bound parent_eff;  // its parent's effective ceiling: what it inherits with no rule of its own
  for (std::size_t k = chain.size(); k-- > 0;) {
    const QuotaScope& scope = chain[k].scope;
    Bound own;
    std::vector<const CeilingRule*> here;
    for (const auto& r : rules) {
      if (r.scope == scope && matches(r.target, target)) here.push_back(&r);
    }
    std::sort(here.begin(), here.end(), [](auto* x, auto* y) { return x->rule_id < y->rule_id; });
    for (const auto* r : here) {
      a.matched.push_back(MatchedRule{r->rule_id, r->scope, r->rule_version, "ceiling"});
      if (a.unit.empty()) a.unit = r->unit;
      if (r->quantity < own.quantity) own = Bound{r->quantity, r->scope, r->rule_id, "ceiling"};
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
      a.matched.push_back(MatchedRule{d->delegation_id, d->scope, d->version, "delegation"});
      if (d->max_quantity && *d->max_quantity < allowed.quantity) {
        allowed = Bound{*d->max_quantity, d->scope, d->delegation_id, "delegation"};
      }
    } else {
      allowed = a.effective[k];
    }
    parent_eff = a.effective[k];
  }
  return a;
}

Effective to_effective(const Bound& b, const Along& a) {
  Effective e;
  if (b.from) {
    e.quantity = b.quantity;
    e.inherited_from = b.from;
    e.binding_rule_id = b.rule_id;
  }
  e.unit = a.unit;
  e.matched_rules = a.matched;
  return e;
}

bool overlaps(const std::string& a, const std::string& b) { return a.empty() || b.empty() || a == b; }

// RFC 3339 to the second, UTC, for evidence (domain does not link the codec).
std::string instant_text(Instant t) {
  using namespace std::chrono;
  const sys_time<microseconds> tp{microseconds{t.micros}};
  const auto day = floor<days>(tp);
  const year_month_day ymd{day};
  const hh_mm_ss<seconds> hms{floor<seconds>(tp - day)};
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02lld:%02lld:%02lldZ", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<long long>(hms.hours().count()), static_cast<long long>(hms.minutes().count()),
                static_cast<long long>(hms.seconds().count()));
  return buf;
}

}  // namespace

std::string scope_text(const QuotaScope& s) {
  if (s.level == QuotaLevel::kGlobal) return "global";
  return std::string(quota_level_name(s.level)) + ":" + s.id;
}

bool valid_window(std::string_view w) {
  return w.empty() || w == "minute" || w == "hour" || w == "day" || w == "month" || w == kRequestWindow;
}

bool valid_entity_id(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == '-' || c == ':';
  });
}

std::string reservation_state_at(const ReservationView& r, Instant as_of) {
  if ((r.state == "active" || r.state == "exhausted" || r.state == "suspended") && as_of >= r.window_end) {
    return "expired";
  }
  return r.state;
}

bool state_holds_capacity(std::string_view state) { return state == "active" || state == "exhausted"; }

bool holds_at(const ReservationView& r, Instant t) {
  return state_holds_capacity(reservation_state_at(r, t)) && t >= r.window_start && t < r.window_end;
}

Peak peak_held(std::span<const ReservationView> held, Instant from, Instant to) {
  // The sum only rises where a window starts, so the peak is reached at
  // `from` or at a start inside [from, to).
  std::vector<Instant> candidates = {from};
  for (const auto& r : held) {
    if (r.window_start > from && r.window_start < to) candidates.push_back(r.window_start);
  }
  std::sort(candidates.begin(), candidates.end());
  Peak best{0, from};
  bool first = true;
  for (const Instant t : candidates) {
    std::int64_t sum = 0;
    for (const auto& r : held) {
      if (r.window_start <= t && t < r.window_end) sum = r.quantity > kUnlimited - sum ? kUnlimited : sum + r.quantity;
    }
    if (first || sum > best.quantity) best = Peak{sum, t};
    first = false;
  }
  return best;
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

// ------------------------------------------------------------------ decisions

Result<void> validate_decision_input(const DecisionInput& in) {
  const std::string& type = in.actor.actor_type;
  if (!type.empty() && type != "user" && type != "service_account" && type != "api_key" && type != "worker") {
    return invalid("invalid_decision_input", "actor.actor_type must be user, service_account, api_key or worker");
  }
  if (in.hierarchy.organization_id.empty() || in.hierarchy.project_id.empty()) {
    return invalid("invalid_decision_input", "hierarchy.organization_id and hierarchy.project_id are required");
  }
  if (in.request.dimension.empty()) return invalid("invalid_decision_input", "request.dimension is required");
  if (in.request.requested_delta < 0) {
    return invalid("invalid_decision_input", "request.requested_delta must not be negative");
  }
  if (in.current_usage.quantity < 0) {
    return invalid("invalid_decision_input", "current_usage.quantity must not be negative");
  }
  if (!valid_window(in.current_usage.scope_window)) {
    return invalid("invalid_window", "current_usage.scope_window must be empty, minute, hour, day, month or request");
  }
  return {};
}

Result<DecisionOutput> decide_admission(const DecisionInput& in, const DecisionSnapshot& s, Instant as_of) {
  if (auto v = validate_decision_input(in); !v) return std::unexpected(v.error());
  if (s.chain.empty()) return unknown_scope(QuotaScope{QuotaLevel::kProject, in.hierarchy.project_id});
  auto on_chain = [&](QuotaLevel l, const std::string& id) {
    return std::any_of(s.chain.begin(), s.chain.end(),
                       [&](const ChainNode& n) { return n.scope.level == l && n.scope.id == id; });
  };
  if (!on_chain(QuotaLevel::kOrganization, in.hierarchy.organization_id) ||
      (!in.hierarchy.department_id.empty() && !on_chain(QuotaLevel::kDepartment, in.hierarchy.department_id))) {
    return fail(err(ErrorKind::kFailedPrecondition, "hierarchy_mismatch",
                    "the project does not belong to that organization or department")
                    .with("project", in.hierarchy.project_id));
  }
  if (!s.dimension) return unknown_registry("quota_dimension", in.request.dimension);
  if (!in.product.product_id.empty() && !s.product) return unknown_registry("product", in.product.product_id);
  if (!in.product.resource_type.empty() && !s.resource_type) {
    return unknown_registry("resource_type", in.product.resource_type);
  }
  const std::string unit = s.dimension->attributes.contains("unit") ? s.dimension->attributes.at("unit") : "";
  for (const std::string* given : {&in.request.unit, &in.current_usage.unit}) {
    if (!given->empty() && *given != unit) {
      return fail(err(ErrorKind::kFailedPrecondition, "unit_mismatch", "the dimension is measured in " + unit)
                      .with("dimension", in.request.dimension)
                      .with("expected_unit", unit)
                      .with("given_unit", *given));
    }
  }

  DecisionOutput out;
  out.registry_versions["quota_dimension"] = std::to_string(s.dimension->version);
  if (s.product) out.registry_versions["product"] = std::to_string(s.product->version);
  if (s.resource_type) out.registry_versions["resource_type"] = std::to_string(s.resource_type->version);
  if (s.usage_unit) out.registry_versions["usage_unit"] = std::to_string(s.usage_unit->version);
  out.registry_versions["scope"] = std::to_string(s.chain.front().version);
  for (const auto& [kind, pinned] : in.registry_versions) {
    auto it = out.registry_versions.find(kind);
    if (!pinned.empty() && it != out.registry_versions.end() && it->second != pinned) {
      return fail(err(ErrorKind::kAborted, "registry_version_mismatch",
                      "the registry changed since the version the caller pinned")
                      .with("registry_kind", kind)
                      .with("pinned", pinned)
                      .with("current", it->second));
    }
  }
  out.snapshot_version = s.snapshot_version;
  out.correlation_id = in.correlation_id;

  // An expired principal (API key, service account, user) is admitted to
  // nothing, whatever its ceilings would say.
  if (s.requester_expires_at && as_of >= *s.requester_expires_at) {
    const CeilingTarget usage_target{in.request.dimension, in.current_usage.scope_window, in.request.region,
                                     in.request.sku_or_model};
    const Along a = evaluate_along(s.chain, s.rules, s.delegations, usage_target);
    out.effective = to_effective(a.effective[0], a);
    if (out.effective.unit.empty()) out.effective.unit = unit;
    out.decision = "deny";
    out.reason_code = "principal_expired";
    out.user_message = "This API key or account has expired.";
    return out;
  }

  // The per-request cap: the effective `request`-window ceiling for the
  // same dimension / region / SKU. It bounds requested_delta alone (usage,
  // reservations and the warn threshold do not apply), so it can only deny;
  // when it passes, the usage window decides exactly as without it. A
  // request above its cap is denied whatever the usage window would say.
  const CeilingTarget request_target{in.request.dimension, std::string(kRequestWindow), in.request.region,
                                     in.request.sku_or_model};
  const Along ra = evaluate_along(s.chain, s.rules, s.delegations, request_target);
  const Bound& cap = ra.effective[0];
  const std::int64_t requested = in.request.requested_delta;
  const bool capped = cap.from.has_value();
  if ((capped && requested > cap.quantity) || in.current_usage.scope_window == kRequestWindow) {
    out.effective = to_effective(cap, ra);
    if (out.effective.unit.empty()) out.effective.unit = unit;
    out.per_request = true;
    out.reserved_for_others = 0;
    if (!capped) {
      // scope_window `request` with no request ceiling on the path.
      out.decision = "allow";
      out.reason_code = "no_ceiling";
      out.user_message = "No quota limits this request.";
    } else if (requested > cap.quantity) {
      out.decision = "deny";
      out.reason_code = "request_ceiling_exceeded";
      out.user_message = "This request asks for more than a single request may.";
      out.limit_remaining = cap.quantity;
    } else {
      out.decision = "allow";
      out.reason_code = "within_ceiling";
      out.user_message = "This request is within your quota.";
      out.limit_remaining = cap.quantity - requested;
    }
    return out;
  }

  const CeilingTarget target{in.request.dimension, in.current_usage.scope_window, in.request.region,
                             in.request.sku_or_model};
  Along a = evaluate_along(s.chain, s.rules, s.delegations, target);
  out.effective = to_effective(a.effective[0], a);
  if (out.effective.unit.empty()) out.effective.unit = unit;

  if (!out.effective.quantity) {
    out.decision = "allow";
    out.reason_code = "no_ceiling";
    out.user_message = "No quota limits this request.";
    return out;
  }

  // Capacity reserved for others, under each scope of the chain that belongs
  // to the organization (reservations never cross organizations).
  auto on_requester_chain = [&](const QuotaScope& owner) {
    return std::any_of(s.chain.begin(), s.chain.end(), [&](const ChainNode& n) { return n.scope == owner; });
  };
  std::int64_t available = kUnlimited;
  std::int64_t reserved_at_binding = 0;
  for (std::size_t i = 0; i < s.chain.size(); ++i) {
    const Bound& eff = a.effective[i];
    // A scope whose ceiling is below the requester's was delegated past: it
    // does not bind the requester, so neither do reservations under it.
    if (!eff.from || eff.quantity < a.effective[0].quantity) continue;
    std::int64_t reserved = 0;
    const QuotaScope& n = s.chain[i].scope;
    const bool pooled = n.level == QuotaLevel::kGlobal || n.level == QuotaLevel::kPlan;
    if (!pooled) {
      for (const auto& r : s.reservations) {
        if (r.dimension != target.dimension || !holds_at(r, as_of)) continue;
        if (!overlaps(r.region, target.region) || !overlaps(r.sku_or_model, target.sku_or_model)) continue;
        if (on_requester_chain(r.owner)) continue;
        if (std::find(r.owner_chain.begin(), r.owner_chain.end(), n) == r.owner_chain.end()) continue;
        reserved += r.quantity;
      }
    }
    const std::int64_t avail = std::max<std::int64_t>(0, eff.quantity - reserved);
    if (avail < available) {
      available = avail;
      reserved_at_binding = reserved;
    }
  }
  out.available = available;
  out.reserved_for_others = reserved_at_binding;
  const std::int64_t usage = in.current_usage.quantity;
  const std::int64_t delta = in.request.requested_delta;
  const bool fits = usage <= available && delta <= available - usage;
  if (!fits) {
    out.decision = "deny";
    const bool by_reservation = usage <= *out.effective.quantity && delta <= *out.effective.quantity - usage;
    out.reason_code = by_reservation ? "capacity_reserved" : "ceiling_exceeded";
    out.user_message = by_reservation ? "The capacity you asked for is reserved for others in your organization."
                                      : "This request would exceed your quota.";
    out.limit_remaining = std::max<std::int64_t>(0, available - usage);
    return out;
  }
  out.limit_remaining = available - usage - delta;
  const std::int64_t after = usage + delta;
  // Compare in 128-bit: quotas near INT64_MAX must not overflow.
  if (static_cast<Wide>(after) * 100 > static_cast<Wide>(available) * s.warn_threshold_percent) {
    out.decision = "warn";
    out.reason_code = "near_limit";
    out.user_message = "This request is allowed, but you are close to your quota.";
  } else {
    out.decision = "allow";
    out.reason_code = "within_ceiling";
    out.user_message = "This request is within your quota.";
  }
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

std::string reservation_stream_id(const std::string& organization_id, const std::string& reservation_id) {
  return "reservation:" + organization_id + "/" + reservation_id;
}

namespace {
std::string delegation_id_of(const QuotaScope& scope, const std::string& dimension) {
  return "delegation:" + scope_text(scope) + ":" + dimension;
}
std::string node_stream(const QuotaScope& s) { return scope_text(s); }
}  // namespace

// ------------------------------------------------------------------- the model

bool AdmissionModel::handles(const Event& e) {
  // Anchors (events/chain_events.h) belong to the chain, not to admission.
  return !std::holds_alternative<events::PolicyKeyDefined>(e) && !std::holds_alternative<events::PolicyValueSet>(e) &&
         !std::holds_alternative<events::ChainHeadSigned>(e);
}

std::int64_t AdmissionModel::stream_version(const std::string& stream) const {
  auto it = stream_versions_.find(stream);
  return it == stream_versions_.end() ? 0 : it->second;
}

std::int64_t AdmissionModel::rule_version(const QuotaScope& scope, const std::string& rule_id) const {
  auto it = rule_versions_.find(scope);
  if (it == rule_versions_.end()) return 0;
  auto r = it->second.find(rule_id);
  return r == it->second.end() ? 0 : r->second;
}

const AdmissionModel::Node* AdmissionModel::node(const QuotaScope& s) const {
  auto it = nodes_.find(s);
  return it == nodes_.end() ? nullptr : &it->second;
}

std::vector<ChainNode> AdmissionModel::chain(const QuotaScope& s) const {
  std::vector<ChainNode> out;
  if (s.level == QuotaLevel::kGlobal) return {ChainNode{s, 0}};
  if (s.level == QuotaLevel::kPlan) return {ChainNode{s, 0}, ChainNode{{QuotaLevel::kGlobal, ""}, 0}};
  const Node* n = node(s);
  while (n) {
    out.push_back(ChainNode{n->scope, n->version});
    if (n->scope.level == QuotaLevel::kOrganization) {
      out.push_back(ChainNode{{QuotaLevel::kPlan, n->plan_id}, 0});
      out.push_back(ChainNode{{QuotaLevel::kGlobal, ""}, 0});
      return out;
    }
    n = node(n->parent);
  }
  return {};  // unknown, or a broken parent link
}

bool AdmissionModel::is_ancestor_or_self(const QuotaScope& ancestor, const QuotaScope& s) const {
  for (const auto& c : chain(s)) {
    if (c.scope == ancestor) return true;
  }
  return false;
}

std::vector<CeilingRule> AdmissionModel::rules_on(std::span<const ChainNode> chain,
                                                  const std::string& dimension) const {
  std::vector<CeilingRule> out;
  for (const auto& c : chain) {
    auto it = ceilings_.find(c.scope);
    if (it == ceilings_.end()) continue;
    for (const auto& [id, r] : it->second) {
      if (r.target.dimension == dimension) out.push_back(r);
    }
  }
  return out;
}

std::vector<Delegation> AdmissionModel::delegations_on(std::span<const ChainNode> chain,
                                                       const std::string& dimension) const {
  std::vector<Delegation> out;
  for (const auto& c : chain) {
    auto it = delegations_.find(c.scope);
    if (it == delegations_.end()) continue;
    if (auto d = it->second.find(dimension); d != it->second.end()) out.push_back(d->second);
  }
  return out;
}

const RegistryEntry* AdmissionModel::registry(const std::string& kind, const std::string& id) const {
  auto it = registry_.find({kind, id});
  return it == registry_.end() ? nullptr : &it->second;
}

const AdmissionModel::Reservation* AdmissionModel::reservation(const std::string& organization_id,
                                                               const std::string& id) const {
  auto it = reservations_.find({organization_id, id});
  return it == reservations_.end() ? nullptr : &it->second;
}

std::vector<std::string> AdmissionModel::organizations_with_reservation(const std::string& id) const {
  std::vector<std::string> out;
  for (const auto& [org, ids] : reservations_by_org_) {
    if (ids.contains(id)) out.push_back(org);
  }
  return out;
}

ReservationView AdmissionModel::view_of(const Reservation& r) const {
  ReservationView v;
  const auto& d = r.drafted;
  v.reservation_id = d.reservation_id;
  v.owner = d.owner;
  for (const auto& c : chain(d.owner)) {
    if (c.scope.level == QuotaLevel::kPlan || c.scope.level == QuotaLevel::kGlobal) break;
    v.owner_chain.push_back(c.scope);
  }
  v.dimension = d.dimension;
  v.region = d.region;
  v.sku_or_model = d.sku_or_model;
  v.quantity = d.quantity;
  v.consumed = r.consumed;
  v.state = r.state;
  v.window_start = d.window_start;
  v.window_end = d.window_end;
  return v;
}

std::vector<ReservationView> AdmissionModel::reservations_of(const std::string& organization_id,
                                                             const std::string& dimension) const {
  std::vector<ReservationView> out;
  auto it = reservations_by_org_.find(organization_id);
  if (it == reservations_by_org_.end()) return out;
  for (const auto& id : it->second) {
    const Reservation& r = reservations_.at({organization_id, id});
    if (r.drafted.dimension == dimension) out.push_back(view_of(r));
  }
  return out;
}

std::vector<ReservationView> AdmissionModel::all_reservations_of(const std::string& organization_id) const {
  std::vector<ReservationView> out;
  auto it = reservations_by_org_.find(organization_id);
  if (it == reservations_by_org_.end()) return out;
  for (const auto& id : it->second) out.push_back(view_of(reservations_.at({organization_id, id})));
  return out;
}

std::vector<ReservationView> AdmissionModel::reservations_under(const QuotaScope& s,
                                                                const std::string& dimension) const {
  std::vector<ReservationView> out;
  auto take = [&](const Reservation& r) {
    if (r.drafted.dimension == dimension && is_ancestor_or_self(s, r.drafted.owner)) out.push_back(view_of(r));
  };
  if (s.level == QuotaLevel::kGlobal || s.level == QuotaLevel::kPlan) {
    for (const auto& [id, r] : reservations_) take(r);
    return out;
  }
  const Node* n = node(s);
  if (!n) return out;
  auto it = reservations_by_org_.find(n->organization_id);
  if (it == reservations_by_org_.end()) return out;
  for (const auto& id : it->second) take(reservations_.at({n->organization_id, id}));
  return out;
}

DecisionSnapshot AdmissionModel::snapshot_for(const DecisionInput& in) const {
  DecisionSnapshot s;
  QuotaScope requester{QuotaLevel::kProject, in.hierarchy.project_id};
  if (const Node* p = node({QuotaLevel::kPrincipal, in.actor.actor_id}); p && p->parent == requester) {
    requester = p->scope;
  }
  s.chain = chain(requester);
  if (requester.level == QuotaLevel::kPrincipal) s.requester_expires_at = node(requester)->expires_at;
  s.rules = rules_on(s.chain, in.request.dimension);
  s.delegations = delegations_on(s.chain, in.request.dimension);
  s.reservations = reservations_of(in.hierarchy.organization_id, in.request.dimension);
  auto entry = [&](const char* kind, const std::string& id) -> std::optional<RegistryEntry> {
    if (const auto* e = registry(kind, id)) return *e;
    return std::nullopt;
  };
  s.dimension = entry("quota_dimension", in.request.dimension);
  if (!in.product.product_id.empty()) s.product = entry("product", in.product.product_id);
  if (!in.product.resource_type.empty()) s.resource_type = entry("resource_type", in.product.resource_type);
  if (s.dimension && s.dimension->attributes.contains("unit")) {
    s.usage_unit = entry("usage_unit", s.dimension->attributes.at("unit"));
  }
  return s;
}

std::vector<std::pair<std::string, std::string>> AdmissionModel::reservations_to_expire(Instant now) const {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [id, r] : reservations_) {
    if ((r.state == "active" || r.state == "exhausted" || r.state == "suspended") && now >= r.drafted.window_end) {
      out.push_back(id);
    }
  }
  return out;
}

void AdmissionModel::apply(const std::string& stream_id, const Event& ev) { apply(stream_id, ev, {}); }

void AdmissionModel::apply(const std::string& stream_id, const Event& ev, const app_policy::Stamp& stamp) {
  if (app_policy::AppPolicyModel::handles(ev)) {
    ++stream_versions_[stream_id];
    apps_.apply(ev, stamp);
    return;
  }
  const std::int64_t version = ++stream_versions_[stream_id];
  auto add_node = [&](Node n) {
    n.version = version;
    nodes_[n.scope] = std::move(n);
  };
  std::visit(
      [&](const auto& e) {
        using T = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<T, events::RegistryEntryRegistered>) {
          registry_[{e.kind, e.entry_id}] = RegistryEntry{e.kind, e.entry_id, e.version, e.description, e.attributes};
        } else if constexpr (std::is_same_v<T, events::OrganizationCreated>) {
          const QuotaScope org{QuotaLevel::kOrganization, e.organization_id};
          add_node(Node{org,
                        {QuotaLevel::kPlan, e.plan_id},
                        e.organization_id,
                        e.plan_id,
                        e.name,
                        "",
                        std::nullopt,
                        e.default_department_id,
                        0});
          add_node(Node{{QuotaLevel::kDepartment, e.default_department_id},
                        org,
                        e.organization_id,
                        "",
                        "default",
                        "",
                        std::nullopt,
                        "",
                        0});
        } else if constexpr (std::is_same_v<T, events::OrganizationPlanChanged>) {
          Node& n = nodes_.at({QuotaLevel::kOrganization, e.organization_id});
          n.plan_id = e.plan_id;
          n.parent = {QuotaLevel::kPlan, e.plan_id};
          n.version = version;
        } else if constexpr (std::is_same_v<T, events::DepartmentCreated>) {
          QuotaScope parent = e.parent_department_id.empty()
                                  ? QuotaScope{QuotaLevel::kOrganization, e.organization_id}
                                  : QuotaScope{QuotaLevel::kDepartment, e.parent_department_id};
          add_node(Node{{QuotaLevel::kDepartment, e.department_id},
                        parent,
                        e.organization_id,
                        "",
                        e.name,
                        "",
                        std::nullopt,
                        "",
                        0});
        } else if constexpr (std::is_same_v<T, events::DepartmentMoved>) {
          Node& n = nodes_.at({QuotaLevel::kDepartment, e.department_id});
          n.parent = e.parent_department_id.empty() ? QuotaScope{QuotaLevel::kOrganization, e.organization_id}
                                                    : QuotaScope{QuotaLevel::kDepartment, e.parent_department_id};
          n.version = version;
        } else if constexpr (std::is_same_v<T, events::ProjectCreated>) {
          add_node(Node{{QuotaLevel::kProject, e.project_id},
                        {QuotaLevel::kDepartment, e.department_id},
                        e.organization_id,
                        "",
                        e.name,
                        "",
                        std::nullopt,
                        "",
                        0});
        } else if constexpr (std::is_same_v<T, events::ProjectMoved>) {
          Node& n = nodes_.at({QuotaLevel::kProject, e.project_id});
          n.parent = {QuotaLevel::kDepartment, e.department_id};
          n.version = version;
        } else if constexpr (std::is_same_v<T, events::PrincipalCreated>) {
          add_node(Node{{QuotaLevel::kPrincipal, e.principal_id},
                        {QuotaLevel::kProject, e.project_id},
                        e.organization_id,
                        "",
                        e.name,
                        e.principal_type,
                        e.expires_at,
                        "",
                        0});
        } else if constexpr (std::is_same_v<T, events::CeilingSet>) {
          ceilings_[e.scope][e.rule_id] = CeilingRule{e.scope, e.rule_id, e.rule_version, e.target, e.quantity, e.unit};
          rule_versions_[e.scope][e.rule_id] = e.rule_version;
        } else if constexpr (std::is_same_v<T, events::CeilingCleared>) {
          ceilings_[e.scope].erase(e.rule_id);
          rule_versions_[e.scope][e.rule_id] = e.rule_version;
        } else if constexpr (std::is_same_v<T, events::CeilingDelegated>) {
          const std::int64_t v = ++delegation_versions_[e.delegation_id];
          delegations_[e.scope][e.dimension] = Delegation{e.scope, e.delegation_id, e.dimension, e.max_quantity, v};
        } else if constexpr (std::is_same_v<T, events::CeilingDelegationRevoked>) {
          ++delegation_versions_[e.delegation_id];
          delegations_[e.scope].erase(e.dimension);
        } else if constexpr (std::is_same_v<T, events::ReservationDrafted>) {
          // Keyed by the organization the event carries, so events from
          // before ids were scoped (stream "reservation:<id>") replay alike.
          reservations_[{e.organization_id, e.reservation_id}] = Reservation{e, "draft", 0, version, stream_id};
          reservations_by_org_[e.organization_id].insert(e.reservation_id);
        } else if constexpr (std::is_same_v<T, events::ReservationStateChanged>) {
          Reservation& r = reservations_.at({e.organization_id, e.reservation_id});
          r.state = e.state;
          r.version = version;
        } else if constexpr (std::is_same_v<T, events::ReservationConsumed> ||
                             std::is_same_v<T, events::ReservationReleased>) {
          Reservation& r = reservations_.at({e.organization_id, e.reservation_id});
          r.consumed = e.consumed;
          r.version = version;
        }
      },
      ev);
}

namespace {
template <class... Ts>
std::vector<std::string> type_names(std::variant<Ts...>*) {
  std::vector<std::string> out;
  ((AdmissionModel::handles(Event(Ts{})) ? out.push_back(Ts::kType) : void()), ...);
  return out;
}
}  // namespace

const std::vector<std::string>& admission_event_types() {
  static const std::vector<std::string> names = type_names(static_cast<Event*>(nullptr));
  return names;
}

std::string admission_tenant(const AdmissionModel& m, const QuotaScope& scope) {
  if (scope.level == QuotaLevel::kGlobal || scope.level == QuotaLevel::kPlan) return "platform";
  if (const auto* n = m.node(scope)) return n->organization_id;
  return "platform";
}

// ------------------------------------------------------------------- decide

namespace {

Decided one(std::string stream, std::string tenant, Event e) {
  Decided d{std::move(stream), std::move(tenant), {}};
  d.events.push_back(std::move(e));
  return d;
}
Decided nothing(std::string stream, std::string tenant) { return Decided{std::move(stream), std::move(tenant), {}}; }

Result<void> check_id(const std::string& id, const char* what) {
  if (!valid_entity_id(id)) {
    return invalid("invalid_id",
                   std::string(what) + " must be 1-128 characters of letters, digits, '.', '_', '-', ':'");
  }
  return {};
}

// The dimension's registry entry and unit, or why not.
Result<std::string> dimension_unit(const AdmissionModel& m, const std::string& dimension, const std::string& unit) {
  const RegistryEntry* d = m.registry("quota_dimension", dimension);
  if (!d) return unknown_registry("quota_dimension", dimension);
  const std::string expected = d->attributes.contains("unit") ? d->attributes.at("unit") : "";
  if (!unit.empty() && unit != expected) {
    return fail(err(ErrorKind::kFailedPrecondition, "unit_mismatch", "the dimension is measured in " + expected)
                    .with("dimension", dimension)
                    .with("expected_unit", expected)
                    .with("given_unit", unit));
  }
  return expected;
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

std::unexpected<Error> exceeded(const Effective& allowed, std::int64_t quantity, const QuotaScope& at) {
  Error e = err(ErrorKind::kFailedPrecondition, "parent_ceiling_exceeded",
                "This limit cannot be higher than the one set above it.");
  e.with("scope", scope_text(at))
      .with("requested_quantity", quantity)
      .with("parent_effective_quantity", *allowed.quantity)
      .with("failing_parent_scope", scope_text(*allowed.inherited_from))
      .with("rule_id", allowed.binding_rule_id);
  return fail(std::move(e));
}

}  // namespace

Result<Decided> decide(const AdmissionModel& m, const RegisterEntry& c) {
  static const std::map<std::string, std::vector<std::string>> kAttributes = {
      {"product", {}},
      {"resource_type", {"product"}},
      {"usage_unit", {}},
      {"quota_dimension", {"product", "resource_type", "unit"}},
  };
  auto kind = kAttributes.find(c.kind);
  if (kind == kAttributes.end()) {
    return invalid("invalid_registry_entry", "kind must be product, resource_type, usage_unit or quota_dimension");
  }
  if (auto ok = check_id(c.entry_id, "entry_id"); !ok) return std::unexpected(ok.error());
  for (const auto& [k, v] : c.attributes) {
    const auto& allowed = kind->second;
    if (std::find(allowed.begin(), allowed.end(), k) == allowed.end()) {
      return invalid("invalid_registry_entry", "attribute '" + k + "' is not known for a " + c.kind);
    }
  }
  // References must name registered entries.
  auto ref = [&](const char* attr, const char* ref_kind, bool required) -> Result<void> {
    auto it = c.attributes.find(attr);
    if (it == c.attributes.end() || it->second.empty()) {
      if (required) return invalid("invalid_registry_entry", std::string("a ") + c.kind + " needs '" + attr + "'");
      return {};
    }
    if (!m.registry(ref_kind, it->second)) return unknown_registry(ref_kind, it->second);
    return {};
  };
  if (c.kind == "resource_type") {
    if (auto ok = ref("product", "product", true); !ok) return std::unexpected(ok.error());
  }
  if (c.kind == "quota_dimension") {
    if (auto ok = ref("product", "product", true); !ok) return std::unexpected(ok.error());
    if (auto ok = ref("resource_type", "resource_type", false); !ok) return std::unexpected(ok.error());
    if (auto ok = ref("unit", "usage_unit", true); !ok) return std::unexpected(ok.error());
  }
  const std::string stream = "registry:" + c.kind + ":" + c.entry_id;
  const RegistryEntry* prior = m.registry(c.kind, c.entry_id);
  if (prior && prior->attributes == c.attributes && prior->description == c.description) {
    return nothing(stream, "platform");
  }
  events::RegistryEntryRegistered e{c.kind,        c.entry_id,   prior ? prior->version + 1 : 1,
                                    c.description, c.attributes, std::nullopt};
  if (prior) e.before = prior->attributes;
  return one(stream, "platform", std::move(e));
}

Result<Decided> decide(const AdmissionModel& m, const CreateOrganization& c) {
  if (auto ok = check_id(c.organization_id, "organization_id"); !ok) return std::unexpected(ok.error());
  if (auto ok = check_id(c.plan_id, "plan_id"); !ok) return std::unexpected(ok.error());
  const std::string dept = c.default_department_id.empty() ? c.organization_id + ".default" : c.default_department_id;
  if (auto ok = check_id(dept, "default_department_id"); !ok) return std::unexpected(ok.error());
  const QuotaScope scope{QuotaLevel::kOrganization, c.organization_id};
  const std::string stream = node_stream(scope);
  if (const Node* n = m.node(scope)) {
    if (n->plan_id == c.plan_id && n->name == c.name && n->default_department_id == dept) {
      return nothing(stream, c.organization_id);
    }
    return fail(err(ErrorKind::kAborted, "already_exists", "the organization exists with other attributes")
                    .with("scope", scope_text(scope)));
  }
  if (m.node({QuotaLevel::kDepartment, dept})) {
    return fail(err(ErrorKind::kAborted, "already_exists", "the default department id is taken")
                    .with("scope", "department:" + dept));
  }
  return one(stream, c.organization_id, events::OrganizationCreated{c.organization_id, c.name, c.plan_id, dept});
}

namespace {
// Defined with the capacity rules below.
Result<void> check_reservations_after_move(const AdmissionModel& m, const std::string& organization_id,
                                           const QuotaScope& moved, const QuotaScope& new_parent, Instant now);
}  // namespace

Result<Decided> decide(const AdmissionModel& m, const ChangeOrganizationPlan& c, Instant now) {
  const QuotaScope scope{QuotaLevel::kOrganization, c.organization_id};
  const Node* n = m.node(scope);
  if (!n) return unknown_scope(scope);
  if (auto ok = check_id(c.plan_id, "plan_id"); !ok) return std::unexpected(ok.error());
  if (n->plan_id == c.plan_id) return nothing(node_stream(scope), c.organization_id);
  if (auto ok = check_reservations_after_move(m, c.organization_id, scope, {QuotaLevel::kPlan, c.plan_id}, now); !ok) {
    return std::unexpected(ok.error());
  }
  return one(node_stream(scope), c.organization_id,
             events::OrganizationPlanChanged{c.organization_id, n->plan_id, c.plan_id});
}

Result<Decided> decide(const AdmissionModel& m, const CreateDepartment& c) {
  if (auto ok = check_id(c.department_id, "department_id"); !ok) return std::unexpected(ok.error());
  const QuotaScope org{QuotaLevel::kOrganization, c.organization_id};
  if (!m.node(org)) return unknown_scope(org);
  if (!c.parent_department_id.empty()) {
    const QuotaScope parent{QuotaLevel::kDepartment, c.parent_department_id};
    const Node* p = m.node(parent);
    if (!p) return unknown_scope(parent);
    if (p->organization_id != c.organization_id) {
      return rule("cross_organization", "a department's parent must be in the same organization");
    }
  }
  const QuotaScope scope{QuotaLevel::kDepartment, c.department_id};
  if (const Node* n = m.node(scope)) {
    const QuotaScope parent =
        c.parent_department_id.empty() ? org : QuotaScope{QuotaLevel::kDepartment, c.parent_department_id};
    if (n->organization_id == c.organization_id && n->parent == parent && n->name == c.name) {
      return nothing(node_stream(scope), c.organization_id);
    }
    return fail(err(ErrorKind::kAborted, "already_exists", "the department exists with other attributes")
                    .with("scope", scope_text(scope)));
  }
  return one(node_stream(scope), c.organization_id,
             events::DepartmentCreated{c.department_id, c.organization_id, c.parent_department_id, c.name});
}

Result<Decided> decide(const AdmissionModel& m, const MoveDepartment& c, Instant now) {
  const QuotaScope scope{QuotaLevel::kDepartment, c.department_id};
  const Node* n = m.node(scope);
  if (!n) return unknown_scope(scope);
  const QuotaScope org{QuotaLevel::kOrganization, n->organization_id};
  QuotaScope parent = org;
  if (!c.parent_department_id.empty()) {
    parent = {QuotaLevel::kDepartment, c.parent_department_id};
    const Node* p = m.node(parent);
    if (!p) return unknown_scope(parent);
    if (p->organization_id != n->organization_id) {
      return rule("cross_organization", "a department can only move within its organization");
    }
    if (m.is_ancestor_or_self(scope, parent)) {
      return fail(err(ErrorKind::kFailedPrecondition, "hierarchy_cycle",
                      "a department cannot move under itself or one of its own departments")
                      .with("department", c.department_id)
                      .with("new_parent", c.parent_department_id));
    }
  }
  if (n->parent == parent) return nothing(node_stream(scope), n->organization_id);
  if (auto ok = check_reservations_after_move(m, n->organization_id, scope, parent, now); !ok) {
    return std::unexpected(ok.error());
  }
  const std::string before = n->parent.level == QuotaLevel::kDepartment ? n->parent.id : "";
  return one(node_stream(scope), n->organization_id,
             events::DepartmentMoved{c.department_id, n->organization_id, before, c.parent_department_id});
}

Result<Decided> decide(const AdmissionModel& m, const CreateProject& c) {
  if (auto ok = check_id(c.project_id, "project_id"); !ok) return std::unexpected(ok.error());
  const QuotaScope org{QuotaLevel::kOrganization, c.organization_id};
  const Node* o = m.node(org);
  if (!o) return unknown_scope(org);
  const std::string dept = c.department_id.empty() ? o->default_department_id : c.department_id;
  const Node* d = m.node({QuotaLevel::kDepartment, dept});
  if (!d) return unknown_scope({QuotaLevel::kDepartment, dept});
  if (d->organization_id != c.organization_id) {
    return rule("cross_organization", "the department belongs to another organization");
  }
  const QuotaScope scope{QuotaLevel::kProject, c.project_id};
  if (const Node* n = m.node(scope)) {
    if (n->organization_id == c.organization_id && n->parent.id == dept && n->name == c.name) {
      return nothing(node_stream(scope), c.organization_id);
    }
    return fail(err(ErrorKind::kAborted, "already_exists", "the project exists with other attributes")
                    .with("scope", scope_text(scope)));
  }
  return one(node_stream(scope), c.organization_id,
             events::ProjectCreated{c.project_id, c.organization_id, dept, c.name});
}

Result<Decided> decide(const AdmissionModel& m, const MoveProject& c, Instant now) {
  const QuotaScope scope{QuotaLevel::kProject, c.project_id};
  const Node* n = m.node(scope);
  if (!n) return unknown_scope(scope);
  const QuotaScope dept{QuotaLevel::kDepartment, c.department_id};
  const Node* d = m.node(dept);
  if (!d) return unknown_scope(dept);
  if (d->organization_id != n->organization_id) {
    return rule("cross_organization", "a project can only move within its organization");
  }
  if (n->parent == dept) return nothing(node_stream(scope), n->organization_id);
  if (auto ok = check_reservations_after_move(m, n->organization_id, scope, dept, now); !ok) {
    return std::unexpected(ok.error());
  }
  return one(node_stream(scope), n->organization_id,
             events::ProjectMoved{c.project_id, n->organization_id, n->parent.id, c.department_id});
}

Result<Decided> decide(const AdmissionModel& m, const CreatePrincipal& c) {
  if (auto ok = check_id(c.principal_id, "principal_id"); !ok) return std::unexpected(ok.error());
  if (c.principal_type != "user" && c.principal_type != "service_account" && c.principal_type != "api_key") {
    return invalid("invalid_principal", "principal_type must be user, service_account or api_key");
  }
  const QuotaScope project{QuotaLevel::kProject, c.project_id};
  const Node* p = m.node(project);
  if (!p) return unknown_scope(project);
  const QuotaScope scope{QuotaLevel::kPrincipal, c.principal_id};
  if (const Node* n = m.node(scope)) {
    if (n->parent == project && n->principal_type == c.principal_type && n->name == c.name &&
        n->expires_at == c.expires_at) {
      return nothing(node_stream(scope), p->organization_id);
    }
    return fail(err(ErrorKind::kAborted, "already_exists", "the principal exists with other attributes")
                    .with("scope", scope_text(scope)));
  }
  return one(node_stream(scope), p->organization_id,
             events::PrincipalCreated{c.principal_id, c.principal_type, p->organization_id, c.project_id, c.name,
                                      c.expires_at});
}

namespace {
Result<void> check_target(const CeilingTarget& t) {
  if (!valid_window(t.window)) {
    return invalid("invalid_window", "window must be empty, minute, hour, day, month or request");
  }
  for (const std::string* s : {&t.region, &t.sku_or_model}) {
    if (!s->empty() && !valid_entity_id(*s)) return invalid("invalid_id", "region and sku_or_model must be ids");
  }
  return {};
}
}  // namespace

namespace {

// Why `candidate` does not fit, when it does not.
struct Shortfall {
  QuotaScope scope;
  std::int64_t effective = 0;
  Peak peak;
  std::string rule_id;
};

// The capacity rule of activation (admission.h "Windows"): under every scope
// from the candidate's owner up to its organization whose effective ceiling
// binds the owner, the candidate plus every other reservation under that
// scope that holds capacity, overlaps its region / SKU and its window, at
// their peak over [max(window_start, now), window_end), fit the scope's
// effective ceiling. `rules` and `dels` are those on `chain` (the owner's).
std::optional<Shortfall> capacity_shortfall(std::span<const ChainNode> chain, std::span<const CeilingRule> rules,
                                            std::span<const Delegation> dels, const ReservationView& candidate,
                                            std::span<const ReservationView> others, Instant now) {
  const CeilingTarget target{candidate.dimension, "", candidate.region, candidate.sku_or_model};
  const auto owner_eff = evaluate_ceiling(chain, rules, dels, target, false).effective;
  const Instant from = std::max(candidate.window_start, now);
  for (std::size_t i = 0; i < chain.size(); ++i) {
    const QuotaScope& s = chain[i].scope;
    if (s.level == QuotaLevel::kPlan || s.level == QuotaLevel::kGlobal) break;
    const auto eval = evaluate_ceiling(chain.subspan(i), rules, dels, target, false);
    if (!eval.effective.quantity) continue;
    if (owner_eff.quantity && *eval.effective.quantity < *owner_eff.quantity) continue;  // delegated past
    std::vector<ReservationView> held;
    ReservationView self = candidate;
    self.window_start = from;
    held.push_back(self);
    for (const auto& o : others) {
      if (o.reservation_id == candidate.reservation_id || !state_holds_capacity(o.state)) continue;
      if (!overlaps(o.region, candidate.region) || !overlaps(o.sku_or_model, candidate.sku_or_model)) continue;
      if (o.window_end <= from || o.window_start >= candidate.window_end) continue;
      if (std::find(o.owner_chain.begin(), o.owner_chain.end(), s) == o.owner_chain.end()) continue;
      held.push_back(o);
    }
    const Peak peak = peak_held(held, from, candidate.window_end);
    if (peak.quantity > *eval.effective.quantity) {
      return Shortfall{s, *eval.effective.quantity, peak, eval.effective.binding_rule_id};
    }
  }
  return std::nullopt;
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

// 422 `ceiling_below_reserved`: a change after which `r` would not fit,
// with the first scope up from its owner that would be short.
Result<void> below_reserved(const ReservationView& r, const Shortfall& after) {
  return fail(err(ErrorKind::kFailedPrecondition, "ceiling_below_reserved",
                  "This change would leave less capacity than active reservations hold; retire or suspend them first.")
                  .with("reservation_id", r.reservation_id)
                  .with("scope", scope_text(after.scope))
                  .with("effective_quantity", after.effective)
                  .with("reserved", after.peak.quantity)
                  .with("peak_at", instant_text(after.peak.at))
                  .with("rule_id", after.rule_id));
}

// Refuses a ceiling command that lowers capacity under reservations that
// hold it (admission.h): every reservation under the changed scope that
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

// A chain as it reads after `moved` is placed under `new_parent` (or, for
// an organization, on the plan `new_parent`): the part from the owner up to
// `moved` stays, the rest is `new_parent`'s chain. A chain without `moved`
// is unchanged.
std::vector<ChainNode> rechained(const AdmissionModel& m, const std::vector<ChainNode>& chain, const QuotaScope& moved,
                                 const QuotaScope& new_parent) {
  for (std::size_t k = 0; k < chain.size(); ++k) {
    if (chain[k].scope != moved) continue;
    std::vector<ChainNode> out(chain.begin(), chain.begin() + static_cast<std::ptrdiff_t>(k + 1));
    for (auto& n : m.chain(new_parent)) out.push_back(std::move(n));
    return out;
  }
  return chain;
}

// Refuses a hierarchy change (a move, a plan change: admission.h) after
// which a reservation of the organization that holds capacity now or later,
// and fitted before, would not fit under the ceilings of its new place —
// the rule check_reserved_still_fit holds for ceiling changes.
Result<void> check_reservations_after_move(const AdmissionModel& m, const std::string& organization_id,
                                           const QuotaScope& moved, const QuotaScope& new_parent, Instant now) {
  std::map<std::string, std::vector<ReservationView>> before, after;  // by dimension
  for (const auto& r : m.all_reservations_of(organization_id)) {
    ReservationView a = r;
    a.owner_chain.clear();
    for (const auto& n : rechained(m, m.chain(r.owner), moved, new_parent)) {
      a.owner_chain.push_back(n.scope);
      if (n.scope.level == QuotaLevel::kOrganization) break;
    }
    before[r.dimension].push_back(r);
    after[r.dimension].push_back(std::move(a));
  }
  for (const auto& [dimension, rs] : after) {
    const auto& was = before.at(dimension);
    for (std::size_t i = 0; i < rs.size(); ++i) {
      const ReservationView& r = rs[i];
      if (!state_holds_capacity(r.state) || r.window_end <= now) continue;
      const auto chain = m.chain(r.owner);
      if (capacity_shortfall(chain, m.rules_on(chain, dimension), m.delegations_on(chain, dimension), was[i], was,
                             now)) {
        continue;  // did not fit before: not this change's doing
      }
      const auto moved_chain = rechained(m, chain, moved, new_parent);
      const auto short_after = capacity_shortfall(moved_chain, m.rules_on(moved_chain, dimension),
                                                  m.delegations_on(moved_chain, dimension), r, rs, now);
      if (!short_after) continue;
      return below_reserved(r, *short_after);
    }
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

// ------------------------------------------------------------- reservations

namespace {

const std::map<std::string, std::vector<std::string>>& reservation_kinds() {
  static const std::map<std::string, std::vector<std::string>> k = {
      {"gpu_nodes", {}},
      {"app_runtime", {"runtime_class"}},
      {"model_serving", {"model_family", "endpoint_class", "rate"}},
      {"storage", {"provider", "tier"}},
  };
  return k;
}

// The reservation a command names, within the organization it names; an
// unknown id, or another organization's, answers 404 `unknown_reservation`.
Result<const AdmissionModel::Reservation*> named_reservation(const AdmissionModel& m,
                                                             const std::string& organization_id,
                                                             const std::string& id) {
  if (organization_id.empty()) {
    return fail(err(ErrorKind::kInvalidArgument, "missing_field",
                    "organization_id is required: reservation ids are unique within an organization")
                    .with("field", "organization_id"));
  }
  const auto* r = m.reservation(organization_id, id);
  if (!r) {
    return fail(err(ErrorKind::kNotFound, "unknown_reservation", "no such reservation").with("reservation_id", id));
  }
  return r;
}

// The state a reservation is in for deciding at `now`.
std::string state_now(const AdmissionModel::Reservation& r, Instant now) {
  ReservationView v;
  v.state = r.state;
  v.window_end = r.drafted.window_end;
  return reservation_state_at(v, now);
}

Result<void> check_capacity(const AdmissionModel& m, const AdmissionModel::Reservation& r, Instant now) {
  const auto& d = r.drafted;
  const auto chain = m.chain(d.owner);
  const auto others = m.reservations_of(d.organization_id, d.dimension);
  const auto shortfall = capacity_shortfall(chain, m.rules_on(chain, d.dimension), m.delegations_on(chain, d.dimension),
                                            m.view_of(r), others, now);
  if (!shortfall) return {};
  return fail(err(ErrorKind::kFailedPrecondition, "capacity_unavailable",
                  "There is not enough unreserved capacity under your quota for this reservation.")
                  .with("scope", scope_text(shortfall->scope))
                  .with("effective_quantity", shortfall->effective)
                  .with("reserved_with_this", shortfall->peak.quantity)
                  .with("peak_at", instant_text(shortfall->peak.at))
                  .with("rule_id", shortfall->rule_id));
}

}  // namespace

Result<Decided> decide(const AdmissionModel& m, const DraftReservation& c) {
  if (auto ok = check_id(c.reservation_id, "reservation_id"); !ok) return std::unexpected(ok.error());
  auto kind = reservation_kinds().find(c.kind);
  if (kind == reservation_kinds().end()) {
    return invalid("invalid_reservation", "kind must be gpu_nodes, app_runtime, model_serving or storage");
  }
  for (const auto& need : kind->second) {
    if (!c.attributes.contains(need) || c.attributes.at(need).empty()) {
      return invalid("invalid_reservation", "a " + c.kind + " reservation needs attribute '" + need + "'");
    }
  }
  if (c.owner.level == QuotaLevel::kGlobal || c.owner.level == QuotaLevel::kPlan) {
    return rule("invalid_owner", "a reservation is owned by an organization, department, project or principal");
  }
  if (!m.node(c.owner)) return unknown_scope(c.owner);
  auto unit = dimension_unit(m, c.dimension, c.unit);
  if (!unit) return std::unexpected(unit.error());
  if (c.quantity <= 0) return rule("invalid_quantity", "a reservation must reserve a positive quantity");
  if (c.window_end <= c.window_start) return rule("invalid_window", "the window must end after it starts");
  if (auto ok = check_target(CeilingTarget{c.dimension, "", c.region, c.sku_or_model}); !ok) {
    return std::unexpected(ok.error());
  }
  const std::string org = admission_tenant(m, c.owner);
  events::ReservationDrafted e{c.reservation_id, org,        c.owner, c.kind,         c.dimension,  c.region,
                               c.sku_or_model,   c.quantity, *unit,   c.window_start, c.window_end, c.attributes,
                               c.reason};
  // Ids are unique within the organization: another organization's id is
  // no conflict (its reservation is not even visible from here).
  if (const auto* prior = m.reservation(org, c.reservation_id)) {
    events::ReservationDrafted same = prior->drafted;
    same.reason = e.reason;
    if (same == e) return nothing(prior->stream_id, org);
    return fail(err(ErrorKind::kAborted, "already_exists", "the reservation exists with other attributes")
                    .with("reservation_id", c.reservation_id));
  }
  const auto chain = m.chain(c.owner);
  const auto eval = evaluate_ceiling(chain, m.rules_on(chain, c.dimension), m.delegations_on(chain, c.dimension),
                                     CeilingTarget{c.dimension, "", c.region, c.sku_or_model}, false);
  if (eval.effective.quantity && c.quantity > *eval.effective.quantity) {
    return exceeded(eval.effective, c.quantity, c.owner);
  }
  return one(reservation_stream_id(org, c.reservation_id), org, std::move(e));
}

Result<Decided> decide(const AdmissionModel& m, const TransitionReservation& c, Instant now) {
  auto named = named_reservation(m, c.organization_id, c.reservation_id);
  if (!named) return std::unexpected(named.error());
  const auto* r = *named;
  const std::string from = state_now(*r, now);
  std::string to;
  std::vector<std::string> legal_from;
  if (c.action == "activate")
    to = "active", legal_from = {"draft"};
  else if (c.action == "suspend")
    to = "suspended", legal_from = {"active", "exhausted"};
  else if (c.action == "resume")
    to = "active", legal_from = {"suspended"};
  else if (c.action == "retire")
    to = "retired", legal_from = {"draft", "exhausted", "expired", "suspended"};
  else if (c.action == "expire")
    to = "expired", legal_from = {"expired"};  // only once the window has passed
  else
    return invalid("invalid_action", "action must be activate, suspend, resume, retire or expire");
  const std::string& stream = r->stream_id;
  const std::string& org = r->drafted.organization_id;
  if (c.action == "expire" && r->state == "expired") return nothing(stream, org);
  if (std::find(legal_from.begin(), legal_from.end(), from) == legal_from.end()) {
    return fail(err(ErrorKind::kAborted, "illegal_transition", "the reservation cannot " + c.action + " from " + from)
                    .with("reservation_id", c.reservation_id)
                    .with("from", from)
                    .with("to", to));
  }
  if (to == "active" && now >= r->drafted.window_end) {
    return rule("window_ended", "the reservation's window has already ended");
  }
  if (to == "active") {
    if (auto ok = check_capacity(m, *r, now); !ok) return std::unexpected(ok.error());
  }
  // Resuming a fully used reservation lands in exhausted, not active.
  if (c.action == "resume" && r->consumed >= r->drafted.quantity) to = "exhausted";
  return one(stream, org, events::ReservationStateChanged{c.reservation_id, org, r->state, to, c.reason});
}

Result<Decided> decide(const AdmissionModel& m, const ConsumeReservation& c, Instant now) {
  auto named = named_reservation(m, c.organization_id, c.reservation_id);
  if (!named) return std::unexpected(named.error());
  const auto* r = *named;
  if (c.quantity <= 0) return rule("invalid_quantity", "consume a positive quantity");
  const std::string state = state_now(*r, now);
  if (state != "active") {
    return fail(err(ErrorKind::kAborted, "reservation_not_active", "only an active reservation can be consumed")
                    .with("reservation_id", c.reservation_id)
                    .with("state", state));
  }
  const std::int64_t remaining = r->drafted.quantity - r->consumed;
  if (c.quantity > remaining) {
    return fail(err(ErrorKind::kFailedPrecondition, "reservation_insufficient",
                    "the reservation has less capacity left than asked for")
                    .with("reservation_id", c.reservation_id)
                    .with("remaining", remaining));
  }
  const std::string& org = r->drafted.organization_id;
  Decided d = one(
      r->stream_id, org,
      events::ReservationConsumed{c.reservation_id, org, c.quantity, r->consumed, r->consumed + c.quantity, c.reason});
  if (c.quantity == remaining) {
    d.events.push_back(events::ReservationStateChanged{c.reservation_id, org, "active", "exhausted", "fully consumed"});
  }
  return d;
}

Result<Decided> decide(const AdmissionModel& m, const ReleaseReservation& c) {
  auto named = named_reservation(m, c.organization_id, c.reservation_id);
  if (!named) return std::unexpected(named.error());
  const auto* r = *named;
  if (c.quantity <= 0) return rule("invalid_quantity", "release a positive quantity");
  if (r->state != "active" && r->state != "exhausted") {
    return fail(err(ErrorKind::kAborted, "reservation_not_active",
                    "capacity can only be released to an active or exhausted reservation")
                    .with("reservation_id", c.reservation_id)
                    .with("state", r->state));
  }
  if (c.quantity > r->consumed) {
    return fail(err(ErrorKind::kFailedPrecondition, "release_exceeds_consumed",
                    "more capacity would be released than was consumed")
                    .with("reservation_id", c.reservation_id)
                    .with("consumed", r->consumed));
  }
  const std::string& org = r->drafted.organization_id;
  Decided d = one(
      r->stream_id, org,
      events::ReservationReleased{c.reservation_id, org, c.quantity, r->consumed, r->consumed - c.quantity, c.reason});
  if (r->state == "exhausted") {
    d.events.push_back(
        events::ReservationStateChanged{c.reservation_id, org, "exhausted", "active", "capacity released"});
  }
  return d;
}

}  // namespace ledger::domain
