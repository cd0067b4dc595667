// The shadow check of a candidate entitlement policy version (issue 15
// part 6) through the real services: every answered entitlement check is
// recorded in the decision log (kind entitlement_check), `ledger-audit
// decisions` re-derives those records from history, and
// POST /v1/policies/{id}/versions/{v}:shadow replays the recorded checks of
// a window against a candidate version; its report equals a brute-force
// recomputation from the checks this test made.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <array>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "events/codec/rfc3339.h"
#include "tests/support/e2e_stack.h"
#include "tests/support/e2e_support.h"
#include "tests/support/process.h"

namespace {

using namespace std::chrono_literals;
using ledger::adapters::http::HttpClient;
using ledger::testing::call;
using ledger::testing::eventually;
using ledger::testing::kAdminToken;
using ledger::testing::Reply;
using Json = nlohmann::json;

constexpr const char* kAcmeAdmin = "Bearer dev-acme-tenant-admin";  // tenant_admin of org-acme

class Stack : public ledger::testing::ServiceStack {
 public:
  using ServiceStack::ServiceStack;
  // A seed-shaped route on ledger-command.
  Reply post(const std::string& path, const Json& body) {
    if (!client_) client_ = std::make_unique<HttpClient>("127.0.0.1", command_port(), 30s);
    Reply r = call(*client_, "POST", path, body.dump(), kAdminToken);
    if (r.status == 200) seen_ = std::max(seen_, r.body.value("position", std::int64_t{0}));
    return r;
  }
  Json must(const std::string& path, const Json& body) {
    Reply r = post(path, body);
    EXPECT_EQ(r.status, 200) << path << ": " << r.describe();
    return r.body;
  }
  std::string at() const {
    return "?min_position=" + std::to_string(std::max(seen_, last_position())) + "&wait_ms=10000";
  }
  Reply check(const Json& body, const std::string& correlation) {
    return query("POST", "/v1/entitlements:check" + at(), kAdminToken, body, {{"x-correlation-id", correlation}});
  }
  Reply shadow(const std::string& policy, const std::string& version, const Json& body,
               const std::string& token = kAdminToken) {
    return query("POST", "/v1/policies/" + policy + "/versions/" + version + ":shadow" + at(), token, body);
  }

 private:
  std::unique_ptr<HttpClient> client_;
  std::int64_t seen_ = 0;
};

struct Made {
  std::string organization_id;  // "" for a check naming a plan
  std::string plan;
  bool allowed = false;
};

TEST(EntitlementShadowE2e, ARecordedWindowIsReplayedAgainstACandidateVersion) {
  Stack s("entitlement_shadow_e2e");
  ASSERT_TRUE(s.start());
  for (const char* p : {"free", "pro", "enterprise"}) s.must("/v1/plans", {{"name", p}});
  const std::map<std::string, std::string> orgs = {
      {"org-acme", "pro"}, {"org-globex", "free"}, {"org-initech", "enterprise"}};
  for (const auto& [org, plan] : orgs) s.ok("organization.create", {{"organization_id", org}, {"plan_id", plan}});
  Json cap = s.must("/v1/capabilities", {{"name", "export-data"}});
  s.must("/v1/capabilities", {{"name", "api-access"}});
  // An answer's time is the commit time the event carries, not the edge's clock.
  const auto created = ledger::codec::parse_instant(cap["capability"]["createdAt"].get<std::string>());
  ASSERT_TRUE(created.has_value()) << cap.dump();
  EXPECT_EQ(std::to_string(created->micros),
            s.sql("SELECT (extract(epoch from recorded_at) * 1000000)::bigint FROM ledger.events WHERE event_id = '" +
                  cap["event_ids"][0].get<std::string>() + "'"))
      << cap.dump();
  Json pol = s.must("/v1/policies", {{"capabilityId", "cap-export-data"},
                                     {"name", "Export"},
                                     {"rules", {{"type", "plan-allowlist"}, {"allowedPlans", {"pro", "enterprise"}}}}});
  const std::string policy = pol["policy"]["id"], v1 = pol["policy"]["currentVersion"]["id"];
  s.must("/v1/policies/" + policy + "/versions/" + v1 + "/activate",
         {{"environment", "production"}, {"changelog", "e2e"}});
  const std::string from = ledger::testing::rfc3339(std::chrono::system_clock::now() - 2s);

  // The traffic: each organization several times, plans named directly,
  // and checks the report must leave out (another environment, another
  // capability).
  std::vector<Made> made;
  int n = 0;
  auto ask = [&](const Json& body, const std::string& org, const std::string& plan) {
    Reply r = s.check(body, "shadow-" + std::to_string(++n));
    ASSERT_EQ(r.status, 200) << r.describe();
    ASSERT_EQ(r.body["plan"], plan) << r.describe();
    made.push_back({org, plan, r.body["allowed"].get<bool>()});
  };
  for (int round = 0; round < 3; ++round) {
    for (const auto& [org, plan] : orgs) {
      ask({{"environment", "production"}, {"organization_id", org}, {"capability", "export-data"}}, org, plan);
    }
  }
  for (const char* plan : {"free", "free", "pro"}) {
    ask({{"environment", "production"}, {"plan", plan}, {"capability", "export-data"}}, "", plan);
  }
  const std::size_t relevant = made.size();
  ask({{"environment", "staging"}, {"plan", "free"}, {"capability", "export-data"}}, "", "free");
  ask({{"environment", "production"}, {"plan", "free"}, {"capability", "api-access"}}, "", "free");
  made.resize(relevant);

  // Every check is in the decision log, as an entitlement check.
  auto logged = [&] {
    return std::stoll(s.sql("SELECT count(*) FROM decision_log.decisions WHERE kind = 'entitlement_check'"));
  };
  ASSERT_TRUE(eventually(30s, [&] { return logged() >= n; })) << logged() << s.describe_logs();
  EXPECT_EQ(logged(), n);
  EXPECT_EQ(
      s.sql("SELECT decision || ' ' || reason_code FROM decision_log.decisions WHERE correlation_id = 'shadow-2'"),
      "deny plan_not_allowed");  // org-globex on free

  // A candidate: free and pro, and enterprise denied by override.
  Json v2 = s.must(
      "/v1/policies/" + policy + "/versions",
      {{"rules", {{"type", "plan-allowlist"}, {"allowedPlans", {"free", "pro"}}, {"denyOverrides", {"enterprise"}}}},
       {"changelog", "free in, enterprise out"}});
  const std::string candidate = v2["version"]["id"];
  const std::string to = ledger::testing::rfc3339(std::chrono::system_clock::now() + 2s);
  Reply r = s.shadow(policy, candidate, {{"environment", "production"}, {"from", from}, {"to", to}});
  ASSERT_EQ(r.status, 200) << r.describe();

  // Brute force over what this test asked.
  std::int64_t to_deny = 0, to_allow = 0;
  std::map<std::string, std::array<std::int64_t, 3>> by_plan, by_org;  // checked, allow->deny, deny->allow
  for (const auto& m : made) {
    const bool candidate_allows = (m.plan == "free" || m.plan == "pro") && m.plan != "enterprise";
    for (auto* g : {&by_plan[m.plan], &by_org[m.organization_id]}) {
      ++(*g)[0];
      if (m.allowed && !candidate_allows) ++(*g)[1];
      if (!m.allowed && candidate_allows) ++(*g)[2];
    }
    to_deny += m.allowed && !candidate_allows;
    to_allow += !m.allowed && candidate_allows;
  }
  const Json& rep = r.body;
  EXPECT_EQ(rep["checked"], static_cast<std::int64_t>(made.size())) << rep.dump();
  EXPECT_EQ(rep["considered"], static_cast<std::int64_t>(made.size()));
  EXPECT_EQ(rep["allow_to_deny"], to_deny);
  EXPECT_EQ(rep["deny_to_allow"], to_allow);
  EXPECT_EQ(rep["unchanged"], static_cast<std::int64_t>(made.size()) - to_deny - to_allow);
  EXPECT_GT(to_deny, 0);
  EXPECT_GT(to_allow, 0);
  ASSERT_EQ(rep["by_plan"].size(), by_plan.size()) << rep.dump();
  for (const auto& g : rep["by_plan"]) {
    const auto& want = by_plan[g["plan"].get<std::string>()];
    EXPECT_EQ(g["checked"], want[0]) << g.dump();
    EXPECT_EQ(g["allow_to_deny"], want[1]) << g.dump();
    EXPECT_EQ(g["deny_to_allow"], want[2]) << g.dump();
  }
  ASSERT_EQ(rep["by_organization"].size(), by_org.size()) << rep.dump();
  for (const auto& g : rep["by_organization"]) {
    const auto& want = by_org[g["organization_id"].is_null() ? "" : g["organization_id"].get<std::string>()];
    EXPECT_EQ(g["checked"], want[0]) << g.dump();
    EXPECT_EQ(g["allow_to_deny"], want[1]) << g.dump();
    EXPECT_EQ(g["deny_to_allow"], want[2]) << g.dump();
  }
  // Samples: flips only, each naming a logged decision.
  for (const auto& sample : rep["samples"]["allow_to_deny"]) {
    EXPECT_EQ(sample["plan"], "enterprise") << sample.dump();
    EXPECT_EQ(sample["candidate_reason"], "deny_override");
    EXPECT_EQ(s.sql("SELECT count(*) FROM decision_log.decisions WHERE decision_id = '" +
                    sample["decision_id"].get<std::string>() + "' AND decision = 'allow'"),
              "1");
  }
  EXPECT_EQ(rep["samples"]["allow_to_deny"].size(), static_cast<std::size_t>(std::min<std::int64_t>(to_deny, 10)));
  EXPECT_EQ(rep["samples"]["deny_to_allow"].size(), static_cast<std::size_t>(std::min<std::int64_t>(to_allow, 10)));

  // The live policy is untouched: v1 still answers.
  Reply still = s.check({{"environment", "production"}, {"plan", "free"}, {"capability", "export-data"}}, "after");
  EXPECT_EQ(still.body["allowed"], false) << still.describe();

  // An empty window reports nothing; bad requests are refused clearly; an
  // organization's admin may not see every organization's checks.
  Reply empty =
      s.shadow(policy, candidate,
               {{"environment", "production"}, {"from", "2020-01-01T00:00:00Z"}, {"to", "2020-01-02T00:00:00Z"}});
  ASSERT_EQ(empty.status, 200) << empty.describe();
  EXPECT_EQ(empty.body["checked"], 0);
  EXPECT_EQ(s.shadow(policy, "no-such-version", {{"environment", "production"}, {"from", from}, {"to", to}}).code(),
            "unknown_version");
  EXPECT_EQ(s.shadow(policy, candidate, {{"environment", "production"}, {"from", to}, {"to", from}}).status, 400);
  EXPECT_EQ(s.shadow(policy, candidate, {{"environment", "moon"}, {"from", from}, {"to", to}}).status, 400);
  EXPECT_EQ(s.shadow(policy, candidate, {{"environment", "production"}, {"from", from}}).status, 400);
  EXPECT_EQ(s.shadow(policy, candidate, {{"environment", "production"}, {"from", from}, {"to", to}, {"x", "1"}}).status,
            400);
  Reply tenant = s.shadow(policy, candidate, {{"environment", "production"}, {"from", from}, {"to", to}}, kAcmeAdmin);
  EXPECT_EQ(tenant.status, 403) << tenant.describe();

  // The recorded checks are derived again from history.
  ASSERT_TRUE(eventually(30s, [&] { return logged() >= n + 1; }));
  const std::string audit = std::string(LEDGER_BINARY_DIR) + "/services/ledger-audit decisions --pg-url '" +
                            s.database().url_for("ledger_auditor") + "' 2>&1";
  auto agree = ledger::testing::run_command(audit);
  EXPECT_EQ(agree.status, 0) << agree.out;
  EXPECT_NE(agree.out.find("re-derived " + std::to_string(n + 1) + " logged decisions: all agree"), std::string::npos)
      << agree.out;
  s.sql(
      "UPDATE decision_log.decisions SET output = jsonb_set(output::jsonb, '{allowed}', 'true') "
      "WHERE correlation_id = 'shadow-2'");
  auto differ = ledger::testing::run_command(audit);
  EXPECT_EQ(differ.status, 1) << differ.out;
  EXPECT_NE(differ.out.find("1 differ"), std::string::npos) << differ.out;

  // shadow_required: a production activation presents a signed report of
  // that version, young enough; the activation event keeps its figures.
  ASSERT_TRUE(rep["signature"].is_string()) << rep.dump();
  s.ok("entitlements.configure", {{"require_progression", false}, {"shadow_max_age_seconds", 3600}});
  const std::string activate = "/v1/policies/" + policy + "/versions/" + candidate + "/activate";
  const Json go = {{"environment", "production"}, {"changelog", "after the shadow check"}};
  Reply without = s.post(activate, go);
  EXPECT_EQ(without.status, 422) << without.describe();
  EXPECT_EQ(without.code(), "shadow_report_required");
  Json forged = go;
  forged["shadow_report"] = rep;
  forged["shadow_report"]["allow_to_deny"] = 0;  // a report that hides the blast radius
  Reply tampered = s.post(activate, forged);
  EXPECT_EQ(tampered.status, 422) << tampered.describe();
  EXPECT_EQ(tampered.code(), "invalid_shadow_report");
  Json staging = {{"environment", "staging"}, {"changelog", "no report needed outside production"}};
  EXPECT_EQ(s.post(activate, staging).status, 200);
  Json with = go;
  with["shadow_report"] = rep;
  Reply accepted = s.post(activate, with);
  ASSERT_EQ(accepted.status, 200) << accepted.describe();
  const std::string figures = s.sql(
      "SELECT payload->'shadow'->>'allow_to_deny' || ' ' || (payload->'shadow'->>'deny_to_allow') FROM ledger.events "
      "WHERE event_type = 'PolicyVersionActivated' AND payload->>'environment' = 'production' "
      "ORDER BY global_position DESC LIMIT 1");
  EXPECT_EQ(figures, std::to_string(to_deny) + " " + std::to_string(to_allow));
  EXPECT_EQ(s.sql("SELECT count(*) FROM ledger.events WHERE event_type = 'PolicyVersionActivated' "
                  "AND payload->>'environment' = 'staging' AND payload ? 'shadow'"),
            "0");
}

}  // namespace
