// The admission routes of the query service (adapters/http/routes/
// admission_api.h) over the real read model: decisions field for field,
// warn threshold as a policy value, bad input, tenant isolation, batches
// from one snapshot, effective ceilings, reservations, and the consistency
// parameters (min_position, as_of, as_of_position).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "events/codec/rfc3339.h"
#include "tests/support/admission_query_fixture.h"

namespace ledger {
namespace {

using events::QuotaLevel;
using Json = nlohmann::json;
using testing::AdmissionHistory;

Json decision_input(const std::string& actor, const std::string& org, const std::string& project, std::int64_t usage,
                    std::int64_t delta, const std::string& dimension = "gpu.count") {
  return {
      {"actor", {{"actor_type", "user"}, {"actor_id", actor}, {"roles", {"member"}}, {"scopes", Json::array()}}},
      {"hierarchy", {{"organization_id", org}, {"department_id", ""}, {"project_id", project}}},
      {"product",
       {{"product_id", "gpuaas"}, {"resource_type", "gpu_node"}, {"resource_id", "n1"}, {"action", "launch"}}},
      {"request",
       {{"dimension", dimension}, {"requested_delta", delta}, {"unit", "gpu"}, {"region", ""}, {"sku_or_model", ""}}},
      {"current_usage", {{"scope_window", ""}, {"quantity", usage}, {"unit", "gpu"}}},
      {"correlation_id", "corr-test"}};
}

class AdmissionApiTest : public testing::AdmissionQueryFixture {
 protected:
  AdmissionApiTest() : AdmissionQueryFixture("service") {}
  adapters::http::HttpResponse decide(const Json& input, const std::string& query = "",
                                      const std::string& token = "t") {
    return call("POST", "/v1/decisions", query, input.dump(), token);
  }
  static Json body(const adapters::http::HttpResponse& r) { return Json::parse(r.body); }
};

TEST_F(AdmissionApiTest, DecisionAnswersTheSeedOutputFieldForField) {
  history_->standard_history();
  project();
  // alice's own ceiling (10) binds: her chain is alice -> p1 -> ops -> acme (30) -> enterprise -> global.
  auto r = decide(decision_input("alice", "acme", "p1", 4, 3));
  ASSERT_EQ(r.status, 200) << r.body;
  auto b = body(r);
  EXPECT_EQ(b["decision"], "allow");
  EXPECT_EQ(b["reason_code"], "within_ceiling");
  EXPECT_TRUE(b["user_message"].is_string());
  EXPECT_EQ(b["effective_ceiling"]["quantity"], 10);
  EXPECT_EQ(b["effective_ceiling"]["unit"], "gpu");
  EXPECT_EQ(b["effective_ceiling"]["inherited_from"], "principal");
  EXPECT_EQ(b["effective_ceiling"]["inherited_from_scope"], (Json{{"level", "principal"}, {"id", "alice"}}));
  ASSERT_FALSE(b["matched_rules"].empty());
  bool alice_rule = false;
  for (const auto& m : b["matched_rules"]) {
    EXPECT_TRUE(m["rule_id"].is_string());
    EXPECT_TRUE(m["scope"].is_string());
    EXPECT_TRUE(m["version"].is_string());  // the seed's type
    alice_rule = alice_rule || m["scope"] == "principal:alice";
  }
  EXPECT_TRUE(alice_rule) << b.dump();
  EXPECT_EQ(b["evidence"]["snapshot_kind"], "effective_ceiling");
  EXPECT_EQ(b["evidence"]["snapshot_version"], std::to_string(last()));
  EXPECT_EQ(b["evidence"]["correlation_id"], "corr-test");
  EXPECT_EQ(b["snapshot_version"], last());
  EXPECT_EQ(b["limit_remaining"], 3);
  EXPECT_EQ(b["available"], 10);
  EXPECT_TRUE(b["reserved_for_others"].is_number_integer());
  EXPECT_EQ(b["registry_versions"]["quota_dimension"], "2");
  EXPECT_EQ(b["as_of"], codec::format_instant(AdmissionHistory::kNow));

  auto warn = body(decide(decision_input("alice", "acme", "p1", 6, 3)));  // 9 of 10: above 80%
  EXPECT_EQ(warn["decision"], "warn");
  EXPECT_EQ(warn["reason_code"], "near_limit");
  auto deny = body(decide(decision_input("alice", "acme", "p1", 8, 3)));  // 11 of 10
  EXPECT_EQ(deny["decision"], "deny");
  EXPECT_EQ(deny["reason_code"], "ceiling_exceeded");
}

TEST_F(AdmissionApiTest, WarnThresholdIsAPolicyValue) {
  history_->standard_history();
  history_->append("policy-key:quota.warn_threshold_percent",
                   events::PolicyKeyDefined{"quota.warn_threshold_percent",
                                            events::ValueType::kInt,
                                            events::PolicyValue{std::int64_t{80}},
                                            0,
                                            100,
                                            {},
                                            "near-limit warning"},
                   "platform");
  const auto set = history_->append("policy-value:quota.warn_threshold_percent",
                                    events::PolicyValueSet{"quota.warn_threshold_percent",
                                                           {events::ScopeLevel::kOrganization, "acme"},
                                                           events::PolicyValue{std::int64_t{80}},
                                                           events::BeforeSource::kDefault,
                                                           events::PolicyValue{std::int64_t{95}},
                                                           events::Instant{AdmissionHistory::kNow.micros - 1},
                                                           "acme wants fewer warnings"},
                                    "acme");
  project();
  auto b = body(decide(decision_input("alice", "acme", "p1", 6, 3), "min_position=" + std::to_string(set)));
  EXPECT_EQ(b["decision"], "allow");                                                         // 90% < 95%
  EXPECT_EQ(body(decide(decision_input("alice", "acme", "p1", 7, 3)))["decision"], "warn");  // 100% > 95%
}

TEST_F(AdmissionApiTest, BadInputIsRefusedWithStableCodes) {
  history_->standard_history();
  project();
  auto expect_invalid = [&](Json in, const std::string& field) {
    auto r = decide(in);
    EXPECT_EQ(r.status, 400) << in.dump();
    EXPECT_EQ(body(r)["code"], "invalid_decision_input") << r.body;
    EXPECT_EQ(body(r)["evidence"]["field"], field) << r.body;
  };
  auto in = decision_input("alice", "acme", "p1", 1, 1);
  in["request"]["requested_delta"] = 1.5;
  expect_invalid(in, "request.requested_delta");
  in["request"]["requested_delta"] = -1;
  expect_invalid(in, "request.requested_delta");
  in["request"]["requested_delta"] = "3";
  expect_invalid(in, "request.requested_delta");
  in = decision_input("alice", "acme", "p1", 1, 1);
  in["current_usage"]["quantity"] = 2.0;
  expect_invalid(in, "current_usage.quantity");
  in = decision_input("alice", "acme", "p1", 1, 1);
  in["surprise"] = true;
  expect_invalid(in, "surprise");
  in = decision_input("alice", "acme", "p1", 1, 1);
  in["request"]["dimensoin"] = "typo";
  expect_invalid(in, "request.dimensoin");
  auto r = call("POST", "/v1/decisions", "", "{not json");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(body(r)["code"], "malformed_json");
  EXPECT_EQ(call("GET", "/v1/decisions", "").status, 405);
  EXPECT_EQ(call("POST", "/v1/decisions", "", decision_input("alice", "acme", "p1", 1, 1).dump(), "").status, 401);
  r = decide(decision_input("alice", "acme", "p1", 1, 1), "bogus=1");
  EXPECT_EQ(body(r)["code"], "unknown_parameter");

  r = decide(decision_input("alice", "acme", "nope", 1, 1));
  EXPECT_EQ(r.status, 404) << r.body;
  EXPECT_EQ(body(r)["code"], "unknown_scope");
  r = decide(decision_input("alice", "acme", "p1", 1, 1, "not.registered"));
  EXPECT_EQ(r.status, 422) << r.body;
  EXPECT_EQ(body(r)["code"], "unknown_registry_entry");
}

TEST_F(AdmissionApiTest, TenantsAskAboutTheirOwnOrganizationOnly) {
  history_->standard_history();
  project();
  EXPECT_EQ(decide(decision_input("alice", "acme", "p1", 1, 1), "", "acme").status, 200);
  auto r = decide(decision_input("bob", "beta", "q1", 1, 1), "", "acme");
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(body(r)["code"], "forbidden");
  // Naming its own organization with another's project does not help.
  r = decide(decision_input("bob", "acme", "q1", 1, 1), "", "acme");
  EXPECT_EQ(r.status, 403) << r.body;
  EXPECT_EQ(call("GET", "/v1/ceilings/effective", "scope_level=project&scope_id=q1", "", "acme").status, 403);
  EXPECT_EQ(call("GET", "/v1/reservations", "organization_id=beta", "", "acme").status, 403);
  EXPECT_EQ(call("GET", "/v1/reservations/res-1", "", "", "acme").status, 200);
}

TEST_F(AdmissionApiTest, BatchAnswersEveryInputFromOneSnapshot) {
  history_->standard_history();
  project();
  auto bad = decision_input("alice", "acme", "p1", 1, 1);
  bad["request"]["requested_delta"] = 0.5;
  Json batch = {{"decisions",
                 {decision_input("alice", "acme", "p1", 4, 3), bad, decision_input("alice", "acme", "nope", 1, 1),
                  decision_input("key1", "acme", "p2", 0, 1)}}};
  auto r = call("POST", "/v1/decisions:batch", "", batch.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  auto b = body(r);
  ASSERT_EQ(b["results"].size(), 4u);
  EXPECT_EQ(b["results"][0]["decision"], "allow");
  EXPECT_EQ(b["results"][1]["error"]["code"], "invalid_decision_input");
  EXPECT_EQ(b["results"][2]["error"]["code"], "unknown_scope");
  EXPECT_EQ(b["results"][3]["decision"], "allow");
  EXPECT_EQ(b["snapshot_version"], last());
  EXPECT_EQ(b["results"][0]["snapshot_version"], b["results"][3]["snapshot_version"]);
  // The same batch as it stood before the organization's ceiling was lowered.
  const auto before = history_->position_of("ProjectMoved") - 1;
  b = body(call("POST", "/v1/decisions:batch", "as_of_position=" + std::to_string(before), batch.dump()));
  EXPECT_EQ(b["snapshot_version"], before);
  EXPECT_EQ(b["results"][0]["snapshot_version"], before);

  Json big = {{"decisions", Json::array()}};
  for (int i = 0; i < 1001; ++i) big["decisions"].push_back(decision_input("alice", "acme", "p1", 0, 1));
  r = call("POST", "/v1/decisions:batch", "", big.dump());
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(body(r)["code"], "invalid_decision_input");
  EXPECT_EQ(call("POST", "/v1/decisions:batch", "", R"({"decisions": {}})").status, 400);
}

TEST_F(AdmissionApiTest, EffectiveCeilingsWithInheritanceAndTimeTravel) {
  history_->standard_history();
  project();
  auto r = call("GET", "/v1/ceilings/effective", "scope_level=project&scope_id=p2&dimension=gpu.count");
  ASSERT_EQ(r.status, 200) << r.body;
  auto b = body(r);
  ASSERT_EQ(b["ceilings"].size(), 1u);
  EXPECT_EQ(b["ceilings"][0]["quantity"], 30);  // the organization, lowered after its children
  EXPECT_EQ(b["ceilings"][0]["inherited_from"], (Json{{"level", "organization"}, {"id", "acme"}}));
  EXPECT_FALSE(b["ceilings"][0]["matched_rules"].empty());
  EXPECT_EQ(b["chain"].size(), 5u);  // p2, acme.default, acme, plan:enterprise, global
  EXPECT_EQ(b["snapshot_version"], last());

  const auto before = history_->position_of("ProjectMoved") - 1;
  b = body(call("GET", "/v1/ceilings/effective",
                "scope_level=project&scope_id=p2&dimension=gpu.count&as_of_position=" + std::to_string(before)));
  EXPECT_EQ(b["ceilings"][0]["quantity"], 100);
  EXPECT_EQ(b["snapshot_version"], before);

  // Without a dimension: every dimension with a rule on the chain.
  b = body(call("GET", "/v1/ceilings/effective", "scope_level=organization&scope_id=acme"));
  ASSERT_EQ(b["ceilings"].size(), 2u);
  EXPECT_EQ(b["ceilings"][0]["dimension"], "gpu.count");
  EXPECT_EQ(b["ceilings"][1]["dimension"], "tokens.day");
  EXPECT_EQ(b["ceilings"][1]["window"], "day");

  r = call("GET", "/v1/ceilings/effective", "scope_level=project&scope_id=nope");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(body(r)["code"], "unknown_scope");
  EXPECT_EQ(call("GET", "/v1/ceilings/effective", "scope_level=galaxy&scope_id=x").status, 400);
  EXPECT_EQ(call("GET", "/v1/ceilings/effective", "scope_level=project").status, 400);
}

TEST_F(AdmissionApiTest, ReservationsReadExpiredPastTheirWindow) {
  history_->standard_history();
  project();
  auto r = call("GET", "/v1/reservations/res-1", "organization_id=acme");
  ASSERT_EQ(r.status, 200) << r.body;
  auto b = body(r);
  EXPECT_EQ(b["state"], "active");
  EXPECT_EQ(b["recorded_state"], "active");
  EXPECT_EQ(b["quantity"], 20);
  EXPECT_EQ(b["consumed"], 15);
  EXPECT_EQ(b["remaining"], 5);
  EXPECT_EQ(b["owner"], (Json{{"level", "project"}, {"id", "p2"}}));
  EXPECT_EQ(b["snapshot_version"], last());
  const std::string after_window = codec::format_instant(AdmissionHistory::kWindowEnd);
  b = body(call("GET", "/v1/reservations/res-1", "organization_id=acme&as_of=" + after_window));
  EXPECT_EQ(b["state"], "expired");  // before any sweeper recorded it
  EXPECT_EQ(b["recorded_state"], "active");
  clock_.set(AdmissionHistory::kWindowEnd);
  EXPECT_EQ(body(call("GET", "/v1/reservations/res-1", "organization_id=acme"))["state"], "expired");
  clock_.set(AdmissionHistory::kNow);
  r = call("GET", "/v1/reservations/res-404", "organization_id=acme");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(body(r)["code"], "unknown_reservation");

  b = body(call("GET", "/v1/reservations", "organization_id=acme&limit=2"));
  ASSERT_EQ(b["items"].size(), 2u);
  EXPECT_TRUE(b["has_more"].get<bool>());
  auto rest = body(
      call("GET", "/v1/reservations", "organization_id=acme&limit=2&cursor=" + b["next_cursor"].get<std::string>()));
  ASSERT_EQ(rest["items"].size(), 1u);
  EXPECT_EQ(rest["items"][0]["reservation_id"], "res-3");
  EXPECT_TRUE(rest["next_cursor"].is_null());
  b = body(call("GET", "/v1/reservations", "organization_id=acme&state=expired&as_of=" + after_window));
  EXPECT_EQ(b["items"].size(), 2u);
  b = body(call("GET", "/v1/reservations", "owner_level=department&owner_id=ops"));
  ASSERT_EQ(b["items"].size(), 1u);
  EXPECT_EQ(b["items"][0]["state"], "suspended");
  // The owner is a scope: scope_level/scope_id, the names of every route,
  // give the same page; both pairs at once are refused.
  auto by_scope = body(call("GET", "/v1/reservations", "scope_level=department&scope_id=ops"));
  by_scope.erase("snapshot_version");
  b.erase("snapshot_version");
  EXPECT_EQ(by_scope, b);
  EXPECT_EQ(body(call("GET", "/v1/reservations", "scope_level=department&scope_id=ops&owner_id=ops"))["code"],
            "invalid_parameter");
  EXPECT_EQ(call("GET", "/v1/reservations", "state=bogus").status, 400);
  EXPECT_EQ(body(call("GET", "/v1/reservations", "cursor=zzz"))["code"], "invalid_cursor");
  EXPECT_EQ(call("GET", "/v1/reservations", "limit=0").status, 400);
}

TEST_F(AdmissionApiTest, ReadYourWritesAndPositionsBeyondTheHead) {
  history_->organization("acme", "pro");
  project();
  const auto pos = history_->project("p1", "acme", "acme.default");  // not projected yet
  auto r = call("GET", "/v1/ceilings/effective",
                "scope_level=project&scope_id=p1&min_position=" + std::to_string(pos) + "&wait_ms=50");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(body(r)["code"], "snapshot_not_ready");
  EXPECT_EQ(body(r)["snapshot_version"], pos - 1);
  project();
  r = call("GET", "/v1/ceilings/effective", "scope_level=project&scope_id=p1&min_position=" + std::to_string(pos));
  EXPECT_EQ(r.status, 200) << r.body;
  r = call("GET", "/v1/reservations", "as_of_position=" + std::to_string(pos + 5));
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(body(r)["code"], "position_beyond_head");
  EXPECT_EQ(call("GET", "/v1/reservations", "as_of=yesterday").status, 400);
}

}  // namespace
}  // namespace ledger
