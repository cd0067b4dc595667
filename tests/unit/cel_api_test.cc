// POST /v1/app-policies/validate-cel (adapters/http/routes/cel_api.h) over a
// fake engine: the body is checked as a command body is, whatever the
// engine says about the expression.
#include "adapters/http/routes/cel_api.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "adapters/identity/identity.h"

namespace ledger::routes {
namespace {

using domain::app_policy::CompiledExpression;
using domain::app_policy::ExpressionCheck;
using domain::app_policy::ExpressionEngine;

// Every expression checks; the route's own refusals are what is tested.
class AcceptingEngine : public ExpressionEngine {
 public:
  ExpressionCheck check(std::string_view /*expression*/) const override { return {}; }
  domain::Result<std::shared_ptr<const CompiledExpression>> compile(std::string_view /*expression*/) const override {
    return domain::fail(domain::ErrorKind::kInternal, "not_used", "validate-cel never compiles");
  }
};

identity::TokenAuthenticator admin_tokens() {
  auto auth = identity::TokenAuthenticator::from_json(nlohmann::json::parse(R"({"tokens": [
      {"token": "admin", "tenant": "platform",
       "actor": {"type": "user", "id": "ops", "roles": ["platform_admin"]}}]})"));
  EXPECT_TRUE(auth.has_value()) << auth.error().message;
  return std::move(*auth);
}

adapters::http::HttpResponse validate(const std::string& body) {
  const AcceptingEngine engine;
  const auto auth = admin_tokens();
  const CelApi api(engine, auth, {.family = commands::RouteFamily::kApplicationWrite});
  adapters::http::HttpRequest req;
  req.method = "POST";
  req.path = std::string(kValidateCelPath);
  req.target = req.path;
  req.headers = {{"authorization", "Bearer admin"}, {"content-type", "application/json"}};
  req.body = body;
  auto answer = api.handle(req);
  EXPECT_TRUE(answer.has_value());
  return answer.value_or(adapters::http::HttpResponse{});
}

TEST(CelApi, TheExpressionAloneIsChecked) {
  const auto r = validate(R"({"expression": "estimated_tokens < 5000"})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(nlohmann::json::parse(r.body), (nlohmann::json{{"valid", true}, {"errors", nlohmann::json::array()}}));
}

TEST(CelApi, AnUnknownFieldIsRefusedAsCommandDecodersRefuseIt) {
  const std::pair<const char*, const char*> cases[] = {
      {R"({"expression": "true", "expresion": "false"})", "expresion"},
      {R"({"variables": {"x": 1}, "expression": "true"})", "variables"},
  };
  for (const auto& [body, field] : cases) {
    const auto r = validate(body);
    ASSERT_EQ(r.status, 400) << body << ": " << r.body;
    const auto error = nlohmann::json::parse(r.body);
    EXPECT_EQ(error.at("code"), "unknown_field") << r.body;
    EXPECT_EQ(error.at("evidence").at("field"), field) << r.body;
  }
  // A misspelt `expression` alone still says what is missing.
  const auto r = validate(R"({"expresion": "true"})");
  ASSERT_EQ(r.status, 400) << r.body;
  EXPECT_EQ(nlohmann::json::parse(r.body).at("code"), "missing_field") << r.body;
}

}  // namespace
}  // namespace ledger::routes
