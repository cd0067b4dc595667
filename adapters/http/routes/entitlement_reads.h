// The query service's entitlement routes (seed 003), answered from the
// in-memory read model (projections/entitlements/entitlements_view.h inside
// the AdmissionStore's snapshot) without any SQL statement:
//
//   POST /v1/entitlements:check
//        {tenant?, environment, organization_id | plan, capability}
//   -> 200 {allowed, reason, tenant, environment, capability, plan, organization_id?,
//           policy_id, version, version_id, activation_id, snapshot_version}
//        reason: plan_allowed | plan_not_allowed | deny_override | no_active_policy | unknown_capability
//        (default deny: everything but plan_allowed is allowed=false)
//   POST /v1/entitlements:batchCheck  {checks: [check...] (1..1000)}
//   -> 200 {results: [answer...], snapshot_version}   (one snapshot for all of them)
//   GET  /v1/entitlements/active?tenant=&environment=
//   -> 200 {tenant, environment, policies: [PolicyEvaluationSnapshot], snapshot_version}
//   GET  /v1/capabilities?tenant=          GET /v1/plans?tenant=
//   GET  /v1/policies/{id}?tenant=         the policy with its versions' statuses and active versions
//   GET  /v1/policies/{id}/versions?tenant=      the changelog: every version, immutable
//   GET  /v1/policies/{id}/activations?tenant=&environment=
//        every activation (who, when, why, what it superseded), and per environment the
//        active version and `activation_version` (the expected_version of the next activation)
//
// Every route takes min_position / wait_ms (read-your-writes, 503
// `snapshot_not_ready`), as_of (RFC 3339) and as_of_position (400
// `position_beyond_head` past the head): as-of answers come from the
// history the model keeps (activations, capability and organization-plan
// changes with their positions and commit times). `tenant` defaults to
// "default". Errors: 400 `invalid_parameter` / `invalid_environment` /
// `missing_field` / `invalid_field`, 404 `unknown_policy` /
// `unknown_organization`, 403 `forbidden`.
//
// Every answered check is recorded in the decision log (kind
// entitlement_check, decision_log_api.h) when a buffer is given.
//
//   POST /v1/policies/{id}/versions/{version_id}:shadow?tenant=
//        {environment, from, to}   (RFC 3339, from < to, at most 31 days)
//   -> 200 {policy_id, version_id, version, capability, environment, from, to,
//           considered, not_applicable, checked, unchanged,
//           allow_to_deny, deny_to_allow,
//           by_plan: [{plan, checked, allow_to_deny, deny_to_allow}],
//           by_organization: [{organization_id, ...}], by_capability: [...],
//           samples: {allow_to_deny: [...], deny_to_allow: [...]} (10 each:
//             decision_id, correlation_id, organization_id, plan, recorded_at,
//             recorded_reason, candidate_reason),
//           scanned, snapshot_version, generated_at}
//        The shadow check (issue 15 part 6, domain/entitlements/shadow.h):
//        the entitlement checks of the policy's capability in that
//        environment recorded in the decision log over [from, to), judged
//        again with the candidate version's rules. Route family
//        entitlement.write (the product's owners: it reads every
//        organization's checks). 404 `unknown_policy` / `unknown_version`,
//        400 `invalid_field`, 503 `decision_log_unavailable` without the
//        log's table; more than 1,000,000 recorded checks in the window is
//        400 `window_too_large`.
//
// Tenant isolation (README "Plan entitlements"): a principal of an
// organization may check only its own organization (organization_id = its
// tenant; a plan or another organization is 403 `forbidden`, recorded as
// an AccessRefused event). The listings are a product's catalogue (its
// capabilities, plans and rules, no organization's data): readable by the
// roles of entitlement.read in any tenant. Thread-safe.
#pragma once

#include <cstdint>
#include <functional>

#include <string_view>
#include "adapters/http/routes/decision_log_api.h"
#include "domain/config/secrets.h"

#include "adapters/http/http_types.h"
#include "adapters/kafka/access_refusals.h"
#include "commands/command.h"
#include "commands/ports.h"
#include "projections/admission/admission_store.h"

namespace ledger::routes {

class EntitlementReads {
 public:
  // `store` and `clock` must outlive this object; `head` reads the event
  // store's head position.
  EntitlementReads(const projections::AdmissionStore& store, commands::Clock& clock,
                   std::function<domain::Result<events::GlobalPosition>()> head)
      : store_(store), clock_(clock), head_(std::move(head)) {}

  static bool owns(std::string_view path);

  // After authentication, the request gate and the role check (QueryApi).
  adapters::http::HttpResponse handle(const adapters::http::HttpRequest& req, const commands::Principal& who) const;

  void record_refusals_to(adapters::kafka::RefusalRecorder& r) { refusals_ = &r; }
  // Records every answered check in `ports.buffer`; the shadow check reads
  // `ports.table`. The ports' members must outlive this object.
  void log_checks(DecisionLogPorts ports) { log_ = std::move(ports); }
  // Signs shadow reports (their `signature`) so that a production
  // activation under shadow_required can present one; nullptr: unsigned.
  void sign_reports_with(const domain::config::SecretSealer* signer) { signer_ = signer; }

 private:
  adapters::http::HttpResponse answer(const adapters::http::HttpRequest& req, const commands::Principal& who) const;
  adapters::http::HttpResponse shadow(const adapters::http::HttpRequest& req, const commands::Principal& who,
                                      const std::string& policy_id, const std::string& version_id) const;

  const projections::AdmissionStore& store_;
  commands::Clock& clock_;
  std::function<domain::Result<events::GlobalPosition>()> head_;
  adapters::kafka::RefusalRecorder* refusals_ = nullptr;
  DecisionLogPorts log_;
  const domain::config::SecretSealer* signer_ = nullptr;
};

// Re-derives a logged entitlement check (kind entitlement_check): its
// `input` {check, cut} checked against `snapshot` (the ledger at the
// record's snapshot_version) exactly as POST /v1/entitlements:check
// answers it. The answer JSON, or the error the check would answer.
domain::Result<nlohmann::json> rederive_check(const nlohmann::json& input, const projections::QuerySnapshot& snapshot);

}  // namespace ledger::routes
