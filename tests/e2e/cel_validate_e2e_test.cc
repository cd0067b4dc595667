// POST /v1/app-policies/validate-cel through the real ledger-command
// (seed 002 workflow 2 step 4; issue 14 part 4): the seed's expressions are
// valid, type errors come back with their positions, bad bodies are a
// stable 4xx, and only admins may call it.
#include <gtest/gtest.h>

#include <string>

#include "tests/support/e2e_stack.h"

namespace ledger::testing {
namespace {

constexpr const char* kPath = "/v1/app-policies/validate-cel";
constexpr const char* kAcmeTenantAdmin = "Bearer dev-acme-tenant-admin";
constexpr const char* kAcmeReader = "Bearer dev-acme-reader";
constexpr const char* kAcmeService = "Bearer dev-acme-service";

class CelValidateE2e : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    stack_ = new ServiceStack("cel_validate_e2e");
    const auto started = stack_->start();
    ASSERT_TRUE(started) << started.message();
    client_ = new adapters::http::HttpClient("127.0.0.1", stack_->command_port(), std::chrono::seconds(30));
  }
  static void TearDownTestSuite() {
    delete client_;
    delete stack_;
  }
  static Reply validate(const std::string& body, const std::string& token = kAdminToken,
                        const std::string& method = "POST") {
    return call(*client_, method, kPath, body, token);
  }
  static Reply validate_expression(const std::string& expr, const std::string& token = kAdminToken) {
    return validate(nlohmann::json{{"expression", expr}}.dump(), token);
  }
  static ServiceStack* stack_;
  static adapters::http::HttpClient* client_;
};
ServiceStack* CelValidateE2e::stack_ = nullptr;
adapters::http::HttpClient* CelValidateE2e::client_ = nullptr;

TEST_F(CelValidateE2e, TheSeedsExpressionsAreValid) {
  for (const char* expr :
       {"estimated_tokens < 5000", "model != 'gpt-4-32k'", "timestamp.getDayOfWeek(request.time) < 6",
        "request.time.getDayOfWeek() < 6 && actor.type == 'user' && app_id != ''"}) {
    for (const char* token : {kAdminToken, kAcmeTenantAdmin}) {
      Reply r = validate_expression(expr, token);
      ASSERT_EQ(r.status, 200) << expr << ": " << r.describe();
      EXPECT_EQ(r.body["valid"], true) << expr << ": " << r.describe();
      EXPECT_EQ(r.body["errors"], nlohmann::json::array()) << expr;
    }
  }
}

TEST_F(CelValidateE2e, InvalidExpressionsSayWhatAndWhere) {
  Reply r = validate_expression("estimated_tokens < 'many'");
  ASSERT_EQ(r.status, 200) << r.describe();
  EXPECT_EQ(r.body["valid"], false);
  ASSERT_EQ(r.body["errors"].size(), 1u) << r.describe();
  EXPECT_EQ(r.body["errors"][0]["position"], 17);
  EXPECT_NE(r.body["errors"][0]["message"].get<std::string>().find("no matching overload"), std::string::npos);

  r = validate_expression("estimated_tokens < ");
  ASSERT_EQ(r.status, 200) << r.describe();
  EXPECT_EQ(r.body["valid"], false);
  EXPECT_EQ(r.body["errors"][0]["position"], 19);

  r = validate_expression("request.modell == 'x'");
  ASSERT_EQ(r.status, 200) << r.describe();
  EXPECT_EQ(r.body["valid"], false);
  EXPECT_EQ(r.body["errors"][0]["position"], 7);

  r = validate_expression("estimated_tokens + 1");  // not a bool
  ASSERT_EQ(r.status, 200) << r.describe();
  EXPECT_EQ(r.body["valid"], false);
}

TEST_F(CelValidateE2e, BadBodiesAreStable4xx) {
  Reply r = validate("{not json");
  EXPECT_EQ(r.status, 400) << r.describe();
  EXPECT_EQ(r.code(), "malformed_json");

  r = validate(R"({"expr": "true"})");
  EXPECT_EQ(r.status, 400) << r.describe();
  EXPECT_EQ(r.code(), "missing_field");

  r = validate(R"({"expression": 5})");
  EXPECT_EQ(r.status, 400) << r.describe();
  EXPECT_EQ(r.code(), "invalid_field");

  r = validate_expression("true || " + std::string(5000, ' ') + "false");
  EXPECT_EQ(r.status, 413) << r.describe();
  EXPECT_EQ(r.code(), "expression_too_long");

  r = validate(R"({"expression": "true"})", kAdminToken, "GET");
  EXPECT_EQ(r.status, 405) << r.describe();

  // A query parameter is refused, never ignored, as on every command route.
  r = call(*client_, "POST", std::string(kPath) + "?expression=true", R"({"expression": "true"})", kAdminToken);
  EXPECT_EQ(r.status, 400) << r.describe();
  EXPECT_EQ(r.code(), "unknown_parameter");
}

TEST_F(CelValidateE2e, OnlyAdminsMayCallIt) {
  const std::string body = R"({"expression": "estimated_tokens < 5000"})";
  Reply r = validate(body, "");
  EXPECT_EQ(r.status, 401) << r.describe();
  for (const char* token : {kAcmeReader, kAcmeService}) {
    r = validate(body, token);
    EXPECT_EQ(r.status, 403) << token << ": " << r.describe();
    EXPECT_EQ(r.code(), "forbidden");
  }
  // Both refusals are recorded like every other (AccessRefused, in acme's audit view).
  auto refused_here = [](const nlohmann::json& items, const std::string& actor) {
    for (const auto& row : items) {
      const auto& p = row["after"];
      if (p.value("actor_id", "") == actor && p.value("target", "") == kPath && p.value("method", "") == "POST" &&
          p.value("reason", "") == "role_not_allowed") {
        return true;
      }
    }
    return false;
  };
  const auto items = stack_->refusals_seen_by("Bearer dev-acme-auditor", [&](const nlohmann::json& it) {
    return refused_here(it, "acme-reader") && refused_here(it, "acme-billing");
  });
  EXPECT_TRUE(refused_here(items, "acme-reader")) << items.dump();
  EXPECT_TRUE(refused_here(items, "acme-billing")) << items.dump();
}

}  // namespace
}  // namespace ledger::testing
