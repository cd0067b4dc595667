// Per-application policy chains (seed 002) through the real services: the
// seed's three workflows and three scenarios, tenant isolation, bad input,
// audit and time travel.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <string>

#include "tests/support/e2e_stack.h"
#include "tests/support/e2e_support.h"
#include "tests/support/process.h"

namespace {

using ledger::testing::kAdminToken;
using ledger::testing::Reply;
using Json = nlohmann::json;

constexpr const char* kAcmeAdmin = "Bearer dev-acme-tenant-admin";
constexpr const char* kGlobexAdmin = "Bearer dev-globex-tenant-admin";
constexpr const char* kAcmeService = "Bearer dev-acme-service";
constexpr const char* kAcmeReader = "Bearer dev-acme-reader";

class Stack : public ledger::testing::ServiceStack {
 public:
  using ServiceStack::ServiceStack;
  std::string at() const { return "min_position=" + std::to_string(last_position()); }
  // POST .../applications/{app}/policies as `token`; the created policy's id.
  std::string attach(const std::string& app, const Json& body, const std::string& token = kAcmeAdmin) {
    Reply r = admin("POST", "/api/v1/admin/applications/" + app + "/policies", body, token);
    EXPECT_EQ(r.status, 200) << r.describe();
    return r.body.value("id", std::string());
  }
  Reply evaluate(const std::string& app, const Json& body, const std::string& token = kAcmeService) {
    return query("POST", "/v1/applications/" + app + ":evaluate?" + at(), token, body);
  }
  Reply policies(const std::string& app, const std::string& token = kAcmeAdmin) {
    return query("GET", "/api/v1/admin/applications/" + app + "/policies?" + at(), token);
  }
};

void setup(Stack& s) {
  s.ok("organization.create", {{"organization_id", "org-acme"}, {"name", "Acme Corp"}, {"plan_id", "pro"}});
  s.ok("organization.create", {{"organization_id", "org-globex"}, {"name", "Globex"}, {"plan_id", "pro"}});
  for (const auto& [id, name] : std::vector<std::pair<std::string, std::string>>{
           {"app-123", "Production API"}, {"app-456", "Dev API"}, {"app-789", "Internal Tools"}}) {
    Reply r = s.command("application.register", {{"application_id", id}, {"name", name}}, kAcmeAdmin);
    ASSERT_EQ(r.status, 200) << r.describe();
  }
}

TEST(AppPolicyE2e, SeedWorkflowsAndScenarios) {
  Stack s("app_policy_e2e");
  ASSERT_TRUE(s.start());
  setup(s);

  // Workflow 1, step 1: a new app has no policies.
  Reply app = s.query("GET", "/api/v1/admin/applications/app-123?" + s.at(), kAcmeAdmin);
  ASSERT_EQ(app.status, 200) << app.describe();
  EXPECT_EQ(app.body["policies"], Json::array());
  EXPECT_EQ(app.body["name"], "Production API");
  EXPECT_GE(app.body["snapshot_version"].get<std::int64_t>(), s.last_position());
  // Step 2: the available types, with schemas.
  for (const char* path : {"/api/v1/admin/policies/available-types", "/api/v1/admin/policies/types"}) {
    Reply types = s.query("GET", path, kAcmeAdmin);
    ASSERT_EQ(types.status, 200) << types.describe();
    ASSERT_TRUE(types.body.is_array());
    bool rate = false, cel = false;
    for (const auto& t : types.body) {
      if (t["type"] == "rate_limit") {
        rate = t["is_built_in"] == true && t["config_schema"]["properties"]["requests_per_minute"]["minimum"] == 1;
      }
      if (t["type"] == "custom_cel") cel = t["is_built_in"] == false;
    }
    EXPECT_TRUE(rate && cel) << types.describe();
  }
  // Step 4: the rate limit, the seed's body.
  const std::string rate = s.attach(
      "app-123",
      {{"policy_type", "rate_limit"}, {"config", {{"requests_per_minute", 1}, {"burst", 2}}}, {"enabled", true}});
  ASSERT_FALSE(rate.empty());
  // Step 6: the next requests are limited: a burst of 2, then denied.
  for (int i = 0; i < 2; ++i) {
    Reply e = s.evaluate("app-123", {{"model", "gpt-4"}});
    ASSERT_EQ(e.status, 200) << e.describe();
    EXPECT_EQ(e.body["decision"], "allow") << e.describe();
    EXPECT_EQ(e.read_model, "memory");
  }
  Reply limited = s.evaluate("app-123", {{"model", "gpt-4"}});
  ASSERT_EQ(limited.status, 200) << limited.describe();
  EXPECT_EQ(limited.body["decision"], "deny");
  EXPECT_EQ(limited.body["reason"], "rate_limited");
  EXPECT_EQ(limited.body["denied_by"], rate);
  ASSERT_EQ(limited.body["chain"].size(), 1u);
  EXPECT_EQ(limited.body["chain"][0]["policy_type"], "rate_limit");
  EXPECT_EQ(limited.body["chain"][0]["version"], 1);

  // Workflow 3: the same type on another app with different values: two
  // policies, independent counters.
  const std::string dev_rate =
      s.attach("app-456", {{"policy_type", "rate_limit"}, {"config", {{"requests_per_minute", 100}, {"burst", 10}}}});
  EXPECT_NE(dev_rate, rate);
  Reply dev = s.evaluate("app-456", {{"model", "gpt-4"}});
  EXPECT_EQ(dev.body["decision"], "allow") << dev.describe();
  Reply listed = s.policies("app-456");
  ASSERT_EQ(listed.status, 200) << listed.describe();
  ASSERT_EQ(listed.body.size(), 1u);
  EXPECT_EQ(listed.body[0]["config"]["requests_per_minute"], 100);
  EXPECT_EQ(s.policies("app-123").body[0]["config"]["requests_per_minute"], 1);

  // Scenario 2: several policies run in order; the order is explicit and changeable.
  const std::string tokens = s.attach("app-123", {{"policy_type", "token_limit"}, {"config", {{"max_tokens", 8192}}}});
  const std::string models =
      s.attach("app-123", {{"policy_type", "model_allowlist"}, {"config", {{"models", {"gpt-4*"}}}}, {"index", 0}});
  Reply chain = s.policies("app-123");
  ASSERT_EQ(chain.body.size(), 3u) << chain.describe();
  EXPECT_EQ(chain.body[0]["id"], models);
  EXPECT_EQ(chain.body[1]["id"], rate);
  EXPECT_EQ(chain.body[2]["id"], tokens);
  Reply wrong_model = s.evaluate("app-123", {{"model", "claude-3"}, {"estimated_tokens", 10}});
  EXPECT_EQ(wrong_model.body["reason"], "model_not_allowed") << wrong_model.describe();
  EXPECT_EQ(wrong_model.body["chain"][1]["verdict"], "not_evaluated");

  // PATCH: disable the rate limit; the chain allows again; config changes are validated.
  Reply off =
      s.admin("PATCH", "/api/v1/admin/policies/" + rate, {{"enabled", false}, {"reason", "launch week"}}, kAcmeAdmin);
  ASSERT_EQ(off.status, 200) << off.describe();
  Reply open = s.evaluate("app-123", {{"model", "gpt-4o"}, {"estimated_tokens", 100}});
  EXPECT_EQ(open.body["decision"], "allow") << open.describe();
  EXPECT_EQ(open.body["chain"].size(), 2u) << open.describe();
  Reply too_many = s.evaluate("app-123", {{"model", "gpt-4o"}, {"estimated_tokens", 9000}});
  EXPECT_EQ(too_many.body["reason"], "token_limit_exceeded") << too_many.describe();
  const std::int64_t before_bad = s.last_position();
  Reply bad = s.admin("PATCH", "/api/v1/admin/policies/" + tokens, {{"config", {{"max_tokens", 0}}}}, kAcmeAdmin);
  EXPECT_EQ(bad.status, 422) << bad.describe();
  EXPECT_EQ(bad.code(), "invalid_policy_config");
  EXPECT_EQ(bad.body["evidence"]["field"], "/max_tokens");
  EXPECT_EQ(s.last_position(), before_bad);

  // DELETE keeps history: the policy is gone from the chain, its events stay.
  Reply gone = s.admin("DELETE", "/api/v1/admin/policies/" + models, Json{{"reason", "not needed"}}, kAcmeAdmin);
  ASSERT_EQ(gone.status, 200) << gone.describe();
  EXPECT_EQ(s.policies("app-123").body.size(), 2u);
  Reply audit = s.query("GET", "/v1/audit?event_type=PolicyDetached&" + s.at(), kAdminToken);
  ASSERT_EQ(audit.status, 200) << audit.describe();
  EXPECT_NE(audit.body.dump().find(models), std::string::npos) << audit.describe();

  // The auditor's CLI reads the same history from the event store alone.
  const std::string cli = std::string(LEDGER_BINARY_DIR) + "/services/ledger-audit history --pg-url '" +
                          s.database().app_url + "' --stream application:org-acme/app-123 --json 2>/dev/null";
  auto history = ledger::testing::run_command(cli);
  ASSERT_EQ(history.status, 0) << history.out;
  for (const char* type : {"ApplicationRegistered", "PolicyAttached", "PolicyUpdated", "PolicyDetached"}) {
    EXPECT_NE(history.out.find(type), std::string::npos) << type << " missing from " << history.out;
  }
  EXPECT_NE(history.out.find("launch week"), std::string::npos) << history.out;  // the reason of the PATCH

  // Time travel: as of the position before the delete the chain had three.
  Reply then = s.query("GET",
                       "/api/v1/admin/applications/app-123?as_of_position=" +
                           std::to_string(gone.body["position"].get<std::int64_t>() - 1) + "&" + s.at(),
                       kAcmeAdmin);
  ASSERT_EQ(then.status, 200) << then.describe();
  EXPECT_EQ(then.body["policies"].size(), 3u) << then.describe();
  // ... and an evaluation re-run then denies the wrong model again (and spends nothing).
  Reply replay = s.query("POST",
                         "/v1/applications/app-123:evaluate?as_of_position=" +
                             std::to_string(gone.body["position"].get<std::int64_t>() - 1),
                         kAcmeService, Json{{"model", "claude-3"}});
  EXPECT_EQ(replay.body["reason"], "model_not_allowed") << replay.describe();

  // Workflow 2: a custom CEL policy, validated first; a bad expression is never stored.
  Reply valid =
      s.admin("POST", "/api/v1/admin/policies/validate-cel", {{"expression", "estimated_tokens < 5000"}}, kAcmeAdmin);
  ASSERT_EQ(valid.status, 200) << valid.describe();
  EXPECT_EQ(valid.body["valid"], true);
  const std::int64_t before_cel = s.last_position();
  Reply broken = s.admin("POST", "/api/v1/admin/applications/app-456/policies",
                         {{"policy_type", "custom_cel"},
                          {"config", {{"name", "broken"}, {"pre_check_expression", "estimated_tokens < 'many'"}}}},
                         kAcmeAdmin);
  EXPECT_EQ(broken.status, 422) << broken.describe();
  EXPECT_EQ(broken.code(), "invalid_expression");
  EXPECT_EQ(broken.body["evidence"]["field"], "/pre_check_expression") << broken.describe();
  EXPECT_EQ(s.last_position(), before_cel);
  const std::string cel = s.attach("app-456", {{"policy_type", "custom_cel"},
                                               {"config",
                                                {{"name", "block_large_prompts"},
                                                 {"description", "Limit prompt size"},
                                                 {"pre_check_expression", "estimated_tokens < 5000"},
                                                 {"post_check_expression", "actual_tokens <= estimated_tokens * 2"}}},
                                               {"enabled", true}});
  Reply small = s.evaluate("app-456", {{"model", "gpt-4"}, {"estimated_tokens", 100}});
  EXPECT_EQ(small.body["decision"], "allow") << small.describe();
  ASSERT_EQ(small.body["chain"].size(), 2u) << small.describe();
  EXPECT_EQ(small.body["chain"][1]["policy_type"], "custom_cel");
  EXPECT_EQ(small.body["chain"][1]["reason"], "expression_true");
  Reply large = s.evaluate("app-456", {{"model", "gpt-4"}, {"estimated_tokens", 6000}});
  EXPECT_EQ(large.body["decision"], "deny") << large.describe();
  EXPECT_EQ(large.body["denied_by"], cel);
  Reply post = s.evaluate("app-456", {{"phase", "post"}, {"estimated_tokens", 100}, {"actual_tokens", 500}});
  EXPECT_EQ(post.body["decision"], "deny") << post.describe();  // used five times its estimate

  // Scenario 1 and 3: the app with no policies allows with an empty chain.
  Reply empty = s.evaluate("app-789", {{"model", "anything"}});
  ASSERT_EQ(empty.status, 200) << empty.describe();
  EXPECT_EQ(empty.body["decision"], "allow");
  EXPECT_EQ(empty.body["reason"], "empty_chain");
  EXPECT_EQ(empty.body["chain"], Json::array());
}

TEST(AppPolicyE2e, TenantsStayInTheirOwnOrganizationAndBadInputWritesNothing) {
  Stack s("app_policy_isolation_e2e");
  ASSERT_TRUE(s.start());
  setup(s);
  const std::string rate =
      s.attach("app-123", {{"policy_type", "rate_limit"}, {"config", {{"requests_per_minute", 10}}}});
  const std::int64_t written = s.last_position();

  // Another organization's admin: the app and the policy look like nothing.
  Reply foreign_attach = s.admin("POST", "/api/v1/admin/applications/app-123/policies",
                                 {{"policy_type", "request_size"}, {"config", {{"max_bytes", 1}}}}, kGlobexAdmin);
  EXPECT_EQ(foreign_attach.status, 404) << foreign_attach.describe();
  EXPECT_EQ(foreign_attach.code(), "unknown_application");
  Reply foreign_named = s.admin(
      "POST", "/api/v1/admin/applications/app-123/policies",
      {{"organization_id", "org-acme"}, {"policy_type", "request_size"}, {"config", {{"max_bytes", 1}}}}, kGlobexAdmin);
  EXPECT_EQ(foreign_named.status, 403) << foreign_named.describe();
  Reply foreign_patch = s.admin("PATCH", "/api/v1/admin/policies/" + rate, {{"enabled", false}}, kGlobexAdmin);
  EXPECT_EQ(foreign_patch.status, 404) << foreign_patch.describe();
  EXPECT_EQ(foreign_patch.code(), "unknown_policy");
  Reply foreign_delete = s.admin("DELETE", "/api/v1/admin/policies/" + rate, nullptr, kGlobexAdmin);
  EXPECT_EQ(foreign_delete.status, 404) << foreign_delete.describe();
  Reply foreign_read = s.query("GET", "/api/v1/admin/applications/app-123?" + s.at(), kGlobexAdmin);
  EXPECT_EQ(foreign_read.status, 404) << foreign_read.describe();
  Reply foreign_named_read =
      s.query("GET", "/api/v1/admin/applications/app-123?organization_id=org-acme&" + s.at(), kGlobexAdmin);
  EXPECT_EQ(foreign_named_read.status, 403) << foreign_named_read.describe();
  // Readers read, only admins write; a platform admin names the organization.
  EXPECT_EQ(s.policies("app-123", kAcmeReader).status, 200);
  EXPECT_EQ(s.admin("PATCH", "/api/v1/admin/policies/" + rate, {{"enabled", false}}, kAcmeReader).status, 403);
  Reply platform = s.query("GET", "/api/v1/admin/applications/app-123?" + s.at(), kAdminToken);
  EXPECT_EQ(platform.status, 400) << platform.describe();
  EXPECT_EQ(platform.code(), "missing_field");
  EXPECT_EQ(s.query("GET", "/api/v1/admin/applications/app-123?organization_id=org-acme&" + s.at(), kAdminToken).status,
            200);

  // Bad input: each a clear 4xx with a stable code.
  struct Bad {
    std::string method, target;
    Json body;
    int status;
    std::string code;
  };
  for (const auto& b : std::vector<Bad>{
           {"POST",
            "/api/v1/admin/applications/app-123/policies",
            {{"policy_type", "content_filter"}, {"config", Json::object()}},
            400,
            "unknown_policy_type"},
           {"POST",
            "/api/v1/admin/applications/app-123/policies",
            {{"policy_type", "rate_limit"}, {"config", {{"requests_per_minute", 0}}}},
            422,
            "invalid_policy_config"},
           {"POST",
            "/api/v1/admin/applications/app-123/policies",
            {{"policy_type", "rate_limit"}, {"config", "rpm=5"}},
            400,
            "invalid_field"},
           {"POST",
            "/api/v1/admin/applications/app-123/policies",
            {{"policy_type", "rate_limit"}, {"config", {{"requests_per_minute", 5}}}, {"policy_id", "mine"}},
            400,
            "unknown_field"},
           {"POST",
            "/api/v1/admin/applications/app-123/policies",
            {{"policy_type", "rate_limit"}, {"config", {{"requests_per_minute", 5}}}, {"index", 7}},
            422,
            "invalid_index"},
           {"POST",
            "/api/v1/admin/applications/app-999/policies",
            {{"policy_type", "rate_limit"}, {"config", {{"requests_per_minute", 5}}}},
            404,
            "unknown_application"},
           {"POST",
            "/api/v1/admin/applications/app-123/policies",
            {{"application_id", "app-456"}, {"policy_type", "rate_limit"}, {"config", {{"requests_per_minute", 5}}}},
            400,
            "invalid_field"},
           {"PATCH", "/api/v1/admin/policies/pol_nothing", {{"enabled", true}}, 404, "unknown_policy"},
           {"PATCH", "/api/v1/admin/policies/" + rate, {{"enabled", "yes"}}, 400, "invalid_field"},
           {"PUT", "/api/v1/admin/policies/" + rate, {{"enabled", true}}, 405, "method_not_allowed"},
       }) {
    Reply r = s.admin(b.method, b.target, b.body, kAcmeAdmin);
    EXPECT_EQ(r.status, b.status) << b.method << " " << b.target << " " << b.body.dump() << ": " << r.describe();
    EXPECT_EQ(r.code(), b.code) << r.describe();
  }
  EXPECT_EQ(s.last_position(), written);
  Reply bad_eval = s.query("POST", "/v1/applications/app-123:evaluate", kAcmeService, Json{{"size_bytes", -1}});
  EXPECT_EQ(bad_eval.status, 400) << bad_eval.describe();
  Reply bad_field = s.query("POST", "/v1/applications/app-123:evaluate", kAcmeService, Json{{"sneaky", 1}});
  EXPECT_EQ(bad_field.code(), "unknown_field") << bad_field.describe();
  Reply chosen_time =
      s.query("POST", "/v1/applications/app-123:evaluate", kAcmeService, Json{{"time", "2030-01-01T00:00:00Z"}});
  EXPECT_EQ(chosen_time.status, 400) << chosen_time.describe();  // a caller cannot refill its own bucket
  EXPECT_EQ(s.query("POST", "/v1/applications/app-123:evaluate", kAcmeReader, Json::object()).status, 403);

  // A retry of the same command gets the same policy, once.
  Json body = {{"policy_type", "request_size"}, {"config", {{"max_bytes", 1024}}}, {"command_id", "add-size-1"}};
  Reply first = s.admin("POST", "/api/v1/admin/applications/app-123/policies", body, kAcmeAdmin);
  Reply again = s.admin("POST", "/api/v1/admin/applications/app-123/policies", body, kAcmeAdmin);
  ASSERT_EQ(first.status, 200) << first.describe();
  ASSERT_EQ(again.status, 200) << again.describe();
  EXPECT_EQ(first.body["id"], again.body["id"]);
  EXPECT_EQ(again.body["duplicate"], true);
  EXPECT_EQ(s.policies("app-123").body.size(), 2u);
}

// With two query replicas each enforcing its share, a rate limit holds
// across both: the burst of 4 admits 4 requests in all, 2 on each.
TEST(AppPolicyE2e, RateLimitHoldsAcrossTwoReplicas) {
  Stack s("app_policy_replicas_e2e");
  s.set_env("LEDGER_QUERY_REPLICAS", "2");
  ASSERT_TRUE(s.start());
  setup(s);
  s.attach("app-123", {{"policy_type", "rate_limit"}, {"config", {{"requests_per_minute", 1}, {"burst", 4}}}});
  auto replica = s.start_query_replica({{"LEDGER_QUERY_REPLICAS", "2"}});
  ASSERT_TRUE(replica.process);
  const std::string target = "/v1/applications/app-123:evaluate?" + s.at();
  const std::string body = Json{{"model", "gpt-4"}}.dump();
  int allowed_first = 0, allowed_second = 0;
  for (int i = 0; i < 5; ++i) {
    Reply a = s.query("POST", target, kAcmeService, Json{{"model", "gpt-4"}});
    ASSERT_EQ(a.status, 200) << a.describe();
    allowed_first += a.body["decision"] == "allow";
    Reply b = ledger::testing::call(*replica.client, "POST", target, body, kAcmeService);
    ASSERT_EQ(b.status, 200) << b.describe();
    allowed_second += b.body["decision"] == "allow";
  }
  EXPECT_EQ(allowed_first, 2);
  EXPECT_EQ(allowed_second, 2);
}

// Every route lives under /v1; the seeds' paths are aliases of the same
// routes (adapters/http/routes/path_aliases.h): the same answer, the same
// writes, only for whole path segments, and never for a route the seeds did
// not publish there.
TEST(AppPolicyE2e, TheSeedsAdminPathsAreAliasesOfTheV1Routes) {
  Stack s("app_alias_e2e");
  ASSERT_TRUE(s.start());
  setup(s);

  // Writes through either path are the same command.
  Reply canonical = s.admin("POST", "/v1/applications/app-123/policies",
                            {{"policy_type", "token_limit"}, {"config", {{"max_tokens", 8192}}}}, kAcmeAdmin);
  ASSERT_EQ(canonical.status, 200) << canonical.describe();
  Reply seed = s.admin("POST", "/api/v1/admin/applications/app-123/policies",
                       {{"policy_type", "rate_limit"}, {"config", {{"requests_per_minute", 10}}}}, kAcmeAdmin);
  ASSERT_EQ(seed.status, 200) << seed.describe();
  const std::string rate = seed.body.value("id", std::string());
  Reply off = s.admin("PATCH", "/v1/app-policies/" + rate, {{"enabled", false}, {"reason", "alias"}}, kAcmeAdmin);
  EXPECT_EQ(off.status, 200) << off.describe();
  Reply on = s.admin("PATCH", "/api/v1/admin/policies/" + rate, {{"enabled", true}, {"reason", "alias"}}, kAcmeAdmin);
  EXPECT_EQ(on.status, 200) << on.describe();
  Reply registered = s.admin("POST", "/v1/applications", {{"application_id", "app-v1"}, {"name", "V1"}}, kAcmeAdmin);
  EXPECT_EQ(registered.status, 200) << registered.describe();
  // Three apps of setup(), two attached policies, two updates, one more app.
  EXPECT_EQ(s.sql("SELECT count(*) FROM ledger.events WHERE event_type IN ('PolicyAttached', 'PolicyUpdated', "
                  "'ApplicationRegistered')"),
            "8");

  // Reads through either path answer the same body.
  for (const auto& [v1, alias] : std::vector<std::pair<std::string, std::string>>{
           {"/v1/applications/app-123", "/api/v1/admin/applications/app-123"},
           {"/v1/applications/app-123/policies", "/api/v1/admin/applications/app-123/policies"},
           {"/v1/app-policies/types", "/api/v1/admin/policies/types"},
           {"/v1/app-policies/available-types", "/api/v1/admin/policies/available-types"}}) {
    const std::string q = v1.find("types") == std::string::npos ? "?" + s.at() : "";
    Reply a = s.query("GET", v1 + q, kAcmeAdmin);
    Reply b = s.query("GET", alias + q, kAcmeAdmin);
    ASSERT_EQ(a.status, 200) << v1 << ": " << a.describe();
    EXPECT_EQ(a.body, b.body) << alias;
  }
  Reply cel = s.admin("POST", "/v1/app-policies/validate-cel", {{"expression", "estimated_tokens < 5000"}}, kAcmeAdmin);
  Reply cel_seed =
      s.admin("POST", "/api/v1/admin/policies/validate-cel", {{"expression", "estimated_tokens < 5000"}}, kAcmeAdmin);
  ASSERT_EQ(cel.status, 200) << cel.describe();
  EXPECT_EQ(cel.body, cel_seed.body);
  // Seed 004's root paths answer under /v1 too.
  Reply config = s.query("GET", "/tenants/org-acme/config/risk", kAcmeAdmin);
  Reply config_v1 = s.query("GET", "/v1/tenants/org-acme/config/risk", kAcmeAdmin);
  EXPECT_NE(config.body.value("code", ""), "unknown_route") << config.describe();
  EXPECT_EQ(config.status, config_v1.status) << config_v1.describe();
  EXPECT_EQ(config.body, config_v1.body);

  // Only whole segments are aliases, and only the seeds' routes.
  for (const std::string path : {"/api/v1/admin/applicationsX", "/api/v1/admin/capabilities", "/api/v1/admin/decisions",
                                 "/api/v1/admin", "/v1/tenantsX/org-acme/config/risk"}) {
    Reply r = s.query("GET", path, kAcmeAdmin);
    EXPECT_EQ(r.status, 404) << path << ": " << r.describe();
    Reply w = s.admin("POST", path, Json::object(), kAcmeAdmin);
    EXPECT_EQ(w.status, 404) << path << ": " << w.describe();
  }
}

}  // namespace
