// Seed 000's rate limits and the service-account token lifetime, enforced by
// the real ledger-command and ledger-query processes from the policy values
// the ledger itself holds (issue 5, parts 1 and 7): a value set through the
// command API limits the next requests (HTTP and ledger.commands), 429
// carries Retry-After, a changed value applies without a restart, and a
// request refused for rate writes nothing.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>

#include "adapters/identity/jwt.h"
#include "tests/support/e2e_stack.h"
#include "tests/support/e2e_support.h"

namespace {

using namespace std::chrono_literals;
using ledger::testing::eventually;
using ledger::testing::Reply;
using Json = nlohmann::json;
using Stack = ledger::testing::ServiceStack;

const std::string kReader = "Bearer dev-acme-reader";      // acme-reader, org-acme
const std::string kTenantAdmin = "Bearer dev-acme-admin";  // acme-admin, org-acme
const std::string kGlobexReader = "Bearer dev-globex-reader";

using ledger::testing::rfc3339;

Json draft(const std::string& id) {
  const auto now = std::chrono::system_clock::now();
  return {{"reservation_id", id},
          {"owner", {{"level", "project"}, {"id", "acme-p"}}},
          {"kind", "gpu_nodes"},
          {"dimension", "gpu.count"},
          {"quantity", 1},
          {"unit", "gpu"},
          {"window_start", rfc3339(now)},
          {"window_end", rfc3339(now + 24h)},
          {"reason", "rate e2e"}};
}

// Sets an int policy value and waits until the query service's read model
// holds it; then past the gates' refresh (1 s) so both services read it.
void set_and_wait(Stack& s, const std::string& key, const Json& scope, std::int64_t value) {
  const auto position = s.ok("policy_value.set", {{"key", key}, {"scope", scope}, {"value", value}, {"reason", "e2e"}});
  ASSERT_GT(position, 0);
  // Both read models the gates read have it: ledger-query's memory (a plain
  // read waits for it) and PostgreSQL's, the command service's (an
  // as_of_position read waits for the projector). Then each gate's cached
  // value (1 s) has expired.
  for (const char* wait : {"min_position=", "as_of_position="}) {
    Reply r = s.query(
        "GET", "/v1/policy-values/" + key + "?" + std::string(wait) + std::to_string(position) + "&wait_ms=10000",
        ledger::testing::kAdminToken);
    ASSERT_EQ(r.status, 200) << r.describe();
  }
  std::this_thread::sleep_for(1200ms);
}

std::string mint_service_account(std::int64_t lifetime_seconds, const std::string& jti) {
  std::ifstream in(std::string(LEDGER_SOURCE_DIR) + "/config/tokens.json");
  auto key = ledger::identity::JwtKey::from_key_file(Json::parse(in), "dev-hs256-1");
  EXPECT_TRUE(key.has_value());
  const auto now =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  ledger::identity::JwtClaims c{
      "policy-ledger", {"policy-ledger"},          "acme-scheduler", "service_account", {"service"}, "org-acme", jti,
      now - 5,         now - 5 + lifetime_seconds, std::nullopt};
  auto jwt = ledger::identity::mint_jwt(*key, c);
  EXPECT_TRUE(jwt.has_value());
  return "Bearer " + jwt.value_or("");
}

TEST(RateLimitE2e, LimitsComeFromLivePolicyValuesAndChangeWithoutARestart) {
  Stack s("rate_limit_e2e");
  ASSERT_TRUE(s.start());
  // The catalog's keys (config/policy-keys.json), with generous defaults.
  for (const auto& [key, def] : {std::pair<std::string, int>{"rate_limit.api_requests_per_minute", 100000},
                                 {"rate_limit.financial_requests_per_minute", 10000},
                                 {"rate_limit.admin_overview_requests_per_minute", 100000},
                                 {"auth.service_account_token_ttl_seconds", 900}}) {
    s.ok("policy_key.define", {{"key", key}, {"value_type", "int"}, {"default", def}, {"min", 1}, {"max", 1000000}});
  }
  s.register_gpu_quota();
  s.ok("organization.create", {{"organization_id", "org-acme"}, {"plan_id", "pro"}});
  s.ok("project.create", {{"project_id", "acme-p"}, {"organization_id", "org-acme"}});

  // --- The query service: acme-reader gets 3 requests per minute.
  set_and_wait(s, "rate_limit.api_requests_per_minute", {{"user_id", "acme-reader"}}, 3);
  const std::string read = "/v1/reservations?organization_id=org-acme";
  for (int i = 0; i < 3; ++i) {
    Reply r = s.query("GET", read, kReader);
    ASSERT_EQ(r.status, 200) << i << ": " << r.describe();
  }
  Reply limited = s.query("GET", read, kReader);
  ASSERT_EQ(limited.status, 429) << limited.describe();
  EXPECT_EQ(limited.code(), "rate_limited");
  EXPECT_EQ(limited.body["evidence"]["limit_key"], "rate_limit.api_requests_per_minute");
  EXPECT_EQ(limited.body["evidence"]["limit"], 3);
  // A budget of 3 per minute gives one request back every 20 s.
  ASSERT_FALSE(limited.retry_after.empty());
  EXPECT_GE(std::atoi(limited.retry_after.c_str()), 1);
  EXPECT_LE(std::atoi(limited.retry_after.c_str()), 20);
  ASSERT_TRUE(limited.body["evidence"]["retry_after_seconds"].is_number_integer()) << limited.describe();
  EXPECT_EQ(std::to_string(limited.body["evidence"]["retry_after_seconds"].get<std::int64_t>()), limited.retry_after);
  // The budget is the principal's: another caller of the same route is served.
  EXPECT_EQ(s.query("GET", "/v1/reservations?organization_id=org-globex", kGlobexReader).status, 200);
  // Views draw on the overview budget, not on the spent API budget.
  EXPECT_EQ(s.query("GET", "/v1/views/projects/acme-p", kReader).status, 200);

  // --- A changed value applies without a restart.
  set_and_wait(s, "rate_limit.api_requests_per_minute", {{"user_id", "acme-reader"}}, 600);
  EXPECT_EQ(s.query("GET", read, kReader).status, 200);

  // --- The command service: acme's financial budget (reservation writes) is 1 per minute.
  set_and_wait(s, "rate_limit.financial_requests_per_minute", {{"org_id", "org-acme"}}, 1);
  Reply first = s.command("reservation.draft", draft("res-rate-1"), kTenantAdmin);
  ASSERT_EQ(first.status, 200) << first.describe();
  Reply second = s.command("reservation.draft", draft("res-rate-2"), kTenantAdmin);
  ASSERT_EQ(second.status, 429) << second.describe();
  EXPECT_EQ(second.code(), "rate_limited");
  EXPECT_EQ(second.body["evidence"]["limit_key"], "rate_limit.financial_requests_per_minute");
  EXPECT_FALSE(second.retry_after.empty());
  // The same budget on ledger.commands: rejected on the results topic.
  Json over_kafka_body = draft("res-rate-3");
  over_kafka_body["type"] = "reservation.draft";
  ASSERT_TRUE(s.publish("rate-kafka-3", over_kafka_body, kTenantAdmin));
  const Json over_kafka = s.result_of("rate-kafka-3");
  ASSERT_FALSE(over_kafka.is_null());
  EXPECT_EQ(over_kafka["status"], "rejected") << over_kafka.dump();
  EXPECT_EQ(over_kafka["code"], "rate_limited") << over_kafka.dump();
  EXPECT_GT(over_kafka["evidence"].value("retry_after_seconds", 0), 0) << over_kafka.dump();
  // Refused for rate: nothing written.
  EXPECT_EQ(
      s.sql("SELECT count(*) FROM ledger.events WHERE stream_id LIKE '%res-rate-2%' OR stream_id LIKE '%res-rate-3%'"),
      "0");
  // Other command families draw on the API budget and still pass.
  EXPECT_EQ(
      s.command("project.create", {{"project_id", "acme-p2"}, {"organization_id", "org-acme"}}, kTenantAdmin).status,
      200);

  // --- A service account's token lifetime follows auth.service_account_token_ttl_seconds.
  const std::string ten_minutes = mint_service_account(600, "jti-rate-600");
  EXPECT_EQ(s.query("GET", read, ten_minutes).status, 200);  // the default 900 allows it
  set_and_wait(s, "auth.service_account_token_ttl_seconds", {{"org_id", "org-acme"}}, 300);
  Reply too_long = s.query("GET", read, ten_minutes);
  ASSERT_EQ(too_long.status, 401) << too_long.describe();
  EXPECT_EQ(too_long.code(), "unauthenticated");
  EXPECT_EQ(too_long.body["evidence"]["reason"], "lifetime_too_long");
  EXPECT_EQ(
      s.command("project.create", {{"project_id", "acme-p3"}, {"organization_id", "org-acme"}}, ten_minutes).status,
      401);
  EXPECT_EQ(s.query("GET", read, mint_service_account(300, "jti-rate-300")).status, 200);
}

}  // namespace
