// The query service's HTTP routes over the read models.
//
//   GET /v1/policy-values/{key}?user_id=&project_id=&org_id=&plan=
//       &as_of=<RFC 3339>&as_of_position=<n>&min_position=<n>&wait_ms=<n>
//   -> 200 {key, value, value_type, source: {level, id}, is_default,
//           effective_at, set_at_position, as_of, snapshot_version}
//
//   GET /v1/audit?tenant=&scope_level=&scope_id=&descendants=true|false
//       &key=&actor_id=&actor_type=&event_type=&correlation_id=&command_id=
//       &from=<RFC 3339>&to=<RFC 3339>&as_of=<RFC 3339>&as_of_position=<n>
//       &min_position=<n>&wait_ms=<n>&limit=<1..1000, default 100>
//       &cursor=<opaque>&format=json|jsonl
//   -> 200 {items: [row...], next_cursor, has_more, snapshot_version}
//      or, with format=jsonl, application/x-ndjson: one row per line, and
//      the headers X-Snapshot-Version, X-Has-More, X-Next-Cursor.
//   Rows come in ascending position (newest last). `from` / `to` bound
//   recorded_at (commit time) as [from, to); `as_of` keeps rows recorded at
//   or before it. `scope_level` is global, plan, organization, department,
//   project, principal (admission rows) or user (policy values at a
//   principal). `descendants=true` (needs scope_id, except for global)
//   widens an organization scope to every row the ledger attributed to that
//   organization (its tenant), and a global scope to everything; a plan is
//   400 (the ledger does not record which organizations a plan covers).
//   For a department, project or principal (user: the same principal) it
//   answers the rows of that node itself, whatever its place, plus every
//   row whose scope lay inside its subtree AT THE ROW'S OWN POSITION: a
//   nested department, a project, a principal (admission rows at level
//   principal and policy values at level user with its id), judged by the
//   hierarchy links valid at that position (a node's link at p is its
//   latest create or move at or below p, so the create or move event itself
//   counts at the node's new place). A reservation's rows (subject kind
//   "reservation": its draft, filed at its owner, and its later lifecycle —
//   activated, suspended, resumed, consumed, released, exhausted, expired,
//   retired — filed at its organization) count where its OWNER (a
//   department, project or principal) lay at each row's position, judged
//   the same way. What happened under a project before it moved into the
//   department is not answered; what happened while it was there still is
//   after it moved away. Other rows filed at the organization (refusals,
//   the organization's own reservations) are not in a department's
//   subtree. An unknown node is no error: no rows, as without descendants.
//   Such a page is read at the lower of the audit and admission read
//   models' checkpoints (snapshot_version, min_position). `next_cursor` is
//   set when more rows match in this snapshot; pass it back unchanged for
//   the next page (pages never repeat or skip a row, even while new events
//   arrive: a row's membership depends only on history up to its position).
//
//   GET /v1/audit/changes/{key}?scope_level=&scope_id=&limit=&cursor=
//       &as_of=&as_of_position=&min_position=&wait_ms=
//   -> 200 {key, scope, changes: [...], last_updated_by, last_updated_at,
//           last_updated_position, next_cursor, has_more, snapshot_version}
//   "Who changed this, when, from what to what": every change of the key
//   (optionally at one scope), with actor, commit and effective times,
//   before and after values and reason; `last_updated_*` describe the
//   newest change whatever page is asked for.
//
// `min_position` (read-your-writes): if the read model has not reached it,
// the call waits up to `wait_ms` (default 2000, at most 10000), then answers
// 503 `snapshot_not_ready` with Retry-After and the snapshot it has; a
// min_position beyond the event store's head is 400 `position_beyond_head`
// at once. Served through handle(req, respond) with wait_with(), a waiting
// request holds no thread: it is parked in SnapshotWaits (woken when the
// lowest read-model checkpoint reaches the position, or at its deadline,
// then answered with wait_ms=0), and a principal waiting in too many
// requests at once is refused 429 `too_many_waits` (Retry-After).
// `as_of` defaults to now (the query, not the projector, reads the clock);
// `as_of_position` answers from the rows written up to that position (audit
// rows are never removed, so every past position is answerable); beyond the
// event store's head it is 400 `position_beyond_head`.
// Every answer carries the `snapshot_version` it was computed from.
//
// Audit errors (400): `invalid_parameter` (evidence names the parameter:
// malformed instant, limit outside 1..1000, unknown parameter or format),
// `invalid_cursor` (malformed or unknown cursor), `position_beyond_head`.
// A principal of an organization sees only its own tenant's rows; asking for
// another tenant (`tenant=`, or `scope_level=organization&scope_id=` of
// another organization) is 403 `forbidden`. Cursors and as_of reads are
// answered under the same tenant filter, so a cursor or position taken from
// another organization's answer yields only the caller's own rows.
//
// From memory (answer_from): GET /v1/policy-values without `as_of_position`
// is answered from the in-memory read models
// (projections/admission/admission_store.h) with the same body the SQL
// path gives at the same position and no PostgreSQL statement
// (`snapshot_version` is the store's position; 503 `snapshot_not_ready`
// until the store has caught up with the ledger at start); so are the
// admission routes AdmissionApi answers from memory. Their read-your-writes
// waits park in the waits given to answer_from(), woken by the store's
// apply loop. Header `x-read-model: memory|postgresql` says which answered.
//
// Roles (commands/access/authorization.h): after authentication and the request
// gate (commands/access/request_gate.h: a service account's token lifetime, 429
// `rate_limited` over the principal's rate_limit.* budget), every route's
// family (commands::query_family) must be allowed by one of the principal's
// roles, else 403 `forbidden`; a path the role table does not list is 404
// `unknown_route` to everyone. Policy values: a principal of an
// organization reads with org_id = its own (another org_id is 403
// `forbidden`; so is a user_id or project_id the hierarchy places in
// another organization). Every refusal is recorded (record_refusals_to) as an
// AccessRefused event, without blocking the answer.
#pragma once

#include <expected>
#include <functional>
#include <optional>
#include <string>

#include "adapters/http/http_types.h"
#include "adapters/http/routes/snapshot_waits.h"
#include "adapters/identity/identity.h"
#include "adapters/kafka/access_refusals.h"
#include "commands/access/request_gate.h"
#include "commands/ports.h"
#include "domain/policy_resolution.h"
#include "projections/admission/admission_reader.h"
#include "projections/audit/audit_reader.h"
#include "projections/policy_values/policy_value_reader.h"

namespace ledger::projections {
class AdmissionStore;
struct QuerySnapshot;
}  // namespace ledger::projections

namespace ledger::routes {

using adapters::kafka::refusal_of;
using adapters::kafka::RefusalRecorder;

class AdmissionApi;
class AppPolicyApi;
class EntitlementReads;  // adapters/http/routes/entitlement_reads.h
class ConfigApi;         // adapters/http/routes/config_api.h (seed 004)
class PolicyListings;    // adapters/http/routes/policy_listings.h
class ChangeFeed;        // adapters/http/routes/change_feed.h

class QueryApi {
 public:
  // Without `audit` the audit routes answer 404 `unknown_route`.
  // The stored read models (adapters/postgres: PgPolicyQueries,
  // PgAuditQueries) answer what memory does not.
  QueryApi(projections::PolicyValueReader& queries, const identity::TokenAuthenticator& auth, commands::Clock& clock,
           projections::AuditReader* audit = nullptr)
      : queries_(queries), auth_(auth), clock_(clock), audit_(audit) {}

  adapters::http::HttpResponse handle(const adapters::http::HttpRequest& req);

  // The same, but a request that must wait for the read models (min_position
  // or as_of_position ahead of them, wait_ms > 0, a valid token) is parked in
  // the waits given to wait_with() instead of holding the calling thread,
  // and finished on the server's request pool. Without wait_with() it is
  // handle(req).
  void handle(adapters::http::HttpRequest req, const adapters::http::HttpResponder& respond);

  // Whether handle(req, respond) answers `req` without waiting on anything
  // outside the process: a single decision answered from memory, whose
  // read-your-writes wait (if any) is parked, never held. The server runs
  // such a request on the io thread that read it
  // (HttpServer::Options::answers_at_once). A batch is not: hundreds of
  // decisions would hold the io thread's other connections.
  bool answers_at_once(const adapters::http::HttpRequest& req) const;
  // Where handle(req, respond) parks waits; `head` reads the event store's
  // head (a position beyond it is refused at once, never waited for). Both
  // must outlive this object.
  void wait_with(SnapshotWaits& waits, std::function<domain::Result<events::GlobalPosition>()> head) {
    waits_ = &waits;
    head_ = std::move(head);
  }

  // Also answers the admission routes (adapters/http/routes/admission_api.h),
  // with the same token authentication. `api` must outlive this object.
  void serve_admission(AdmissionApi& api) { admission_ = &api; }
  // Also answers the routes of application policy chains
  // (adapters/http/routes/app_policy_api.h), from memory. `api` must
  // outlive this object.
  void serve_app_policies(AppPolicyApi& api) { app_policies_ = &api; }
  // Also answers the entitlement routes (seed 003), from memory, with the
  // same authentication, gate and role check. `r` must outlive this object.
  void serve_entitlements(EntitlementReads& r) { entitlements_ = &r; }
  // Also answers the catalog and override listings (policy_listings.h),
  // from memory. `l` must outlive this object.
  void serve_policy_listings(PolicyListings& l) { listings_ = &l; }
  // Also answers GET /v1/changes, the live change feed (change_feed.h).
  // `f` must outlive this object.
  void serve_changes(ChangeFeed& f) { changes_ = &f; }
  // Also answers the configuration reads (config_api.h). `api` must outlive this object.
  void serve_config(ConfigApi& api) { config_ = &api; }
  // Where refusals are reported (they are only logged without one). `r`
  // must outlive this object.
  void record_refusals_to(RefusalRecorder& r) { refusals_ = &r; }
  // Token-lifetime and rate-limit checks (commands/access/request_gate.h) before the role
  // check; without one nothing is limited. `g` must outlive this object.
  void gate_requests_with(commands::RequestGate& g) { gate_ = &g; }
  // Where policy-value reads check that a user_id / project_id belongs to
  // the caller's organization; without it only org_id is checked. `h` must
  // outlive this object.
  void check_scopes_with(projections::AdmissionHistory& h) { hierarchy_ = &h; }

  // Policy values (and the waits of every route answered from memory) from
  // `store`; `waits` (optional) watch the store's position. Both must
  // outlive this object.
  void answer_from(const projections::AdmissionStore& store, SnapshotWaits* waits) {
    memory_ = &store;
    memory_waits_ = waits;
  }

  // The opaque page cursor of the audit routes (exposed for tests).
  static std::string encode_cursor(std::int64_t position);
  static std::optional<std::int64_t> decode_cursor(std::string_view cursor);

 private:
  // GET /v1/changes: the stream, or the refusal.
  void changes(const adapters::http::HttpRequest& req, const adapters::http::HttpResponder& respond);
  // handle() without the access-log actor stamp.
  adapters::http::HttpResponse route(const adapters::http::HttpRequest& req);
  domain::Result<void> gate(const commands::Principal& who, commands::RouteFamily family);
  // A GET route's admission: the token, the route's family, the caller's
  // budget and its roles (a refusal recorded); the principal, or the answer.
  std::expected<commands::Principal, adapters::http::HttpResponse> admit_get(const adapters::http::HttpRequest& req);
  // The refusal when `chain` names a user or project the hierarchy (in
  // `memory` when given, else the stored one) places in another
  // organization than `who`'s.
  std::optional<adapters::http::HttpResponse> foreign_scope(const adapters::http::HttpRequest& req,
                                                            const commands::Principal& who,
                                                            const domain::ScopeChain& chain,
                                                            const projections::QuerySnapshot* memory);
  adapters::http::HttpResponse policy_value(const adapters::http::HttpRequest& req, const commands::Principal& who,
                                            const std::string& key);
  // Records the refusal of `req` and answers `e`.
  adapters::http::HttpResponse refuse(const adapters::http::HttpRequest& req, const commands::Principal& who,
                                      const std::string& target_tenant, commands::RouteFamily family,
                                      const char* reason, const domain::Error& e);
  adapters::http::HttpResponse audit_log(const adapters::http::HttpRequest& req, const commands::Principal& who);
  adapters::http::HttpResponse audit_changes(const adapters::http::HttpRequest& req, const commands::Principal& who,
                                             const std::string& key);

  projections::PolicyValueReader& queries_;
  const identity::TokenAuthenticator& auth_;
  commands::Clock& clock_;
  projections::AuditReader* audit_;
  AdmissionApi* admission_ = nullptr;
  AppPolicyApi* app_policies_ = nullptr;
  EntitlementReads* entitlements_ = nullptr;
  ConfigApi* config_ = nullptr;
  PolicyListings* listings_ = nullptr;
  ChangeFeed* changes_ = nullptr;
  RefusalRecorder* refusals_ = nullptr;
  commands::RequestGate* gate_ = nullptr;
  projections::AdmissionHistory* hierarchy_ = nullptr;
  SnapshotWaits* waits_ = nullptr;
  const projections::AdmissionStore* memory_ = nullptr;
  SnapshotWaits* memory_waits_ = nullptr;
  bool from_memory(const adapters::http::HttpRequest& req) const;
  std::function<domain::Result<events::GlobalPosition>()> head_;
};

}  // namespace ledger::routes
