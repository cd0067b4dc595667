#include "domain/admission/reservations.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "domain/admission/commands.h"
#include "domain/admission/internal.h"

namespace ledger::domain {

using admission_internal::capacity_shortfall;
using admission_internal::check_id;
using admission_internal::check_target;
using admission_internal::dimension_unit;
using admission_internal::err;
using admission_internal::exceeded;
using admission_internal::invalid;
using admission_internal::kUnlimited;
using admission_internal::nothing;
using admission_internal::one;
using admission_internal::rule;
using admission_internal::unknown_scope;

namespace {

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

std::string reservation_state_at(const ReservationView& r, Instant as_of) {
  if ((r.state == "active" || r.state == "exhausted" || r.state == "suspended") && as_of >= r.window_end) {
    return "expired";
  }
  return r.state;
}

bool state_holds_capacity(std::string_view state) { return state == "active" || state == "exhausted"; }

bool holds_at(const ReservationView& r, Instant t) {
  // Inside its window the state reads as recorded (reservation_state_at).
  return t >= r.window_start && t < r.window_end && state_holds_capacity(r.state);
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

std::string reservation_stream_id(const std::string& organization_id, const std::string& reservation_id) {
  return "reservation:" + organization_id + "/" + reservation_id;
}

// --------------------------------------------------------- the capacity rule

namespace admission_internal {

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

}  // namespace admission_internal

// ------------------------------------------------------- the reservation commands

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
    d.events.emplace_back(
        events::ReservationStateChanged{c.reservation_id, org, "active", "exhausted", "fully consumed"});
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
    d.events.emplace_back(
        events::ReservationStateChanged{c.reservation_id, org, "exhausted", "active", "capacity released"});
  }
  return d;
}

}  // namespace ledger::domain
