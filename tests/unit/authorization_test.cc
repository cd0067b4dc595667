// The role table (commands/access/authorization.h): every command type of
// commands/decode.h and every query route, walked with every role, against
// the "Roles" table of README.md — the documentation is the specification
// the code is checked against, so changing either alone fails here. Also:
// the table's own consistency, the union of several roles, and the
// organization each command reaches into (tenant isolation).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "commands/access/authorization.h"
#include "commands/decode.h"
#include "tests/support/role_table.h"

namespace ledger::commands {
namespace {

using Json = nlohmann::json;

// A valid body of every command type, at an organization-level scope.
const std::map<std::string, Json>& sample_bodies() {
  static const std::map<std::string, Json> bodies = {
      {"policy_key.define", {{"key", "k.x"}, {"value_type", "int"}, {"default", 1}, {"min", 0}, {"max", 9}}},
      {"policy_value.set", {{"key", "k.x"}, {"scope", {{"org_id", "org-acme"}}}, {"value", 2}, {"reason", "r"}}},
      {"registry.register", {{"kind", "product"}, {"entry_id", "gpuaas"}}},
      {"organization.create", {{"organization_id", "org-acme"}, {"plan_id", "pro"}}},
      {"organization.change_plan", {{"organization_id", "org-acme"}, {"plan_id", "pro"}}},
      {"department.create", {{"department_id", "d1"}, {"organization_id", "org-acme"}}},
      {"department.move", {{"department_id", "d1"}}},
      {"project.create", {{"project_id", "p1"}, {"organization_id", "org-acme"}}},
      {"project.move", {{"project_id", "p1"}, {"department_id", "d1"}}},
      {"principal.create", {{"principal_id", "u1"}, {"principal_type", "user"}, {"project_id", "p1"}}},
      {"ceiling.set",
       {{"scope", {{"level", "organization"}, {"id", "org-acme"}}},
        {"dimension", "gpu.count"},
        {"quantity", 4},
        {"reason", "r"}}},
      {"ceiling.clear",
       {{"scope", {{"level", "organization"}, {"id", "org-acme"}}}, {"dimension", "gpu.count"}, {"reason", "r"}}},
      {"ceiling.delegate",
       {{"scope", {{"level", "organization"}, {"id", "org-acme"}}}, {"dimension", "gpu.count"}, {"reason", "r"}}},
      {"ceiling.revoke_delegation",
       {{"scope", {{"level", "organization"}, {"id", "org-acme"}}}, {"dimension", "gpu.count"}, {"reason", "r"}}},
      {"reservation.draft",
       {{"reservation_id", "r1"},
        {"owner", {{"level", "project"}, {"id", "p1"}}},
        {"kind", "committed"},
        {"dimension", "gpu.count"},
        {"quantity", 2},
        {"window_start", "2026-06-01T00:00:00Z"},
        {"window_end", "2026-07-01T00:00:00Z"}}},
      {"reservation.activate", {{"reservation_id", "r1"}}},
      {"reservation.suspend", {{"reservation_id", "r1"}}},
      {"reservation.resume", {{"reservation_id", "r1"}}},
      {"reservation.retire", {{"reservation_id", "r1"}}},
      {"reservation.expire", {{"reservation_id", "r1"}}},
      {"reservation.consume", {{"reservation_id", "r1"}, {"quantity", 1}}},
      {"reservation.release", {{"reservation_id", "r1"}, {"quantity", 1}}},
      {"access.record_refusal",
       {{"actor_type", "user"},
        {"actor_id", "mallory"},
        {"principal_tenant", "org-globex"},
        {"target_tenant", "org-acme"},
        {"route_family", "audit.read"},
        {"method", "GET"},
        {"target", "/v1/audit"},
        {"reason", "tenant_mismatch"}}},
      {"token.revoke", {{"tenant", "org-acme"}, {"token_id", "jti-1"}, {"reason", "r"}}},
      {"application.register", {{"application_id", "app-1"}, {"organization_id", "org-acme"}, {"name", "A"}}},
      {"application.rename", {{"application_id", "app-1"}, {"organization_id", "org-acme"}, {"name", "B"}}},
      {"application.retire", {{"application_id", "app-1"}, {"organization_id", "org-acme"}}},
      {"app_policy.attach",
       {{"application_id", "app-1"}, {"policy_type", "rate_limit"}, {"config", {{"requests_per_minute", 5}}}}},
      {"app_policy.update", {{"policy_id", "pol_1"}, {"enabled", false}}},
      {"app_policy.detach", {{"policy_id", "pol_1"}}},
      // plan entitlements (commands/decode_entitlements.h)
      {"capability.define", {{"name", "export-data"}}},
      {"capability.deprecate", {{"capability_id", "cap-export-data"}}},
      {"capability.retire", {{"capability_id", "cap-export-data"}}},
      {"plan.define", {{"name", "pro"}}},
      {"plan.update", {{"plan_id", "pro"}, {"displayName", "Pro"}}},
      {"plan.archive", {{"plan_id", "pro"}}},
      {"policy.create",
       {{"capabilityId", "cap-export-data"},
        {"name", "p"},
        {"rules", {{"type", "plan-allowlist"}, {"allowedPlans", {"pro"}}}}}},
      {"policy.create_version",
       {{"policy_id", "pol-export-data"},
        {"changelog", "c"},
        {"rules", {{"type", "plan-allowlist"}, {"allowedPlans", {"pro"}}}}}},
      {"policy.activate",
       {{"policy_id", "pol-export-data"},
        {"version_id", "pol-export-data-v1"},
        {"environment", "dev"},
        {"changelog", "c"}}},
      {"policy.archive_version", {{"policy_id", "pol-export-data"}, {"version_id", "pol-export-data-v1"}}},
      {"config.global.set", {{"key", "k"}, {"value", 1}, {"reason", "r"}}},
      {"config.reload", {{"reload_env", false}, {"invalidate", {{"all", true}}}}},
      {"config.secrets.shred", {{"tenant_id", "org-acme"}, {"reason", "r"}}},
      {"config.service_type.set", {{"service_type", "gke"}, {"value", Json::object()}, {"reason", "r"}}},
      {"config.tenant_risk.set", {{"tenant_id", "org-acme"}, {"value", Json::object()}, {"reason", "r"}}},
      {"config.agent.set",
       {{"tenant_id", "org-acme"}, {"agent_type", "a"}, {"value", Json::object()}, {"reason", "r"}}},
      {"config.project.set",
       {{"tenant_id", "org-acme"}, {"project_id", "p"}, {"value", Json::object()}, {"reason", "r"}}},
      {"config.service.set",
       {{"tenant_id", "org-acme"}, {"service_id", "s"}, {"value", Json::object()}, {"reason", "r"}}},
      {"entitlements.configure", {{"require_progression", true}}},
  };
  return bodies;
}

Command decoded(const std::string& type, const Json& body) {
  auto d = decode_command(type, body);
  EXPECT_TRUE(d.has_value()) << type << ": " << (d ? "" : d.error().code + " " + d.error().message);
  return d ? d->command : Command{};
}

Principal with_roles(std::vector<std::string> roles, std::string tenant = "org-acme") {
  return Principal{events::Actor{"user", "u", std::move(roles)}, std::move(tenant)};
}

std::map<std::string, std::map<std::string, bool>> readme_role_table() {
  std::string problem;
  auto table = ledger::testing::readme_role_table(std::string(LEDGER_SOURCE_DIR) + "/README.md", &problem);
  EXPECT_EQ(problem, "") << "every cell of README's Roles table is yes or no";
  return table;
}

TEST(Authorization, TheTableListsEveryFamilyOnceInEnumOrder) {
  std::set<std::string_view> names;
  for (std::size_t i = 0; i < std::size(kFamilies); ++i) {
    EXPECT_EQ(static_cast<std::size_t>(kFamilies[i].family), i) << kFamilies[i].name;
    EXPECT_TRUE(names.insert(kFamilies[i].name).second) << kFamilies[i].name;
    EXPECT_EQ(parse_family(kFamilies[i].name), kFamilies[i].family);
    // platform_admin may call everything.
    EXPECT_TRUE(allows(Role::kPlatformAdmin, kFamilies[i].family)) << kFamilies[i].name;
  }
}

TEST(Authorization, EveryCommandTypeHasExactlyOneRoute) {
  std::multiset<std::string_view> routed;
  for (const auto& r : kCommandRoutes) routed.insert(r.type);
  std::set<std::string_view> types(std::begin(kCommandTypes), std::end(kCommandTypes));
  EXPECT_EQ(types.size(), std::size(kCommandTypes)) << "a command type is listed twice in decode.h";
  for (auto t : types) EXPECT_EQ(routed.count(t), 1u) << t;
  for (auto t : routed) EXPECT_TRUE(types.contains(t)) << t << " is routed but not a command type";
  EXPECT_EQ(sample_bodies().size(), types.size()) << "every command type needs a sample body here";
}

TEST(Authorization, EveryCommandTypeDecodesToItselfAndItsFamily) {
  for (auto type : kCommandTypes) {
    SCOPED_TRACE(type);
    const std::string t(type);
    ASSERT_TRUE(sample_bodies().contains(t));
    const Command c = decoded(t, sample_bodies().at(t));
    EXPECT_EQ(command_type(c), t);
    EXPECT_EQ(command_family(c), command_type_family(t));
  }
  EXPECT_EQ(decode_command("nope.nothing", Json::object()).error().code, "unknown_command_type");
}

TEST(Authorization, GlobalAndPlanScopesArePlatformScopeWrites) {
  const Json global_value = {{"key", "k.x"}, {"scope", Json::object()}, {"value", 2}, {"reason", "r"}};
  const Json plan_value = {{"key", "k.x"}, {"scope", {{"plan", "pro"}}}, {"value", 2}, {"reason", "r"}};
  EXPECT_EQ(command_family(decoded("policy_value.set", global_value)), RouteFamily::kPlatformScopeWrite);
  EXPECT_EQ(command_family(decoded("policy_value.set", plan_value)), RouteFamily::kPlatformScopeWrite);
  for (const char* type : {"ceiling.set", "ceiling.clear", "ceiling.delegate", "ceiling.revoke_delegation"}) {
    Json body = sample_bodies().at(type);
    body["scope"] = {{"level", "global"}};
    EXPECT_EQ(command_family(decoded(type, body)), RouteFamily::kPlatformScopeWrite) << type;
    body["scope"] = {{"level", "plan"}, {"id", "pro"}};
    EXPECT_EQ(command_family(decoded(type, body)), RouteFamily::kPlatformScopeWrite) << type;
  }
}

// The walk: every route x every role, checked against README's table.
TEST(Authorization, EveryRouteWithEveryRoleMatchesTheReadmeTable) {
  const auto table = readme_role_table();
  ASSERT_EQ(table.size(), std::size(kFamilies)) << "README's Roles table must list every route family";
  struct Route {
    std::string what;
    RouteFamily family;
  };
  std::vector<Route> routes;
  for (auto type : kCommandTypes) {
    const Command c = decoded(std::string(type), sample_bodies().at(std::string(type)));
    routes.push_back({"command " + std::string(type), command_family(c)});
  }
  Json global_value = {{"key", "k.x"}, {"scope", Json::object()}, {"value", 2}, {"reason", "r"}};
  routes.push_back({"command policy_value.set (global)", command_family(decoded("policy_value.set", global_value))});
  for (const auto& q : kQueryRoutes) {
    const std::string path = std::string(q.path) + (q.prefix ? "x" : "");
    auto f = query_family(q.method, path);
    ASSERT_TRUE(f) << q.method << " " << path;
    routes.push_back({std::string(q.method) + " " + path, *f});
  }
  // Not a route: what config.read answers reveal (plaintext secrets, issue 16 part 4).
  routes.push_back({"secret values in GET /tenants/{t}/config/...", RouteFamily::kConfigSecretsRead});
  std::set<RouteFamily> walked;
  for (const auto& r : routes) {
    walked.insert(r.family);
    const std::string family(family_name(r.family));
    ASSERT_TRUE(table.contains(family)) << family << " is not in README's Roles table";
    for (Role role : kRoles) {
      const std::string name(role_name(role));
      ASSERT_TRUE(table.at(family).contains(name)) << "README's Roles table has no column " << name;
      const bool expected = table.at(family).at(name);
      // refusal_recorder counts only for the recorder's own tenant marker.
      const auto who = with_roles(
          {name}, role == Role::kRefusalRecorder ? std::string(kRefusalRecorderTenant) : std::string("org-acme"));
      const bool actual = authorize(who, r.family).has_value();
      EXPECT_EQ(actual, expected) << r.what << " (" << family << ") as " << name;
      if (!actual) {
        auto refused = authorize(who, r.family);
        EXPECT_EQ(refused.error().code, "forbidden");
        EXPECT_EQ(refused.error().kind, domain::ErrorKind::kPermissionDenied);
      }
    }
  }
  EXPECT_EQ(walked.size(), std::size(kFamilies)) << "a route family no route uses";
}

TEST(Authorization, RolesAddUpAndUnknownRolesGrantNothing) {
  EXPECT_FALSE(authorize(with_roles({}), RouteFamily::kPolicyValueRead));
  EXPECT_FALSE(authorize(with_roles({"Platform_Admin", "admin", "root"}), RouteFamily::kPolicyValueRead));
  EXPECT_FALSE(authorize(with_roles({"reader"}), RouteFamily::kAuditRead));
  EXPECT_FALSE(authorize(with_roles({"auditor"}), RouteFamily::kPolicyValueRead));
  EXPECT_TRUE(authorize(with_roles({"reader", "auditor"}), RouteFamily::kAuditRead));
  EXPECT_TRUE(authorize(with_roles({"reader", "auditor"}), RouteFamily::kPolicyValueRead));
  EXPECT_FALSE(authorize(with_roles({"reader", "auditor"}), RouteFamily::kDecision));
}

// ---------------------------------------------------- the refusal recorder (issue 10, item 9)

TEST(RefusalRecorder, TheRecorderMayRecordRefusalsAndNothingElse) {
  const Principal recorder{events::Actor{"service_account", "ledger-query", {"refusal_recorder"}},
                           std::string(kRefusalRecorderTenant)};
  EXPECT_TRUE(is_refusal_recorder(recorder));
  for (const auto& rule : kFamilies) {
    EXPECT_EQ(authorize(recorder, rule.family).has_value(), rule.family == RouteFamily::kAccessRecord) << rule.name;
  }
  // Extra roles on the recorder's tenant widen nothing: it is no longer the
  // recorder and may call nothing at all.
  Principal widened = recorder;
  widened.actor.roles = {"platform_admin", "refusal_recorder"};
  EXPECT_FALSE(is_refusal_recorder(widened));
  for (const auto& rule : kFamilies) EXPECT_FALSE(authorize(widened, rule.family).has_value()) << rule.name;
}

TEST(RefusalRecorder, TheRoleGrantsNothingOutsideTheRecordersTenant) {
  for (const char* tenant : {"platform", "org-acme"}) {
    const auto who = with_roles({"refusal_recorder"}, tenant);
    EXPECT_FALSE(is_refusal_recorder(who));
    EXPECT_FALSE(authorize(who, RouteFamily::kAccessRecord).has_value()) << tenant;
  }
  // The marker is no organization id and not the platform.
  EXPECT_TRUE(is_tenant_principal(with_roles({}, std::string(kRefusalRecorderTenant))));
  EXPECT_NE(kRefusalRecorderTenant, "platform");
}

TEST(RefusalRecorder, OnlyTheRecorderFilesRefusalsUnderAnotherTenant) {
  const Command record = decoded("access.record_refusal", sample_bodies().at("access.record_refusal"));
  const Command other = decoded("ceiling.set", sample_bodies().at("ceiling.set"));
  const Principal recorder{events::Actor{"service_account", "ledger-query", {"refusal_recorder"}},
                           std::string(kRefusalRecorderTenant)};
  EXPECT_FALSE(tenant_bound(recorder, record));
  EXPECT_TRUE(tenant_bound(with_roles({"platform_admin"}, "platform"), record));
  EXPECT_TRUE(tenant_bound(with_roles({"service"}, "org-acme"), record));
  EXPECT_FALSE(tenant_bound(with_roles({"platform_admin"}, "platform"), other));
  EXPECT_TRUE(tenant_bound(with_roles({"tenant_admin"}, "org-acme"), other));
}

TEST(RefusalRecorder, ARecordedRefusalDrawsOnTheRefusedPrincipalsBudget) {
  const Command record = decoded("access.record_refusal", sample_bodies().at("access.record_refusal"));
  const Principal recorder{events::Actor{"service_account", "ledger-query", {"refusal_recorder"}},
                           std::string(kRefusalRecorderTenant)};
  const Principal owner = budget_principal(recorder, record);
  EXPECT_EQ(owner.actor.id, "mallory");
  EXPECT_EQ(owner.tenant, "org-globex");
  const auto service = with_roles({"service"}, "org-acme");
  EXPECT_EQ(budget_principal(service, record).actor.id, "u");
  EXPECT_EQ(rate_limit_key(RouteFamily::kAccessRecord), kAccessRefusalRecordsPerMinute);
}

// ---------------------------------------------------- revocation (issue 10, item 8)

TEST(TokenRevoke, NamesExactlyOneSubjectAndReachesIntoItsTenant) {
  const Command c = decoded("token.revoke", {{"tenant", "org-acme"}, {"principal_id", "u1"}, {"reason", "left"}});
  EXPECT_EQ(command_family(c), RouteFamily::kHierarchyWrite);
  domain::AdmissionModel empty;
  EXPECT_EQ(target_tenant(empty, c, with_roles({"tenant_admin"}, "org-globex")), "org-acme");
  EXPECT_TRUE(tenant_bound(with_roles({"tenant_admin"}, "org-globex"), c));
  auto d = domain::decide(std::get<domain::RevokeToken>(c));
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->stream_id, "token-revocations:org-acme");
  EXPECT_EQ(d->tenant, "org-acme");
  ASSERT_EQ(d->events.size(), 1u);
  EXPECT_EQ(std::get<events::TokenRevoked>(d->events[0]), (events::TokenRevoked{"org-acme", "u1", "", "left"}));
  for (const domain::RevokeToken& bad :
       {domain::RevokeToken{"org-acme", "", "", "r"}, domain::RevokeToken{"org-acme", "u1", "j1", "r"},
        domain::RevokeToken{"", "u1", "", "r"}, domain::RevokeToken{"org-acme", "u1", "", ""}}) {
    auto refused = domain::decide(bad);
    ASSERT_FALSE(refused.has_value());
    EXPECT_EQ(refused.error().code, "invalid_field");
  }
}

TEST(Authorization, UnlistedQueryPathsAndMethodsHaveNoFamily) {
  EXPECT_FALSE(query_family("GET", "/v1/policy-values/"));
  EXPECT_FALSE(query_family("POST", "/v1/audit"));
  EXPECT_FALSE(query_family("GET", "/v1/decisions"));
  EXPECT_FALSE(query_family("GET", "/v1/auditx"));
  EXPECT_EQ(query_family("GET", "/v1/reservations/r1"), RouteFamily::kReservationRead);
}

// ---------------------------------------------------------- tenants

class TargetTenant : public ::testing::Test {
 protected:
  TargetTenant() {
    apply("organization:org-acme", events::OrganizationCreated{"org-acme", "", "pro", "org-acme.default"});
    apply("organization:org-globex", events::OrganizationCreated{"org-globex", "", "free", "org-globex.default"});
    apply("project:g1", events::ProjectCreated{"g1", "org-globex", "org-globex.default", ""});
    apply("principal:gu", events::PrincipalCreated{"gu", "user", "org-globex", "g1", "", std::nullopt});
    events::ReservationDrafted r;
    r.reservation_id = "res-g";
    r.organization_id = "org-globex";
    r.owner = {events::QuotaLevel::kProject, "g1"};
    apply("reservation:res-g", r);
  }
  void apply(const std::string& stream, events::Event e) { model_.apply(stream, e); }
  std::optional<std::string> target(const std::string& type, const Json& body) {
    return target_tenant(model_, decoded(type, body), with_roles({"tenant_admin"}));
  }
  domain::AdmissionModel model_;
};

TEST_F(TargetTenant, NamesTheOrganizationACommandReachesInto) {
  // Reservation ids are unique per organization: the one a command names
  // is the one it reaches into, whether or not it has that id.
  EXPECT_EQ(
      target("reservation.consume", {{"reservation_id", "res-g"}, {"organization_id", "org-globex"}, {"quantity", 1}}),
      "org-globex");
  EXPECT_EQ(target("reservation.activate", {{"reservation_id", "nope"}, {"organization_id", "org-globex"}}),
            "org-globex");
  EXPECT_EQ(target("reservation.activate", {{"reservation_id", "res-g"}}), std::nullopt);
  EXPECT_EQ(target("project.move", {{"project_id", "g1"}, {"department_id", "x"}}), "org-globex");
  EXPECT_EQ(target("principal.create", {{"principal_id", "u"}, {"principal_type", "user"}, {"project_id", "g1"}}),
            "org-globex");
  EXPECT_EQ(
      target("ceiling.set",
             {{"scope", {{"level", "project"}, {"id", "g1"}}}, {"dimension", "d"}, {"quantity", 1}, {"reason", "r"}}),
      "org-globex");
  EXPECT_EQ(
      target("ceiling.set", {{"scope", {{"level", "global"}}}, {"dimension", "d"}, {"quantity", 1}, {"reason", "r"}}),
      "platform");
  EXPECT_EQ(
      target(
          "ceiling.set",
          {{"scope", {{"level", "project"}, {"id", "unknown"}}}, {"dimension", "d"}, {"quantity", 1}, {"reason", "r"}}),
      std::nullopt);
  EXPECT_EQ(target("department.create", {{"department_id", "d"}, {"organization_id", "org-globex"}}), "org-globex");
  EXPECT_EQ(target("registry.register", {{"kind", "product"}, {"entry_id", "x"}}), "platform");
  // Policy values: the scope's organization, or the owner of a known project or user.
  EXPECT_EQ(
      target("policy_value.set", {{"key", "k"}, {"scope", {{"org_id", "org-globex"}}}, {"value", 1}, {"reason", "r"}}),
      "org-globex");
  EXPECT_EQ(
      target("policy_value.set", {{"key", "k"}, {"scope", {{"project_id", "g1"}}}, {"value", 1}, {"reason", "r"}}),
      "org-globex");
  EXPECT_EQ(target("policy_value.set", {{"key", "k"}, {"scope", {{"user_id", "gu"}}}, {"value", 1}, {"reason", "r"}}),
            "org-globex");
  EXPECT_EQ(target("policy_value.set",
                   {{"key", "k"}, {"scope", {{"project_id", "free-text"}}}, {"value", 1}, {"reason", "r"}}),
            "org-acme");
  EXPECT_EQ(target("policy_value.set", {{"key", "k"}, {"scope", {{"plan", "pro"}}}, {"value", 1}, {"reason", "r"}}),
            "platform");
}

TEST(DeclaredTenant, IsTheOrganizationACommandNamesElseTheCallers) {
  const Principal acme = with_roles({"reader"});
  EXPECT_EQ(declared_tenant(decoded("project.create", sample_bodies().at("project.create")), acme), "org-acme");
  EXPECT_EQ(
      declared_tenant(decoded("department.create", {{"department_id", "d"}, {"organization_id", "org-globex"}}), acme),
      "org-globex");
  EXPECT_EQ(declared_tenant(decoded("reservation.consume", {{"reservation_id", "x"}, {"quantity", 1}}), acme),
            "org-acme");
  EXPECT_EQ(declared_tenant(decoded("reservation.release",
                                    {{"reservation_id", "x"}, {"organization_id", "org-globex"}, {"quantity", 1}}),
                            acme),
            "org-globex");
}

// A tenant's reservation command is resolved within its own organization;
// a platform principal's is left for it to name (decide answers 400).
TEST(ResolveReservationOrganization, FillsATenantsOwnOrganizationOnly) {
  Command c = decoded("reservation.activate", {{"reservation_id", "r1"}});
  resolve_reservation_organization(c, with_roles({"tenant_admin"}));
  EXPECT_EQ(std::get<domain::TransitionReservation>(c).organization_id, "org-acme");
  Command named =
      decoded("reservation.consume", {{"reservation_id", "r1"}, {"organization_id", "org-globex"}, {"quantity", 1}});
  resolve_reservation_organization(named, with_roles({"tenant_admin"}));
  EXPECT_EQ(std::get<domain::ConsumeReservation>(named).organization_id, "org-globex");  // refused later, as a 404
  Command platform = decoded("reservation.release", {{"reservation_id", "r1"}, {"quantity", 1}});
  resolve_reservation_organization(platform, Principal{events::Actor{"user", "ops", {"platform_admin"}}, "platform"});
  EXPECT_EQ(std::get<domain::ReleaseReservation>(platform).organization_id, "");
}

}  // namespace
}  // namespace ledger::commands
