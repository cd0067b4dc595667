// The admission core (seed 001) as pure functions: the composition rule for
// quota ceilings, the decision contract, and the aggregate that decides
// registry, hierarchy, ceiling and reservation commands.
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
// Capacity reservations: a reservation that holds capacity (below), inside
// its window at `as_of`, withholds its whole quantity from every requester
// that is not its owner or below it, under every ceiling above the owner.
// The capacity available to a requester is
//   min over the chain n of  effective(n) - reserved_by_others_below(n)
// over the scopes n of its organization whose effective ceiling is not below
// the requester's own (a lower one was delegated past and does not bind it),
// and a request is allowed when current_usage + requested_delta fits.
//
// Capacity per reservation state (what a reservation holds at instant t;
// README "Capacity per reservation state"):
//
//   draft ──activate──> active <──release── exhausted (consumed == quantity)
//                        │  └──consume all──>  │
//                        └──suspend──> suspended <──suspend┘
//
//   draft      nothing (an intent, never checked)
//   active     its whole quantity, for t in [window_start, window_end)
//   exhausted  the same: fully consumed capacity is in use, not free, so it
//              keeps occupying its window until the window ends or it is
//              retired; a release makes it active with nothing to re-check
//   suspended  nothing; resume re-checks capacity like activate
//   expired    nothing (any state past window_end reads expired)
//   retired    nothing
//
// Windows: capacity is the maximum over time of what overlapping windows
// hold. Activating (or resuming) reservation r is accepted when, under every
// scope n from r's owner up to its organization whose effective ceiling
// binds the owner, the peak over t in [max(window_start, now), window_end)
// of r.quantity + what the other reservations under n hold at t fits in
// effective(n) (422 `capacity_unavailable`, evidence `peak_at`). Decisions
// and the views count exactly what holds at their `as_of` instant.
//
// Lowering capacity under held reservations is refused: a ceiling command
// (set, clear, delegate, revoke delegation) after which a reservation that
// holds capacity now or later, and fitted by the rule above before, would
// no longer fit is 422 `ceiling_below_reserved` (evidence: the reservation,
// the first scope up from its owner that would be short, that scope's
// effective quantity after the change and the rule binding it, the peak
// held and when).
// Retire or suspend the reservations first. Moving a department or a
// project, or changing an organization's plan, is refused the same way
// (422 `ceiling_below_reserved`) when a reservation that holds capacity now
// or later, and fitted before, would not fit under the ceilings of its new
// place: a reservation never holds more than the hierarchy allows because
// the hierarchy changed under it.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "domain/app_policy/model.h"
#include "domain/error.h"
#include "events/admission_events.h"
#include "events/event.h"

namespace ledger::domain {

using events::CeilingTarget;
using events::Instant;
using events::QuotaLevel;
using events::QuotaScope;

using events::parse_quota_level;
using events::quota_level_name;
std::string scope_text(const QuotaScope& s);  // "project:p1", "global"

// The window of a per-request ceiling: it bounds one request's
// requested_delta, not usage over time (see decide_admission).
inline constexpr std::string_view kRequestWindow = "request";
bool valid_window(std::string_view w);      // "", minute, hour, day, month, request
bool valid_entity_id(std::string_view id);  // 1..128 of [A-Za-z0-9._:-]

// ------------------------------------------------ evaluation inputs (snapshot)

// One scope on the requester's chain, requester first, global last.
struct ChainNode {
  QuotaScope scope;
  std::int64_t version = 0;  // stream version of the node (0 for global / plan)
};

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

struct ReservationView {
  std::string reservation_id;
  QuotaScope owner;
  std::vector<QuotaScope> owner_chain;  // owner first, up to the organization
  std::string dimension;
  std::string region;
  std::string sku_or_model;
  std::int64_t quantity = 0;
  std::int64_t consumed = 0;
  std::string state;  // as recorded (draft, active, ...)
  Instant window_start;
  Instant window_end;
  friend bool operator==(const ReservationView&, const ReservationView&) = default;
};

// The state a reservation reads as at `as_of`: an active one past its
// window reads `expired` at once, before any sweeper records it.
std::string reservation_state_at(const ReservationView& r, Instant as_of);

// Whether a reservation in `state` holds capacity (active, exhausted).
bool state_holds_capacity(std::string_view state);
// Whether `r` holds its quantity at instant `t`: a holding state at t and
// t inside [window_start, window_end).
bool holds_at(const ReservationView& r, Instant t);

// The most that reservations hold at one instant of [from, to): the
// maximum over t of the sum of quantity over `held` whose window contains t
// (states are not consulted: pass only reservations that hold). `at` is the
// first instant the peak is reached (`from` when nothing overlaps).
struct Peak {
  std::int64_t quantity = 0;
  Instant at;
};
Peak peak_held(std::span<const ReservationView> held, Instant from, Instant to);

struct RegistryEntry {
  std::string kind;
  std::string entry_id;
  std::int64_t version = 0;
  std::string description;
  std::map<std::string, std::string> attributes;
  friend bool operator==(const RegistryEntry&, const RegistryEntry&) = default;
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

// --------------------------------------------------------------- decisions

// Seed 001's policy_decision_input (numbers are integers here).
struct DecisionInput {
  struct {
    std::string actor_type, actor_id;
    std::vector<std::string> roles, scopes;
  } actor;
  struct {
    std::string organization_id, department_id, project_id;
  } hierarchy;
  struct {
    std::string product_id, resource_type, resource_id, action;
  } product;
  struct {
    std::string dimension;
    std::int64_t requested_delta = 0;
    std::string unit, region, sku_or_model;
  } request;
  struct {
    std::string scope_window;
    std::int64_t quantity = 0;
    std::string unit;
  } current_usage;
  std::map<std::string, std::string> registry_versions;  // pinned by the caller (optional)
  std::string correlation_id;
};

// What the read model (or the command side's model) supplies for one
// decision, all at one snapshot.
struct DecisionSnapshot {
  std::int64_t snapshot_version = 0;
  std::vector<ChainNode> chain;  // requester .. global; empty = unknown scope
  std::vector<CeilingRule> rules;
  std::vector<Delegation> delegations;
  std::vector<ReservationView> reservations;  // of the organization, any state
  // When chain[0] is a principal: its expires_at (a decision at or after it
  // is deny `principal_expired`).
  std::optional<Instant> requester_expires_at;
  std::optional<RegistryEntry> dimension;
  std::optional<RegistryEntry> product;
  std::optional<RegistryEntry> resource_type;
  std::optional<RegistryEntry> usage_unit;
  std::int64_t warn_threshold_percent = 80;  // policy value quota.warn_threshold_percent
};

struct DecisionOutput {
  std::string decision;  // allow | deny | warn
  std::string reason_code;
  std::string user_message;
  Effective effective;
  std::optional<std::int64_t> available;        // effective minus capacity reserved for others
  std::optional<std::int64_t> limit_remaining;  // after this request (allow/warn), or before it (deny)
  std::int64_t reserved_for_others = 0;
  std::map<std::string, std::string> registry_versions;
  // `effective` is the per-request cap (the request's `request`-window
  // ceiling), not the usage window's: the API reports inherited_from level
  // `request`, with the scope that set it as inherited_from_scope.
  bool per_request = false;
  std::string snapshot_kind = "effective_ceiling";
  std::int64_t snapshot_version = 0;
  std::string correlation_id;
  friend bool operator==(const DecisionOutput&, const DecisionOutput&) = default;
};

// Errors (not decisions): malformed input (400 `invalid_decision_input`,
// among it an actor.actor_type other than user, service_account, api_key or
// worker; empty means not given),
// unknown scope (404 `unknown_scope`), unregistered dimension/product/
// resource type (422 `unknown_registry_entry`), unit mismatch (422
// `unit_mismatch`), hierarchy that disagrees with the ledger (422
// `hierarchy_mismatch`), pinned registry version not current (409
// `registry_version_mismatch`).
// Decisions: `within_ceiling` (allow), `near_limit` (warn, usage after the
// request above warn_threshold_percent of the available capacity),
// `ceiling_exceeded` (deny), `capacity_reserved` (deny: only others'
// reservations are in the way), `no_ceiling` (allow: the dimension is
// registered but no scope on the path sets a ceiling for it),
// `principal_expired` (deny: the requester is a principal whose expires_at
// is at or before as_of; judged before any ceiling, with `effective` the
// usage window's, available and limit_remaining null).
// The per-request cap is judged first: requested_delta above the effective
// `request`-window ceiling is deny `request_ceiling_exceeded` with
// `effective` = that ceiling (per_request = true, matched_rules its rules),
// limit_remaining = the cap (the most one request may ask for), available
// null and reserved_for_others 0. Otherwise the usage window decides and
// the output is exactly what it would be with no request ceiling (deny over
// warn over allow: the cap can only make an outcome stricter).
// current_usage.scope_window `request` is accepted and judged the same way
// by the cap alone (usage is never measured per request, so
// current_usage.quantity is ignored): deny `request_ceiling_exceeded`,
// allow `within_ceiling` (limit_remaining = cap - requested_delta, available
// null) or allow `no_ceiling`; per_request is true. Never warn.
Result<void> validate_decision_input(const DecisionInput& in);
Result<DecisionOutput> decide_admission(const DecisionInput& in, const DecisionSnapshot& s, Instant as_of);

// ---------------------------------------------------------------- commands

struct RegisterEntry {
  std::string kind, entry_id, description;
  std::map<std::string, std::string> attributes;
};
struct CreateOrganization {
  std::string organization_id, name, plan_id, default_department_id;  // default: "<org>.default"
};
struct ChangeOrganizationPlan {
  std::string organization_id, plan_id;
};
struct CreateDepartment {
  std::string department_id, organization_id, parent_department_id, name;
};
struct MoveDepartment {
  std::string department_id, parent_department_id;
};
struct CreateProject {
  std::string project_id, organization_id, department_id, name;  // department default: the org's default
};
struct MoveProject {
  std::string project_id, department_id;
};
struct CreatePrincipal {
  std::string principal_id, principal_type, project_id, name;
  std::optional<Instant> expires_at;
};
struct SetCeiling {
  QuotaScope scope;
  CeilingTarget target;
  std::int64_t quantity = 0;
  std::string unit;
  std::string reason;
};
struct ClearCeiling {
  QuotaScope scope;
  CeilingTarget target;
  std::string reason;
};
struct DelegateCeiling {
  QuotaScope scope;
  std::string dimension;
  std::optional<std::int64_t> max_quantity;
  std::string reason;
};
struct RevokeDelegation {
  QuotaScope scope;
  std::string dimension;
  std::string reason;
};
struct DraftReservation {
  std::string reservation_id;
  QuotaScope owner;
  std::string kind, dimension, region, sku_or_model;
  std::int64_t quantity = 0;
  std::string unit;
  Instant window_start, window_end;
  std::map<std::string, std::string> attributes;
  std::string reason;
};
// A reservation is named by (organization_id, reservation_id): ids are
// unique within an organization only, so two organizations may each have
// a reservation "r1" and neither can see or touch the other's. The commands
// below resolve their id within `organization_id` (the command service sets
// it to a tenant principal's own organization when the body leaves it out;
// a platform principal names it). Empty: 400 `missing_field`.
//
// activate, suspend, resume, retire, expire (expire: the sweeper, once the
// window has passed).
struct TransitionReservation {
  std::string reservation_id, action, reason;
  std::string organization_id = {};
};
struct ConsumeReservation {
  std::string reservation_id;
  std::int64_t quantity = 0;
  std::string reason;
  std::string organization_id = {};
};
struct ReleaseReservation {
  std::string reservation_id;
  std::int64_t quantity = 0;
  std::string reason;
  std::string organization_id = {};
};

std::string ceiling_rule_id(const QuotaScope& scope, const CeilingTarget& t);
std::string ceilings_stream_id(const QuotaScope& scope);
// "reservation:<organization_id>/<reservation_id>" ('/' is in no id, so it
// is unambiguous). Reservations drafted before ids were scoped per
// organization live on "reservation:<reservation_id>" and stay there: their
// events carry organization_id, and AdmissionModel::Reservation::stream_id
// remembers the stream each one was drafted on.
std::string reservation_stream_id(const std::string& organization_id, const std::string& reservation_id);

// -------------------------------------------------------- the whole model

// Everything the admission commands are decided against, evolved from the
// admission events in global order. The command service keeps one while it
// is the writer; tests and the as-of tools build one from history.
class AdmissionModel {
 public:
  struct Node {
    QuotaScope scope;
    QuotaScope parent;  // global's parent is itself
    std::string organization_id;
    std::string plan_id;  // organizations only
    std::string name;
    std::string principal_type;
    std::optional<Instant> expires_at;
    std::string default_department_id;  // organizations only
    std::int64_t version = 0;
  };
  struct Reservation {
    events::ReservationDrafted drafted;
    std::string state = "draft";
    std::int64_t consumed = 0;
    std::int64_t version = 0;
    std::string stream_id;  // the stream it was drafted on (legacy or scoped)
  };

  // Applies one event of `stream_id` (any event type: non-admission events
  // only move the stream's version).
  void apply(const std::string& stream_id, const events::Event& e);
  // The same, telling the per-application chains where the event sits
  // (the query service's models know; the writer's tentative apply does not).
  void apply(const std::string& stream_id, const events::Event& e, const app_policy::Stamp& stamp);
  static bool handles(const events::Event& e);

  // Applications and their policy chains (seed 002), kept with the
  // organizations they belong to.
  const app_policy::AppPolicyModel& apps() const { return apps_; }

  // Stream bookkeeping for expected versions and empty outcomes.
  std::int64_t stream_version(const std::string& stream) const;

  const Node* node(const QuotaScope& s) const;
  // Requester .. global. Empty when `s` is unknown (global and plans always exist).
  std::vector<ChainNode> chain(const QuotaScope& s) const;
  bool is_ancestor_or_self(const QuotaScope& ancestor, const QuotaScope& s) const;
  std::vector<CeilingRule> rules_on(std::span<const ChainNode> chain, const std::string& dimension) const;
  std::vector<Delegation> delegations_on(std::span<const ChainNode> chain, const std::string& dimension) const;
  // The last version of a ceiling rule at a scope, cleared ones included (0: never set).
  std::int64_t rule_version(const QuotaScope& scope, const std::string& rule_id) const;
  const RegistryEntry* registry(const std::string& kind, const std::string& id) const;
  // Ids are unique per organization: (organization_id, reservation_id).
  const Reservation* reservation(const std::string& organization_id, const std::string& id) const;
  // The organizations that have a reservation `id` (for the auditor's tools,
  // which may be asked about an id alone), ascending.
  std::vector<std::string> organizations_with_reservation(const std::string& id) const;
  std::vector<ReservationView> reservations_of(const std::string& organization_id, const std::string& dimension) const;
  // Every reservation of the organization, any dimension and state.
  std::vector<ReservationView> all_reservations_of(const std::string& organization_id) const;
  ReservationView view_of(const Reservation& r) const;
  // Every reservation of `dimension` whose owner is `s` or below it (plan
  // and global: of every organization on them), any state.
  std::vector<ReservationView> reservations_under(const QuotaScope& s, const std::string& dimension) const;
  DecisionSnapshot snapshot_for(const DecisionInput& in) const;
  // Active reservations whose window ended at or before `now` (the
  // sweeper's work), as (organization_id, reservation_id).
  std::vector<std::pair<std::string, std::string>> reservations_to_expire(Instant now) const;

  std::size_t node_count() const { return nodes_.size(); }
  std::size_t ceiling_rule_count() const {
    std::size_t n = 0;
    for (const auto& [scope, rules] : ceilings_) n += rules.size();
    return n;
  }
  std::size_t reservation_count() const { return reservations_.size(); }

 private:
  friend struct AdmissionAccess;
  app_policy::AppPolicyModel apps_;
  std::map<QuotaScope, Node> nodes_;
  std::map<std::pair<std::string, std::string>, RegistryEntry> registry_;
  std::map<QuotaScope, std::map<std::string, CeilingRule>> ceilings_;        // by rule id
  std::map<QuotaScope, std::map<std::string, std::int64_t>> rule_versions_;  // incl. cleared rules
  std::map<QuotaScope, std::map<std::string, Delegation>> delegations_;      // by dimension
  std::map<std::string, std::int64_t> delegation_versions_;                  // by delegation id
  std::map<std::pair<std::string, std::string>, Reservation> reservations_;  // by (organization, id)
  std::map<std::string, std::set<std::string>> reservations_by_org_;
  std::map<std::string, std::int64_t> stream_versions_;
};

// The type names of every admission event (what the model is built from).
const std::vector<std::string>& admission_event_types();

// The organization (tenant) a command's events belong to, or "platform".
// The command must be valid against `m` for the answer to be meaningful.
std::string admission_tenant(const AdmissionModel& m, const QuotaScope& scope);

// decide: one command against the model -> the events for its stream (the
// stream is returned too), or a rejection. `now` is the writer's clock.
struct Decided {
  std::string stream_id;
  std::string tenant;
  std::vector<events::Event> events;
};
Result<Decided> decide(const AdmissionModel& m, const RegisterEntry& c);
Result<Decided> decide(const AdmissionModel& m, const CreateOrganization& c);
Result<Decided> decide(const AdmissionModel& m, const ChangeOrganizationPlan& c, Instant now);
Result<Decided> decide(const AdmissionModel& m, const CreateDepartment& c);
Result<Decided> decide(const AdmissionModel& m, const MoveDepartment& c, Instant now);
Result<Decided> decide(const AdmissionModel& m, const CreateProject& c);
Result<Decided> decide(const AdmissionModel& m, const MoveProject& c, Instant now);
Result<Decided> decide(const AdmissionModel& m, const CreatePrincipal& c);
Result<Decided> decide(const AdmissionModel& m, const SetCeiling& c, Instant now);
Result<Decided> decide(const AdmissionModel& m, const ClearCeiling& c, Instant now);
Result<Decided> decide(const AdmissionModel& m, const DelegateCeiling& c, Instant now);
Result<Decided> decide(const AdmissionModel& m, const RevokeDelegation& c, Instant now);
Result<Decided> decide(const AdmissionModel& m, const DraftReservation& c);
Result<Decided> decide(const AdmissionModel& m, const TransitionReservation& c, Instant now);
Result<Decided> decide(const AdmissionModel& m, const ConsumeReservation& c, Instant now);
Result<Decided> decide(const AdmissionModel& m, const ReleaseReservation& c);

}  // namespace ledger::domain
