// The published contract holds (issue 17 part 2): schemathesis (PyPI,
// scripts/python-tools.sh) generates requests from each service's own
// GET /openapi.json — valid ones and invalid ones — and checks every answer
// against the document: no 5xx, only documented statuses, content types,
// headers and bodies, invalid input refused, valid input accepted (or
// refused by the ledger's own rules: tests/contract/schemathesis.toml).
// Bounded in examples per operation (the config); one run per service.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <string>

#include "adapters/http/routes/openapi.h"
#include "tests/support/e2e_stack.h"

namespace ledger::testing {
namespace {

using Json = nlohmann::json;

// A stack as `./ledgerctl up` leaves it (the catalog loaded), with the
// platform admin's request budgets lifted as bench/raise_limits.sh does
// (schemathesis sends thousands of requests a minute), and the services'
// one-second refresh of them awaited.
void prepare(ServiceStack& stack) {
  const std::string bin = std::string(LEDGER_BINARY_DIR) + "/services/";
  const auto catalog =
      run_command(bin + "ledger-admin load-catalog --token dev-platform-admin --catalog " + LEDGER_SOURCE_DIR +
                  "/config/policy-keys.json --command-port " + std::to_string(stack.command_port()) + " 2>&1");
  ASSERT_EQ(catalog.status, 0) << catalog.out;
  // Refusal records are budgeted per refused principal, which schemathesis
  // repeats ("0" of tenant "0" ...): lifted for everyone (the global scope).
  const auto refusals = stack.admin(
      "POST", "/api/v1/admin/policy-values",
      Json{{"key", "rate_limit.access_refusal_records_per_minute"}, {"value", 100000}, {"reason", "contract run"}});
  ASSERT_EQ(refusals.status, 200) << refusals.describe();
  // Last: it waits for the projection and the services' refresh.
  const auto raised = run_command(std::string(LEDGER_SOURCE_DIR) + "/bench/raise_limits.sh platform-admin " +
                                  std::to_string(stack.command_port()) + " dev-platform-admin 2>&1");
  ASSERT_EQ(raised.status, 0) << raised.out;
}

// schemathesis against one service, from the document the service serves.
void run_schemathesis(ServiceStack& stack, std::uint16_t port, routes::ApiDocument which) {
  const std::string base = "http://127.0.0.1:" + std::to_string(port);
  adapters::http::HttpClient client("127.0.0.1", port);
  const auto served = client.request("GET", "/openapi.json");
  ASSERT_TRUE(served) << served.error().message;
  ASSERT_EQ(served->status, 200);
  EXPECT_EQ(served->body, routes::openapi_document(which))
      << "the service serves another document than it was built with";

  // The change feed never ends a response (Server-Sent Events): its
  // answers are checked by ChangeFeedE2e, not here.
  const auto run =
      run_command("LEDGER_CONTRACT_TOKEN=dev-platform-admin " + std::string(LEDGER_SOURCE_DIR) +
                  "/tests/contract/run.sh " + base + "/openapi.json " + base + " --exclude-operation-id changes 2>&1");
  EXPECT_EQ(run.status, 0) << run.out << "\n" << stack.describe_logs();
  // A run that generated nothing proves nothing.
  EXPECT_EQ(run.out.find("No operations"), std::string::npos) << run.out;
}

TEST(ContractE2e, TheQueryServiceAnswersAsItsOpenApiDocumentSays) {
  ServiceStack stack("contract_query_e2e");
  const auto started = stack.start();
  ASSERT_TRUE(started) << started.message();
  ASSERT_NO_FATAL_FAILURE(prepare(stack));
  run_schemathesis(stack, stack.query_port(), routes::ApiDocument::kQuery);
}

TEST(ContractE2e, TheCommandServiceAnswersAsItsOpenApiDocumentSays) {
  ServiceStack stack("contract_command_e2e");
  const auto started = stack.start();
  ASSERT_TRUE(started) << started.message();
  ASSERT_NO_FATAL_FAILURE(prepare(stack));
  run_schemathesis(stack, stack.command_port(), routes::ApiDocument::kCommand);
}

}  // namespace
}  // namespace ledger::testing
