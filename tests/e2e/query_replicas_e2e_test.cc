// Read scaling (issue 12 part 5) through the real services: a second
// ledger-query started later, its own consumer group, catches up from the
// PostgreSQL snapshot and the topic's tail, and answers exactly what the
// first one answers at the same position — decisions, effective ceilings,
// application chains — before and after further writes. `min_position` is
// what makes either replica safe for read-your-writes.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "tests/support/e2e_stack.h"

namespace {

using ledger::testing::kAdminToken;
using ledger::testing::Reply;
using Json = nlohmann::json;

constexpr const char* kAcmeAdmin = "Bearer dev-acme-tenant-admin";
constexpr const char* kAcmeService = "Bearer dev-acme-service";

Json scope(const std::string& level, const std::string& id) { return {{"level", level}, {"id", id}}; }

Json decision(std::int64_t usage, std::int64_t delta, const std::string& correlation) {
  return {{"actor", {{"actor_type", "service_account"}, {"actor_id", "scheduler"}}},
          {"hierarchy", {{"organization_id", "org-acme"}, {"project_id", "acme-llm"}}},
          {"product",
           {{"product_id", "gpuaas"}, {"resource_type", "gpu_node"}, {"resource_id", "n1"}, {"action", "start"}}},
          {"request", {{"dimension", "gpu.count"}, {"requested_delta", delta}, {"unit", "gpu"}}},
          {"current_usage", {{"quantity", usage}, {"unit", "gpu"}}},
          {"correlation_id", correlation}};
}

struct Ask {
  std::string method;
  std::string target;  // without the consistency parameter
  Json body;
};

// The answer without `as_of` (each process reads its own clock).
Json comparable(const Reply& r) {
  Json j = r.body;
  if (j.is_object()) j.erase("as_of");
  return j;
}

TEST(QueryReplicasE2e, ASecondReplicaAnswersTheSameAtTheSamePosition) {
  ledger::testing::ServiceStack s("query_replicas_e2e");
  ASSERT_TRUE(s.start());
  s.register_gpu_quota();
  s.ok("organization.create", {{"organization_id", "org-acme"}, {"plan_id", "pro"}});
  s.ok("project.create", {{"project_id", "acme-llm"}, {"organization_id", "org-acme"}});
  s.ok("ceiling.set", {{"scope", scope("organization", "org-acme")},
                       {"dimension", "gpu.count"},
                       {"quantity", 10},
                       {"unit", "gpu"},
                       {"reason", "e2e"}});
  ASSERT_EQ(s.command("application.register", {{"application_id", "app-1"}, {"name", "A"}}, kAcmeAdmin).status, 200);
  Reply attached = s.admin("POST", "/api/v1/admin/applications/app-1/policies",
                           {{"policy_type", "model_allowlist"}, {"config", {{"models", {"gpt-4*"}}}}}, kAcmeAdmin);
  ASSERT_EQ(attached.status, 200) << attached.describe();

  // Started after the writes: it has to catch up before it answers.
  auto replica = s.start_query_replica();
  ASSERT_TRUE(replica.process);

  const std::vector<Ask> asks = {
      {"POST", "/v1/decisions", decision(0, 1, "r-1")},
      {"POST", "/v1/decisions", decision(7, 2, "r-2")},
      {"POST", "/v1/decisions", decision(9, 5, "r-3")},
      {"GET", "/v1/ceilings/effective?scope_level=project&scope_id=acme-llm&dimension=gpu.count", nullptr},
      {"POST", "/v1/applications/app-1:evaluate", Json{{"model", "gpt-4o"}}},
      {"POST", "/v1/applications/app-1:evaluate", Json{{"model", "claude-3"}}},
  };
  auto both_agree = [&](const std::string& label) {
    std::vector<Json> answers;
    const std::string at = "min_position=" + std::to_string(s.last_position()) + "&wait_ms=10000";
    for (const auto& a : asks) {
      const std::string target = a.target + (a.target.find('?') == std::string::npos ? "?" : "&") + at;
      Reply first = s.query(a.method, target, kAcmeService, a.body);
      Reply second =
          ledger::testing::call(*replica.client, a.method, target, a.body.is_null() ? "" : a.body.dump(), kAcmeService);
      EXPECT_EQ(first.status, 200) << label << " " << a.target << " " << first.describe();
      EXPECT_EQ(second.status, 200) << label << " " << a.target << " " << second.describe() << "\n"
                                    << ledger::testing::tail(*replica.process);
      EXPECT_EQ(comparable(first), comparable(second)) << label << " " << a.target;
      EXPECT_EQ(second.read_model, "memory") << label << " " << a.target;
      answers.push_back(comparable(first));
    }
    return answers;
  };
  const auto before = both_agree("before");
  EXPECT_EQ(before[0]["decision"], "allow");
  EXPECT_EQ(before[2]["decision"], "deny");

  // Writes go to the command service; both replicas follow the topic.
  s.ok("ceiling.set", {{"scope", scope("project", "acme-llm")},
                       {"dimension", "gpu.count"},
                       {"quantity", 3},
                       {"unit", "gpu"},
                       {"reason", "e2e"}});
  Reply patched = s.admin("PATCH", "/api/v1/admin/policies/" + attached.body.value("id", std::string()),
                          {{"config", {{"models", {"claude-*"}}}}, {"reason", "switch"}}, kAcmeAdmin);
  ASSERT_EQ(patched.status, 200) << patched.describe();
  const auto after = both_agree("after");
  EXPECT_NE(before, after);
  EXPECT_EQ(after[1]["decision"], "deny") << after[1].dump();  // 7 + 2 over the project's new 3
  EXPECT_EQ(after[4]["decision"], "deny");
  EXPECT_EQ(after[5]["decision"], "allow");
}

}  // namespace
