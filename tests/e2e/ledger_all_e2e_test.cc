// ledger-all: the four services in one process (issue 11, part 6). A
// command written through its command port comes back through its query
// port, which means it went through the relay, the topic and the projector
// inside the same process; SIGTERM stops all four.
#include <gtest/gtest.h>

#include "tests/support/e2e_stack.h"

namespace ledger::testing {
namespace {

using Json = nlohmann::json;

TEST(LedgerAllE2e, OneProcessWritesRelaysProjectsAndAnswers) {
  ServiceStack s("ledger_all_e2e");
  s.run_in_one_process();
  ASSERT_TRUE(s.start()) << s.describe_logs();
  EXPECT_EQ(s.process_count(), 1u);

  s.register_gpu_quota();
  s.ok("organization.create", {{"organization_id", "acme"}, {"name", "Acme"}, {"plan_id", "pro"}});
  s.ok("project.create", {{"project_id", "llm"}, {"organization_id", "acme"}});
  const auto at = s.ok("ceiling.set", {{"scope", {{"level", "project"}, {"id", "llm"}}},
                                       {"dimension", "gpu.count"},
                                       {"quantity", 8},
                                       {"unit", "gpu"},
                                       {"reason", "e2e"}});
  ASSERT_GT(at, 0);
  const Json input = {
      {"actor",
       {{"actor_type", "service_account"},
        {"actor_id", "scheduler"},
        {"roles", Json::array()},
        {"scopes", Json::array()}}},
      {"hierarchy", {{"organization_id", "acme"}, {"department_id", ""}, {"project_id", "llm"}}},
      {"product",
       {{"product_id", "gpuaas"}, {"resource_type", "gpu_node"}, {"resource_id", "n1"}, {"action", "start"}}},
      {"request",
       {{"dimension", "gpu.count"}, {"requested_delta", 3}, {"unit", "gpu"}, {"region", ""}, {"sku_or_model", ""}}},
      {"current_usage", {{"scope_window", ""}, {"quantity", 6}, {"unit", "gpu"}}},
      {"registry_versions", Json::object()},
      {"correlation_id", "corr-ledger-all"}};
  Reply d = s.query("POST", "/v1/decisions?min_position=" + std::to_string(at), kAdminToken, input);
  ASSERT_EQ(d.status, 200) << d.describe() << s.describe_logs();
  EXPECT_EQ(d.body["decision"], "deny") << d.describe();  // 6 + 3 > 8
  EXPECT_GE(d.body["snapshot_version"].get<std::int64_t>(), at);

  const auto codes = s.terminate_all();
  ASSERT_EQ(codes.size(), 1u);
  EXPECT_EQ(codes[0], 0) << s.describe_logs();
}

}  // namespace
}  // namespace ledger::testing
