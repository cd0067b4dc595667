// The query side of policy values on the real read model: resolution order,
// future-dated values, time travel by instant and by position, read-your-
// writes via min_position, and the errors of the query API.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "adapters/http/routes/query_api.h"
#include "adapters/postgres/event_store.h"
#include "adapters/postgres/read_model_store.h"
#include "adapters/projector/projector.h"
#include "adapters/system/clock.h"
#include "commands/command_service.h"
#include "events/codec/rfc3339.h"
#include "tests/support/query_request.h"
#include "tests/support/test_env.h"

namespace ledger {
namespace {

constexpr std::int64_t kHour = 3600LL * 1'000'000;

class PolicyQueryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = testing::create_database(::testing::UnitTest::GetInstance()->current_test_info()->name());
    store_ = std::make_unique<adapters::postgres::PgEventStore>(db_.app_url, clock_);
    service_ = std::make_unique<commands::CommandService>(*store_, clock_);
    service_->start();
    auto auth = identity::TokenAuthenticator::from_json(nlohmann::json::parse(
        R"({"tokens":[{"token":"t","tenant":"platform","actor":{"type":"user","id":"q","roles":["reader"]}}]})"));
    ASSERT_TRUE(auth.has_value());
    auth_ = std::make_unique<identity::TokenAuthenticator>(std::move(*auth));
    queries_ = std::make_unique<adapters::postgres::PgPolicyQueries>(db_.app_url, "rm", 2);
    api_ = std::make_unique<routes::QueryApi>(*queries_, *auth_, clock_);
  }

  std::int64_t run(commands::Command c) {
    static int n = 0;
    commands::CommandRequest r{
        {"c" + std::to_string(++n), {{"user", "admin", {}}, "platform"}, "", ""}, std::move(c), {}};
    auto out = service_->submit_async(r).get();
    EXPECT_TRUE(out.has_value()) << (out ? "" : out.error().code);
    return out ? out->position.value : 0;
  }
  std::int64_t set(events::ScopeLevel level, std::string id, std::int64_t v, std::optional<events::Instant> at = {}) {
    return run(
        domain::SetPolicyValue{"billing.window_seconds", {level, std::move(id)}, events::PolicyValue{v}, at, "r", {}});
  }
  void project() {
    projector::ProjectorOptions o{.pg_url = db_.app_url, .brokers = "", .schema = "rm"};
    auto r = projector::catch_up_from_store(o);
    ASSERT_TRUE(r.has_value()) << r.error().message;
  }
  adapters::http::HttpResponse get(const std::string& query, bool token = true) {
    return api_->handle(
        testing::query_request("GET", "/v1/policy-values/billing.window_seconds", query, {}, token ? "t" : ""));
  }
  nlohmann::json body(const adapters::http::HttpResponse& r) { return nlohmann::json::parse(r.body); }

  testing::TestDatabase db_;
  adapters::system::ManualClock clock_{events::Instant{1'780'272'000'000'000}};
  std::unique_ptr<adapters::postgres::PgEventStore> store_;
  std::unique_ptr<commands::CommandService> service_;
  std::unique_ptr<identity::TokenAuthenticator> auth_;
  std::unique_ptr<adapters::postgres::PgPolicyQueries> queries_;
  std::unique_ptr<routes::QueryApi> api_;
};

TEST_F(PolicyQueryTest, MostSpecificScopeWinsAndEveryAnswerCarriesItsSnapshot) {
  events::PolicyKeyDefined d{
      "billing.window_seconds", events::ValueType::kInt, events::PolicyValue{std::int64_t{60}}, 1, 86400, {}, ""};
  run(domain::DefinePolicyKey{d});
  set(events::ScopeLevel::kPlan, "pro", 50);
  set(events::ScopeLevel::kOrganization, "acme", 40);
  set(events::ScopeLevel::kProject, "p1", 30);
  const auto last = set(events::ScopeLevel::kUser, "alice", 20);
  project();

  struct Case {
    std::string query;
    std::int64_t value;
    std::string level;
  };
  for (const auto& c : {Case{"user_id=alice&project_id=p1&org_id=acme&plan=pro", 20, "user"},
                        Case{"user_id=bob&project_id=p1&org_id=acme&plan=pro", 30, "project"},
                        Case{"project_id=p2&org_id=acme&plan=pro", 40, "organization"},
                        Case{"org_id=other&plan=pro", 50, "plan"}, Case{"org_id=other&plan=free", 60, "global"}}) {
    auto r = get(c.query);
    ASSERT_EQ(r.status, 200) << r.body;
    auto b = body(r);
    EXPECT_EQ(b["value"], c.value) << c.query;
    EXPECT_EQ(b["source"]["level"], c.level) << c.query;
    EXPECT_EQ(b["snapshot_version"], last);
    EXPECT_EQ(b["value_type"], "int");
  }
  EXPECT_TRUE(body(get("org_id=other"))["is_default"].get<bool>());
}

TEST_F(PolicyQueryTest, FutureDatedValueTakesEffectAtItsInstantWithoutAnotherCommand) {
  events::PolicyKeyDefined d{
      "billing.window_seconds", events::ValueType::kInt, events::PolicyValue{std::int64_t{60}}, 1, 86400, {}, ""};
  run(domain::DefinePolicyKey{d});
  const events::Instant now = clock_.now();
  const auto first = set(events::ScopeLevel::kOrganization, "acme", 45);
  set(events::ScopeLevel::kOrganization, "acme", 90, events::Instant{now.micros + 2 * kHour});
  project();

  EXPECT_EQ(body(get("org_id=acme"))["value"], 45);
  const std::string later = codec::format_instant(events::Instant{now.micros + 3 * kHour});
  EXPECT_EQ(body(get("org_id=acme&as_of=" + later))["value"], 90);
  clock_.advance_micros(2 * kHour);  // time passes; nothing else happens
  EXPECT_EQ(body(get("org_id=acme"))["value"], 90);
  // Time travel by position: what the ledger said right after the first set.
  auto then = body(get("org_id=acme&as_of_position=" + std::to_string(first)));
  EXPECT_EQ(then["value"], 45);
  EXPECT_EQ(then["snapshot_version"], first);
}

TEST_F(PolicyQueryTest, MinPositionAheadOfTheReadModelSaysNotYet) {
  events::PolicyKeyDefined d{
      "billing.window_seconds", events::ValueType::kInt, events::PolicyValue{std::int64_t{60}}, 1, 86400, {}, ""};
  run(domain::DefinePolicyKey{d});
  project();
  const auto pos = set(events::ScopeLevel::kOrganization, "acme", 45);  // not projected yet
  auto r = get("org_id=acme&min_position=" + std::to_string(pos) + "&wait_ms=50");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(body(r)["code"], "snapshot_not_ready");
  EXPECT_EQ(body(r)["snapshot_version"], pos - 1);
  project();
  r = get("org_id=acme&min_position=" + std::to_string(pos));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(body(r)["value"], 45);
}

TEST_F(PolicyQueryTest, BadQueriesGetStableErrors) {
  project();
  EXPECT_EQ(get("org_id=acme", /*token=*/false).status, 401);
  auto r = get("org_id=acme");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(body(r)["code"], "unknown_policy_key");
  r = get("as_of=yesterday");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(body(r)["code"], "invalid_parameter");
  r = get("min_position=-1");
  EXPECT_EQ(r.status, 400);
  r = get("min_position=99999999999999999999");
  EXPECT_EQ(r.status, 400);
}

}  // namespace
}  // namespace ledger
