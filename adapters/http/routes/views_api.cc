#include "adapters/http/routes/views_api.h"

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <functional>
#include <map>
#include <set>
#include <span>
#include <tuple>

#include "adapters/http/routes/admission_json.h"
#include "adapters/http/routes/http_json.h"
#include "adapters/http/routes/query_params.h"
#include "commands/access/authorization.h"
#include "commands/edge_values.h"
#include "domain/admission.h"
#include "domain/policy_resolution.h"
#include "events/codec/json_codec.h"
#include "events/codec/rfc3339.h"

namespace ledger::routes {

using adapters::http::HttpRequest;
using adapters::http::HttpResponse;
using events::CeilingTarget;
using events::QuotaLevel;
using events::QuotaScope;
using projections::AdmissionHistory;
using projections::CeilingSnapshot;
using projections::ReservationRecord;
using projections::ScopeNodeView;
using Json = nlohmann::json;
__extension__ using Wide = __int128;  // products of two quantities

namespace {

constexpr std::string_view kPrefix = "/v1/views/";
constexpr std::string_view kCursorPrefix = "views.v1:";
constexpr const char* kWarnThresholdKey = "quota.warn_threshold_percent";
constexpr std::int64_t kDefaultWarnThreshold = 80;
constexpr const char* kRateLimitPrefix = "rate_limit.";
constexpr std::size_t kReservationPage = 1000;

const char* const kNotTracked =
    "not tracked by the ledger: the policy ledger records quotas, reservations and policy values only; "
    "billing owns money movement and budgets";

std::int64_t saturating_add(std::int64_t a, std::int64_t b) {
  const Wide sum = static_cast<Wide>(a) + b;
  return sum > INT64_MAX ? INT64_MAX : sum < INT64_MIN ? INT64_MIN : static_cast<std::int64_t>(sum);
}

domain::Error forbidden(const commands::Principal& who, const std::string& organization_id) {
  return organization_forbidden(who, organization_id, "customer view");
}

domain::Error unknown_scope(const QuotaScope& s) {
  domain::Error e{domain::ErrorKind::kNotFound, "unknown_scope", "no such scope", {}};
  e.with("scope", domain::scope_text(s));
  return e;
}

domain::Error invalid_cursor() {
  return {domain::ErrorKind::kInvalidArgument,
          "invalid_cursor",
          "cursor is malformed; pass back a next_cursor unchanged",
          {}};
}

// One request's consistency parameters, and the one position every part of
// the answer is read at.
struct Snapshot {
  events::Instant as_of;
  events::GlobalPosition position;
};

// Parses min_position / as_of / as_of_position / wait_ms, refuses positions
// beyond the head, waits (bounded) until both read models reached what the
// request needs, and pins the position. An HttpResponse: answer that.
std::variant<Snapshot, HttpResponse> pin_snapshot(const HttpRequest& req, AdmissionHistory& admission,
                                                  projections::PolicyValueReader& policy, commands::Clock& clock) {
  auto c = parse_consistency(req, clock);
  if (!c) return error_response(c.error());
  // The answer reads both read models: the lower checkpoint is what both have.
  auto both = [&]() -> domain::Result<events::GlobalPosition> {
    auto a = admission.checkpoint();
    if (!a) return a;
    auto p = policy.checkpoint();
    if (!p) return p;
    return std::min(*a, *p);
  };
  if (auto not_ready = await_snapshot(*c, [&] { return admission.head_position(); }, both)) return *not_ready;
  Snapshot s;
  s.as_of = c->as_of;
  if (const auto& as_of_position = c->as_of_position) {
    s.position = *as_of_position;
  } else {
    auto cp = both();
    if (!cp) return error_response(cp.error());
    s.position = *cp;
  }
  return s;
}

// ------------------------------------------------------------------ paging

struct Page {
  std::size_t limit = static_cast<std::size_t>(ViewsApi::kDefaultLimit);
  std::optional<std::pair<std::string, std::string>> after;  // (kind, id)
};

domain::Result<Page> parse_page(const HttpRequest& req) {
  Page p;
  auto limit = int_param(req, "limit", ViewsApi::kMaxLimit);
  if (!limit || limit->value_or(1) < 1) {
    return std::unexpected(
        bad_param("limit", "limit must be an integer from 1 to " + std::to_string(ViewsApi::kMaxLimit)));
  }
  if (const auto& n = *limit) p.limit = static_cast<std::size_t>(*n);
  if (auto cursor = req.query_param("cursor")) {
    auto text = unbase64url(*cursor);
    std::size_t colon = std::string::npos;
    if (!cursor->empty() && text && text->rfind(kCursorPrefix, 0) == 0 && base64url(*text) == *cursor) {
      colon = text->find(':', kCursorPrefix.size());
    }
    if (colon == std::string::npos) return std::unexpected(invalid_cursor());
    p.after = std::pair(text->substr(kCursorPrefix.size(), colon - kCursorPrefix.size()), text->substr(colon + 1));
  }
  return p;
}

Json cursor_json(bool has_more, const std::string& kind, const std::string& id) {
  return has_more ? Json(base64url(std::string(kCursorPrefix) + kind + ":" + id)) : Json();
}

// ---------------------------------------------------------------- ceilings

// Every distinct target with a rule on the snapshot's chain (of one
// dimension when given), ascending.
std::vector<CeilingTarget> targets_of(const CeilingSnapshot& s, const std::string* dimension = nullptr) {
  std::set<CeilingTarget> out;
  for (const auto& r : s.rules) {
    if (!dimension || r.target.dimension == *dimension) out.insert(r.target);
  }
  return {out.begin(), out.end()};
}

// effective() of chain[from] for `t`, from the rules read for chain[0].
domain::Effective effective_of(const CeilingSnapshot& s, const CeilingTarget& t, std::size_t from = 0) {
  if (from >= s.chain.size()) return {};
  std::vector<domain::CeilingRule> rules;
  std::vector<domain::Delegation> delegations;
  for (const auto& r : s.rules) {
    if (r.target.dimension == t.dimension) rules.push_back(r);
  }
  for (const auto& d : s.delegations) {
    if (d.dimension == t.dimension) delegations.push_back(d);
  }
  return domain::evaluate_ceiling(std::span(s.chain).subspan(from), rules, delegations, t, false).effective;
}

std::size_t index_in(const CeilingSnapshot& s, const QuotaScope& scope) {
  for (std::size_t i = 0; i < s.chain.size(); ++i) {
    if (s.chain[i].scope == scope) return i;
  }
  return s.chain.size();
}

// Units of the registered dimensions, for targets no rule gives one.
using Units = std::map<std::string, std::string>;

Json ceiling_json(const CeilingTarget& t, const domain::Effective& e, const Units& units) {
  Json matched = Json::array();
  for (const auto& m : e.matched_rules) {
    matched.push_back(
        {{"rule_id", m.rule_id}, {"scope", quota_scope_json(m.scope)}, {"version", m.version}, {"kind", m.kind}});
  }
  std::string unit = e.unit;
  if (unit.empty()) {
    if (auto it = units.find(t.dimension); it != units.end()) unit = it->second;
  }
  return {{"dimension", t.dimension},
          {"window", t.window},
          {"region", t.region},
          {"sku_or_model", t.sku_or_model},
          {"quantity", nullable(e.quantity)},
          {"unit", unit},
          {"inherited_from", e.inherited_from ? quota_scope_json(*e.inherited_from) : Json()},
          {"binding_rule_id", e.binding_rule_id.empty() ? Json() : Json(e.binding_rule_id)},
          {"matched_rules", std::move(matched)}};
}

// ------------------------------------------------------------ reservations

bool overlaps(const std::string& a, const std::string& b) { return a.empty() || b.empty() || a == b; }

bool under(const ReservationRecord& r, const QuotaScope& s) {
  return std::find(r.view.owner_chain.begin(), r.view.owner_chain.end(), s) != r.view.owner_chain.end();
}

bool matches(const ReservationRecord& r, const CeilingTarget& t) {
  return r.view.dimension == t.dimension && overlaps(r.view.region, t.region) &&
         overlaps(r.view.sku_or_model, t.sku_or_model);
}

// What withholds capacity in decisions (domain::holds_at: active or
// exhausted at as_of, inside its window).
bool withholds(const ReservationRecord& r, events::Instant as_of) { return domain::holds_at(r.view, as_of); }

// The entitlements in force, whose consumption is the usage the ledger knows.
bool in_force(const ReservationRecord& r, events::Instant as_of) {
  const std::string state = domain::reservation_state_at(r.view, as_of);
  return state == "active" || state == "exhausted";
}

struct Held {
  std::int64_t reserved = 0;
  std::int64_t consumed = 0;
};

Held held_under(std::span<const ReservationRecord> all, const QuotaScope& s, const CeilingTarget& t,
                events::Instant as_of) {
  Held h;
  for (const auto& r : all) {
    if (!under(r, s) || !matches(r, t)) continue;
    if (withholds(r, as_of)) h.reserved = saturating_add(h.reserved, r.view.quantity);
    if (in_force(r, as_of)) h.consumed = saturating_add(h.consumed, r.view.consumed);
  }
  return h;
}

// Every reservation of an organization at the snapshot (paged reads, all at
// the same position, so they form one snapshot).
domain::Result<std::vector<ReservationRecord>> organization_reservations(AdmissionHistory& q,
                                                                         const std::string& organization_id,
                                                                         events::GlobalPosition position) {
  std::vector<ReservationRecord> out;
  projections::ReservationFilter f;
  f.organization_id = organization_id;
  f.limit = kReservationPage;
  for (;;) {
    auto page = q.reservations(f, position);
    if (!page) return std::unexpected(page.error());
    for (auto& r : page->items) out.push_back(std::move(r));
    if (!page->has_more || out.empty()) break;
    f.after_id = out.back().view.reservation_id;
    f.after_organization_id = out.back().organization_id;  // pages run in (id, organization) order
  }
  return out;
}

Json reservation_json(const ReservationRecord& r, events::Instant as_of) {
  return reservation_fields(r.view, r.kind, r.unit, as_of);
}

// ------------------------------------------------------------------ posture

// A ceiling of `child` (chain[0] of `s`) with what the ledger holds against
// it and the near-limit flags relative to `reference` (a scope on its chain;
// nullopt: only reserved_share applies). See views_api.h.
Json posture_json(const CeilingSnapshot& s, const CeilingTarget& t, const std::optional<QuotaScope>& reference,
                  std::span<const ReservationRecord> reservations, events::Instant as_of, std::int64_t threshold,
                  const Units& units) {
  const domain::Effective eff = effective_of(s, t);
  Json j = ceiling_json(t, eff, units);
  const Held held = held_under(reservations, s.chain.front().scope, t, as_of);
  j["reserved"] = held.reserved;
  j["consumed"] = held.consumed;
  Json reasons = Json::array();
  std::string allocation = "none";
  Json share = Json();
  if (eff.quantity && reference && !(s.chain.front().scope == *reference)) {
    const std::size_t at = index_in(s, *reference);
    const domain::Effective parent = effective_of(s, t, at);
    bool inherited = false;
    for (std::size_t i = at; i < s.chain.size(); ++i) {
      inherited = inherited || (eff.inherited_from && s.chain[i].scope == *eff.inherited_from);
    }
    allocation = inherited ? "inherited" : "own";
    if (parent.quantity && *parent.quantity > 0) {
      share = static_cast<std::int64_t>(static_cast<Wide>(*eff.quantity) * 100 / *parent.quantity);
      if (!inherited && *eff.quantity > 0 &&
          static_cast<Wide>(*eff.quantity) * 100 >= static_cast<Wide>(threshold) * *parent.quantity) {
        reasons.push_back("allocation_share");
      }
    }
    j["parent_quantity"] = nullable(parent.quantity);
  } else if (eff.quantity) {
    allocation = "own";
  }
  if (eff.quantity && *eff.quantity > 0 &&
      static_cast<Wide>(held.reserved) * 100 >= static_cast<Wide>(threshold) * *eff.quantity) {
    reasons.push_back("reserved_share");
  }
  j["allocation"] = allocation;
  j["share_of_parent_percent"] = share;
  j["near_limit"] = !reasons.empty() && !(eff.quantity && *eff.quantity == 0);
  if (eff.quantity && *eff.quantity == 0) reasons = Json::array();
  j["near_limit_reasons"] = std::move(reasons);
  j["status"] = !eff.quantity                 ? "no_ceiling"
                : *eff.quantity == 0          ? "blocked"
                : j["near_limit"].get<bool>() ? "near_limit"
                                              : "ok";
  return j;
}

// ----------------------------------------------------------- policy values

std::string plan_of(std::span<const domain::ChainNode> chain) {
  for (const auto& c : chain) {
    if (c.scope.level == QuotaLevel::kPlan) return c.scope.id;
  }
  return "";
}

struct Resolved {
  bool defined = false;
  events::PolicyKeyDefined key;
  domain::Resolution resolution;
};

domain::Result<Resolved> resolve_value(projections::PolicyValueReader& policy, const std::string& key,
                                       const domain::ScopeChain& chain, const Snapshot& snap) {
  auto s = policy.policy_snapshot(key, chain, snap.position);
  if (!s) return std::unexpected(s.error());
  Resolved out;
  const auto& policy_key = s->key;
  if (!policy_key) return out;
  out.defined = true;
  out.key = *policy_key;
  out.resolution = domain::resolve(*policy_key, chain, s->candidates, snap.as_of);
  return out;
}

Json policy_value_json(const std::string& key, const Resolved& r) {
  const auto& res = r.resolution;
  return {{"key", key},
          {"value", codec::encode_value(res.value)},
          {"value_type", codec::value_type_name(r.key.value_type)},
          {"source", {{"level", codec::scope_level_name(res.source.level)}, {"id", res.source.id}}},
          {"is_default", res.is_default},
          {"effective_at", res.effective_at ? Json(codec::format_instant(*res.effective_at)) : Json()},
          {"set_at_position", nullable(res.position)}};
}

// quota.warn_threshold_percent for the chain, and its JSON.
domain::Result<std::pair<std::int64_t, Json>> warn_threshold(projections::PolicyValueReader& policy,
                                                             const domain::ScopeChain& chain, const Snapshot& snap) {
  auto r = resolve_value(policy, kWarnThresholdKey, chain, snap);
  if (!r) return std::unexpected(r.error());
  if (!r->defined) {
    return std::pair(
        kDefaultWarnThreshold,
        Json{{"value", kDefaultWarnThreshold}, {"source", Json()}, {"is_default", true}, {"key_defined", false}});
  }
  std::int64_t value = kDefaultWarnThreshold;
  if (const auto* v = std::get_if<std::int64_t>(&r->resolution.value.v)) value = std::clamp<std::int64_t>(*v, 0, 100);
  Json j = policy_value_json(kWarnThresholdKey, *r);
  j["value"] = value;
  j["key_defined"] = true;
  return std::pair(value, std::move(j));
}

// --------------------------------------------------------------- registry

struct Registry {
  std::vector<domain::RegistryEntry> products;
  std::vector<domain::RegistryEntry> dimensions;
  Units units;
};

domain::Result<Registry> registry_at(AdmissionHistory& q, events::GlobalPosition position) {
  auto listing = q.registry(std::nullopt, position);
  if (!listing) return std::unexpected(listing.error());
  Registry out;
  for (auto& e : listing->entries) {
    if (e.kind == "product") out.products.push_back(e);
    if (e.kind == "quota_dimension") {
      if (auto it = e.attributes.find("unit"); it != e.attributes.end()) out.units[e.entry_id] = it->second;
      out.dimensions.push_back(e);
    }
  }
  return out;
}

std::string attribute(const domain::RegistryEntry& e, const std::string& name) {
  auto it = e.attributes.find(name);
  return it == e.attributes.end() ? "" : it->second;
}

Json node_json(const ScopeNodeView& n) {
  return {{"id", n.scope.id},
          {"name", n.name},
          {"organization_id", n.organization_id},
          {"parent", quota_scope_json(n.parent)},
          {"version", n.version},
          {"created_position", n.created_position}};
}

// One node at the snapshot, checked for the tenant: the node or the answer.
// `refused` is told the organization a refused principal asked about.
std::variant<projections::NodeLookup, HttpResponse> lookup(AdmissionHistory& q, const QuotaScope& scope,
                                                           const Snapshot& snap, const commands::Principal& who,
                                                           const std::function<void(const std::string&)>& refused) {
  auto found = q.node(scope, snap.position);
  if (!found) return error_response(found.error());
  const auto& node = found->node;
  if (!node || found->chain.empty()) return error_response(unknown_scope(scope));
  if (is_tenant(who) && node->organization_id != who.tenant) {
    refused(node->organization_id);
    return error_response(forbidden(who, node->organization_id));
  }
  return std::move(*found);
}

Json finish(Json body, const Snapshot& snap) {
  body["snapshot_version"] = snap.position;
  body["as_of"] = codec::format_instant(snap.as_of);
  return body;
}

// A children page of nodes: ceilings and posture of each relative to `reference`.
domain::Result<Json> children_json(AdmissionHistory& q, const projections::NodePage& page, const QuotaScope& reference,
                                   std::span<const ReservationRecord> reservations, const Snapshot& snap,
                                   std::int64_t threshold, const Units& units, std::vector<std::string>* flagged) {
  Json items = Json::array();
  for (const auto& n : page.items) {
    auto s = q.effective_ceilings(n.scope, std::nullopt, snap.position);
    if (!s) return std::unexpected(s.error());
    Json ceilings = Json::array();
    Json reasons = Json::array();
    bool near = false;
    if (!s->chain.empty()) {
      for (const auto& t : targets_of(*s)) {
        Json c = posture_json(*s, t, reference, reservations, snap.as_of, threshold, units);
        if (c["near_limit"].get<bool>()) {
          near = true;
          for (const auto& r : c["near_limit_reasons"]) {
            reasons.push_back({{"dimension", t.dimension},
                               {"window", t.window},
                               {"region", t.region},
                               {"sku_or_model", t.sku_or_model},
                               {"reason", r}});
          }
        }
        ceilings.push_back(std::move(c));
      }
    }
    Json item = node_json(n);
    item["level"] = events::quota_level_name(n.scope.level);
    item["ceilings"] = std::move(ceilings);
    item["near_limit"] = near;
    item["near_limit_reasons"] = std::move(reasons);
    if (near && flagged) flagged->push_back(n.scope.id);
    items.push_back(std::move(item));
  }
  return items;
}

// The first department on a chain (the scope's own when it is one), or "".
std::string department_of(std::span<const domain::ChainNode> chain) {
  for (const auto& c : chain) {
    if (c.scope.level == QuotaLevel::kDepartment) return c.scope.id;
  }
  return "";
}

// What the organization, department and project views judge posture with:
// every reservation of the organization and quota.warn_threshold_percent.
struct Posture {
  std::vector<ReservationRecord> reservations;
  std::int64_t threshold = 0;
  Json threshold_json;
};

// `project_id` is the node's id for a project view, "" otherwise.
domain::Result<Posture> posture_at(AdmissionHistory& admission, projections::PolicyValueReader& policy,
                                   const ScopeNodeView& n, const std::string& project_id, const std::string& plan,
                                   const Snapshot& snap) {
  auto reservations = organization_reservations(admission, n.organization_id, snap.position);
  if (!reservations) return std::unexpected(reservations.error());
  const domain::ScopeChain chain{"", project_id, n.organization_id, plan};
  auto threshold = warn_threshold(policy, chain, snap);
  if (!threshold) return std::unexpected(threshold.error());
  return Posture{std::move(*reservations), threshold->first, std::move(threshold->second)};
}

// --------------------------------------------------- organization parts

// Every registered product with its dimensions' effective ceilings at the
// organization (see views_api.h, "product enabled").
Json products_json(const Registry& registry, const CeilingSnapshot& own) {
  Json products = Json::array();
  for (const auto& p : registry.products) {
    Json dims = Json::array();
    bool enabled = false;
    for (const auto& d : registry.dimensions) {
      if (attribute(d, "product") != p.entry_id) continue;
      auto targets = targets_of(own, &d.entry_id);
      if (targets.empty()) targets.push_back(CeilingTarget{d.entry_id, "", "", ""});
      for (const auto& t : targets) {
        const auto e = effective_of(own, t);
        // No ceiling on the path admits (no_ceiling), so it counts as non-zero.
        enabled = enabled || !e.quantity || *e.quantity > 0;
        dims.push_back({{"dimension", t.dimension},
                        {"window", t.window},
                        {"region", t.region},
                        {"sku_or_model", t.sku_or_model},
                        {"quantity", nullable(e.quantity)},
                        {"unit", e.unit.empty() ? attribute(d, "unit") : e.unit},
                        {"inherited_from", e.inherited_from ? quota_scope_json(*e.inherited_from) : Json()}});
      }
    }
    products.push_back(
        {{"product_id", p.entry_id}, {"version", p.version}, {"enabled", enabled}, {"dimensions", std::move(dims)}});
  }
  return products;
}

// ----------------------------------------------------- department parts

// A department's reservations: allocation by state, and showback by the
// child (or the department itself) each reservation is attributed to.
Json reservation_summary(std::span<const ReservationRecord> reservations, const QuotaScope& department,
                         events::Instant as_of) {
  // (count, quantity, consumed, unit) by (state at as_of, dimension).
  using Totals = std::tuple<std::int64_t, std::int64_t, std::int64_t, std::string>;
  std::map<std::tuple<std::string, std::string>, Totals> by_state;
  std::map<std::tuple<QuotaScope, std::string>, std::tuple<std::int64_t, std::int64_t, std::string>> showback;
  for (const auto& r : reservations) {
    const auto& chain = r.view.owner_chain;
    auto at = std::find(chain.begin(), chain.end(), department);
    if (at == chain.end()) continue;
    const QuotaScope owner = at == chain.begin() ? department : *(at - 1);
    auto& s = by_state[{domain::reservation_state_at(r.view, as_of), r.view.dimension}];
    std::get<0>(s) += 1;
    std::get<1>(s) = saturating_add(std::get<1>(s), r.view.quantity);
    std::get<2>(s) = saturating_add(std::get<2>(s), r.view.consumed);
    std::get<3>(s) = r.unit;
    auto& b = showback[{owner, r.view.dimension}];
    if (withholds(r, as_of)) std::get<0>(b) = saturating_add(std::get<0>(b), r.view.quantity);
    if (in_force(r, as_of)) std::get<1>(b) = saturating_add(std::get<1>(b), r.view.consumed);
    std::get<2>(b) = r.unit;
  }
  Json states = Json::array();
  for (const auto& [k, v] : by_state) {
    states.push_back({{"state", std::get<0>(k)},
                      {"dimension", std::get<1>(k)},
                      {"unit", std::get<3>(v)},
                      {"count", std::get<0>(v)},
                      {"quantity", std::get<1>(v)},
                      {"consumed", std::get<2>(v)}});
  }
  Json shows = Json::array();
  for (const auto& [k, v] : showback) {
    shows.push_back({{"owner", quota_scope_json(std::get<0>(k))},
                     {"dimension", std::get<1>(k)},
                     {"unit", std::get<2>(v)},
                     {"reserved", std::get<0>(v)},
                     {"consumed", std::get<1>(v)}});
  }
  return {{"by_state", std::move(states)}, {"showback", std::move(shows)}};
}

// -------------------------------------------------------- project parts

// The decision contract itself answers "what is left" for a project and
// `t`: a zero-delta request at the usage the ledger knows.
domain::Result<domain::DecisionOutput> zero_delta_decision(const ScopeNodeView& project, const domain::RegistryEntry& d,
                                                           const CeilingTarget& t, std::int64_t usage,
                                                           const CeilingSnapshot& own,
                                                           std::span<const ReservationRecord> reservations,
                                                           const Snapshot& snap, std::int64_t threshold) {
  domain::DecisionInput in;
  in.hierarchy.organization_id = project.organization_id;
  in.hierarchy.project_id = project.scope.id;
  in.request.dimension = t.dimension;
  in.request.region = t.region;
  in.request.sku_or_model = t.sku_or_model;
  in.current_usage.scope_window = t.window;
  in.current_usage.quantity = usage;
  domain::DecisionSnapshot ds;
  ds.snapshot_version = snap.position.value;
  ds.chain = own.chain;
  for (const auto& r : own.rules) {
    if (r.target.dimension == t.dimension) ds.rules.push_back(r);
  }
  for (const auto& del : own.delegations) {
    if (del.dimension == t.dimension) ds.delegations.push_back(del);
  }
  domain::ReservationList::Views held;
  for (const auto& r : reservations) {
    if (r.view.dimension == t.dimension) held.emplace_back(r.view);
  }
  ds.reservations = domain::ReservationList(std::move(held));
  ds.dimension = domain::Shared<domain::RegistryEntry>(d);
  ds.warn_threshold_percent = threshold;
  return domain::decide_admission(in, ds, snap.as_of);
}

// The status of a project's quota for `t` given its zero-delta decision and
// the usage the ledger knows; a blocked one adds its reason to `blocked`.
std::string quota_status(const CeilingTarget& t, const domain::DecisionOutput& out, std::int64_t usage, Json& blocked) {
  const auto& eff = out.effective;
  std::string status = "ok";
  auto block = [&](const std::string& code, const std::string& message, const std::optional<QuotaScope>& scope,
                   const std::string& rule) {
    status = "blocked";
    blocked.push_back({{"dimension", t.dimension},
                       {"window", t.window},
                       {"region", t.region},
                       {"sku_or_model", t.sku_or_model},
                       {"reason_code", code},
                       {"user_message", message},
                       {"scope", scope ? quota_scope_json(*scope) : Json()},
                       {"rule_id", rule.empty() ? Json() : Json(rule)}});
  };
  if (!eff.quantity) {
    status = "no_ceiling";
  } else if (*eff.quantity == 0) {
    block("ceiling_zero", "Your quota for this resource is zero.", eff.inherited_from, eff.binding_rule_id);
  } else if (out.available && *out.available <= usage) {
    if (usage < *eff.quantity) {
      block("capacity_reserved", "The capacity left under your quota is reserved for others in your organization.",
            eff.inherited_from, eff.binding_rule_id);
    } else {
      block("quota_exhausted", "You have used all of your quota for this resource.", eff.inherited_from,
            eff.binding_rule_id);
    }
  } else if (out.decision == "warn") {
    status = "near_limit";
  }
  return status;
}

// True when the project has reservations for the dimension and all of them
// read expired or retired at as_of.
bool all_lapsed(std::span<const ReservationRecord> reservations, const QuotaScope& project,
                const std::string& dimension, events::Instant as_of) {
  std::size_t mine = 0, lapsed = 0;
  for (const auto& r : reservations) {
    if (r.view.dimension != dimension || !under(r, project)) continue;
    ++mine;
    const std::string state = domain::reservation_state_at(r.view, as_of);
    if (state == "expired" || state == "retired") ++lapsed;
  }
  return mine > 0 && mine == lapsed;
}

// A project view's quota rows, why any is blocked, and its notices.
struct ProjectQuotas {
  Json quotas = Json::array();
  Json blocked = Json::array();
  Json notices = Json::array();
};

domain::Result<ProjectQuotas> project_quotas(const ScopeNodeView& n, const CeilingSnapshot& own,
                                             const Registry& registry, std::span<const ReservationRecord> reservations,
                                             const Snapshot& snap, std::int64_t threshold) {
  ProjectQuotas out;
  for (const auto& d : registry.dimensions) {
    auto targets = targets_of(own, &d.entry_id);
    if (targets.empty()) targets.push_back(CeilingTarget{d.entry_id, "", "", ""});
    for (const auto& t : targets) {
      const Held held = held_under(reservations, n.scope, t, snap.as_of);
      auto decision = zero_delta_decision(n, d, t, held.consumed, own, reservations, snap, threshold);
      if (!decision) return std::unexpected(decision.error());
      Json q = ceiling_json(t, decision->effective, registry.units);
      q["product"] = attribute(d, "product").empty() ? Json() : Json(attribute(d, "product"));
      q["available"] = nullable(decision->available);
      q["reserved_for_others"] = decision->reserved_for_others;
      q["reserved"] = held.reserved;
      q["current_usage"] = {{"quantity", held.consumed}, {"unit", q["unit"]}, {"source", "reservation_consumption"}};
      q["limit_remaining"] = nullable(decision->limit_remaining);
      q["status"] = quota_status(t, *decision, held.consumed, out.blocked);
      out.quotas.push_back(std::move(q));
    }
    if (all_lapsed(reservations, n.scope, d.entry_id, snap.as_of)) {
      out.notices.push_back({{"dimension", d.entry_id},
                             {"reason_code", "reservations_expired"},
                             {"user_message",
                              "Every capacity reservation of this project for this resource has expired "
                              "or been retired; requests are admitted against the quota alone."}});
    }
  }
  return out;
}

// One page of the project's reservations (its own and its principals'), by
// ascending id; `page.after` is a checked ("reservation", id) cursor.
Json reservation_page(std::span<const ReservationRecord> reservations, const QuotaScope& project, const Page& page,
                      events::Instant as_of) {
  Json listed = Json::array();
  bool more = false;
  std::string last;
  for (const auto& r : reservations) {  // ascending reservation id
    if (!under(r, project)) continue;
    if (page.after && r.view.reservation_id <= page.after->second) continue;
    if (listed.size() == page.limit) {
      more = true;
      break;
    }
    listed.push_back(reservation_json(r, as_of));
    last = r.view.reservation_id;
  }
  return {{"items", std::move(listed)}, {"next_cursor", cursor_json(more, "reservation", last)}, {"has_more", more}};
}

}  // namespace

struct ViewsApi::Parts {
  Snapshot snap;
  Page page;
  ScopeNodeView node;
  std::string plan;
  Registry registry;
  CeilingSnapshot own;  // the node's; its chain is not empty
};

// =================================================================== routes

bool ViewsApi::owns(std::string_view path) { return path.starts_with(kPrefix); }

HttpResponse ViewsApi::handle(const HttpRequest& req, const commands::Principal& who) {
  std::string_view rest = std::string_view(req.path).substr(kPrefix.size());
  const auto slash = rest.find('/');
  const std::string_view kind = rest.substr(0, slash);
  const std::string id = slash == std::string_view::npos ? "" : std::string(rest.substr(slash + 1));
  std::optional<QuotaLevel> level;
  if (kind == "organizations") level = QuotaLevel::kOrganization;
  if (kind == "departments") level = QuotaLevel::kDepartment;
  if (kind == "projects") level = QuotaLevel::kProject;
  if (kind == "principals") level = QuotaLevel::kPrincipal;
  if (!level || id.empty() || id.find('/') != std::string::npos) {
    return error_response({domain::ErrorKind::kNotFound, "unknown_route", "no such route", {}});
  }
  if (req.method != "GET") return method_not_allowed("GET");
  auto parts = read_parts(req, who, QuotaScope{*level, id});
  if (auto* answer = std::get_if<HttpResponse>(&parts)) return std::move(*answer);
  const Parts& p = std::get<Parts>(parts);
  if (*level == QuotaLevel::kOrganization) return organization_view(p);
  if (*level == QuotaLevel::kDepartment) return department_view(p);
  if (*level == QuotaLevel::kProject) return project_view(p);
  return principal_view(p);
}

std::variant<ViewsApi::Parts, HttpResponse> ViewsApi::read_parts(const HttpRequest& req, const commands::Principal& who,
                                                                 const QuotaScope& scope) {
  constexpr std::string_view kPaged[] = {"limit", "cursor"};
  const bool paged = scope.level != QuotaLevel::kPrincipal;
  if (auto bad = unknown_parameter(
          req, paged ? std::span<const std::string_view>(kPaged) : std::span<const std::string_view>())) {
    return error_response(*bad);
  }
  auto page = parse_page(req);
  if (!page) return error_response(page.error());
  auto pinned = pin_snapshot(req, admission_, policy_, clock_);
  if (auto* answer = std::get_if<HttpResponse>(&pinned)) return std::move(*answer);
  const Snapshot snap = std::get<Snapshot>(pinned);
  auto found = lookup(admission_, scope, snap, who, [&](const std::string& organization_id) {
    if (!refusals_) return;
    refusals_->record(
        refusal_of(who, organization_id, commands::RouteFamily::kViewRead, req.method, req.path, "tenant_mismatch"),
        commands::header_id("x-correlation-id", req.header("x-correlation-id")).value_or(std::string()));
  });
  if (auto* answer = std::get_if<HttpResponse>(&found)) return std::move(*answer);
  auto& node = std::get<projections::NodeLookup>(found);
  if (!node.node) return error_response(unknown_scope(scope));  // lookup() has answered that already
  auto& scope_node = *node.node;
  const std::string plan = plan_of(node.chain);
  auto registry = registry_at(admission_, snap.position);
  if (!registry) return error_response(registry.error());
  auto own = admission_.effective_ceilings(scope_node.scope, std::nullopt, snap.position);
  if (!own) return error_response(own.error());
  if (own->chain.empty()) return error_response(unknown_scope(scope_node.scope));
  return Parts{snap, std::move(*page), std::move(scope_node), plan, std::move(*registry), std::move(*own)};
}

HttpResponse ViewsApi::organization_view(const Parts& p) {
  const ScopeNodeView& n = p.node;
  const Snapshot& snap = p.snap;
  auto posture = posture_at(admission_, policy_, n, "", p.plan, snap);
  if (!posture) return error_response(posture.error());
  const std::int64_t T = posture->threshold;
  Json envelope = Json::array();
  for (const auto& t : targets_of(p.own)) {
    envelope.push_back(posture_json(p.own, t, std::nullopt, posture->reservations, snap.as_of, T, p.registry.units));
  }
  projections::NodeFilter f;
  f.organization_id = n.organization_id;
  f.level = QuotaLevel::kDepartment;
  f.limit = p.page.limit;
  if (p.page.after) {
    if (p.page.after->first != "department") return error_response(invalid_cursor());
    f.after_level = QuotaLevel::kDepartment;
    f.after_id = p.page.after->second;
  }
  auto departments = admission_.nodes(f, snap.position);
  if (!departments) return error_response(departments.error());
  std::vector<std::string> flagged;
  auto items =
      children_json(admission_, *departments, n.scope, posture->reservations, snap, T, p.registry.units, &flagged);
  if (!items) return error_response(items.error());
  Json body = {{"organization",
                {{"id", n.scope.id},
                 {"name", n.name},
                 {"plan_id", n.plan_id},
                 {"default_department_id", n.default_department_id},
                 {"version", n.version},
                 {"created_position", n.created_position}}},
               {"plan", {{"plan_id", n.plan_id}}},
               {"envelope", std::move(envelope)},
               {"departments",
                {{"items", std::move(*items)},
                 {"next_cursor", cursor_json(departments->has_more, "department",
                                             departments->items.empty() ? "" : departments->items.back().scope.id)},
                 {"has_more", departments->has_more}}},
               {"departments_near_limit", flagged},
               {"products", products_json(p.registry, p.own)},
               {"billing", {{"tracked_by_ledger", false}, {"posture", Json()}, {"message", kNotTracked}}},
               {"warn_threshold_percent", posture->threshold_json}};
  return json_response(200, dump_lenient(finish(std::move(body), snap)));
}

HttpResponse ViewsApi::department_view(const Parts& p) {
  const ScopeNodeView& n = p.node;
  const Snapshot& snap = p.snap;
  auto posture = posture_at(admission_, policy_, n, "", p.plan, snap);
  if (!posture) return error_response(posture.error());
  const std::int64_t T = posture->threshold;
  // Own ceilings, judged against the organization like the organization view.
  const QuotaScope org{QuotaLevel::kOrganization, n.organization_id};
  Json ceilings = Json::array();
  Json near = Json::array();
  for (const auto& t : targets_of(p.own)) {
    Json c = posture_json(p.own, t, org, posture->reservations, snap.as_of, T, p.registry.units);
    if (c["near_limit"].get<bool>()) near.push_back(c);
    ceilings.push_back(std::move(c));
  }
  projections::NodeFilter f;
  f.parent = n.scope;
  f.limit = p.page.limit;
  if (p.page.after) {
    auto after_level = events::parse_quota_level(p.page.after->first);
    if (!after_level) return error_response(invalid_cursor());
    f.after_level = after_level;
    f.after_id = p.page.after->second;
  }
  auto children = admission_.nodes(f, snap.position);
  if (!children) return error_response(children.error());
  auto items = children_json(admission_, *children, n.scope, posture->reservations, snap, T, p.registry.units, nullptr);
  if (!items) return error_response(items.error());
  const std::string last_level =
      children->items.empty() ? "" : std::string(events::quota_level_name(children->items.back().scope.level));
  Json body = {{"department", node_json(n)},
               {"ceilings", std::move(ceilings)},
               {"children",
                {{"items", std::move(*items)},
                 {"next_cursor", cursor_json(children->has_more, last_level,
                                             children->items.empty() ? "" : children->items.back().scope.id)},
                 {"has_more", children->has_more}}},
               {"reservations", reservation_summary(posture->reservations, n.scope, snap.as_of)},
               {"near_limit_resources", std::move(near)},
               {"budget", {{"tracked_by_ledger", false}, {"posture", Json()}, {"message", kNotTracked}}},
               {"warn_threshold_percent", posture->threshold_json}};
  return json_response(200, dump_lenient(finish(std::move(body), snap)));
}

HttpResponse ViewsApi::project_view(const Parts& p) {
  const ScopeNodeView& n = p.node;
  const Snapshot& snap = p.snap;
  auto posture = posture_at(admission_, policy_, n, n.scope.id, p.plan, snap);
  if (!posture) return error_response(posture.error());
  auto quotas = project_quotas(n, p.own, p.registry, posture->reservations, snap, posture->threshold);
  if (!quotas) return error_response(quotas.error());
  if (p.page.after && p.page.after->first != "reservation") return error_response(invalid_cursor());
  Json project = node_json(n);
  project["department_id"] = department_of(p.own.chain);
  Json body = {{"project", std::move(project)},
               {"quotas", std::move(quotas->quotas)},
               {"usage_posture",
                {{"source", "reservation_consumption"},
                 {"message",
                  "The ledger is not told live usage: current_usage is the consumption recorded against this "
                  "project's reservations in force (active or exhausted) at as_of."}}},
               {"blocked_reasons", std::move(quotas->blocked)},
               {"notices", std::move(quotas->notices)},
               {"reservations", reservation_page(posture->reservations, n.scope, p.page, snap.as_of)},
               {"warn_threshold_percent", posture->threshold_json}};
  return json_response(200, dump_lenient(finish(std::move(body), snap)));
}

HttpResponse ViewsApi::principal_view(const Parts& p) {
  const ScopeNodeView& n = p.node;
  const Snapshot& snap = p.snap;
  const QuotaScope project = n.parent;
  Json quotas = Json::array();
  for (const auto& t : targets_of(p.own)) {
    Json c = ceiling_json(t, effective_of(p.own, t), p.registry.units);
    bool own_rule = false;
    for (const auto& r : p.own.rules) own_rule = own_rule || (r.scope == n.scope && r.target == t);
    c["own_rule"] = own_rule;
    quotas.push_back(std::move(c));
  }
  auto keys = policy_.key_names(kRateLimitPrefix, snap.position);
  if (!keys) return error_response(keys.error());
  const domain::ScopeChain chain{n.scope.id, project.id, n.organization_id, p.plan};
  Json limits = Json::array();
  for (const auto& key : *keys) {
    auto r = resolve_value(policy_, key, chain, snap);
    if (!r) return error_response(r.error());
    if (r->defined) limits.push_back(policy_value_json(key, *r));
  }
  const bool expired = n.expires_at && snap.as_of >= *n.expires_at;
  return json_response(
      200, dump_lenient(finish({{"principal",
                                 {{"id", n.scope.id},
                                  {"name", n.name},
                                  {"type", n.principal_type},
                                  {"organization_id", n.organization_id},
                                  {"project_id", project.id},
                                  {"department_id", department_of(p.own.chain)},
                                  {"expires_at", n.expires_at ? Json(codec::format_instant(*n.expires_at)) : Json()},
                                  {"expired", expired},
                                  {"version", n.version},
                                  {"created_position", n.created_position}}},
                                {"plan", {{"plan_id", p.plan}}},
                                {"quotas", std::move(quotas)},
                                {"rate_limits", std::move(limits)},
                                {"product_scopes", {{"tracked_by_ledger", false}, {"message", kNotTracked}}},
                                {"budget", {{"tracked_by_ledger", false}, {"message", kNotTracked}}}},
                               snap)));
}

}  // namespace ledger::routes
