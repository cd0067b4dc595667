// The query service answering from its in-memory read models (issue 12)
// through the real stack: ledger-command writes, the relay publishes to
// ledger.events, and ledger-query's own consumer group feeds its models —
// a decision and a policy-value read say `x-read-model: memory`, and a
// write made after ledger-query started reaches its answers through the
// topic (min_position waits woken by the apply loop). Killed and restarted
// while decisions keep coming, ledger-query answers 503
// `snapshot_not_ready` until its model has caught up, and never an answer
// older than what the ledger held when it restarted.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <atomic>
#include <mutex>
#include <thread>

#include "tests/support/e2e_stack.h"

namespace {

using ledger::testing::call;
using ledger::testing::eventually;
using ledger::testing::kAdminToken;
using ledger::testing::Reply;
using ledger::testing::tail;
using Json = nlohmann::json;
using namespace std::chrono_literals;

Json scope(const std::string& level, const std::string& id) { return {{"level", level}, {"id", id}}; }

Json ceiling(const Json& at, std::int64_t q) {
  return {{"scope", at}, {"dimension", "gpu.count"}, {"quantity", q}, {"unit", "gpu"}, {"reason", "e2e"}};
}

Json decision_input(std::int64_t usage, std::int64_t delta) {
  return {
      {"actor",
       {{"actor_type", "service_account"},
        {"actor_id", "scheduler"},
        {"roles", Json::array()},
        {"scopes", Json::array()}}},
      {"hierarchy", {{"organization_id", "acme"}, {"department_id", ""}, {"project_id", "llm"}}},
      {"product",
       {{"product_id", "gpuaas"}, {"resource_type", "gpu_node"}, {"resource_id", "n1"}, {"action", "start"}}},
      {"request",
       {{"dimension", "gpu.count"}, {"requested_delta", delta}, {"unit", "gpu"}, {"region", ""}, {"sku_or_model", ""}}},
      {"current_usage", {{"scope_window", ""}, {"quantity", usage}, {"unit", "gpu"}}},
      {"correlation_id", "corr-memory"}};
}

void build_acme(ledger::testing::ServiceStack& s) {
  s.register_gpu_quota();
  s.ok("organization.create", {{"organization_id", "acme"}, {"name", "Acme"}, {"plan_id", "pro"}});
  s.ok("project.create", {{"project_id", "llm"}, {"organization_id", "acme"}});
  s.ok("ceiling.set", ceiling(scope("organization", "acme"), 32));
}

TEST(MemoryReadsE2e, DecisionsAndPolicyValuesComeFromMemoryFedByTheTopic) {
  ledger::testing::ServiceStack s("memory_reads_e2e");
  ASSERT_TRUE(s.start());
  build_acme(s);
  const std::int64_t at = s.ok("ceiling.set", ceiling(scope("project", "llm"), 8));
  const std::string target = "/v1/decisions?min_position=" + std::to_string(at) + "&wait_ms=10000";
  Reply d = s.query("POST", target, kAdminToken, decision_input(2, 3));
  ASSERT_EQ(d.status, 200) << d.describe() << s.describe_logs();
  EXPECT_EQ(d.read_model, "memory");
  EXPECT_EQ(d.body["decision"], "allow");
  EXPECT_EQ(d.body["effective_ceiling"]["quantity"], 8);
  EXPECT_GE(d.body["snapshot_version"].get<std::int64_t>(), at);

  // A write after the model's start snapshot: it arrives through ledger.events.
  const std::int64_t lowered = s.ok("ceiling.set", ceiling(scope("project", "llm"), 4));
  d = s.query("POST", "/v1/decisions?min_position=" + std::to_string(lowered) + "&wait_ms=10000", kAdminToken,
              decision_input(2, 3));
  ASSERT_EQ(d.status, 200) << d.describe() << s.describe_logs();
  EXPECT_EQ(d.read_model, "memory");
  EXPECT_EQ(d.body["decision"], "deny");
  EXPECT_EQ(d.body["effective_ceiling"]["quantity"], 4);
  EXPECT_GE(d.body["snapshot_version"].get<std::int64_t>(), lowered);

  Reply def = s.command(
      "policy_key.define",
      {{"key", "quota.warn_threshold_percent"}, {"value_type", "int"}, {"default", 80}, {"min", 0}, {"max", 100}});
  ASSERT_EQ(def.status, 200) << def.describe();
  const std::int64_t set = s.ok(
      "policy_value.set",
      {{"key", "quota.warn_threshold_percent"}, {"scope", {{"org_id", "acme"}}}, {"value", 50}, {"reason", "e2e"}});
  Reply v = s.query("GET",
                    "/v1/policy-values/quota.warn_threshold_percent?org_id=acme&min_position=" + std::to_string(set) +
                        "&wait_ms=10000",
                    kAdminToken);
  ASSERT_EQ(v.status, 200) << v.describe() << s.describe_logs();
  EXPECT_EQ(v.read_model, "memory");
  EXPECT_EQ(v.body["value"], 50);
  EXPECT_GE(v.body["snapshot_version"].get<std::int64_t>(), set);
  // The warn threshold reaches the decision: 3 of 4 is above 50%.
  d = s.query("POST", "/v1/decisions?min_position=" + std::to_string(set) + "&wait_ms=10000", kAdminToken,
              decision_input(2, 1));
  ASSERT_EQ(d.status, 200) << d.describe();
  EXPECT_EQ(d.body["decision"], "warn");

  // Time travel stays on PostgreSQL, and says so.
  Reply old = s.query("POST", "/v1/decisions?as_of_position=" + std::to_string(at) + "&wait_ms=10000", kAdminToken,
                      decision_input(2, 3));
  ASSERT_EQ(old.status, 200) << old.describe();
  EXPECT_EQ(old.read_model, "postgresql");
  EXPECT_EQ(old.body["effective_ceiling"]["quantity"], 8);
}

TEST(MemoryReadsE2e, RestartedUnderLoadItAnswersNotReadyUntilCaughtUpNeverStale) {
  ledger::testing::ServiceStack s("memory_restart_e2e");
  ASSERT_TRUE(s.start());
  build_acme(s);
  // Enough history that loading it takes a moment.
  for (int i = 0; i < 150; ++i) {
    s.ok("project.create", {{"project_id", "p" + std::to_string(i)}, {"organization_id", "acme"}});
  }
  const std::int64_t head = s.ok("ceiling.set", ceiling(scope("project", "llm"), 5));
  ASSERT_TRUE(s.restart_query());

  // Decisions as fast as one client goes, from the first moment it listens.
  auto client = s.query_client();
  int not_ready = 0, answered = 0;
  std::vector<std::string> wrong;
  const bool caught_up = eventually(
      60s,
      [&] {
        Reply r = call(*client, "POST", "/v1/decisions", decision_input(0, 1).dump(), kAdminToken);
        if (r.status == 503 && r.code() == "snapshot_not_ready") {
          ++not_ready;
          if (r.retry_after.empty()) wrong.push_back("503 without Retry-After");
          return false;
        }
        if (r.status != 200) {
          wrong.push_back(r.describe());
          return false;
        }
        ++answered;
        // Never an answer older than what the ledger held at the restart.
        if (r.body["snapshot_version"].get<std::int64_t>() < head || r.body["effective_ceiling"]["quantity"] != 5) {
          wrong.push_back("stale: " + r.body.dump());
        }
        if (r.read_model != "memory") wrong.push_back("not from memory: " + r.read_model);
        return answered >= 50;
      },
      0ms);
  ASSERT_TRUE(caught_up) << s.describe_logs();
  EXPECT_TRUE(wrong.empty()) << wrong.size() << " bad answers, first: " << wrong.front();
  // Readiness agrees once it answers.
  EXPECT_EQ(call(*client, "GET", "/readyz", "", "").status, 200);
  std::cout << "after restart: " << not_ready << " x 503 snapshot_not_ready, then " << answered << " answers\n";
}

}  // namespace
