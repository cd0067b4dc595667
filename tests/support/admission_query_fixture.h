// The query service's admission routes in process over a fresh database:
// an AdmissionHistory to append events, the projector's catch-up, and
// QueryApi::handle behind the tokens "t" (platform admin) and "acme" (a
// principal of organization acme with the role the test chooses).
// Header-only; test code only.
#pragma once

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <memory>
#include <string>

#include "adapters/http/routes/admission_api.h"
#include "adapters/http/routes/query_api.h"
#include "adapters/identity/identity.h"
#include "adapters/postgres/admission_queries.h"
#include "adapters/postgres/read_model_store.h"
#include "adapters/projector/projector.h"
#include "adapters/system/clock.h"
#include "tests/support/admission_history.h"
#include "tests/support/query_request.h"
#include "tests/support/test_env.h"

namespace ledger::testing {

class AdmissionQueryFixture : public ::testing::Test {
 protected:
  explicit AdmissionQueryFixture(std::string acme_role) : acme_role_(std::move(acme_role)) {}

  void SetUp() override {
    db_ = create_database(::testing::UnitTest::GetInstance()->current_test_info()->name());
    history_ = std::make_unique<AdmissionHistory>(db_.app_url, clock_);
    nlohmann::json tokens = {{"tokens",
                              {{{"token", "t"},
                                {"tenant", "platform"},
                                {"actor", {{"type", "user"}, {"id", "ops"}, {"roles", {"platform_admin"}}}}},
                               {{"token", "acme"},
                                {"tenant", "acme"},
                                {"actor", {{"type", "user"}, {"id", "alice"}, {"roles", {acme_role_}}}}}}}};
    auto auth = identity::TokenAuthenticator::from_json(tokens);
    ASSERT_TRUE(auth.has_value());
    auth_ = std::make_unique<identity::TokenAuthenticator>(std::move(*auth));
    policy_ = std::make_unique<adapters::postgres::PgPolicyQueries>(db_.app_url, "rm", 2);
    admission_ = std::make_unique<adapters::postgres::PgAdmissionQueries>(db_.app_url, "rm", 2);
    query_ = std::make_unique<routes::QueryApi>(*policy_, *auth_, clock_);
    api_ = std::make_unique<routes::AdmissionApi>(*admission_, *policy_, clock_);
    query_->serve_admission(*api_);
  }
  // Projects everything appended so far into the live read models.
  void project() {
    projector::ProjectorOptions o{.pg_url = db_.app_url, .brokers = "", .schema = "rm"};
    auto r = projector::catch_up_from_store(o);
    ASSERT_TRUE(r.has_value()) << r.error().message;
  }
  adapters::http::HttpResponse call(const std::string& method, const std::string& path, const std::string& query,
                                    const std::string& body = "", const std::string& token = "t") {
    return query_->handle(query_request(method, path, query, body, token));
  }
  std::int64_t last() const { return history_->appended().back().position; }

  std::string acme_role_;
  TestDatabase db_;
  adapters::system::ManualClock clock_{AdmissionHistory::kNow};
  std::unique_ptr<AdmissionHistory> history_;
  std::unique_ptr<identity::TokenAuthenticator> auth_;
  std::unique_ptr<adapters::postgres::PgPolicyQueries> policy_;
  std::unique_ptr<adapters::postgres::PgAdmissionQueries> admission_;
  std::unique_ptr<routes::QueryApi> query_;
  std::unique_ptr<routes::AdmissionApi> api_;
};

}  // namespace ledger::testing
