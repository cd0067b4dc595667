// Admission decisions that name an application (seeds 001 + 002) through
// the real services: POST /v1/decisions and :batch run the application's
// policy chain on the decision's snapshot once admission allows, a chain
// deny becomes `application_policy_denied` with the chain as evidence, a
// decision admission denies spends nothing of the app's rate limit, the
// rate limit is the same counter :evaluate spends, another organization's
// app is unknown, and `ledger-audit decisions` re-derives the logged
// answers (the stateless policies again, the rate limit from the record)
// and names one tampered with.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <string>

#include "tests/support/e2e_stack.h"
#include "tests/support/process.h"

namespace {

using ledger::testing::eventually;
using ledger::testing::kAdminToken;
using ledger::testing::Reply;
using Json = nlohmann::json;
using namespace std::chrono_literals;

constexpr const char* kAcmeAdmin = "Bearer dev-acme-tenant-admin";
constexpr const char* kGlobexAdmin = "Bearer dev-globex-tenant-admin";
constexpr const char* kAcmeService = "Bearer dev-acme-service";

Json scope(const std::string& level, const std::string& id) { return {{"level", level}, {"id", id}}; }

Json input(std::int64_t delta, const Json& application, const std::string& correlation) {
  Json j = {
      {"actor",
       {{"actor_type", "service_account"},
        {"actor_id", "scheduler"},
        {"roles", Json::array()},
        {"scopes", Json::array()}}},
      {"hierarchy", {{"organization_id", "org-acme"}, {"department_id", ""}, {"project_id", "acme-llm"}}},
      {"product",
       {{"product_id", "gpuaas"}, {"resource_type", "gpu_node"}, {"resource_id", "n1"}, {"action", "start"}}},
      {"request",
       {{"dimension", "gpu.count"}, {"requested_delta", delta}, {"unit", "gpu"}, {"region", ""}, {"sku_or_model", ""}}},
      {"current_usage", {{"scope_window", ""}, {"quantity", 0}, {"unit", "gpu"}}},
      {"correlation_id", correlation}};
  if (!application.is_null()) j["application"] = application;
  return j;
}

class Stack : public ledger::testing::ServiceStack {
 public:
  using ServiceStack::ServiceStack;
  std::string at() const { return "?min_position=" + std::to_string(last_position()) + "&wait_ms=10000"; }
  std::string attach(const std::string& app, const Json& body) {
    Reply r = admin("POST", "/api/v1/admin/applications/" + app + "/policies", body, kAcmeAdmin);
    EXPECT_EQ(r.status, 200) << r.describe();
    return r.body.value("id", std::string());
  }
  Reply decide(const Json& body) { return query("POST", "/v1/decisions" + at(), kAcmeService, body); }
};

TEST(AppDecisionE2e, DecisionsNamingAnApplicationRunItsChainAndAreReDerived) {
  Stack s("app_decision_e2e");
  ASSERT_TRUE(s.start());
  s.register_gpu_quota();
  s.ok("organization.create", {{"organization_id", "org-acme"}, {"plan_id", "pro"}});
  s.ok("organization.create", {{"organization_id", "org-globex"}, {"plan_id", "pro"}});
  s.ok("project.create", {{"project_id", "acme-llm"}, {"organization_id", "org-acme"}});
  s.ok("ceiling.set", {{"scope", scope("organization", "org-acme")},
                       {"dimension", "gpu.count"},
                       {"quantity", 10},
                       {"unit", "gpu"},
                       {"reason", "e2e"}});
  for (const auto& [app, token] :
       {std::pair{"app-123", kAcmeAdmin}, std::pair{"app-456", kAcmeAdmin}, std::pair{"app-glx", kGlobexAdmin}}) {
    Reply r = s.command("application.register", {{"application_id", app}, {"name", app}}, token);
    ASSERT_EQ(r.status, 200) << r.describe();
  }
  const std::string models =
      s.attach("app-123", {{"policy_type", "model_allowlist"}, {"config", {{"models", {"gpt-4*"}}}}});
  const std::string rate =
      s.attach("app-123", {{"policy_type", "rate_limit"}, {"config", {{"requests_per_minute", 1}, {"burst", 2}}}});
  const std::string cel = s.attach(
      "app-123", {{"policy_type", "custom_cel"},
                  {"config", {{"name", "small_prompts"}, {"pre_check_expression", "estimated_tokens < 5000"}}}});
  s.attach("app-456", {{"policy_type", "model_allowlist"}, {"config", {{"models", {"llama-*"}}}}});
  const Json app123 = {{"app_id", "app-123"}, {"model", "gpt-4o"}, {"estimated_tokens", 100}};

  // Admission allows, the chain allows: the chain is the evidence.
  Reply first = s.decide(input(1, app123, "d-1"));
  ASSERT_EQ(first.status, 200) << first.describe() << s.describe_logs();
  EXPECT_EQ(first.body["decision"], "allow") << first.describe();
  EXPECT_EQ(first.body["application"]["decision"], "allow");
  ASSERT_EQ(first.body["application"]["chain"].size(), 3u) << first.describe();
  EXPECT_EQ(first.body["application"]["chain"][0]["policy_id"], models);
  EXPECT_EQ(first.body["application"]["chain"][1]["policy_id"], rate);
  EXPECT_EQ(first.body["application"]["chain"][2]["reason"], "expression_true");
  EXPECT_EQ(first.read_model, "memory");

  // Admission denies (over the ceiling): the chain is not run and the rate
  // limit spends nothing.
  Reply over = s.decide(input(20, app123, "d-2"));
  ASSERT_EQ(over.status, 200) << over.describe();
  EXPECT_EQ(over.body["decision"], "deny");
  EXPECT_NE(over.body["reason_code"], "application_policy_denied");
  EXPECT_EQ(over.body["application"]["decision"], "not_evaluated") << over.describe();
  EXPECT_EQ(over.body["application"]["chain"], Json::array());

  // A model the allowlist refuses: admission allowed, the chain denies.
  Reply model = s.decide(input(1, {{"app_id", "app-123"}, {"model", "claude-3"}}, "d-3"));
  ASSERT_EQ(model.status, 200) << model.describe();
  EXPECT_EQ(model.body["decision"], "deny");
  EXPECT_EQ(model.body["reason_code"], "application_policy_denied");
  EXPECT_EQ(model.body["application"]["denied_by"], models);
  EXPECT_EQ(model.body["application"]["reason"], "model_not_allowed");
  EXPECT_EQ(model.body["application"]["chain"][1]["verdict"], "not_evaluated");
  // A prompt the CEL policy refuses.
  Reply large = s.decide(input(1, {{"app_id", "app-123"}, {"model", "gpt-4"}, {"estimated_tokens", 6000}}, "d-4"));
  EXPECT_EQ(large.body["reason_code"], "application_policy_denied") << large.describe();
  EXPECT_EQ(large.body["application"]["denied_by"], cel);

  // The burst of 2 is the counter :evaluate spends too: d-1 and d-4 spent
  // two tokens (d-2 and d-3 none), so the next request is limited, by
  // either route.
  Reply limited = s.decide(input(1, app123, "d-5"));
  EXPECT_EQ(limited.body["decision"], "deny") << limited.describe();
  EXPECT_EQ(limited.body["application"]["reason"], "rate_limited") << limited.describe();
  EXPECT_EQ(limited.body["application"]["denied_by"], rate);
  Reply evaluated = s.query("POST", "/v1/applications/app-123:evaluate" + s.at(), kAcmeService,
                            Json{{"model", "gpt-4"}, {"estimated_tokens", 1}});
  EXPECT_EQ(evaluated.body["reason"], "rate_limited") << evaluated.describe();

  // A batch: an allowed item, another organization's app (unknown, like a
  // missing one), a refused model; each answered on its own.
  Json batch = {
      {"decisions",
       {input(1, {{"app_id", "app-456"}, {"model", "llama-3"}}, "b-1"), input(1, {{"app_id", "app-glx"}}, "b-2"),
        input(1, {{"app_id", "app-456"}, {"model", "gpt-4"}}, "b-3")}}};
  Reply b = s.query("POST", "/v1/decisions:batch" + s.at(), kAcmeService, batch);
  ASSERT_EQ(b.status, 200) << b.describe();
  ASSERT_EQ(b.body["results"].size(), 3u);
  EXPECT_EQ(b.body["results"][0]["decision"], "allow") << b.describe();
  EXPECT_EQ(b.body["results"][1]["error"]["code"], "unknown_application") << b.describe();
  EXPECT_EQ(b.body["results"][2]["reason_code"], "application_policy_denied") << b.describe();

  // Bad input and unsupported combinations: clear 4xx, nothing logged.
  Reply foreign = s.decide(input(1, {{"app_id", "app-glx"}}, "x-1"));
  EXPECT_EQ(foreign.status, 404) << foreign.describe();
  EXPECT_EQ(foreign.code(), "unknown_application");
  for (const Json& bad : {Json{{"app_id", ""}}, Json{{"app_id", "a/b"}}, Json{{"app_id", "app-123"}, {"extra", 1}},
                          Json{{"app_id", "app-123"}, {"size_bytes", -1}}, Json("app-123")}) {
    Reply r = s.decide(input(1, bad, "x-2"));
    EXPECT_EQ(r.status, 400) << bad.dump() << " " << r.describe();
    EXPECT_EQ(r.code(), "invalid_decision_input") << r.describe();
  }
  Reply replay = s.query("POST", "/v1/decisions?as_of_position=" + std::to_string(s.last_position()), kAcmeService,
                         input(1, app123, "x-3"));
  EXPECT_EQ(replay.status, 400) << replay.describe();
  EXPECT_EQ(replay.code(), "unsupported_parameter");

  // Logged (7 answered decisions), re-derived from history: all agree,
  // the rate-limited one included.
  auto logged = [&] { return std::stoll(s.sql("SELECT count(*) FROM decision_log.decisions")); };
  ASSERT_TRUE(eventually(30s, [&] { return logged() >= 7; })) << logged() << s.describe_logs();
  EXPECT_EQ(logged(), 7);
  EXPECT_EQ(s.sql("SELECT output->'application'->>'reason' FROM decision_log.decisions WHERE correlation_id = 'd-5'"),
            "rate_limited");
  const std::string audit = std::string(LEDGER_BINARY_DIR) + "/services/ledger-audit decisions --pg-url '" +
                            s.database().url_for("ledger_auditor") + "' 2>&1";
  auto agree = ledger::testing::run_command(audit);
  EXPECT_EQ(agree.status, 0) << agree.out;
  EXPECT_NE(agree.out.find("re-derived 7 logged decisions: all agree"), std::string::npos) << agree.out;

  // The model allowlist's verdict is derived again, not taken from the
  // record: flipping it in the table is found.
  s.sql(
      "UPDATE decision_log.decisions SET output = jsonb_set(output::jsonb, '{application,chain,0,verdict}', "
      "'\"allow\"') "
      "WHERE correlation_id = 'd-3'");
  auto differ = ledger::testing::run_command(audit);
  EXPECT_EQ(differ.status, 1) << differ.out;
  EXPECT_NE(differ.out.find("1 differ"), std::string::npos) << differ.out;
  EXPECT_NE(differ.out.find("application"), std::string::npos) << differ.out;
}

}  // namespace
