// Roles and route families: who may call what (issue 5, part 2).
//
//   auto family = command_family(request.command);          // or query_family("GET", path)
//   if (auto ok = authorize(principal, *family); !ok) ...    // 403 `forbidden`
//
// Every route of the ledger belongs to exactly one route family; each family
// lists the roles that may call it. kFamilies below is THE role table: the
// HTTP edges, the `ledger.commands` consumer, the README's "Roles" table and
// the tests all read it, and nothing else grants access. A principal holding
// several roles may call the union of their families; an unknown role grants
// nothing. Roles say WHAT a principal may do; tenant isolation (WHERE: its
// own organization only, unless its tenant is "platform") is checked on top,
// by the same edges, with target_tenant() for commands.
//
// Pure: no I/O, no clock; the tables are constants, so everything here is
// thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "commands/command.h"
#include "domain/admission.h"
#include "domain/error.h"

namespace ledger::commands {

// refusal_recorder: the query service's own credential, which reports the
// refusals it decides (access.record) and may do nothing else. The role
// counts only for a principal of the recorder tenant kRefusalRecorderTenant
// holding no other role (is_refusal_recorder); a principal of that tenant
// may call nothing but access.record, whatever its roles say.
enum class Role : std::uint8_t { kPlatformAdmin, kTenantAdmin, kAuditor, kService, kReader, kRefusalRecorder };
inline constexpr std::string_view kRoleNames[] = {"platform_admin", "tenant_admin", "auditor",
                                                  "service",        "reader",       "refusal_recorder"};
inline constexpr Role kRoles[] = {Role::kPlatformAdmin, Role::kTenantAdmin, Role::kAuditor,
                                  Role::kService,       Role::kReader,      Role::kRefusalRecorder};

// The tenant marker of the refusal recorder: not "platform" and no
// organization id ('@' is not an id character), so the credential is never
// platform-wide and never an organization's.
inline constexpr std::string_view kRefusalRecorderTenant = "@refusal-recorder";

std::string_view role_name(Role r);
std::optional<Role> parse_role(std::string_view name);

enum class RouteFamily : std::uint8_t {
  kRegistryWrite,
  kPolicyKeyWrite,
  kOrganizationWrite,
  kPlatformScopeWrite,
  kHierarchyWrite,
  kCeilingWrite,
  kPolicyValueWrite,
  kReservationWrite,
  kReservationUse,
  kAccessRecord,
  kDecision,
  kPolicyValueRead,
  kCeilingRead,
  kReservationRead,
  kViewRead,
  kAuditRead,
  kApplicationWrite,
  kApplicationRead,
  kApplicationEvaluate,
  // plan entitlements (seed 003)
  kEntitlementWrite,
  kEntitlementRead,
  kEntitlementCheck,
  // layered configuration (seed 004)
  kConfigPlatformWrite,
  kConfigTenantWrite,
  kConfigRead,
  // plaintext configuration secrets in config reads (issue 16 part 4)
  kConfigSecretsRead,
  // the live change feed (issue 17 part 6)
  kChangeRead,
};

// A set of roles as bits (1 << Role).
using RoleSet = std::uint8_t;
constexpr RoleSet roles(std::initializer_list<Role> rs) {
  RoleSet s = 0;
  for (Role r : rs) s = static_cast<RoleSet>(s | (1u << static_cast<unsigned>(r)));
  return s;
}

struct FamilyRule {
  RouteFamily family;
  std::string_view name;  // stable: audit rows and AccessRefused events carry it
  RoleSet allowed;
  std::string_view routes;  // what it covers, as the README's role table says it
};

// The role table. platform_admin may call everything; the other roles act
// within their own organization (a tenant of "platform" means every one).
inline constexpr FamilyRule kFamilies[] = {
    {RouteFamily::kRegistryWrite, "registry.write", roles({Role::kPlatformAdmin}), "`registry.register`"},
    {RouteFamily::kPolicyKeyWrite, "policy_key.write", roles({Role::kPlatformAdmin}),
     "`policy_key.define`, `POST /v1/policy-keys`"},
    {RouteFamily::kOrganizationWrite, "organization.write", roles({Role::kPlatformAdmin}),
     "`organization.create`, `organization.change_plan`"},
    {RouteFamily::kPlatformScopeWrite, "platform_scope.write", roles({Role::kPlatformAdmin}),
     "`policy_value.set` and `ceiling.*` at the global or a plan scope"},
    {RouteFamily::kHierarchyWrite, "hierarchy.write", roles({Role::kPlatformAdmin, Role::kTenantAdmin}),
     "`department.create`, `department.move`, `project.create`, `project.move`, `principal.create`, `token.revoke`"},
    {RouteFamily::kCeilingWrite, "ceiling.write", roles({Role::kPlatformAdmin, Role::kTenantAdmin}),
     "`ceiling.set`, `ceiling.clear`, `ceiling.delegate`, `ceiling.revoke_delegation` at an organization and below"},
    {RouteFamily::kPolicyValueWrite, "policy_value.write", roles({Role::kPlatformAdmin, Role::kTenantAdmin}),
     "`policy_value.set` (`POST /v1/policy-values`) at an organization, project or user scope"},
    {RouteFamily::kReservationWrite, "reservation.write", roles({Role::kPlatformAdmin, Role::kTenantAdmin}),
     "`reservation.draft`, `.activate`, `.suspend`, `.resume`, `.retire`, `.expire`"},
    {RouteFamily::kReservationUse, "reservation.use", roles({Role::kPlatformAdmin, Role::kTenantAdmin, Role::kService}),
     "`reservation.consume`, `reservation.release`"},
    {RouteFamily::kAccessRecord, "access.record", roles({Role::kPlatformAdmin, Role::kService, Role::kRefusalRecorder}),
     "`access.record_refusal`"},
    {RouteFamily::kDecision, "decision", roles({Role::kPlatformAdmin, Role::kService}),
     "`POST /v1/decisions`, `POST /v1/decisions:batch`"},
    {RouteFamily::kPolicyValueRead, "policy_value.read",
     roles({Role::kPlatformAdmin, Role::kTenantAdmin, Role::kService, Role::kReader}),
     "`GET /v1/policy-values/{key}`, `GET /v1/policy-values?key=`, `GET /v1/policy-keys`"},
    {RouteFamily::kCeilingRead, "ceiling.read",
     roles({Role::kPlatformAdmin, Role::kTenantAdmin, Role::kService, Role::kReader}), "`GET /v1/ceilings/effective`"},
    {RouteFamily::kReservationRead, "reservation.read",
     roles({Role::kPlatformAdmin, Role::kTenantAdmin, Role::kService, Role::kReader}),
     "`GET /v1/reservations`, `GET /v1/reservations/{id}`"},
    {RouteFamily::kViewRead, "view.read",
     roles({Role::kPlatformAdmin, Role::kTenantAdmin, Role::kService, Role::kReader}), "`GET /v1/views/...`"},
    {RouteFamily::kAuditRead, "audit.read", roles({Role::kPlatformAdmin, Role::kTenantAdmin, Role::kAuditor}),
     "`GET /v1/audit`, `GET /v1/audit/changes/{key}`"},
    {RouteFamily::kApplicationWrite, "application.write", roles({Role::kPlatformAdmin, Role::kTenantAdmin}),
     "`application.*`, `app_policy.*`, `POST /v1/applications[/{app_id}/policies]`, "
     "`PATCH` and `DELETE /v1/app-policies/{policy_id}`"},
    {RouteFamily::kApplicationRead, "application.read",
     roles({Role::kPlatformAdmin, Role::kTenantAdmin, Role::kService, Role::kReader}),
     "`GET /v1/applications/...`, `GET /v1/app-policies/types`"},
    {RouteFamily::kApplicationEvaluate, "application.evaluate", roles({Role::kPlatformAdmin, Role::kService}),
     "`POST /v1/applications/{app_id}:evaluate`"},
    // Plan entitlements: a product space's capabilities, plans and policies
    // are platform data (README "Plan entitlements"); organizations only ask
    // checks about themselves.
    {RouteFamily::kEntitlementWrite, "entitlement.write", roles({Role::kPlatformAdmin}),
     "`capability.*`, `plan.*`, `policy.*`, `entitlements.configure`, `POST /v1/capabilities`, `POST /v1/plans`, "
     "`POST /v1/policies...`"},
    {RouteFamily::kEntitlementRead, "entitlement.read",
     roles({Role::kPlatformAdmin, Role::kTenantAdmin, Role::kAuditor, Role::kService, Role::kReader}),
     "`GET /v1/entitlements/active`, `GET /v1/capabilities`, `GET /v1/plans`, `GET /v1/policies/...`"},
    {RouteFamily::kEntitlementCheck, "entitlement.check",
     roles({Role::kPlatformAdmin, Role::kTenantAdmin, Role::kService, Role::kReader}),
     "`POST /v1/entitlements:check`, `POST /v1/entitlements:batchCheck`"},
    {RouteFamily::kConfigPlatformWrite, "config.platform.write", roles({Role::kPlatformAdmin}),
     "`config.global.set`, `config.service_type.set`, `config.reload`, `config.secrets.shred`, `PUT "
     "/config/global/{key}`, `PUT /config/service-types/{type}`, `POST /config/reload`, `POST "
     "/tenants/{tenant_id}/config/secrets/shred`"},
    {RouteFamily::kConfigTenantWrite, "config.tenant.write", roles({Role::kPlatformAdmin, Role::kTenantAdmin}),
     "`config.tenant_risk.set`, `config.agent.set`, `config.project.set`, `config.service.set` and their `PUT "
     "/tenants/{tenant_id}/...` routes"},
    {RouteFamily::kConfigRead, "config.read",
     roles({Role::kPlatformAdmin, Role::kTenantAdmin, Role::kService, Role::kReader}),
     "`GET /tenants/{tenant_id}/config/...`, `/services...`, `/projects/.../config`, `GET /config/global/{key}`, `GET "
     "/config/service-types/{type}`"},
    // Not a route of its own: what `config.read` answers for secret values
    // (config_api.h): the plaintext with it, `***` without.
    {RouteFamily::kConfigSecretsRead, "secrets:read", roles({Role::kPlatformAdmin}),
     "plaintext webhook tokens, passwords, API keys and HMAC secrets in `config.read` answers (else `***`)"},
    {RouteFamily::kChangeRead, "changes.read",
     roles({Role::kPlatformAdmin, Role::kTenantAdmin, Role::kAuditor, Role::kService}),
     "`GET /v1/changes` (Server-Sent Events)"},
};

// --------------------------------------------------------------- rate limits

// Seed 000's rate_limit.* keys: the budget each route family draws on, per
// principal (commands/access/request_gate.h enforces them). Overview
// polling (customer views, the audit view) has its own, larger budget;
// reservation commitments are the ledger's money-adjacent writes and draw on
// the financial budget; every other route draws on the per-user API budget.
// `access.record` has its own budget, so that no principal can flood the
// audit log: a refusal reported by the refusal recorder draws on the budget
// of the principal that was refused (budget_principal), any other
// access.record_refusal on its caller's; beyond it the record is dropped
// (429, counted by the gate), not written.
// `rate_limit.terminal_token_requests_per_minute` budgets no route
// here: the ledger mints no terminal tokens over HTTP (ledger-admin
// mint-token is an offline operator tool).
inline constexpr std::string_view kApiRequestsPerMinute = "rate_limit.api_requests_per_minute";
inline constexpr std::string_view kAdminOverviewRequestsPerMinute = "rate_limit.admin_overview_requests_per_minute";
inline constexpr std::string_view kFinancialRequestsPerMinute = "rate_limit.financial_requests_per_minute";
inline constexpr std::string_view kAccessRefusalRecordsPerMinute = "rate_limit.access_refusal_records_per_minute";

struct RateLimitRoute {
  RouteFamily family;
  std::string_view key;
};
inline constexpr RateLimitRoute kRateLimitRoutes[] = {
    {RouteFamily::kViewRead, kAdminOverviewRequestsPerMinute},
    {RouteFamily::kAuditRead, kAdminOverviewRequestsPerMinute},
    {RouteFamily::kReservationWrite, kFinancialRequestsPerMinute},
    {RouteFamily::kAccessRecord, kAccessRefusalRecordsPerMinute},
};

// The rate_limit.* key budgeting `f` (kRateLimitRoutes, else the API
// budget). Every family has one.
std::optional<std::string_view> rate_limit_key(RouteFamily f);

// Whose budget a command draws on: for an access.record_refusal the refusal
// recorder reports, the refused principal (its actor and tenant), so one
// principal's refusals cannot use up everybody's; else the caller.
Principal budget_principal(const Principal& who, const Command& c);

const FamilyRule& family_rule(RouteFamily f);
std::string_view family_name(RouteFamily f);
std::optional<RouteFamily> parse_family(std::string_view name);

// True when one of `role_names` (a principal's roles, any order) may call `f`.
bool allows(std::span<const std::string> role_names, RouteFamily f);
bool allows(Role r, RouteFamily f);

// --------------------------------------------------------------- routes

// The family of each command type (commands/decode.h's kCommandTypes), by
// type alone. policy_value.set and ceiling.* are refined by their scope in
// command_family(): at the global or a plan scope they are platform_scope.write.
struct CommandRoute {
  std::string_view type;
  RouteFamily family;
};
inline constexpr CommandRoute kCommandRoutes[] = {
    {"policy_key.define", RouteFamily::kPolicyKeyWrite},
    {"policy_value.set", RouteFamily::kPolicyValueWrite},
    {"registry.register", RouteFamily::kRegistryWrite},
    {"organization.create", RouteFamily::kOrganizationWrite},
    {"organization.change_plan", RouteFamily::kOrganizationWrite},
    {"department.create", RouteFamily::kHierarchyWrite},
    {"department.move", RouteFamily::kHierarchyWrite},
    {"project.create", RouteFamily::kHierarchyWrite},
    {"project.move", RouteFamily::kHierarchyWrite},
    {"principal.create", RouteFamily::kHierarchyWrite},
    {"ceiling.set", RouteFamily::kCeilingWrite},
    {"ceiling.clear", RouteFamily::kCeilingWrite},
    {"ceiling.delegate", RouteFamily::kCeilingWrite},
    {"ceiling.revoke_delegation", RouteFamily::kCeilingWrite},
    {"reservation.draft", RouteFamily::kReservationWrite},
    {"reservation.activate", RouteFamily::kReservationWrite},
    {"reservation.suspend", RouteFamily::kReservationWrite},
    {"reservation.resume", RouteFamily::kReservationWrite},
    {"reservation.retire", RouteFamily::kReservationWrite},
    {"reservation.expire", RouteFamily::kReservationWrite},
    {"reservation.consume", RouteFamily::kReservationUse},
    {"reservation.release", RouteFamily::kReservationUse},
    {"access.record_refusal", RouteFamily::kAccessRecord},
    {"token.revoke", RouteFamily::kHierarchyWrite},
    {"application.register", RouteFamily::kApplicationWrite},
    {"application.rename", RouteFamily::kApplicationWrite},
    {"application.retire", RouteFamily::kApplicationWrite},
    {"app_policy.attach", RouteFamily::kApplicationWrite},
    {"app_policy.update", RouteFamily::kApplicationWrite},
    {"app_policy.detach", RouteFamily::kApplicationWrite},
    {"capability.define", RouteFamily::kEntitlementWrite},
    {"capability.deprecate", RouteFamily::kEntitlementWrite},
    {"capability.retire", RouteFamily::kEntitlementWrite},
    {"plan.define", RouteFamily::kEntitlementWrite},
    {"plan.update", RouteFamily::kEntitlementWrite},
    {"plan.archive", RouteFamily::kEntitlementWrite},
    {"policy.create", RouteFamily::kEntitlementWrite},
    {"policy.create_version", RouteFamily::kEntitlementWrite},
    {"policy.activate", RouteFamily::kEntitlementWrite},
    {"policy.archive_version", RouteFamily::kEntitlementWrite},
    {"config.global.set", RouteFamily::kConfigPlatformWrite},
    {"config.service_type.set", RouteFamily::kConfigPlatformWrite},
    {"config.tenant_risk.set", RouteFamily::kConfigTenantWrite},
    {"config.agent.set", RouteFamily::kConfigTenantWrite},
    {"config.project.set", RouteFamily::kConfigTenantWrite},
    {"config.service.set", RouteFamily::kConfigTenantWrite},
    {"entitlements.configure", RouteFamily::kEntitlementWrite},
    {"config.reload", RouteFamily::kConfigPlatformWrite},
    {"config.secrets.shred", RouteFamily::kConfigPlatformWrite},
};

// The query service's routes. `prefix`: the path starts with `path` and has
// more after it (an id or key).
struct QueryRoute {
  std::string_view method;
  std::string_view path;
  bool prefix;
  RouteFamily family;
};
inline constexpr QueryRoute kQueryRoutes[] = {
    {"GET", "/v1/policy-values/", true, RouteFamily::kPolicyValueRead},
    {"GET", "/v1/policy-values", false, RouteFamily::kPolicyValueRead},  // every override of a key
    {"GET", "/v1/policy-keys", false, RouteFamily::kPolicyValueRead},    // the catalog
    {"GET", "/v1/changes", false, RouteFamily::kChangeRead},             // the change feed (SSE)
    {"GET", "/v1/audit", false, RouteFamily::kAuditRead},
    {"GET", "/v1/audit/changes/", true, RouteFamily::kAuditRead},
    {"GET", "/v1/decisions/log", false, RouteFamily::kAuditRead},  // the decision log (issue 13)
    {"GET", "/v1/decisions/log/status", false, RouteFamily::kAuditRead},
    {"POST", "/v1/decisions", false, RouteFamily::kDecision},
    {"POST", "/v1/decisions:batch", false, RouteFamily::kDecision},
    {"GET", "/v1/ceilings/effective", false, RouteFamily::kCeilingRead},
    {"GET", "/v1/reservations", false, RouteFamily::kReservationRead},
    {"GET", "/v1/reservations/", true, RouteFamily::kReservationRead},
    {"GET", "/v1/views/", true, RouteFamily::kViewRead},
    {"GET", "/v1/applications/", true, RouteFamily::kApplicationRead},
    {"GET", "/v1/app-policies/types", false, RouteFamily::kApplicationRead},
    {"GET", "/v1/app-policies/available-types", false, RouteFamily::kApplicationRead},
    {"POST", "/v1/applications/", true, RouteFamily::kApplicationEvaluate},
    {"POST", "/v1/entitlements:check", false, RouteFamily::kEntitlementCheck},
    {"POST", "/v1/entitlements:batchCheck", false, RouteFamily::kEntitlementCheck},
    {"GET", "/v1/entitlements/active", false, RouteFamily::kEntitlementRead},
    {"GET", "/v1/capabilities", false, RouteFamily::kEntitlementRead},
    {"GET", "/v1/plans", false, RouteFamily::kEntitlementRead},
    {"GET", "/v1/policies/", true, RouteFamily::kEntitlementRead},
    // POST /v1/policies/{id}/versions/{v}:shadow (issue 15 part 6): replays
    // every organization's recorded checks, so the product's owners only.
    {"POST", "/v1/policies/", true, RouteFamily::kEntitlementWrite},
    {"GET", "/tenants/", true, RouteFamily::kConfigRead},
    {"GET", "/config/global/", true, RouteFamily::kConfigRead},
    {"GET", "/config/service-types/", true, RouteFamily::kConfigRead},
};

// The family of a command type by its name; nullopt for an unknown type.
std::optional<RouteFamily> command_type_family(std::string_view type);
// The family of a decoded command (its command_type(), with the scope
// refinement above).
RouteFamily command_family(const Command& c);
// The family of a query-service request; nullopt when no route matches
// (the caller answers 404 or 405 as before, or refuses an unlisted path).
std::optional<RouteFamily> query_family(std::string_view method, std::string_view path);

// --------------------------------------------------------------- checks

// kPermissionDenied `forbidden` (evidence: route_family) unless the
// principal's roles allow `f`. A principal of kRefusalRecorderTenant may call
// access.record only, and only as is_refusal_recorder(); the role
// refusal_recorder grants nothing to any other principal.
domain::Result<void> authorize(const Principal& who, RouteFamily f);

// A principal of one organization (tenant other than "platform").
bool is_tenant_principal(const Principal& who);

// The actor types a principal may have: user, service_account, api_key and
// worker. Tokens, the static tokens file and the Kafka producers file name
// no other.
bool is_principal_actor_type(std::string_view type);

// The refusal recorder: tenant kRefusalRecorderTenant, exactly the one role
// refusal_recorder. The only principal whose access.record_refusal may name
// a target tenant other than its own.
bool is_refusal_recorder(const Principal& who);

// True when `c` must stay within the caller's own tenant (its target_tenant
// equal to who.tenant, else 403 `forbidden`, reason tenant_mismatch): every
// command of a tenant principal, and access.record_refusal of every
// principal but the refusal recorder (a platform admin or service records
// refusals of its own tenant only).
bool tenant_bound(const Principal& who, const Command& c);

// The organization a command reaches into, resolved against the admission
// model: "platform" for registries, policy keys, global and plan scopes; the
// owning organization of a scope, project, principal or reservation it
// names; nullopt when the thing it names is unknown (its own decide()
// answers that, e.g. 404 `unknown_scope`). Policy-value scopes of a project
// or user the model does not know belong to the caller's tenant.
std::optional<std::string> target_tenant(const domain::AdmissionModel& m, const Command& c, const Principal& who);

// The organization a command names in its own fields, without any model:
// an organization id or organization scope it carries, else the caller's
// tenant. Used to file refusals decided before the model is consulted.
std::string declared_tenant(const Command& c, const Principal& who);

// Reservation ids are unique per organization: a command that names a
// reservation by id (transition, consume, release) without organization_id
// is resolved within the caller's own organization when the caller is a
// tenant principal (it is set to who.tenant). A platform principal names the
// organization itself; left empty, the command answers 400 `missing_field`.
void resolve_reservation_organization(Command& c, const Principal& who);
// The same for application commands (application.*, app_policy.attach).

// True for commands that address a reservation by its id: a reservation of
// another organization is answered like an unknown one (404
// `unknown_reservation`), so its existence does not leak.
bool addresses_reservation_by_id(const Command& c);

// The same for policies of application chains (app_policy.update, .detach):
// another organization's policy id answers 404 `unknown_policy`.
bool addresses_policy_by_id(const Command& c);

}  // namespace ledger::commands
