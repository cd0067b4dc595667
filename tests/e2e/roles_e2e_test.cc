// Roles, tenant isolation and secrets through the real stack (issue 5):
// ledger-command, ledger-relay, ledger-projector and ledger-query as
// processes over a fresh database and fresh topics.
//
//   RolesE2e.EveryRouteWithEveryRoleMatchesTheReadmeTable
//     every command type (commands/decode.h) and every query route, called
//     with a token of every role, answers exactly as README's Roles table
//     says (403 `forbidden` or not), and every refusal shows up in
//     GET /v1/audit?event_type=AccessRefused for the platform and, when it
//     targeted acme, for acme's own auditor.
//   RolesE2e.CrossTenantAttemptsAreRefusedAndAudited
//     globex's principals reach for acme's data through path ids, query
//     filters, batch bodies, Kafka commands, cursors and as_of reads: each
//     is refused (403, or 404 like an unknown reservation) or answers only
//     globex's own rows, nothing of acme changes, and every refused attempt
//     is in acme's audit view.
//   RolesE2e.NoSecretInLogsErrorsOrEvents
//     with debug logging, valid and invalid tokens (static and JWT) and
//     commands over HTTP and Kafka: no token, JWT or the HMAC secret appears
//     in any service log, error body or event.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <ctime>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "adapters/http/client.h"
#include "adapters/identity/jwt.h"
#include "adapters/kafka/kafka.h"
#include "commands/access/authorization.h"
#include "commands/decode.h"
#include "services/common/process.h"
#include "services/common/settings.h"
#include "tests/support/e2e_stack.h"
#include "tests/support/e2e_support.h"
#include "tests/support/process.h"
#include "tests/support/role_table.h"
#include "tests/support/test_env.h"

namespace {

using namespace std::chrono_literals;
using ledger::adapters::http::HttpClient;
using ledger::testing::call;
using ledger::testing::ChildProcess;
using ledger::testing::eventually;
using ledger::testing::kAdminToken;
using ledger::testing::Reply;
using ledger::testing::tail;
using Json = nlohmann::json;
using Env = std::vector<std::pair<std::string, std::string>>;
namespace authz = ledger::commands;

std::string bearer(const std::string& token) { return "Bearer " + token; }

using Stack = ledger::testing::ServiceStack;

Json scope(const std::string& level, const std::string& id) { return {{"level", level}, {"id", id}}; }

using ledger::testing::rfc3339;

Json draft(const std::string& id, const std::string& project) {
  const auto now = std::chrono::system_clock::now();
  return {{"reservation_id", id},
          {"owner", scope("project", project)},
          {"kind", "gpu_nodes"},
          {"dimension", "gpu.count"},
          {"quantity", 2},
          {"unit", "gpu"},
          {"window_start", rfc3339(now - 1h)},
          {"window_end", rfc3339(now + 48h)},
          {"reason", "e2e"}};
}

Json decision_input(const std::string& organization, const std::string& project) {
  return {{"actor",
           {{"actor_type", "service_account"},
            {"actor_id", "scheduler"},
            {"roles", Json::array()},
            {"scopes", Json::array()}}},
          {"hierarchy", {{"organization_id", organization}, {"department_id", ""}, {"project_id", project}}},
          {"product",
           {{"product_id", "gpuaas"}, {"resource_type", "gpu_node"}, {"resource_id", "n1"}, {"action", "start"}}},
          {"request",
           {{"dimension", "gpu.count"}, {"requested_delta", 1}, {"unit", "gpu"}, {"region", ""}, {"sku_or_model", ""}}},
          {"current_usage", {{"scope_window", ""}, {"quantity", 0}, {"unit", "gpu"}}},
          {"registry_versions", Json::object()},
          {"correlation_id", "corr-roles"}};
}

// Registries; org-acme -> acme-p with a ceiling, a policy value and an
// active reservation; the same for org-globex -> globex-p.
void seed(Stack& s) {
  s.register_gpu_quota();
  s.ok("policy_key.define", {{"key", "roles.limit"}, {"value_type", "int"}, {"default", 5}, {"min", 0}, {"max", 100}});
  for (const std::string org : {"acme", "globex"}) {
    s.ok("organization.create", {{"organization_id", "org-" + org}, {"plan_id", "pro"}});
    s.ok("project.create", {{"project_id", org + "-p"}, {"organization_id", "org-" + org}});
    s.ok("ceiling.set", {{"scope", scope("organization", "org-" + org)},
                         {"dimension", "gpu.count"},
                         {"quantity", 32},
                         {"unit", "gpu"},
                         {"reason", "seed"}});
    s.ok("ceiling.set", {{"scope", scope("project", org + "-p")},
                         {"dimension", "gpu.count"},
                         {"quantity", 8},
                         {"unit", "gpu"},
                         {"reason", "seed"}});
    s.ok("policy_value.set",
         {{"key", "roles.limit"}, {"scope", {{"org_id", "org-" + org}}}, {"value", 10}, {"reason", "seed"}});
    s.ok("reservation.draft", draft("res-" + org, org + "-p"));
    s.ok("reservation.activate", {{"reservation_id", "res-" + org}, {"organization_id", "org-" + org}});
  }
}

// A body for every command type, aimed at acme.
Json walk_body(const std::string& type, const std::string& role) {
  const Json org = scope("organization", "org-acme");
  if (type == "policy_key.define")
    return {{"key", "roles.other"}, {"value_type", "int"}, {"default", 1}, {"min", 0}, {"max", 9}};
  if (type == "policy_value.set")
    return {{"key", "roles.limit"}, {"scope", {{"org_id", "org-acme"}}}, {"value", 11}, {"reason", "walk"}};
  if (type == "registry.register") return {{"kind", "product"}, {"entry_id", "walk-" + role}};
  if (type == "organization.create") return {{"organization_id", "org-acme"}, {"plan_id", "pro"}};
  if (type == "organization.change_plan") return {{"organization_id", "org-acme"}, {"plan_id", "pro"}};
  if (type == "department.create") return {{"department_id", "acme-d-" + role}, {"organization_id", "org-acme"}};
  if (type == "department.move") return {{"department_id", "acme-d-" + role}};
  if (type == "project.create") return {{"project_id", "acme-p-" + role}, {"organization_id", "org-acme"}};
  if (type == "project.move") return {{"project_id", "acme-p"}, {"department_id", "org-acme.default"}};
  if (type == "principal.create")
    return {{"principal_id", "acme-u-" + role}, {"principal_type", "user"}, {"project_id", "acme-p"}};
  if (type == "ceiling.set")
    return {{"scope", org}, {"dimension", "gpu.count"}, {"quantity", 32}, {"unit", "gpu"}, {"reason", "walk"}};
  if (type == "ceiling.clear")
    return {{"scope", scope("project", "acme-p-" + role)}, {"dimension", "gpu.count"}, {"reason", "walk"}};
  if (type == "ceiling.delegate" || type == "ceiling.revoke_delegation")
    return {{"scope", org}, {"dimension", "gpu.count"}, {"reason", "walk"}};
  if (type == "reservation.draft") return draft("res-walk-" + role, "acme-p");
  if (type.rfind("reservation.", 0) == 0 && type != "reservation.consume" && type != "reservation.release") {
    return {{"reservation_id", "res-walk-" + role}, {"organization_id", "org-acme"}};
  }
  if (type == "reservation.consume" || type == "reservation.release")
    return {{"reservation_id", "res-acme"}, {"organization_id", "org-acme"}, {"quantity", 0}};
  if (type == "access.record_refusal") {
    // Only the refusal recorder files under another tenant than its own.
    return {{"actor_type", "user"},           {"actor_id", "recorded-by-" + role},
            {"principal_tenant", "org-acme"}, {"target_tenant", role == "platform_admin" ? "platform" : "org-acme"},
            {"route_family", "audit.read"},   {"method", "GET"},
            {"target", "/v1/audit"},          {"reason", "role_not_allowed"}};
  }
  if (type == "token.revoke") return {{"tenant", "org-acme"}, {"token_id", "walk-" + role}, {"reason", "walk"}};
  // plan entitlements (seed 003)
  const Json rules = {{"type", "plan-allowlist"}, {"allowedPlans", {"pro"}}};
  if (type == "capability.define")
    return {{"name", "walk-" + std::string(role == "platform_admin" ? "admin" : "other")}};
  if (type == "capability.deprecate" || type == "capability.retire") return {{"capability_id", "cap-walk"}};
  if (type == "plan.define") return {{"name", "walk-plan-" + role}};
  if (type == "plan.update" || type == "plan.archive") return {{"plan_id", "walk-plan"}};
  if (type == "policy.create") return {{"capabilityId", "cap-walk"}, {"name", "walk"}, {"rules", rules}};
  if (type == "policy.create_version") return {{"policy_id", "pol-walk"}, {"rules", rules}, {"changelog", "walk"}};
  if (type == "policy.activate") {
    return {{"policy_id", "pol-walk"}, {"version_id", "pol-walk-v1"}, {"environment", "dev"}, {"changelog", "walk"}};
  }
  if (type == "policy.archive_version") return {{"policy_id", "pol-walk"}, {"version_id", "pol-walk-v1"}};
  // Layered configuration (seed 004).
  if (type == "config.reload") return {{"invalidate", {{"tenant_ids", {"org-acme"}}}}};
  if (type == "config.secrets.shred") return {{"tenant_id", "org-acme"}, {"reason", "walk"}};
  if (type == "config.global.set") return {{"key", "walk_" + role}, {"value", 1}, {"reason", "walk"}};
  if (type == "config.service_type.set")
    return {{"service_type", "walk"}, {"value", {{"r", role}}}, {"reason", "walk"}};
  if (type.rfind("config.", 0) == 0) {
    Json b = {{"tenant_id", "org-acme"}, {"value", {{"r", role}}}, {"reason", "walk"}};
    if (type == "config.agent.set") b["agent_type"] = "walk";
    if (type == "config.project.set") b["project_id"] = "walk";
    if (type == "config.service.set") b["service_id"] = "walk";
    return b;
  }
  if (type == "entitlements.configure") return {{"tenant", "walk"}, {"require_progression", false}};
  // Application policy chains (seed 002).
  if (type == "application.retire") return {{"application_id", "walk-app-" + role}, {"organization_id", "org-acme"}};
  if (type.rfind("application.", 0) == 0) {
    return {{"application_id", "walk-app-" + role}, {"organization_id", "org-acme"}, {"name", "walk"}};
  }
  if (type == "app_policy.attach") {
    return {{"application_id", "walk-app-" + role},
            {"organization_id", "org-acme"},
            {"policy_type", "request_size"},
            {"config", {{"max_bytes", 1}}}};
  }
  if (type == "app_policy.update") return {{"policy_id", "pol_walk"}, {"enabled", false}};
  if (type == "app_policy.detach") return {{"policy_id", "pol_walk"}};
  ADD_FAILURE() << "no walk body for " << type;
  return Json::object();
}

struct Attempt {
  std::string actor_id;
  std::string method;
  std::string target;
  std::string family;
  std::string target_tenant;
};

bool recorded(const Json& items, const Attempt& a) {
  for (const auto& row : items) {
    const Json& p = row["after"];
    if (p.value("actor_id", "") == a.actor_id && p.value("target", "") == a.target &&
        p.value("method", "") == a.method && p.value("route_family", "") == a.family &&
        row["actor"].value("id", "") == a.actor_id && row.value("tenant", "") == p.value("target_tenant", "")) {
      return true;
    }
  }
  return false;
}

bool all_recorded(const Json& items, const std::vector<Attempt>& attempts) {
  for (const auto& a : attempts) {
    if (!recorded(items, a)) return false;
  }
  return true;
}

std::string missing(const Json& items, const std::vector<Attempt>& attempts) {
  std::string out;
  for (const auto& a : attempts) {
    if (!recorded(items, a)) out += a.actor_id + " " + a.method + " " + a.target + " (" + a.family + ")\n";
  }
  return out;
}

TEST(RolesE2e, EveryRouteWithEveryRoleMatchesTheReadmeTable) {
  std::string problem;
  const auto table = ledger::testing::readme_role_table(std::string(LEDGER_SOURCE_DIR) + "/README.md", &problem);
  ASSERT_EQ(table.size(), std::size(authz::kFamilies)) << "README's Roles table";
  ASSERT_EQ(problem, "");
  Stack s("roles_walk_e2e");
  ASSERT_TRUE(s.start());
  seed(s);

  struct Holder {
    std::string role, token, actor_id, tenant;
  };
  const std::vector<Holder> holders = {{"platform_admin", "dev-platform-admin", "platform-admin", "platform"},
                                       {"tenant_admin", "dev-acme-tenant-admin", "acme-tenant-admin", "org-acme"},
                                       {"auditor", "dev-acme-auditor", "acme-auditor", "org-acme"},
                                       {"service", "dev-acme-service", "acme-billing", "org-acme"},
                                       {"reader", "dev-acme-reader", "acme-reader", "org-acme"},
                                       {"refusal_recorder", "dev-query-service", "ledger-query", "@refusal-recorder"}};
  ASSERT_EQ(holders.size(), std::size(authz::kRoles));

  struct QueryCall {
    std::string method, target;
    Json body;
  };
  const std::vector<QueryCall> queries = {
      {"GET", "/v1/policy-values/roles.limit?org_id=org-acme", nullptr},
      {"GET", "/v1/policy-values?key=roles.limit", nullptr},
      {"GET", "/v1/policy-keys", nullptr},
      {"GET", "/v1/changes?from_position=1&until_position=1", nullptr},  // a stream that ends after position 1
      {"GET", "/v1/audit?limit=1", nullptr},
      {"GET", "/v1/audit/changes/roles.limit", nullptr},
      {"POST", "/v1/decisions", decision_input("org-acme", "acme-p")},
      {"POST", "/v1/decisions:batch", {{"decisions", Json::array({decision_input("org-acme", "acme-p")})}}},
      {"GET", "/v1/ceilings/effective?scope_level=organization&scope_id=org-acme", nullptr},
      {"GET", "/v1/reservations", nullptr},
      {"GET", "/v1/reservations/res-acme?organization_id=org-acme", nullptr},
      {"GET", "/v1/views/organizations/org-acme", nullptr},
      {"POST",
       "/v1/entitlements:check",
       {{"environment", "production"}, {"organization_id", "org-acme"}, {"capability", "export-data"}}},
      {"POST",
       "/v1/entitlements:batchCheck",
       {{"checks", Json::array({{{"environment", "dev"}, {"organization_id", "org-acme"}, {"capability", "x-y-z"}}})}}},
      {"GET", "/v1/entitlements/active?environment=production", nullptr},
      {"GET", "/v1/capabilities", nullptr},
      {"GET", "/v1/plans", nullptr},
      {"GET", "/v1/policies/pol-walk/versions", nullptr},
      {"POST",
       "/v1/policies/pol-walk/versions/pol-walk-v1:shadow",
       {{"environment", "production"}, {"from", "2026-01-01T00:00:00Z"}, {"to", "2026-01-02T00:00:00Z"}}},
      {"GET", "/tenants/org-acme/config/resolved", nullptr},
      {"GET", "/config/global/walk_platform_admin", nullptr},
      {"GET", "/config/service-types/walk", nullptr},
      {"GET", "/v1/applications/walk-app?organization_id=org-acme", nullptr},
      {"GET", "/v1/app-policies/types", nullptr},
      {"GET", "/v1/app-policies/available-types", nullptr},
      {"POST", "/v1/applications/walk-app:evaluate", {{"organization_id", "org-acme"}}},
      {"GET", "/v1/decisions/log?limit=1", nullptr},
      {"GET", "/v1/decisions/log/status", nullptr},
  };
  // Every query route of the table is called above.
  std::set<std::string> called;
  for (const auto& q : queries) called.insert(q.method + " " + q.target.substr(0, q.target.find('?')));
  for (const auto& r : authz::kQueryRoutes) {
    bool hit = false;
    for (const auto& c : called) {
      const std::string m(r.method), p(r.path);
      hit = hit || (c.rfind(m + " " + p, 0) == 0 &&
                    (r.prefix ? c.size() > m.size() + 1 + p.size() : c.size() == m.size() + 1 + p.size()));
    }
    EXPECT_TRUE(hit) << r.method << " " << r.path << " is not walked";
  }

  std::vector<Attempt> refused;
  for (const auto& h : holders) {
    for (auto type_view : ledger::commands::kCommandTypes) {
      const std::string type(type_view);
      const Json body = walk_body(type, h.role);
      auto decoded = ledger::commands::decode_command(type, body);
      ASSERT_TRUE(decoded.has_value()) << type;
      const std::string family(authz::family_name(authz::command_family(decoded->command)));
      const bool expected = table.at(family).at(h.role);
      Reply r = s.command(type, body, bearer(h.token));
      ASSERT_NE(r.status, 0) << r.describe();
      EXPECT_NE(r.status, 401) << type << " as " << h.role << ": " << r.describe();
      if (expected) {
        EXPECT_NE(r.status, 403) << type << " (" << family << ") as " << h.role << ": " << r.describe();
      } else {
        EXPECT_EQ(r.status, 403) << type << " (" << family << ") as " << h.role << ": " << r.describe();
        EXPECT_EQ(r.code(), "forbidden") << r.describe();
        EXPECT_EQ(r.body["evidence"].value("route_family", ""), family) << r.describe();
        refused.push_back(
            {h.actor_id, "POST", type, family, ledger::commands::declared_tenant(decoded->command, {{}, h.tenant})});
      }
    }
    for (const auto& q : queries) {
      const std::string path = q.target.substr(0, q.target.find('?'));
      const auto f = authz::query_family(q.method, path);
      ASSERT_TRUE(f) << path;
      const std::string family(authz::family_name(*f));
      const bool expected = table.at(family).at(h.role);
      Reply r = s.query(q.method, q.target, bearer(h.token), q.body);
      ASSERT_NE(r.status, 0) << r.describe();
      if (expected) {
        EXPECT_NE(r.status, 403) << q.method << " " << q.target << " as " << h.role << ": " << r.describe();
        EXPECT_LT(r.status, 500) << r.describe();
      } else {
        EXPECT_EQ(r.status, 403) << q.method << " " << q.target << " as " << h.role << ": " << r.describe();
        EXPECT_EQ(r.code(), "forbidden") << r.describe();
        refused.push_back({h.actor_id, q.method, path, family, h.tenant});
      }
    }
  }
  ASSERT_FALSE(refused.empty());

  // A JWT's roles claim is read the same way.
  {
    std::ifstream in(std::string(LEDGER_SOURCE_DIR) + "/config/tokens.json");
    auto key = ledger::identity::JwtKey::from_key_file(Json::parse(in), "dev-hs256-1");
    ASSERT_TRUE(key.has_value());
    const auto now =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    ledger::identity::JwtClaims c{"policy-ledger", {"policy-ledger"}, "acme-jwt-reader", "user",
                                  {"reader"},      "org-acme",        "jti-roles-1",     now,
                                  now + 600,       std::nullopt};
    auto jwt = ledger::identity::mint_jwt(*key, c);
    ASSERT_TRUE(jwt.has_value());
    EXPECT_EQ(s.query("GET", "/v1/audit", bearer(*jwt)).status, 403);
    EXPECT_EQ(s.query("GET", "/v1/reservations", bearer(*jwt)).status, 200);
    refused.push_back({"acme-jwt-reader", "GET", "/v1/audit", "audit.read", "org-acme"});
  }

  // Every refusal is on record for the platform ...
  const Json all =
      s.refusals_seen_by("Bearer dev-auditor", [&](const Json& items) { return all_recorded(items, refused); });
  EXPECT_TRUE(all_recorded(all, refused)) << "not in the audit view:\n" << missing(all, refused) << s.describe_logs();
  // ... and those aimed at acme for acme's own auditor, who sees nothing else.
  std::vector<Attempt> at_acme;
  for (const auto& a : refused) {
    if (a.target_tenant == "org-acme") at_acme.push_back(a);
  }
  ASSERT_FALSE(at_acme.empty());
  const Json acme =
      s.refusals_seen_by("Bearer dev-acme-auditor", [&](const Json& items) { return all_recorded(items, at_acme); });
  EXPECT_TRUE(all_recorded(acme, at_acme)) << missing(acme, at_acme);
  for (const auto& row : acme) EXPECT_EQ(row["tenant"], "org-acme") << row.dump();
}

TEST(RolesE2e, CrossTenantAttemptsAreRefusedAndAudited) {
  Stack s("roles_cross_tenant_e2e");
  ASSERT_TRUE(s.start());
  seed(s);
  // acme's value for a user id the hierarchy does not know (read below).
  Reply ghost =
      s.command("policy_value.set",
                {{"key", "roles.limit"}, {"scope", {{"user_id", "ghost"}}}, {"value", 42}, {"reason", "acme"}},
                bearer("dev-acme-tenant-admin"));
  ASSERT_EQ(ghost.status, 200) << ghost.describe();
  const std::string admin = "Bearer dev-globex-tenant-admin", service = "Bearer dev-globex-service",
                    reader = "Bearer dev-globex-reader", auditor = "Bearer dev-globex-auditor";
  std::vector<Attempt> refused;
  auto expect_forbidden = [&](const Reply& r, const std::string& what) {
    EXPECT_EQ(r.status, 403) << what << ": " << r.describe();
    EXPECT_EQ(r.code(), "forbidden") << what << ": " << r.describe();
  };
  const std::string acme_before = s.sql("SELECT count(*) FROM ledger.events WHERE tenant = 'org-acme'");

  // Every read below waits for the seed (read-your-writes).
  const std::string fresh = "min_position=" + std::to_string(s.last_position());
  // Path ids: another organization's reservation reads like an unknown one.
  Reply foreign = s.query("GET", "/v1/reservations/res-acme?organization_id=org-acme&" + fresh, reader);
  Reply unknown = s.query("GET", "/v1/reservations/res-nobody?" + fresh, reader);
  EXPECT_EQ(foreign.status, 404) << foreign.describe();
  EXPECT_EQ(foreign.status, unknown.status);
  EXPECT_EQ(foreign.code(), "unknown_reservation");
  EXPECT_EQ(foreign.body["message"], unknown.body["message"]);
  EXPECT_EQ(foreign.body["evidence"], (Json{{"reservation_id", "res-acme"}}));
  EXPECT_EQ(unknown.body["evidence"], (Json{{"reservation_id", "res-nobody"}}));
  EXPECT_EQ(foreign.body.size(), unknown.body.size());
  refused.push_back({"globex-reader", "GET", "/v1/reservations/res-acme", "reservation.read", "org-acme"});
  EXPECT_EQ(s.query("GET", "/v1/reservations/res-globex?" + fresh, reader).status, 200);

  // Query filters.
  expect_forbidden(s.query("GET", "/v1/views/projects/acme-p?" + fresh, reader), "customer view");
  refused.push_back({"globex-reader", "GET", "/v1/views/projects/acme-p", "view.read", "org-acme"});
  expect_forbidden(s.query("GET", "/v1/reservations?organization_id=org-acme", reader), "reservations filter");
  refused.push_back({"globex-reader", "GET", "/v1/reservations", "reservation.read", "org-acme"});
  expect_forbidden(s.query("GET", "/v1/audit?tenant=org-acme", auditor), "audit tenant filter");
  refused.push_back({"globex-auditor", "GET", "/v1/audit", "audit.read", "org-acme"});
  expect_forbidden(s.query("GET", "/v1/audit?scope_level=organization&scope_id=org-acme", auditor), "audit scope");
  expect_forbidden(s.query("GET", "/v1/audit/changes/roles.limit?scope_level=organization&scope_id=org-acme", auditor),
                   "audit changes scope");
  refused.push_back({"globex-auditor", "GET", "/v1/audit/changes/roles.limit", "audit.read", "org-acme"});
  expect_forbidden(s.query("GET", "/v1/policy-values/roles.limit?org_id=org-acme", reader), "policy value org_id");
  refused.push_back({"globex-reader", "GET", "/v1/policy-values/roles.limit", "policy_value.read", "org-acme"});
  // A project of another organization named as the resolving scope.
  expect_forbidden(s.query("GET", "/v1/policy-values/roles.other?project_id=acme-p&" + fresh, reader),
                   "policy value project_id");
  refused.push_back({"globex-reader", "GET", "/v1/policy-values/roles.other", "policy_value.read", "org-acme"});
  expect_forbidden(s.query("GET", "/v1/ceilings/effective?scope_level=project&scope_id=acme-p&" + fresh, reader),
                   "ceilings");
  refused.push_back({"globex-reader", "GET", "/v1/ceilings/effective", "ceiling.read", "org-acme"});
  // Without org_id a reader resolves within its own organization.
  Reply own = s.query("GET", "/v1/policy-values/roles.limit?min_position=" + std::to_string(s.last_position()), reader);
  EXPECT_EQ(own.status, 200) << own.describe();
  EXPECT_EQ(own.body["source"]["id"], "org-globex") << own.describe();
  // A user id the hierarchy does not know is no way into another
  // organization's values: acme's value for "ghost" is acme's alone.
  {
    const std::string at = "&" + fresh;
    Reply theirs = s.query("GET", "/v1/policy-values/roles.limit?user_id=ghost" + at, reader);
    EXPECT_EQ(theirs.status, 200) << theirs.describe();
    EXPECT_EQ(theirs.body["value"], 10) << theirs.describe();  // globex's own organization value
    Reply ours = s.query("GET", "/v1/policy-values/roles.limit?user_id=ghost" + at, bearer("dev-acme-reader"));
    EXPECT_EQ(ours.body["value"], 42) << ours.describe();
  }

  // Decisions, alone and as one foreign item of a batch.
  expect_forbidden(s.query("POST", "/v1/decisions", service, decision_input("org-acme", "acme-p")), "decision");
  refused.push_back({"globex-billing", "POST", "/v1/decisions", "decision", "org-acme"});
  Reply batch = s.query(
      "POST", "/v1/decisions:batch?min_position=" + std::to_string(s.last_position()), service,
      {{"decisions", Json::array({decision_input("org-globex", "globex-p"), decision_input("org-acme", "acme-p")})}});
  ASSERT_EQ(batch.status, 200) << batch.describe();
  EXPECT_TRUE(batch.body["results"][0].contains("decision")) << batch.describe();
  EXPECT_EQ(batch.body["results"][1]["error"]["code"], "forbidden") << batch.describe();
  refused.push_back({"globex-billing", "POST", "/v1/decisions:batch", "decision", "org-acme"});

  // Commands over HTTP: scopes, organizations, policy values, reservations.
  expect_forbidden(s.command("ceiling.set",
                             {{"scope", scope("project", "acme-p")},
                              {"dimension", "gpu.count"},
                              {"quantity", 999},
                              {"unit", "gpu"},
                              {"reason", "x"}},
                             admin),
                   "ceiling.set on acme");
  refused.push_back({"globex-admin", "COMMAND", "ceiling.set", "ceiling.write", "org-acme"});
  expect_forbidden(s.command("project.create", {{"project_id", "spy"}, {"organization_id", "org-acme"}}, admin),
                   "project.create in acme");
  refused.push_back({"globex-admin", "COMMAND", "project.create", "hierarchy.write", "org-acme"});
  expect_forbidden(
      s.command("policy_value.set",
                {{"key", "roles.limit"}, {"scope", {{"org_id", "org-acme"}}}, {"value", 99}, {"reason", "x"}}, admin),
      "policy value at acme");
  expect_forbidden(
      s.command("policy_value.set",
                {{"key", "roles.limit"}, {"scope", {{"project_id", "acme-p"}}}, {"value", 99}, {"reason", "x"}}, admin),
      "policy value at acme's project");
  refused.push_back({"globex-admin", "COMMAND", "policy_value.set", "policy_value.write", "org-acme"});
  // Reservation ids are per organization: acme's is reached only by naming it.
  Reply consume =
      s.command("reservation.consume",
                {{"reservation_id", "res-acme"}, {"organization_id", "org-acme"}, {"quantity", 1}}, service);
  Reply consume_unknown =
      s.command("reservation.consume", {{"reservation_id", "res-nobody"}, {"quantity", 1}}, service);
  EXPECT_EQ(consume.status, 404) << consume.describe();
  EXPECT_EQ(consume.code(), "unknown_reservation");
  EXPECT_EQ(consume.body["message"], consume_unknown.body["message"]);
  EXPECT_EQ(consume.body.size(), consume_unknown.body.size());
  refused.push_back({"globex-billing", "COMMAND", "reservation.consume", "reservation.use", "org-acme"});

  // Commands over Kafka: the same refusal, on ledger.command-results.
  Json kafka_body = {
      {"type", "ceiling.clear"}, {"scope", scope("project", "acme-p")}, {"dimension", "gpu.count"}, {"reason", "x"}};
  ASSERT_TRUE(s.publish("cmd-cross-kafka-1", kafka_body, admin));
  const Json result = s.result_of("cmd-cross-kafka-1");
  EXPECT_EQ(result.value("status", ""), "rejected") << result.dump();
  EXPECT_EQ(result.value("code", ""), "forbidden") << result.dump();
  refused.push_back({"globex-admin", "COMMAND", "ceiling.clear", "ceiling.write", "org-acme"});

  // Cursors and as_of reads answer under the caller's own tenant filter.
  Reply acme_page =
      s.query("GET", "/v1/audit?limit=1&min_position=" + std::to_string(s.last_position()), "Bearer dev-acme-auditor");
  ASSERT_EQ(acme_page.status, 200) << acme_page.describe();
  ASSERT_TRUE(acme_page.body["next_cursor"].is_string()) << acme_page.describe();
  const std::string cursor = acme_page.body["next_cursor"];
  for (const std::string& target : {"/v1/audit?limit=1000&cursor=" + cursor,
                                    "/v1/audit?limit=1000&as_of_position=" + std::to_string(s.last_position()),
                                    "/v1/audit/changes/roles.limit?cursor=" + cursor}) {
    Reply r = s.query("GET", target, auditor);
    ASSERT_EQ(r.status, 200) << target << ": " << r.describe();
    const Json& rows = r.body.contains("items") ? r.body["items"] : r.body["changes"];
    EXPECT_FALSE(rows.empty()) << target;
    for (const auto& row : rows) {
      if (row.contains("tenant")) {
        EXPECT_EQ(row["tenant"], "org-globex") << target << " " << row.dump();
      }
      EXPECT_NE(row["scope"].dump().find("globex"), std::string::npos) << target << " " << row.dump();
    }
  }

  // Nothing of acme changed.
  EXPECT_EQ(s.sql("SELECT count(*) FROM ledger.events WHERE tenant = 'org-acme' AND event_type <> 'AccessRefused'"),
            acme_before);

  // Every refused attempt is in acme's audit view (and in no one else's).
  const Json seen =
      s.refusals_seen_by("Bearer dev-acme-auditor", [&](const Json& items) { return all_recorded(items, refused); });
  EXPECT_TRUE(all_recorded(seen, refused)) << "not in acme's audit view:\n"
                                           << missing(seen, refused) << s.describe_logs();
  Reply globex_view = s.query("GET", "/v1/audit?event_type=AccessRefused&limit=1000", auditor);
  ASSERT_EQ(globex_view.status, 200);
  for (const auto& row : globex_view.body["items"]) EXPECT_EQ(row["tenant"], "org-globex") << row.dump();
}

// Every secret of the token file: the static tokens (stored as digests; their
// clear values are the development tokens of README "Tokens") and JWT keys.
std::vector<std::string> configured_secrets() {
  std::ifstream in(std::string(LEDGER_SOURCE_DIR) + "/config/tokens.json");
  const Json file = Json::parse(in);
  std::vector<std::string> out = {"dev-platform-admin", "dev-acme-admin",          "dev-acme-service",
                                  "dev-auditor",        "dev-acme-tenant-admin",   "dev-acme-auditor",
                                  "dev-acme-reader",    "dev-globex-tenant-admin", "dev-globex-service",
                                  "dev-globex-auditor", "dev-globex-reader",       "dev-query-service"};
  EXPECT_EQ(out.size(), file["tokens"].size());
  for (const auto& k : file["jwt"]["keys"]) {
    if (k.contains("secret_base64url")) out.push_back(k["secret_base64url"]);
  }
  return out;
}

TEST(RolesE2e, NoSecretInLogsErrorsOrEvents) {
  Stack s("roles_secrets_e2e", "debug");
  ASSERT_TRUE(s.start());
  std::vector<std::string> secrets = configured_secrets();
  ASSERT_GE(secrets.size(), 5u);

  std::ifstream in(std::string(LEDGER_SOURCE_DIR) + "/config/tokens.json");
  auto key = ledger::identity::JwtKey::from_key_file(Json::parse(in), "dev-hs256-1");
  ASSERT_TRUE(key.has_value());
  const auto now =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  ledger::identity::JwtClaims claims{"policy-ledger", {"policy-ledger"}, "jwt-admin", "user",    {"platform_admin"},
                                     "platform",      "jti-secret-1",    now,         now + 600, std::nullopt};
  const std::string valid_jwt = *ledger::identity::mint_jwt(*key, claims);
  claims.expires_at = now - 3600;
  claims.issued_at = now - 7200;
  claims.token_id = "jti-secret-2";
  const std::string expired_jwt = *ledger::identity::mint_jwt(*key, claims);
  std::string tampered_jwt = valid_jwt;
  tampered_jwt[tampered_jwt.size() - 2] = tampered_jwt[tampered_jwt.size() - 2] == 'A' ? 'B' : 'A';
  const std::string unknown_static = "not-a-configured-token-7f3a";
  for (const auto& t : {valid_jwt, expired_jwt, tampered_jwt, unknown_static}) secrets.push_back(t);
  secrets.push_back(valid_jwt.substr(valid_jwt.rfind('.') + 1));  // a signature alone

  // Valid and invalid tokens, static and JWT, on both services.
  s.ok("policy_key.define", {{"key", "secrets.limit"}, {"value_type", "int"}, {"default", 5}, {"min", 0}, {"max", 9}});
  const Json set = {{"key", "secrets.limit"}, {"scope", {{"org_id", "org-acme"}}}, {"value", 6}, {"reason", "r"}};
  EXPECT_EQ(s.command("policy_value.set", set, bearer(valid_jwt)).status, 200);
  for (const auto& t : {expired_jwt, tampered_jwt, unknown_static}) {
    EXPECT_EQ(s.command("policy_value.set", set, bearer(t)).status, 401);
    EXPECT_EQ(s.query("GET", "/v1/audit", bearer(t)).status, 401);
  }
  EXPECT_EQ(s.command("policy_value.set", set, "Bearer dev-acme-reader").status, 403);
  EXPECT_EQ(s.query("GET", "/v1/audit?tenant=org-globex", "Bearer dev-acme-auditor").status, 403);
  EXPECT_EQ(s.query("GET", "/v1/audit", bearer(valid_jwt)).status, 200);
  EXPECT_EQ(s.query("GET", "/v1/audit", "Bearer dev-platform-admin").status, 200);
  // Over Kafka the producer's Kafka principal is the identity: a record
  // carrying a token (valid or not) is refused and the token goes nowhere.
  Json kafka = set;
  kafka["type"] = "policy_value.set";
  kafka["value"] = 7;
  ASSERT_TRUE(s.publish("cmd-secret-kafka-ok", kafka, "Bearer dev-acme-tenant-admin"));
  ASSERT_TRUE(
      s.publish("cmd-secret-kafka-bad", kafka, "Bearer dev-acme-tenant-admin", {{"authorization", bearer(valid_jwt)}}));
  EXPECT_EQ(s.result_of("cmd-secret-kafka-ok").value("status", ""), "accepted");
  EXPECT_EQ(s.result_of("cmd-secret-kafka-bad").value("code", ""), "kafka_token_header_refused");
  // The refusals above reach the audit view (so their events exist to search).
  s.refusals_seen_by("Bearer dev-auditor", [](const Json& items) { return items.size() >= 2; });

  const std::string events = s.sql(
      "SELECT coalesce(string_agg(payload::text || ' ' || actor::text || ' ' || stream_id || ' ' || "
      "correlation_id || ' ' || command_id, E'\\n'), '') FROM ledger.events");
  ASSERT_FALSE(events.empty());
  const std::string logs = s.logs();
  ASSERT_NE(logs.find("\"level\":\"debug\""), std::string::npos) << "the services must log at debug here";
  for (const auto& secret : secrets) {
    EXPECT_EQ(logs.find(secret), std::string::npos) << "a secret is in a service log";
    EXPECT_EQ(s.answers().find(secret), std::string::npos) << "a secret is in an answer or result";
    EXPECT_EQ(events.find(secret), std::string::npos) << "a secret is in an event";
  }
}

}  // namespace
