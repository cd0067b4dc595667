// End-to-end tests of plan entitlements (seed 003, issue 15) through the real
// stack: the seed's REST routes on ledger-command, PostgreSQL, the relay to
// Kafka, ledger-query's in-memory read model fed from `ledger.events`, the
// projector's audit view and `ledger-audit history`.
//
//   EntitlementsE2e.SeedExamplesActivateAndCheckFromMemory
//     the seed's three API examples verbatim (ids as the ledger returns
//     them), default deny before activation, checks by plan and by
//     organization, the active-policy snapshot, versions, activations,
//     as_of_position, the audit view and ledger-audit history.
//   EntitlementsE2e.RacingActivationsOneWinsPerEnvironmentThenRollback
//     two activations racing in one environment with the same
//     expected_version: exactly one wins, the other is 409
//     version_conflict, never two active; another environment is
//     independent; rollback is a new activation of the old version.
//   EntitlementsE2e.ArchivedPlansDeprecationAndTenantIsolation
//     an archived plan is refused for a new assignment (organization.create
//     and change_plan), existing ones stay valid; retire only after
//     deprecate, a deprecated capability still evaluates; stable codes for
//     bad names and duplicates; organizations' principals are refused; a
//     product space requiring dev -> staging -> production refuses a skip.
//
// Synchronisation is by min_position (read-your-writes) only.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "adapters/http/client.h"
#include "tests/support/e2e_stack.h"
#include "tests/support/e2e_support.h"
#include "tests/support/process.h"
#include "tests/support/test_env.h"

namespace {

using namespace std::chrono_literals;
using ledger::adapters::http::HttpClient;
using ledger::testing::call;
using ledger::testing::kAdminToken;
using ledger::testing::Reply;
using Json = nlohmann::json;

constexpr const char* kAcmeAdmin = "Bearer dev-acme-admin";  // tenant_admin of org-acme

class Stack : public ledger::testing::ServiceStack {
 public:
  using ServiceStack::ServiceStack;

  // A seed-shaped route on ledger-command.
  Reply admin(const std::string& path, const Json& body, const std::string& token = kAdminToken) {
    if (!client_) client_ = std::make_unique<HttpClient>("127.0.0.1", command_port(), 30s);
    Reply r = call(*client_, "POST", path, body.dump(), token);
    if (r.status == 200) seen_ = std::max(seen_, r.body.value("position", std::int64_t{0}));
    return r;
  }
  Json must(const std::string& path, const Json& body) {
    Reply r = admin(path, body);
    EXPECT_EQ(r.status, 200) << path << ": " << r.describe();
    return r.body;
  }
  // On ledger-query, at least as fresh as everything this test wrote.
  Reply read(const std::string& method, const std::string& target, const Json& body = nullptr,
             const std::string& token = kAdminToken) {
    const std::int64_t at = std::max(seen_, last_position());
    const char sep = target.find('?') == std::string::npos ? '?' : '&';
    return query(method, target + sep + "min_position=" + std::to_string(at) + "&wait_ms=10000", token, body);
  }
  Json check(const Json& body) {
    Reply r = read("POST", "/v1/entitlements:check", body);
    EXPECT_EQ(r.status, 200) << r.describe();
    return r.body;
  }
  std::int64_t seen() const { return std::max(seen_, last_position()); }
  void saw(std::int64_t position) { seen_ = std::max(seen_, position); }

 private:
  std::unique_ptr<HttpClient> client_;
  std::int64_t seen_ = 0;
};

void define_plans(Stack& s) {
  for (const char* p : {"free", "pro", "enterprise"}) {
    s.must("/v1/plans", {{"name", p}, {"displayName", std::string(p) + " plan"}, {"description", "e2e"}});
  }
}

TEST(EntitlementsE2e, SeedExamplesActivateAndCheckFromMemory) {
  Stack s("entitlements_seed_e2e");
  ASSERT_TRUE(s.start());
  define_plans(s);

  // Seed example 1: Create Capability, verbatim.
  Json cap = s.must("/v1/capabilities", Json::parse(R"({
    "name": "export-data",
    "description": "Ability to export data to external formats"
  })"));
  ASSERT_TRUE(cap.contains("capability")) << cap.dump();
  EXPECT_EQ(cap["capability"]["name"], "export-data");
  EXPECT_EQ(cap["capability"]["status"], "active");
  EXPECT_TRUE(cap["capability"]["createdAt"].is_string());
  const std::string cap_id = cap["capability"]["id"];

  // Seed example 2: Create Policy, verbatim but for the capability id the ledger gave.
  Json policy_body = Json::parse(R"({
    "capabilityId": "cap-123",
    "name": "Export Data Policy",
    "description": "Controls access to data export functionality",
    "rules": {
      "type": "plan-allowlist",
      "allowedPlans": ["pro", "enterprise"]
    }
  })");
  policy_body["capabilityId"] = cap_id;
  Json pol = s.must("/v1/policies", policy_body);
  ASSERT_TRUE(pol.contains("policy")) << pol.dump();
  EXPECT_EQ(pol["policy"]["capabilityId"], cap_id);
  EXPECT_EQ(pol["policy"]["currentVersion"]["version"], 1);
  EXPECT_EQ(pol["policy"]["currentVersion"]["status"], "draft");
  const std::string policy_id = pol["policy"]["id"];
  const std::string v1 = pol["policy"]["currentVersion"]["id"];

  // Default deny: a draft is not active anywhere.
  Json before = s.check({{"environment", "production"}, {"plan", "pro"}, {"capability", "export-data"}});
  EXPECT_FALSE(before["allowed"].get<bool>());
  EXPECT_EQ(before["reason"], "no_active_policy");
  const std::int64_t before_activation = s.seen();

  // Seed example 3: Activate Policy Version, verbatim.
  Json act = s.must("/v1/policies/" + policy_id + "/versions/" + v1 + "/activate", Json::parse(R"({
    "environment": "production",
    "changelog": "Enable export for pro tier customers"
  })"));
  ASSERT_TRUE(act.contains("activation")) << act.dump();
  EXPECT_EQ(act["activation"]["policyVersionId"], v1);
  EXPECT_EQ(act["activation"]["environment"], "production");
  EXPECT_EQ(act["activation"]["status"], "active");
  EXPECT_TRUE(act["activation"]["activatedAt"].is_string());
  const std::string activation_id = act["activation"]["activationId"];

  // Checks from memory.
  Json pro = s.check({{"environment", "production"}, {"plan", "pro"}, {"capability", "export-data"}});
  EXPECT_TRUE(pro["allowed"].get<bool>()) << pro.dump();
  EXPECT_EQ(pro["reason"], "plan_allowed");
  EXPECT_EQ(pro["policy_id"], policy_id);
  EXPECT_EQ(pro["version"], 1);
  EXPECT_EQ(pro["activation_id"], activation_id);
  EXPECT_GE(pro["snapshot_version"].get<std::int64_t>(), act["position"].get<std::int64_t>());
  Json free = s.check({{"environment", "production"}, {"plan", "free"}, {"capability", "export-data"}});
  EXPECT_FALSE(free["allowed"].get<bool>());
  EXPECT_EQ(free["reason"], "plan_not_allowed");
  Json staging = s.check({{"environment", "staging"}, {"plan", "pro"}, {"capability", "export-data"}});
  EXPECT_FALSE(staging["allowed"].get<bool>());
  EXPECT_EQ(staging["reason"], "no_active_policy");
  Json unknown = s.check({{"environment", "production"}, {"plan", "pro"}, {"capability", "bulk-export"}});
  EXPECT_FALSE(unknown["allowed"].get<bool>());
  EXPECT_EQ(unknown["reason"], "unknown_capability");

  // By organization: its plan in the admission hierarchy decides.
  s.ok("organization.create", {{"organization_id", "org-acme"}, {"name", "Acme"}, {"plan_id", "pro"}});
  Json acme = s.check({{"environment", "production"}, {"organization_id", "org-acme"}, {"capability", "export-data"}});
  EXPECT_TRUE(acme["allowed"].get<bool>()) << acme.dump();
  EXPECT_EQ(acme["plan"], "pro");
  s.ok("organization.change_plan", {{"organization_id", "org-acme"}, {"plan_id", "free"}});
  acme = s.check({{"environment", "production"}, {"organization_id", "org-acme"}, {"capability", "export-data"}});
  EXPECT_FALSE(acme["allowed"].get<bool>());
  EXPECT_EQ(acme["reason"], "plan_not_allowed");

  // Batch: one snapshot for every check.
  Reply batch = s.read("POST", "/v1/entitlements:batchCheck",
                       {{"checks",
                         {{{"environment", "production"}, {"plan", "enterprise"}, {"capability", "export-data"}},
                          {{"environment", "dev"}, {"plan", "enterprise"}, {"capability", "export-data"}}}}});
  ASSERT_EQ(batch.status, 200) << batch.describe();
  ASSERT_EQ(batch.body["results"].size(), 2u);
  EXPECT_TRUE(batch.body["results"][0]["allowed"].get<bool>());
  EXPECT_EQ(batch.body["results"][1]["reason"], "no_active_policy");

  // The seed's PolicyEvaluationSnapshot list.
  Reply active = s.read("GET", "/v1/entitlements/active?tenant=default&environment=production");
  ASSERT_EQ(active.status, 200) << active.describe();
  ASSERT_EQ(active.body["policies"].size(), 1u) << active.body.dump();
  EXPECT_EQ(active.body["policies"][0]["capabilityName"], "export-data");
  EXPECT_EQ(active.body["policies"][0]["activeVersion"], v1);
  EXPECT_EQ(active.body["policies"][0]["rules"]["allowedPlans"], Json({"pro", "enterprise"}));
  EXPECT_EQ(active.read_model, "memory");

  // As of a position before the activation: nothing was active.
  Reply past = s.query("POST", "/v1/entitlements:check?as_of_position=" + std::to_string(before_activation),
                       kAdminToken, {{"environment", "production"}, {"plan", "pro"}, {"capability", "export-data"}});
  ASSERT_EQ(past.status, 200) << past.describe();
  EXPECT_EQ(past.body["reason"], "no_active_policy");

  // History: versions (immutable, created_by from the token) and activations (who, why).
  Reply versions = s.read("GET", "/v1/policies/" + policy_id + "/versions");
  ASSERT_EQ(versions.status, 200) << versions.describe();
  ASSERT_EQ(versions.body["versions"].size(), 1u);
  EXPECT_EQ(versions.body["versions"][0]["status"], "active");
  EXPECT_EQ(versions.body["versions"][0]["createdBy"], "platform-admin");
  Reply acts = s.read("GET", "/v1/policies/" + policy_id + "/activations");
  ASSERT_EQ(acts.status, 200) << acts.describe();
  ASSERT_EQ(acts.body["activations"].size(), 1u);
  EXPECT_EQ(acts.body["activations"][0]["activatedBy"], "platform-admin");
  EXPECT_EQ(acts.body["activations"][0]["changelog"], "Enable export for pro tier customers");

  // Every change in the audit view (the PostgreSQL projector) ...
  Json rows;
  ASSERT_TRUE(ledger::testing::eventually(60s, [&] {
    Reply r = s.query("GET", "/v1/audit?event_type=PolicyVersionActivated", kAdminToken);
    if (r.status != 200) return false;
    rows = r.body["items"];
    return rows.size() == 1;
  }));
  EXPECT_EQ(rows[0]["subject"]["kind"], "entitlement") << rows[0].dump();
  EXPECT_EQ(rows[0]["subject"]["key"], "policy:default/" + policy_id);
  EXPECT_EQ(rows[0]["actor"]["id"], "platform-admin");
  // ... and in ledger-audit history of the activation stream.
  auto history = ledger::testing::run_command(
      std::string(LEDGER_BINARY_DIR) + "/services/ledger-audit history --pg-url '" + s.database().app_url +
      "' --stream 'entitlement-activation:default/" + policy_id + "/production' --json 2>/dev/null");
  EXPECT_EQ(history.status, 0) << history.out;
  EXPECT_NE(history.out.find("PolicyVersionActivated"), std::string::npos) << history.out;
  EXPECT_NE(history.out.find("Enable export for pro tier customers"), std::string::npos) << history.out;
}

TEST(EntitlementsE2e, RacingActivationsOneWinsPerEnvironmentThenRollback) {
  Stack s("entitlements_race_e2e");
  ASSERT_TRUE(s.start());
  define_plans(s);
  s.must("/v1/capabilities", {{"name", "api-access"}});
  Json pol = s.must("/v1/policies", {{"capabilityId", "cap-api-access"},
                                     {"name", "API access"},
                                     {"rules", {{"type", "plan-allowlist"}, {"allowedPlans", {"enterprise"}}}}});
  const std::string policy_id = pol["policy"]["id"];
  const std::string v1 = pol["policy"]["currentVersion"]["id"];
  Json r2 = s.must(
      "/v1/policies/" + policy_id + "/versions",
      {{"rules", {{"type", "plan-allowlist"}, {"allowedPlans", {"pro", "enterprise"}}}}, {"changelog", "open to pro"}});
  Json r3 = s.must("/v1/policies/" + policy_id + "/versions",
                   {{"rules", {{"type", "plan-allowlist"}, {"allowedPlans", {"free", "pro", "enterprise"}}}},
                    {"changelog", "open to everyone"}});
  EXPECT_EQ(r2["version"]["version"], 2);  // gap-free, sequential
  EXPECT_EQ(r3["version"]["version"], 3);
  const std::string v2 = r2["version"]["id"], v3 = r3["version"]["id"];
  auto activate = [&](const std::string& v, const std::string& env, std::optional<std::int64_t> expected) {
    Json body = {{"environment", env}, {"changelog", "activate " + v + " in " + env}};
    if (expected) body["expected_version"] = *expected;
    return s.admin("/v1/policies/" + policy_id + "/versions/" + v + "/activate", body);
  };
  ASSERT_EQ(activate(v1, "production", 0).status, 200);
  ASSERT_EQ(activate(v1, "staging", 0).status, 200);

  // Rounds of two racing activations per environment, both expecting the
  // activation stream at the version they read, each activating one of the
  // two versions that are not active there.
  for (int round = 0; round < 3; ++round) {
    Reply seen = s.read("GET", "/v1/policies/" + policy_id + "/activations");
    ASSERT_EQ(seen.status, 200) << seen.describe();
    for (const char* env : {"production", "staging"}) {
      const std::int64_t expected = seen.body["environments"][env]["activationVersion"];
      const std::string current = seen.body["environments"][env]["activeVersionId"];
      std::vector<std::string> others;
      for (const auto& v : {v1, v2, v3}) {
        if (v != current) others.push_back(v);
      }
      ASSERT_EQ(others.size(), 2u);
      Reply a, b;
      std::atomic<int> ready{0};
      auto racer = [&](Reply& out, const std::string& v) {
        auto client = std::make_unique<HttpClient>("127.0.0.1", s.command_port(), 30s);
        ++ready;
        while (ready.load() < 2) std::this_thread::yield();
        out =
            call(*client, "POST", "/v1/policies/" + policy_id + "/versions/" + v + "/activate",
                 Json{{"environment", env}, {"changelog", "race"}, {"expected_version", expected}}.dump(), kAdminToken);
      };
      std::thread ta(racer, std::ref(a), others[0]);
      std::thread tb(racer, std::ref(b), others[1]);
      ta.join();
      tb.join();
      const int won = (a.status == 200) + (b.status == 200);
      EXPECT_EQ(won, 1) << env << ": " << a.describe() << " / " << b.describe();
      const Reply& lost = a.status == 200 ? b : a;
      EXPECT_EQ(lost.status, 409) << lost.describe();
      EXPECT_EQ(lost.code(), "version_conflict") << lost.describe();
      const Reply& winner = a.status == 200 ? a : b;
      s.saw(winner.body.value("position", std::int64_t{0}));
      // Exactly one active version in that environment, the winner's.
      Reply pv = s.query("GET",
                         "/v1/policies/" + policy_id + "?min_position=" +
                             std::to_string(winner.body.value("position", std::int64_t{0})) + "&wait_ms=10000",
                         kAdminToken);
      ASSERT_EQ(pv.status, 200) << pv.describe();
      int active_here = 0;
      for (const auto& v : pv.body["versions"]) {
        for (const auto& e : v["activeIn"]) active_here += e == env;
      }
      EXPECT_EQ(active_here, 1) << pv.body.dump();
      EXPECT_EQ(pv.body["active"][env], winner.body["activation"]["policyVersionId"]);
    }
  }

  // Rollback: v1 again in production, a new activation record.
  Reply acts = s.read("GET", "/v1/policies/" + policy_id + "/activations?environment=production");
  if (acts.body["environments"]["production"]["activeVersionId"] == v1) {
    // The last race may have been won by v1: a rollback needs another
    // version active first (activating the active one changes nothing).
    ASSERT_EQ(activate(v2, "production", std::nullopt).status, 200);
    acts = s.read("GET", "/v1/policies/" + policy_id + "/activations?environment=production");
  }
  const std::size_t before = acts.body["activations"].size();
  const std::int64_t before_rollback = s.seen();
  const std::string was_active = acts.body["environments"]["production"]["activeVersionId"];
  Reply rb = activate(v1, "production", std::nullopt);
  ASSERT_EQ(rb.status, 200) << rb.describe();
  acts = s.read("GET", "/v1/policies/" + policy_id + "/activations?environment=production");
  ASSERT_EQ(acts.body["activations"].size(), before + 1);
  EXPECT_EQ(acts.body["activations"].back()["policyVersionId"], v1);
  EXPECT_EQ(acts.body["activations"].back()["supersededVersionId"], was_active);
  Json check = s.check({{"environment", "production"}, {"plan", "pro"}, {"capability", "api-access"}});
  EXPECT_FALSE(check["allowed"].get<bool>());  // v1: enterprise only
  EXPECT_EQ(check["version"], 1);
  // Before the rollback, the superseded version decided.
  Reply past = s.query("POST", "/v1/entitlements:check?as_of_position=" + std::to_string(before_rollback), kAdminToken,
                       {{"environment", "production"}, {"plan", "pro"}, {"capability", "api-access"}});
  ASSERT_EQ(past.status, 200) << past.describe();
  EXPECT_EQ(past.body["version_id"], was_active);
  EXPECT_TRUE(past.body["allowed"].get<bool>());
  // Versions never change: v1's rules are still v1's, and statuses follow the activations.
  Reply versions = s.read("GET", "/v1/policies/" + policy_id + "/versions");
  ASSERT_EQ(versions.body["versions"].size(), 3u);
  EXPECT_EQ(versions.body["versions"][0]["rules"]["allowedPlans"], Json({"enterprise"}));
  EXPECT_EQ(versions.body["versions"][0]["status"], "active");
}

TEST(EntitlementsE2e, ArchivedPlansDeprecationAndTenantIsolation) {
  Stack s("entitlements_rules_e2e");
  ASSERT_TRUE(s.start());
  define_plans(s);
  s.must("/v1/plans", {{"name", "legacy"}, {"displayName", "Legacy"}});
  s.ok("organization.create", {{"organization_id", "org-old"}, {"name", "Old"}, {"plan_id", "legacy"}});
  s.must("/v1/capabilities", {{"name", "advanced-analytics"}});
  Json pol =
      s.must("/v1/policies", {{"capabilityId", "cap-advanced-analytics"},
                              {"name", "Analytics"},
                              {"rules", {{"type", "plan-allowlist"}, {"allowedPlans", {"legacy", "enterprise"}}}}});
  const std::string policy_id = pol["policy"]["id"];
  s.must("/v1/policies/" + policy_id + "/versions/" + std::string(pol["policy"]["currentVersion"]["id"]) + "/activate",
         {{"environment", "production"}, {"changelog", "go"}});

  // Archive: no new assignment, existing ones stay valid.
  Json archived = s.must("/v1/plans/legacy:archive", {{"reason", "sunset"}});
  EXPECT_EQ(archived["plan"]["status"], "archived");
  Reply create =
      s.command("organization.create", {{"organization_id", "org-new"}, {"name", "New"}, {"plan_id", "legacy"}});
  EXPECT_EQ(create.status, 422) << create.describe();
  EXPECT_EQ(create.code(), "plan_archived");
  s.ok("organization.create", {{"organization_id", "org-other"}, {"name", "Other"}, {"plan_id", "pro"}});
  Reply change = s.command("organization.change_plan", {{"organization_id", "org-other"}, {"plan_id", "legacy"}});
  EXPECT_EQ(change.status, 422) << change.describe();
  EXPECT_EQ(change.code(), "plan_archived");
  Json old =
      s.check({{"environment", "production"}, {"organization_id", "org-old"}, {"capability", "advanced-analytics"}});
  EXPECT_TRUE(old["allowed"].get<bool>()) << old.dump();
  Reply plans = s.read("GET", "/v1/plans");
  ASSERT_EQ(plans.status, 200) << plans.describe();
  bool found = false;
  for (const auto& p : plans.body["plans"]) {
    if (p["id"] == "legacy") found = p["status"] == "archived";
  }
  EXPECT_TRUE(found) << plans.body.dump();

  // Deprecate before retire; a deprecated capability is still evaluated.
  Reply early = s.admin("/v1/capabilities/cap-advanced-analytics:retire", {{"reason", "too early"}});
  EXPECT_EQ(early.status, 422) << early.describe();
  EXPECT_EQ(early.code(), "retire_requires_deprecation");
  s.must("/v1/capabilities/cap-advanced-analytics:deprecate", {{"reason", "replaced"}});
  Json deprecated =
      s.check({{"environment", "production"}, {"plan", "enterprise"}, {"capability", "advanced-analytics"}});
  EXPECT_TRUE(deprecated["allowed"].get<bool>()) << deprecated.dump();
  s.must("/v1/capabilities/cap-advanced-analytics:retire", {{"reason", "gone"}});
  Json retired = s.check({{"environment", "production"}, {"plan", "enterprise"}, {"capability", "advanced-analytics"}});
  EXPECT_FALSE(retired["allowed"].get<bool>());
  EXPECT_EQ(retired["reason"], "unknown_capability");

  // A product space that requires the progression refuses a skip.
  Reply configure = s.command("entitlements.configure", {{"require_progression", true}});
  ASSERT_EQ(configure.status, 200) << configure.describe();
  s.must("/v1/capabilities", {{"name", "api-access"}});
  Json api = s.must("/v1/policies", {{"capabilityId", "cap-api-access"},
                                     {"name", "API"},
                                     {"rules", {{"type", "plan-allowlist"}, {"allowedPlans", {"pro"}}}}});
  const std::string api_activate = "/v1/policies/" + std::string(api["policy"]["id"]) + "/versions/" +
                                   std::string(api["policy"]["currentVersion"]["id"]) + "/activate";
  Reply skip = s.admin(api_activate, {{"environment", "production"}, {"changelog", "skip"}});
  EXPECT_EQ(skip.status, 422) << skip.describe();
  EXPECT_EQ(skip.code(), "progression_required");
  s.must(api_activate, {{"environment", "dev"}, {"changelog", "1"}});
  s.must(api_activate, {{"environment", "staging"}, {"changelog", "2"}});
  s.must(api_activate, {{"environment", "production"}, {"changelog", "3"}});

  // Stable codes for refusals.
  Reply bad_name = s.admin("/v1/capabilities", {{"name", "Export_Data"}});
  EXPECT_EQ(bad_name.status, 400);
  EXPECT_EQ(bad_name.code(), "invalid_capability_name");
  EXPECT_EQ(s.admin("/v1/capabilities", {{"name", "-ab"}}).code(), "invalid_capability_name");
  s.must("/v1/capabilities", {{"name", "bulk-export"}});
  Reply dup = s.admin("/v1/capabilities", {{"name", "bulk-export"}});
  EXPECT_EQ(dup.status, 409);
  EXPECT_EQ(dup.code(), "capability_exists");
  Reply unknown_plan = s.admin("/v1/policies", {{"capabilityId", "cap-bulk-export"},
                                                {"name", "x"},
                                                {"rules", {{"type", "plan-allowlist"}, {"allowedPlans", {"gold"}}}}});
  EXPECT_EQ(unknown_plan.status, 422);
  EXPECT_EQ(unknown_plan.code(), "unknown_plan");

  // Product spaces are platform data: an organization's admin changes none
  // and checks only itself.
  Reply tenant_write = s.admin("/v1/capabilities", {{"name", "acme-only"}}, kAcmeAdmin);
  EXPECT_EQ(tenant_write.status, 403) << tenant_write.describe();
  EXPECT_EQ(tenant_write.code(), "forbidden");
  Reply other = s.read("POST", "/v1/entitlements:check",
                       {{"environment", "production"}, {"organization_id", "org-old"}, {"capability", "bulk-export"}},
                       kAcmeAdmin);
  EXPECT_EQ(other.status, 403) << other.describe();
  Reply by_plan = s.read("POST", "/v1/entitlements:check",
                         {{"environment", "production"}, {"plan", "pro"}, {"capability", "bulk-export"}}, kAcmeAdmin);
  EXPECT_EQ(by_plan.status, 403) << by_plan.describe();
  // The catalogue holds no organization's data: readable by an organization's roles.
  Reply listing = s.read("GET", "/v1/entitlements/active?environment=production", nullptr, kAcmeAdmin);
  EXPECT_EQ(listing.status, 200) << listing.describe();
  // Their own organization they may check.
  s.ok("organization.create", {{"organization_id", "org-acme"}, {"name", "Acme"}, {"plan_id", "enterprise"}});
  Reply own = s.read("POST", "/v1/entitlements:check",
                     {{"environment", "production"}, {"organization_id", "org-acme"}, {"capability", "bulk-export"}},
                     kAcmeAdmin);
  EXPECT_EQ(own.status, 200) << own.describe();
  EXPECT_EQ(own.body["reason"], "no_active_policy");
}

}  // namespace
