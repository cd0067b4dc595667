// The customer views of the query service (seed 001, "Customer-Facing
// Model"): one answer per organization, department, project and principal
// that composes the admission read model (adapters/postgres/
// admission_queries.h) with the policy values (seed 000), so products render
// quota posture from the same read models decisions use.
//
//   GET /v1/views/organizations/{id}?limit=&cursor=
//   -> {organization: {id, name, plan_id, default_department_id, version, created_position},
//       plan: {plan_id},
//       envelope: [ceiling],                 effective at the organization, every target with a rule on its chain
//       departments: {items: [{id, name, parent, ceilings: [ceiling+posture], near_limit, near_limit_reasons}],
//                     next_cursor, has_more},   every department of the organization (nested ones too), paged
//       departments_near_limit: [id],        the flagged ones of this page
//       products: [{product_id, version, enabled, dimensions: [{dimension, quantity, unit, inherited_from}]}],
//       billing: {tracked_by_ledger: false, posture: null, message},
//       warn_threshold_percent: {value, source, is_default}, snapshot_version, as_of}
//
//   GET /v1/views/departments/{id}?limit=&cursor=
//   -> {department: {id, name, organization_id, parent, version, created_position},
//       ceilings: [ceiling+posture],
//       children: {items: [{level, id, name, ceilings: [ceiling+posture], near_limit, near_limit_reasons}],
//                  next_cursor, has_more},      sub-departments and projects hanging directly under it
//       reservations: {by_state: [{state, dimension, unit, count, quantity, consumed}],
//                      showback: [{owner: {level, id}, dimension, unit, reserved, consumed}]},
//       near_limit_resources: [ceiling+posture], budget: {tracked_by_ledger: false, ...},
//       warn_threshold_percent, snapshot_version, as_of}
//
//   GET /v1/views/projects/{id}?limit=&cursor=
//   -> {project: {id, name, organization_id, department_id, version, created_position},
//       quotas: [{dimension, product, window, region, sku_or_model, quantity, unit, inherited_from,
//                 binding_rule_id, matched_rules, available, reserved_for_others, reserved,
//                 current_usage: {quantity, unit, source: "reservation_consumption"},
//                 limit_remaining, status: ok|near_limit|blocked|no_ceiling}],
//       usage_posture: {source: "reservation_consumption", message},
//       blocked_reasons: [{dimension, window, region, sku_or_model, reason_code, user_message,
//                          scope, rule_id}],
//       notices: [{dimension, reason_code, user_message}],
//       reservations: {items: [reservation], next_cursor, has_more},
//       warn_threshold_percent, snapshot_version, as_of}
//
//   GET /v1/views/principals/{id}
//   -> {principal: {id, name, type, organization_id, project_id, department_id, expires_at,
//                   expired, version, created_position},
//       quotas: [ceiling + {own_rule}],      effective at the principal, every target with a rule on its chain
//       rate_limits: [{key, value, value_type, source: {level, id}, is_default, effective_at,
//                      set_at_position}],   every rate_limit.* policy key resolved for it
//       product_scopes: {tracked_by_ledger: false, ...}, budget: {tracked_by_ledger: false, ...},
//       snapshot_version, as_of}
//
// ceiling = {dimension, window, region, sku_or_model, quantity (null: no
// ceiling on the path), unit, inherited_from: {level, id} | null,
// binding_rule_id, matched_rules: [{rule_id, scope: {level, id}, version, kind}]}.
//
// Definitions (what the ledger knows; it is never told live usage):
//   reserved      the quantity of reservations owned at or below the scope
//                 that read `active` at as_of inside their window (what
//                 withholds capacity in decisions).
//   consumed      the consumption recorded against reservations owned at or
//                 below the scope that read `active` or `exhausted` at as_of
//                 (the entitlements in force). A project's `current_usage`
//                 is this number: consumption of reservations, not metering.
//   near limit    with T = quota.warn_threshold_percent (policy value for the
//                 organization / plan, 80 when the key is undefined), a child
//                 is near its limit for a target when
//                   allocation_share: its effective ceiling is its own
//                     allocation (bound at the child or between it and the
//                     parent in view, not inherited from that parent or
//                     above) and takes >= T% of the parent's effective
//                     ceiling for the same target; a child that merely
//                     shares its parent's envelope is not flagged by this; or
//                   reserved_share: reserved >= T% of its own effective
//                     ceiling (> 0).
//                 A target whose effective ceiling is 0 is `blocked`, not near.
//   product enabled  a product (registry kind `product`) is enabled for an
//                 organization when a quota dimension naming it (attribute
//                 `product`) has a non-zero (or no) effective ceiling there —
//                 nothing on the path forbids it.
//   blocked       (project) `ceiling_zero`: the effective ceiling is 0; the
//                 reason names the binding scope and rule. `capacity_reserved`:
//                 every unit left is reserved for others. `quota_exhausted`:
//                 current usage has reached the available capacity. A project
//                 whose reservations for a dimension all read expired or
//                 retired gets the notice `reservations_expired` (admission
//                 does not need a reservation, so it does not block).
//   billing / budget / product scopes are not tracked by the ledger: the
//                 answer says so (`tracked_by_ledger: false`) and invents no data.
//
// Every route accepts `min_position` (+ `wait_ms`), `as_of` and
// `as_of_position` like the admission routes and answers `snapshot_version`:
// every part of one answer is read at that one position (both the admission
// and the policy-values read models have reached it). Paging: `limit`
// (1..1000, default 50) and an opaque `cursor` over the children lists
// (project: its reservations). Unknown id: 404 `unknown_scope`. A principal
// of another organization: 403 `forbidden`, recorded as an AccessRefused
// event. Unknown query parameters: 400 `invalid_parameter`.
//
// Stateless over thread-safe query objects: construct one per request or
// share it; thread-safe.
#pragma once

#include <string_view>
#include <variant>

#include "adapters/http/http_types.h"
#include "adapters/http/routes/query_params.h"
#include "adapters/kafka/access_refusals.h"
#include "commands/command.h"
#include "commands/ports.h"
#include "projections/admission/admission_reader.h"
#include "projections/policy_values/policy_value_reader.h"

namespace ledger::routes {

using adapters::kafka::refusal_of;
using adapters::kafka::RefusalRecorder;

class ViewsApi {
 public:
  // `refusals` (may be null) is told of every tenant refusal, as an
  // AccessRefused event (access_refusals.h).
  ViewsApi(projections::AdmissionHistory& admission, projections::PolicyValueReader& policy, commands::Clock& clock,
           RefusalRecorder* refusals = nullptr)
      : admission_(admission), policy_(policy), clock_(clock), refusals_(refusals) {}

  // True for /v1/views/... (any method).
  static bool owns(std::string_view path);
  // Answers a request on one of its paths for an authenticated principal.
  adapters::http::HttpResponse handle(const adapters::http::HttpRequest& req, const commands::Principal& who);

  static inline constexpr std::int64_t kDefaultLimit = 50;
  static inline constexpr std::int64_t kMaxLimit = kMaxPageSize;

 private:
  // What every view reads before its own parts (views_api.cc): the pinned
  // snapshot, the paging, the node, its plan, the registry and the node's
  // own effective ceilings.
  struct Parts;

  // The shared prelude for `scope`, in the order its errors win: query
  // parameters, paging, snapshot, node (tenant check, refusal record),
  // registry, own ceilings. An HttpResponse: answer that.
  std::variant<Parts, adapters::http::HttpResponse> read_parts(const adapters::http::HttpRequest& req,
                                                               const commands::Principal& who,
                                                               const events::QuotaScope& scope);

  // One view each, from the parts the prelude read.
  adapters::http::HttpResponse organization_view(const Parts& p);
  adapters::http::HttpResponse department_view(const Parts& p);
  adapters::http::HttpResponse project_view(const Parts& p);
  adapters::http::HttpResponse principal_view(const Parts& p);

  projections::AdmissionHistory& admission_;
  projections::PolicyValueReader& policy_;
  commands::Clock& clock_;
  RefusalRecorder* refusals_;
};

}  // namespace ledger::routes
