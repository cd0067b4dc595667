// The customer views of the query service (adapters/http/routes/
// views_api.h) over the real read model (PostgreSQL, the projector's
// admission and policy-values read models, the query routes): organization,
// department, project and principal views, near-limit flags with the
// threshold as a policy value, blocked reasons, rate limits per principal,
// paging, tenant isolation and the consistency parameters (an as_of_position
// answer that differs from the current one).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "events/codec/rfc3339.h"
#include "tests/support/admission_query_fixture.h"

namespace ledger {
namespace {

using events::QuotaLevel;
using Json = nlohmann::json;
using testing::AdmissionHistory;

class ViewsApiTest : public testing::AdmissionQueryFixture {
 protected:
  ViewsApiTest() : AdmissionQueryFixture("reader") {}
  adapters::http::HttpResponse get(const std::string& path, const std::string& query = "",
                                   const std::string& token = "t") {
    return call("GET", path, query, "", token);
  }
  Json view(const std::string& path, const std::string& query = "", const std::string& token = "t") {
    auto r = get(path, query, token);
    EXPECT_EQ(r.status, 200) << path << "?" << query << ": " << r.body;
    return Json::parse(r.body);
  }

  std::int64_t define_int_key(const std::string& key, std::int64_t def, std::int64_t min, std::int64_t max) {
    return history_->append(
        "policy-key:" + key,
        events::PolicyKeyDefined{key, events::ValueType::kInt, events::PolicyValue{def}, min, max, {}, key},
        "platform");
  }
  std::int64_t set_int(const std::string& key, events::ScopeLevel level, const std::string& id, std::int64_t before,
                       std::int64_t after, const std::string& tenant) {
    return history_->append("policy-value:" + key,
                            events::PolicyValueSet{key,
                                                   {level, id},
                                                   events::PolicyValue{before},
                                                   events::BeforeSource::kDefault,
                                                   events::PolicyValue{after},
                                                   events::Instant{AdmissionHistory::kNow.micros - 1},
                                                   "test"},
                            tenant);
  }

  // standard_history (see tests/support/admission_history.h) plus:
  //   a token-factory product whose only dimension acme caps at 0 per minute;
  //   the warn threshold at 60% for acme; rate limits (alice 240/min at the
  //   user scope, acme 60/min for financial requests);
  //   ml's own allocation of 27 of acme's 30 gpu (near limit), added after
  //   `before_ml_` so an earlier position answers differently.
  void acme_history() {
    history_->standard_history();
    history_->registry("product", "tokenfactory");
    history_->registry("quota_dimension", "tokens.rpm", {{"product", "tokenfactory"}, {"unit", "request"}});
    history_->ceiling({QuotaLevel::kOrganization, "acme"}, "tokens.rpm", 0, "minute", "request");
    define_int_key("quota.warn_threshold_percent", 80, 0, 100);
    set_int("quota.warn_threshold_percent", events::ScopeLevel::kOrganization, "acme", 80, 60, "acme");
    define_int_key("rate_limit.api_requests_per_minute", 120, 1, 100000);
    define_int_key("rate_limit.financial_requests_per_minute", 30, 1, 100000);
    define_int_key("allocation.max_concurrent_per_user", 50, 1, 1000);  // not a rate limit
    set_int("rate_limit.api_requests_per_minute", events::ScopeLevel::kUser, "alice", 120, 240, "acme");
    set_int("rate_limit.financial_requests_per_minute", events::ScopeLevel::kOrganization, "acme", 30, 60, "acme");
    before_ml_ = last();
    history_->ceiling({QuotaLevel::kDepartment, "ml"}, "gpu.count", 27);
  }

  static const Json* find(const Json& items, const std::string& field, const std::string& value) {
    for (const auto& i : items) {
      if (i.contains(field) && i[field] == value) return &i;
    }
    return nullptr;
  }

  std::int64_t before_ml_ = 0;
};

TEST_F(ViewsApiTest, OrganizationShowsPlanEnvelopeDepartmentsNearLimitAndProducts) {
  acme_history();
  project();
  auto b = view("/v1/views/organizations/acme");
  EXPECT_EQ(b["snapshot_version"], last());
  EXPECT_EQ(b["as_of"], codec::format_instant(AdmissionHistory::kNow));
  EXPECT_EQ(b["organization"]["id"], "acme");
  EXPECT_EQ(b["organization"]["plan_id"], "enterprise");
  EXPECT_EQ(b["plan"]["plan_id"], "enterprise");
  EXPECT_EQ(b["warn_threshold_percent"]["value"], 60);
  EXPECT_EQ(b["warn_threshold_percent"]["source"], (Json{{"level", "organization"}, {"id", "acme"}}));

  // The envelope: every target with a rule on acme's chain.
  const Json* gpu = find(b["envelope"], "dimension", "gpu.count");
  ASSERT_NE(gpu, nullptr) << b["envelope"].dump();
  EXPECT_EQ((*gpu)["quantity"], 30);
  EXPECT_EQ((*gpu)["unit"], "gpu");
  EXPECT_EQ((*gpu)["inherited_from"], (Json{{"level", "organization"}, {"id", "acme"}}));
  EXPECT_EQ((*gpu)["binding_rule_id"], "ceiling:organization:acme:gpu.count");
  EXPECT_EQ((*gpu)["reserved"], 20);  // res-1, active
  EXPECT_EQ((*gpu)["consumed"], 15);
  const Json* tokens = find(b["envelope"], "dimension", "tokens.day");
  ASSERT_NE(tokens, nullptr);
  EXPECT_EQ((*tokens)["quantity"], 1'000'000);
  EXPECT_EQ((*tokens)["window"], "day");
  const Json* rpm = find(b["envelope"], "dimension", "tokens.rpm");
  ASSERT_NE(rpm, nullptr);
  EXPECT_EQ((*rpm)["quantity"], 0);
  EXPECT_EQ((*rpm)["status"], "blocked");

  // Departments (nested ones too), each with effective ceilings and flags.
  const Json& items = b["departments"]["items"];
  ASSERT_EQ(items.size(), 4u) << items.dump();
  EXPECT_EQ(items[0]["id"], "acme.default");
  EXPECT_EQ(items[1]["id"], "ml");
  const Json* ml_gpu = find(items[1]["ceilings"], "dimension", "gpu.count");
  ASSERT_NE(ml_gpu, nullptr);
  EXPECT_EQ((*ml_gpu)["quantity"], 27);
  EXPECT_EQ((*ml_gpu)["allocation"], "own");
  EXPECT_EQ((*ml_gpu)["share_of_parent_percent"], 90);
  EXPECT_EQ((*ml_gpu)["near_limit_reasons"], Json::array({"allocation_share"}));
  EXPECT_TRUE(items[1]["near_limit"].get<bool>());
  // acme.default shares acme's 30 (inherited, so no allocation flag), but
  // p2's active reservation of 20 is >= 60% of it.
  const Json* def_gpu = find(items[0]["ceilings"], "dimension", "gpu.count");
  ASSERT_NE(def_gpu, nullptr);
  EXPECT_EQ((*def_gpu)["allocation"], "inherited");
  EXPECT_EQ((*def_gpu)["near_limit_reasons"], Json::array({"reserved_share"}));
  // research's own 50 is clamped to acme's 30 and reads inherited from acme.
  const Json& research = items[3];
  EXPECT_EQ(research["id"], "research");
  EXPECT_EQ((*find(research["ceilings"], "dimension", "gpu.count"))["quantity"], 30);
  EXPECT_FALSE(research["near_limit"].get<bool>());
  EXPECT_EQ(b["departments_near_limit"], (Json::array({"acme.default", "ml"})));

  // Products: gpuaas has a non-zero dimension, token factory is capped at 0.
  const Json* gpuaas = find(b["products"], "product_id", "gpuaas");
  const Json* tf = find(b["products"], "product_id", "tokenfactory");
  ASSERT_TRUE(gpuaas && tf) << b["products"].dump();
  EXPECT_TRUE((*gpuaas)["enabled"].get<bool>());
  EXPECT_FALSE((*tf)["enabled"].get<bool>());
  EXPECT_EQ((*tf)["dimensions"][0]["quantity"], 0);

  // Billing is not the ledger's: said so, nothing invented.
  EXPECT_EQ(b["billing"]["tracked_by_ledger"], false);
  EXPECT_TRUE(b["billing"]["posture"].is_null());
  EXPECT_TRUE(b["billing"]["message"].is_string());
}

TEST_F(ViewsApiTest, AsOfPositionAnswersWhatTheLedgerSaidThen) {
  acme_history();
  project();
  auto now = view("/v1/views/organizations/acme");
  auto then = view("/v1/views/organizations/acme", "as_of_position=" + std::to_string(before_ml_));
  EXPECT_EQ(then["snapshot_version"], before_ml_);
  EXPECT_EQ(now["departments_near_limit"], (Json::array({"acme.default", "ml"})));
  EXPECT_EQ(then["departments_near_limit"], (Json::array({"acme.default"})));  // ml had no allocation yet
  EXPECT_EQ((*find(then["departments"]["items"][1]["ceilings"], "dimension", "gpu.count"))["quantity"], 30);

  // Earlier still: before acme was lowered to 30 it was 100, on plan pro.
  const std::int64_t before_lowering = history_->position_of("OrganizationPlanChanged");
  auto older = view("/v1/views/organizations/acme", "as_of_position=" + std::to_string(before_lowering - 1));
  EXPECT_EQ(older["organization"]["plan_id"], "pro");
  EXPECT_EQ((*find(older["envelope"], "dimension", "gpu.count"))["quantity"], 100);

  // A project's usage at an as_of position before res-1's second consumption.
  const std::int64_t first_consumption = history_->position_of("ReservationConsumed");
  auto p2_then = view("/v1/views/projects/p2", "as_of_position=" + std::to_string(first_consumption));
  EXPECT_EQ((*find(p2_then["quotas"], "dimension", "gpu.count"))["current_usage"]["quantity"], 5);
  auto p2_now = view("/v1/views/projects/p2");
  EXPECT_EQ((*find(p2_now["quotas"], "dimension", "gpu.count"))["current_usage"]["quantity"], 15);

  // Read-your-writes: min_position waits; beyond the head is refused.
  EXPECT_EQ(view("/v1/views/organizations/acme", "min_position=" + std::to_string(last()))["snapshot_version"], last());
  // A min_position beyond the head is never waited for (issue 10, item 7).
  auto r = get("/v1/views/organizations/acme", "min_position=" + std::to_string(last() + 5) + "&wait_ms=10");
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_EQ(Json::parse(r.body)["code"], "position_beyond_head");
  r = get("/v1/views/organizations/acme", "as_of_position=" + std::to_string(last() + 5));
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_EQ(Json::parse(r.body)["code"], "position_beyond_head");
}

TEST_F(ViewsApiTest, DepartmentShowsChildrenAllocationShowbackAndNearLimitResources) {
  acme_history();
  project();
  auto b = view("/v1/views/departments/acme.default");
  EXPECT_EQ(b["department"]["id"], "acme.default");
  EXPECT_EQ(b["department"]["organization_id"], "acme");
  const Json& children = b["children"]["items"];
  ASSERT_EQ(children.size(), 1u) << children.dump();
  EXPECT_EQ(children[0]["level"], "project");
  EXPECT_EQ(children[0]["id"], "p2");
  const Json* p2_gpu = find(children[0]["ceilings"], "dimension", "gpu.count");
  ASSERT_NE(p2_gpu, nullptr);
  EXPECT_EQ((*p2_gpu)["quantity"], 30);
  EXPECT_EQ((*p2_gpu)["reserved"], 20);
  EXPECT_TRUE(children[0]["near_limit"].get<bool>());  // 20 of 30 reserved >= 60%

  const Json& states = b["reservations"]["by_state"];
  ASSERT_EQ(states.size(), 1u) << states.dump();
  EXPECT_EQ(states[0], (Json{{"state", "active"},
                             {"dimension", "gpu.count"},
                             {"unit", "gpu"},
                             {"count", 1},
                             {"quantity", 20},
                             {"consumed", 15}}));
  const Json& showback = b["reservations"]["showback"];
  ASSERT_EQ(showback.size(), 1u);
  EXPECT_EQ(showback[0]["owner"], (Json{{"level", "project"}, {"id", "p2"}}));
  EXPECT_EQ(showback[0]["reserved"], 20);
  EXPECT_EQ(showback[0]["consumed"], 15);
  ASSERT_EQ(b["near_limit_resources"].size(), 1u) << b["near_limit_resources"].dump();
  EXPECT_EQ(b["near_limit_resources"][0]["dimension"], "gpu.count");
  EXPECT_EQ(b["budget"]["tracked_by_ledger"], false);

  // ops: p1 (moved in) and the suspended res-2 it owns itself.
  auto ops = view("/v1/views/departments/ops");
  ASSERT_EQ(ops["children"]["items"].size(), 1u);
  EXPECT_EQ(ops["children"]["items"][0]["id"], "p1");
  bool suspended = false, draft = false;
  for (const auto& s : ops["reservations"]["by_state"]) {
    suspended = suspended || (s["state"] == "suspended" && s["quantity"] == 10);
    draft = draft || (s["state"] == "draft" && s["quantity"] == 5);  // res-3 of p1
  }
  EXPECT_TRUE(suspended && draft) << ops["reservations"].dump();
  // Past its window res-1 reads expired at once: nothing is reserved any more.
  auto later = view("/v1/views/departments/acme.default",
                    "as_of=" + codec::format_instant(events::Instant{AdmissionHistory::kWindowEnd.micros + 1}));
  EXPECT_EQ(later["reservations"]["by_state"][0]["state"], "expired");
  EXPECT_EQ(later["near_limit_resources"].size(), 0u);
}

TEST_F(ViewsApiTest, ProjectShowsQuotasUsageAndBlockedReasons) {
  acme_history();
  project();
  auto b = view("/v1/views/projects/p2");
  EXPECT_EQ(b["project"]["id"], "p2");
  EXPECT_EQ(b["project"]["department_id"], "acme.default");
  EXPECT_EQ(b["usage_posture"]["source"], "reservation_consumption");
  // One entry per registered dimension's targets.
  const Json* gpu = find(b["quotas"], "dimension", "gpu.count");
  ASSERT_NE(gpu, nullptr) << b["quotas"].dump();
  EXPECT_EQ((*gpu)["quantity"], 30);
  EXPECT_EQ((*gpu)["product"], "gpuaas");
  EXPECT_EQ((*gpu)["current_usage"], (Json{{"quantity", 15}, {"unit", "gpu"}, {"source", "reservation_consumption"}}));
  EXPECT_EQ((*gpu)["reserved"], 20);
  EXPECT_EQ((*gpu)["available"], 30);
  EXPECT_EQ((*gpu)["limit_remaining"], 15);
  EXPECT_EQ((*gpu)["status"], "ok");
  EXPECT_EQ((*find(b["quotas"], "dimension", "tokens.day"))["window"], "day");
  const Json* rpm = find(b["quotas"], "dimension", "tokens.rpm");
  ASSERT_NE(rpm, nullptr);
  EXPECT_EQ((*rpm)["status"], "blocked");
  ASSERT_EQ(b["blocked_reasons"].size(), 1u) << b["blocked_reasons"].dump();
  const Json& why = b["blocked_reasons"][0];
  EXPECT_EQ(why["dimension"], "tokens.rpm");
  EXPECT_EQ(why["reason_code"], "ceiling_zero");
  EXPECT_EQ(why["scope"], (Json{{"level", "organization"}, {"id", "acme"}}));
  EXPECT_EQ(why["rule_id"], "ceiling:organization:acme:tokens.rpm/per_minute");
  ASSERT_EQ(b["reservations"]["items"].size(), 1u);
  EXPECT_EQ(b["reservations"]["items"][0]["reservation_id"], "res-1");
  EXPECT_EQ(b["notices"].size(), 0u);

  // After its window res-1 has lapsed: a notice, no usage, still not blocked.
  auto later = view("/v1/views/projects/p2",
                    "as_of=" + codec::format_instant(events::Instant{AdmissionHistory::kWindowEnd.micros + 1}));
  ASSERT_EQ(later["notices"].size(), 1u) << later.dump();
  EXPECT_EQ(later["notices"][0]["reason_code"], "reservations_expired");
  EXPECT_EQ((*find(later["quotas"], "dimension", "gpu.count"))["current_usage"]["quantity"], 0);

  // p1 (under ops): 20 of acme's 30 are reserved for p2, so 10 are available.
  auto p1 = view("/v1/views/projects/p1");
  const Json* p1_gpu = find(p1["quotas"], "dimension", "gpu.count");
  EXPECT_EQ((*p1_gpu)["available"], 10);
  EXPECT_EQ((*p1_gpu)["reserved_for_others"], 20);
}

TEST_F(ViewsApiTest, PrincipalShowsTypeExpiryQuotasAndRateLimits) {
  acme_history();
  project();
  auto alice = view("/v1/views/principals/alice");
  EXPECT_EQ(alice["principal"]["type"], "user");
  EXPECT_EQ(alice["principal"]["project_id"], "p1");
  EXPECT_EQ(alice["principal"]["department_id"], "ops");
  EXPECT_TRUE(alice["principal"]["expires_at"].is_null());
  EXPECT_EQ(alice["principal"]["expired"], false);
  const Json* gpu = find(alice["quotas"], "dimension", "gpu.count");
  ASSERT_NE(gpu, nullptr);
  EXPECT_EQ((*gpu)["quantity"], 10);
  EXPECT_EQ((*gpu)["own_rule"], true);
  EXPECT_EQ((*gpu)["inherited_from"], (Json{{"level", "principal"}, {"id", "alice"}}));
  // Every rate_limit.* key (and only those), with where its value came from.
  const Json& limits = alice["rate_limits"];
  ASSERT_EQ(limits.size(), 2u) << limits.dump();
  EXPECT_EQ(limits[0]["key"], "rate_limit.api_requests_per_minute");
  EXPECT_EQ(limits[0]["value"], 240);
  EXPECT_EQ(limits[0]["source"], (Json{{"level", "user"}, {"id", "alice"}}));
  EXPECT_EQ(limits[1]["key"], "rate_limit.financial_requests_per_minute");
  EXPECT_EQ(limits[1]["value"], 60);
  EXPECT_EQ(limits[1]["source"], (Json{{"level", "organization"}, {"id", "acme"}}));
  EXPECT_EQ(alice["budget"]["tracked_by_ledger"], false);

  auto key = view("/v1/views/principals/key1");
  EXPECT_EQ(key["principal"]["type"], "api_key");
  EXPECT_EQ(key["principal"]["project_id"], "p2");
  EXPECT_EQ(key["principal"]["expires_at"], codec::format_instant(AdmissionHistory::kWindowEnd));
  EXPECT_EQ(key["principal"]["expired"], false);
  EXPECT_EQ(key["rate_limits"][0]["value"], 120);  // the catalog default
  EXPECT_EQ(key["rate_limits"][0]["is_default"], true);
  EXPECT_EQ((*find(key["quotas"], "dimension", "gpu.count"))["own_rule"], false);
  auto expired = view("/v1/views/principals/key1", "as_of=" + codec::format_instant(AdmissionHistory::kWindowEnd));
  EXPECT_EQ(expired["principal"]["expired"], true);

  // Before the rate-limit keys were defined there were none to report.
  auto early =
      view("/v1/views/principals/alice", "as_of_position=" + std::to_string(history_->position_of("PrincipalCreated")));
  EXPECT_EQ(early["rate_limits"].size(), 0u);
}

TEST_F(ViewsApiTest, ChildrenArePagedWithOpaqueCursors) {
  acme_history();
  project();
  auto first = view("/v1/views/organizations/acme", "limit=3");
  ASSERT_EQ(first["departments"]["items"].size(), 3u);
  EXPECT_TRUE(first["departments"]["has_more"].get<bool>());
  const std::string cursor = first["departments"]["next_cursor"];
  auto second = view("/v1/views/organizations/acme", "limit=3&cursor=" + cursor);
  ASSERT_EQ(second["departments"]["items"].size(), 1u);
  EXPECT_EQ(second["departments"]["items"][0]["id"], "research");
  EXPECT_FALSE(second["departments"]["has_more"].get<bool>());
  EXPECT_TRUE(second["departments"]["next_cursor"].is_null());

  auto r = get("/v1/views/organizations/acme", "cursor=bogus!");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(Json::parse(r.body)["code"], "invalid_cursor");
  r = get("/v1/views/organizations/acme", "limit=0");
  EXPECT_EQ(Json::parse(r.body)["code"], "invalid_parameter");
  r = get("/v1/views/organizations/acme", "limit=1001");  // one page-size maximum everywhere
  EXPECT_EQ(Json::parse(r.body)["code"], "invalid_parameter");
}

TEST_F(ViewsApiTest, UnknownIdsTenantsAndBadRequests) {
  acme_history();
  project();
  for (const char* path : {"/v1/views/organizations/nope", "/v1/views/departments/nope", "/v1/views/projects/nope",
                           "/v1/views/principals/nope", "/v1/views/projects/acme"}) {
    auto r = get(path);
    EXPECT_EQ(r.status, 404) << path;
    EXPECT_EQ(Json::parse(r.body)["code"], "unknown_scope") << path;
  }
  // A principal of acme sees acme's views only.
  EXPECT_EQ(get("/v1/views/organizations/acme", "", "acme").status, 200);
  EXPECT_EQ(get("/v1/views/principals/key1", "", "acme").status, 200);
  for (const char* path :
       {"/v1/views/organizations/beta", "/v1/views/departments/beta.default", "/v1/views/projects/q1"}) {
    auto r = get(path, "", "acme");
    EXPECT_EQ(r.status, 403) << path;
    EXPECT_EQ(Json::parse(r.body)["code"], "forbidden") << path;
  }
  EXPECT_EQ(get("/v1/views/organizations/acme", "", "").status, 401);
  EXPECT_EQ(get("/v1/views/organizations/acme", "bogus=1").status, 400);
  EXPECT_EQ(get("/v1/views/principals/alice", "limit=5").status, 400);  // not paged
  EXPECT_EQ(get("/v1/views/widgets/acme").status, 404);
  EXPECT_EQ(Json::parse(get("/v1/views/widgets/acme").body)["code"], "unknown_route");
}

}  // namespace
}  // namespace ledger
