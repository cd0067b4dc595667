// The query service's admission routes (seed 001), over the admission read
// model (adapters/postgres/admission_queries.h).
//
//   POST /v1/decisions        body: seed 001's policy_decision_input
//   -> 200 {decision: allow|warn|deny, reason_code, user_message,
//           effective_ceiling: {quantity, unit, inherited_from, inherited_from_scope},
//           matched_rules: [{rule_id, scope, version, kind}],
//           evidence: {snapshot_kind, snapshot_version, correlation_id},
//           limit_remaining, available, reserved_for_others, registry_versions,
//           snapshot_version, as_of}
//      Field for field the seed's policy_decision_output: `inherited_from` is
//      the level name, `matched_rules[].scope` "level:id", and the seed's
//      string-typed `version` / `evidence.snapshot_version` are strings;
//      `inherited_from_scope` {level, id} and the top-level integer
//      `snapshot_version` are added. Quantities are JSON integers; with no
//      ceiling on the path (`no_ceiling`) quantity, inherited_from,
//      available and limit_remaining are null.
//      Input numbers (requested_delta, current_usage.quantity) must be
//      non-negative JSON integers; a float, negative, string or any other
//      malformed part is 400 `invalid_decision_input` (evidence: field).
//      Unknown fields are refused the same way. The near-limit threshold is
//      the policy value `quota.warn_threshold_percent` resolved for the
//      project / organization / plan (80 when the key is not defined).
//      A request above its per-request cap (the effective `request`-window
//      ceiling) is deny `request_ceiling_exceeded` with inherited_from
//      "request" and inherited_from_scope the scope that set the cap
//      (domain/admission.h). current_usage.scope_window "request" is judged
//      by that cap alone.
//      Errors of domain::decide_admission map by kind (404 unknown_scope,
//      422 unknown_registry_entry / unit_mismatch / hierarchy_mismatch,
//      409 registry_version_mismatch).
//
//      An input may name an application (seed 002), a field added to the
//      seed's input: `application: {app_id, model?, size_bytes?,
//      estimated_tokens?}` (the app of `hierarchy.organization_id`). Once
//      admission allows (or warns), the app's chain runs on the same
//      snapshot (pre-phase, the input's actor, time = as_of); a chain deny
//      turns the decision into `deny` with reason_code
//      `application_policy_denied`. The answer carries `application:
//      {application_id, decision: allow|deny|not_evaluated, reason,
//      denied_by, chain: [{policy_id, policy_type, version, verdict, reason,
//      detail}]}`; when admission denies, the chain is `not_evaluated` (a
//      rate limit spends nothing). Unknown or foreign app: 404
//      `unknown_application`. Answered from memory only: with
//      `as_of_position` it is 400 `unsupported_parameter` (replay the chain
//      at POST /v1/applications/{app}:evaluate?as_of_position=).
//
//      `user_message` is the product's own text when it registered one
//      (product_messages.h): the policy value messages.admission.<reason_code>
//      [.<locale>] for the requester's chain, in the decision's snapshot,
//      with the locales of the request's Accept-Language tried first; the
//      ledger's text otherwise. `user_message_source` says which
//      ({kind: product|ledger, key, locale, source, is_default,
//      set_at_position, accept_language}).
//
//   POST /v1/decisions:batch  body: {"decisions": [input, ...]} (at most 1000)
//   -> 200 {results: [output | {error: {code, message}}], snapshot_version, as_of}
//      Every result from ONE snapshot version.
//
//   GET /v1/ceilings/effective?scope_level=&scope_id=&dimension=&window=
//       &region=&sku_or_model=
//   -> 200 {scope, chain: [{level, id, version}], ceilings: [{dimension,
//           window, region, sku_or_model, quantity, unit, inherited_from:
//           {level, id}, binding_rule_id, matched_rules: [{rule_id, scope:
//           {level, id}, version, kind}], allowed: {quantity, inherited_from}}],
//           snapshot_version, as_of}
//      One entry per (dimension, window): for `dimension` (its windows with a
//      rule on the chain, or `window` when given), or for every dimension
//      with a rule on the chain. Unknown scope: 404 `unknown_scope`.
//
//   GET /v1/reservations/{id}?organization_id=
//   GET /v1/reservations?organization_id=&owner_level=&owner_id=&state=
//       &cursor=&limit=<1..1000, default 100>
//   -> {reservation_id, organization_id, owner, owner_chain, kind, dimension,
//       region, sku_or_model, quantity, consumed, remaining, unit,
//       window_start, window_end, attributes, state, recorded_state,
//       holds_capacity, held, version, drafted_position, as_of,
//       snapshot_version}
//      / {items, next_cursor, has_more, snapshot_version, as_of}.
//      `state` is domain::reservation_state_at(as_of) (an active reservation
//      past its window reads `expired` before any sweeper records it);
//      `recorded_state` is what the ledger recorded; `held` is what it holds
//      of its ceilings at as_of (domain::holds_at: active or exhausted inside
//      its window). The `state` filter uses the as_of state. Unknown id: 404 `unknown_reservation`.
//      Reservation ids are unique per organization: a tenant principal
//      reads its own organization's (organization_id may be left out); a
//      platform principal names organization_id (400 `invalid_parameter`
//      without it). Lists run in (reservation_id, organization_id) order.
//
// Every route accepts `min_position` (+ `wait_ms`), `as_of` and
// `as_of_position` like GET /v1/policy-values (503 `snapshot_not_ready`,
// 400 `position_beyond_head`) and carries `snapshot_version`. Unknown query
// parameters are 400 `invalid_parameter`. A tenant principal (tenant other
// than "platform") may only ask about its own organization: else 403
// `forbidden` — except GET /v1/reservations/{id}?organization_id= of another
// organization, which answers 404 `unknown_reservation` exactly like an
// unknown id, so existence does not leak. Every such refusal is logged and reported to
// record_refusals_to() (an AccessRefused event). Roles are checked before
// (QueryApi::handle).
//
// From memory (answer_from): POST /v1/decisions(:batch),
// GET /v1/ceilings/effective and GET /v1/reservations/{id} without
// `as_of_position` are answered from the in-memory read models
// (projections/admission/admission_store.h) — the same decision
// (domain::AdmissionModel::snapshot_for, domain::decide_admission) and the
// same bytes as the SQL path at the same position, without a PostgreSQL
// statement. `snapshot_version` is the store's position; `min_position`
// waits on it (a position beyond it reads the event store's head once, to
// refuse `position_beyond_head`); until the store has reached the event
// store's head at start every such answer is 503 `snapshot_not_ready`.
// `as_of_position` (time travel), the reservation listing and the views
// read PostgreSQL.
// Every answer says where it came from: header `x-read-model: memory` or
// `postgresql`.
//
// Thread-safe (stateless over thread-safe query objects).
#pragma once

#include <functional>
#include <optional>
#include <string_view>

#include "adapters/http/http_types.h"
#include "adapters/http/routes/decision_log_api.h"
#include "adapters/kafka/access_refusals.h"
#include "commands/command.h"
#include "commands/ports.h"
#include "domain/app_policy/chain.h"
#include "projections/admission/admission_reader.h"
#include "projections/policy_values/policy_value_reader.h"

namespace ledger::projections {
class AdmissionStore;
}  // namespace ledger::projections

namespace ledger::routes {

using adapters::kafka::refusal_of;
using adapters::kafka::RefusalRecorder;

class AdmissionApi {
 public:
  // The stored read models (adapters/postgres: PgAdmissionQueries,
  // PgPolicyQueries) answer what memory does not.
  AdmissionApi(projections::AdmissionHistory& admission, projections::PolicyValueReader& policy, commands::Clock& clock)
      : admission_(admission), policy_(policy), clock_(clock) {}

  // True for the paths this API answers (any method).
  static bool owns(std::string_view path);
  static constexpr std::string_view kDecisionPath = "/v1/decisions";  // POST: one decision
  // Answers a request on one of its paths for an authenticated principal.
  adapters::http::HttpResponse handle(const adapters::http::HttpRequest& req, const commands::Principal& who);

  static inline constexpr std::size_t kMaxBatch = 1000;

  // Where tenant refusals are reported; `r` must outlive this object.
  void record_refusals_to(RefusalRecorder& r) { refusals_ = &r; }
  // Decisions from memory (see above); `store` must outlive this object.
  void answer_from(const projections::AdmissionStore& store) { memory_ = &store; }
  // Records every answered decision, serves GET /v1/decisions/log[/status]
  // (decision_log_api.h); the ports must outlive this object.
  void log_decisions(DecisionLogPorts ports) { log_ = std::move(ports); }
  // Told the `decision` field of every answered decision (batch items
  // included), for metrics; must not throw.
  void count_decisions_with(std::function<void(std::string_view decision)> f) { count_decision_ = std::move(f); }
  // Runs the chain of an application a decision input names (seed 002:
  // `application: {app_id, model?, size_bytes?, estimated_tokens?}`) with
  // the process's one runtime, so its rate limits are the same counters
  // POST /v1/applications/{app}:evaluate spends; must outlive this object.
  void run_chains_with(domain::app_policy::ChainRuntime& runtime) { chains_ = &runtime; }
  // Whether `req` is answered from memory.
  bool from_memory(const adapters::http::HttpRequest& req) const;

 private:
  adapters::http::HttpResponse decision(const adapters::http::HttpRequest& req, const commands::Principal& who);
  adapters::http::HttpResponse decision_batch(const adapters::http::HttpRequest& req, const commands::Principal& who);
  adapters::http::HttpResponse route(const adapters::http::HttpRequest& req, const commands::Principal& who);
  adapters::http::HttpResponse effective_ceilings(const adapters::http::HttpRequest& req,
                                                  const commands::Principal& who);
  adapters::http::HttpResponse reservation(const adapters::http::HttpRequest& req, const commands::Principal& who,
                                           const std::string& id);
  adapters::http::HttpResponse reservations(const adapters::http::HttpRequest& req, const commands::Principal& who);

  // Reports that `who` was refused `organization_id` on this request.
  void note_refusal(const adapters::http::HttpRequest& req, const commands::Principal& who,
                    const std::string& organization_id) const;

  projections::AdmissionHistory& admission_;
  projections::PolicyValueReader& policy_;
  commands::Clock& clock_;
  RefusalRecorder* refusals_ = nullptr;
  const projections::AdmissionStore* memory_ = nullptr;
  DecisionLogPorts log_;
  std::function<void(std::string_view)> count_decision_;
  domain::app_policy::ChainRuntime* chains_ = nullptr;
};

}  // namespace ledger::routes
