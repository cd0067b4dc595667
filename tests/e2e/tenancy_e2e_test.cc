// Tenancy through the real processes (issue 10, items 5 and 6).
//
// Item 5: command ids are scoped per tenant and principal. A command id one
// tenant sends first never makes another tenant's command a duplicate (over
// HTTP or ledger.commands), a replay never returns another tenant's event ids
// or position, the same id with another body is 409 idempotency_key_reused,
// and the reservation sweeper's readable command ids cannot be squatted.
//
// Item 6: policy keys have a write audience. A tenant admin can neither
// throttle a platform principal nor lift its own organization's rate limit
// (403 policy_key_platform_only, audited as AccessRefused), and a value a
// tenant writes at a platform principal's user id never applies to it.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <fstream>
#include <string>

#include "tests/support/e2e_stack.h"
#include "tests/support/e2e_support.h"

namespace {

using namespace std::chrono_literals;
using ledger::testing::eventually;
using ledger::testing::kAdminToken;
using ledger::testing::Reply;
using ledger::testing::rfc3339;
using Json = nlohmann::json;
using Stack = ledger::testing::ServiceStack;

const std::string kAcmeAdmin = "Bearer dev-acme-tenant-admin";      // acme-tenant-admin, org-acme
const std::string kGlobexAdmin = "Bearer dev-globex-tenant-admin";  // globex-admin, org-globex
const std::string kAcmeReader = "Bearer dev-acme-reader";
const std::string kAcmeAuditor = "Bearer dev-acme-auditor";

Json set_at_org(const std::string& org, std::int64_t value, const std::string& command_id) {
  return {{"key", "tenancy.limit"},
          {"scope", {{"org_id", org}}},
          {"value", value},
          {"reason", "tenancy e2e"},
          {"command_id", command_id}};
}

std::int64_t value_at_org(Stack& s, const std::string& org, std::int64_t min_position) {
  Reply r = s.query("GET",
                    "/v1/policy-values/tenancy.limit?org_id=" + org + "&min_position=" + std::to_string(min_position) +
                        "&wait_ms=10000",
                    kAdminToken);
  EXPECT_EQ(r.status, 200) << r.describe();
  return r.body.value("value", std::int64_t{-1});
}

TEST(TenancyE2e, CommandIdsAreScopedPerTenantAndPrincipal) {
  Stack s("tenancy_ids_e2e");
  ASSERT_TRUE(s.start());
  s.ok("policy_key.define",
       {{"key", "tenancy.limit"}, {"value_type", "int"}, {"default", 1}, {"min", 0}, {"max", 100}});
  // An identical definition again is accepted and says it changed nothing (issue 13, part 4).
  Reply same = s.command("policy_key.define",
                         {{"key", "tenancy.limit"}, {"value_type", "int"}, {"default", 1}, {"min", 0}, {"max", 100}});
  ASSERT_EQ(same.status, 200) << same.describe();
  EXPECT_EQ(same.body["duplicate"], false);
  EXPECT_EQ(same.body["no_change"], true);
  EXPECT_TRUE(same.body["event_ids"].empty());
  s.ok("organization.create", {{"organization_id", "org-acme"}, {"plan_id", "pro"}});
  s.ok("organization.create", {{"organization_id", "org-globex"}, {"plan_id", "pro"}});

  // Globex sends the command id acme is about to use.
  Reply squat = s.command("policy_value.set", set_at_org("org-globex", 7, "acme-next-change"), kGlobexAdmin);
  ASSERT_EQ(squat.status, 200) << squat.describe();
  EXPECT_EQ(squat.body["duplicate"], false);

  // Acme's command with that id is its own: applied, not a duplicate of globex's.
  Reply mine = s.command("policy_value.set", set_at_org("org-acme", 9, "acme-next-change"), kAcmeAdmin);
  ASSERT_EQ(mine.status, 200) << mine.describe();
  EXPECT_EQ(mine.body["duplicate"], false) << mine.describe();
  EXPECT_NE(mine.body["event_ids"], squat.body["event_ids"]);
  EXPECT_NE(mine.body["position"], squat.body["position"]);
  EXPECT_EQ(mine.body["command_id"], "acme-next-change");
  EXPECT_EQ(mine.body["no_change"], false);
  EXPECT_EQ(value_at_org(s, "org-acme", mine.body.value("position", std::int64_t{0})), 9);

  // Replays answer each caller its own outcome, never the other's.
  Reply globex_again = s.command("policy_value.set", set_at_org("org-globex", 7, "acme-next-change"), kGlobexAdmin);
  ASSERT_EQ(globex_again.status, 200) << globex_again.describe();
  EXPECT_EQ(globex_again.body["duplicate"], true);
  EXPECT_EQ(globex_again.body["event_ids"], squat.body["event_ids"]);
  EXPECT_EQ(globex_again.body["position"], squat.body["position"]);
  Reply acme_again = s.command("policy_value.set", set_at_org("org-acme", 9, "acme-next-change"), kAcmeAdmin);
  ASSERT_EQ(acme_again.status, 200) << acme_again.describe();
  EXPECT_EQ(acme_again.body["duplicate"], true);
  EXPECT_EQ(acme_again.body["event_ids"], mine.body["event_ids"]);

  // The same id with another body is a conflict, and writes nothing.
  const std::string events_before = s.sql("SELECT count(*) FROM ledger.events");
  Reply reused = s.command("policy_value.set", set_at_org("org-acme", 10, "acme-next-change"), kAcmeAdmin);
  EXPECT_EQ(reused.status, 409) << reused.describe();
  EXPECT_EQ(reused.code(), "idempotency_key_reused");
  // The evidence names where the first request under the key was written.
  EXPECT_EQ(reused.body["evidence"]["first_position"], mine.body["position"].get<std::int64_t>());
  // ... also through the Idempotency-Key header.
  Json by_header = set_at_org("org-acme", 11, "");
  by_header.erase("command_id");
  Reply first_header = s.command("policy_value.set", by_header, kAcmeAdmin, {{"idempotency-key", "acme-header-key"}});
  ASSERT_EQ(first_header.status, 200) << first_header.describe();
  by_header["value"] = 12;
  Reply reused_header = s.command("policy_value.set", by_header, kAcmeAdmin, {{"idempotency-key", "acme-header-key"}});
  EXPECT_EQ(reused_header.status, 409) << reused_header.describe();
  EXPECT_EQ(reused_header.code(), "idempotency_key_reused");
  EXPECT_EQ(s.sql("SELECT count(*) FROM ledger.events"), std::to_string(std::stoll(events_before) + 1));

  // The same on ledger.commands: globex's id over HTTP does not answer acme's record.
  Reply globex_http = s.command("policy_value.set", set_at_org("org-globex", 3, "kafka-shared-id"), kGlobexAdmin);
  ASSERT_EQ(globex_http.status, 200) << globex_http.describe();
  Json kafka_body = set_at_org("org-acme", 4, "kafka-shared-id");
  kafka_body["type"] = "policy_value.set";
  ASSERT_TRUE(s.publish("kafka-shared-id", kafka_body, kAcmeAdmin));
  const Json result = s.result_of("kafka-shared-id");
  ASSERT_FALSE(result.is_null()) << s.describe_logs();
  EXPECT_EQ(result["status"], "accepted") << result.dump();
  EXPECT_EQ(result["duplicate"], false) << result.dump();
  EXPECT_NE(result["event_ids"], globex_http.body["event_ids"]);
  EXPECT_EQ(value_at_org(s, "org-acme", result.value("position", std::int64_t{0})), 4);

  // Outcomes are recorded per caller; envelopes keep the id the caller sent.
  EXPECT_EQ(s.sql("SELECT count(*) FROM ledger.command_outcomes WHERE command_id = 'acme-next-change'"), "2");
  EXPECT_EQ(s.sql("SELECT string_agg(DISTINCT tenant, ',' ORDER BY tenant) FROM ledger.events "
                  "WHERE command_id = 'acme-next-change'"),
            "org-acme,org-globex");
}

TEST(TenancyE2e, TheSweepersCommandIdsCannotBeSquatted) {
  Stack s("tenancy_sweeper_e2e");
  ASSERT_TRUE(s.start());
  s.register_gpu_quota();
  s.ok("policy_key.define",
       {{"key", "tenancy.limit"}, {"value_type", "int"}, {"default", 1}, {"min", 0}, {"max", 100}});
  s.ok("organization.create", {{"organization_id", "org-acme"}, {"plan_id", "pro"}});
  s.ok("project.create", {{"project_id", "acme-p"}, {"organization_id", "org-acme"}});
  const auto now = std::chrono::system_clock::now();
  Reply draft = s.command("reservation.draft",
                          {{"reservation_id", "res-short"},
                           {"owner", {{"level", "project"}, {"id", "acme-p"}}},
                           {"kind", "gpu_nodes"},
                           {"dimension", "gpu.count"},
                           {"quantity", 1},
                           {"unit", "gpu"},
                           {"window_start", rfc3339(now - 1min)},
                           {"window_end", rfc3339(now + 8s)},
                           {"reason", "tenancy e2e"}},
                          kAcmeAdmin);
  ASSERT_EQ(draft.status, 200) << draft.describe();
  Reply active = s.command("reservation.activate", {{"reservation_id", "res-short"}}, kAcmeAdmin);
  ASSERT_EQ(active.status, 200) << active.describe();
  // Before the window ends, acme sends a command under the sweeper's readable id.
  Reply squat = s.command("policy_value.set",
                          set_at_org("org-acme", 5, "reservation-sweeper:org-acme/res-short:expired"), kAcmeAdmin);
  ASSERT_EQ(squat.status, 200) << squat.describe();
  // The sweeper still records the expiry (every 5 s once the window ended).
  const std::string expired =
      "SELECT count(*) FROM ledger.events WHERE stream_id = 'reservation:org-acme/res-short' "
      "AND event_type = 'ReservationStateChanged' AND payload->>'state' = 'expired'";
  EXPECT_TRUE(eventually(60s, [&] { return s.sql(expired) == "1"; }, 250ms)) << s.describe_logs();
  EXPECT_EQ(s.sql("SELECT command_id FROM ledger.events WHERE stream_id = 'reservation:org-acme/res-short' "
                  "AND payload->>'state' = 'expired'"),
            "reservation-sweeper:org-acme/res-short:expired");
}

// Defines every key of the repository's catalog, as `ledger-admin load-catalog` does.
void load_catalog(Stack& s) {
  std::ifstream in(std::string(LEDGER_SOURCE_DIR) + "/config/policy-keys.json");
  const Json catalog = Json::parse(in);
  for (const auto& key : catalog["keys"]) {
    Reply r = s.command("policy_key.define", key, kAdminToken);
    ASSERT_EQ(r.status, 200) << key.dump() << ": " << r.describe();
  }
}

TEST(TenancyE2e, ATenantAdminCannotThrottleThePlatformOrLiftItsOwnLimits) {
  Stack s("tenancy_audience_e2e");
  ASSERT_TRUE(s.start());
  load_catalog(s);
  s.ok("organization.create", {{"organization_id", "org-acme"}, {"plan_id", "pro"}});
  const std::string api_limit = "rate_limit.api_requests_per_minute";

  // Throttling the platform's own principal: refused.
  Reply throttle = s.command(
      "policy_value.set",
      {{"key", api_limit}, {"scope", {{"user_id", "platform-admin"}}}, {"value", 1}, {"reason", "tenancy e2e"}},
      kAcmeAdmin);
  EXPECT_EQ(throttle.status, 403) << throttle.describe();
  EXPECT_EQ(throttle.code(), "policy_key_platform_only");
  // Lifting its own organization's limit: refused.
  Reply lift = s.command(
      "policy_value.set",
      {{"key", api_limit}, {"scope", {{"org_id", "org-acme"}}}, {"value", 1000000}, {"reason", "tenancy e2e"}},
      kAcmeAdmin);
  EXPECT_EQ(lift.status, 403) << lift.describe();
  EXPECT_EQ(lift.code(), "policy_key_platform_only");
  // ... and the other platform keys.
  for (const char* key : {"auth.service_account_token_ttl_seconds", "quota.warn_threshold_percent"}) {
    Reply r = s.command("policy_value.set",
                        {{"key", key}, {"scope", {{"org_id", "org-acme"}}}, {"value", 60}, {"reason", "tenancy e2e"}},
                        kAcmeAdmin);
    EXPECT_EQ(r.status, 403) << key << ": " << r.describe();
  }
  EXPECT_EQ(s.sql("SELECT count(*) FROM ledger.events WHERE event_type = 'PolicyValueSet'"), "0");

  // The platform admin is not throttled (the refused value would have allowed one request a minute).
  for (int i = 0; i < 5; ++i) {
    Reply r = s.query("GET", "/v1/reservations?organization_id=org-acme", kAdminToken);
    ASSERT_EQ(r.status, 200) << i << ": " << r.describe();
  }

  // A tenant-audience key is acme's to set at its own scopes ...
  const std::string concurrent = "allocation.max_concurrent_per_user";
  Reply own = s.command(
      "policy_value.set",
      {{"key", concurrent}, {"scope", {{"org_id", "org-acme"}}}, {"value", 10}, {"reason", "tenancy e2e"}}, kAcmeAdmin);
  ASSERT_EQ(own.status, 200) << own.describe();
  // ... but what it writes at a platform principal's user id never applies to that principal.
  Reply foreign = s.command(
      "policy_value.set",
      {{"key", concurrent}, {"scope", {{"user_id", "platform-admin"}}}, {"value", 1}, {"reason", "tenancy e2e"}},
      kAcmeAdmin);
  ASSERT_EQ(foreign.status, 200) << foreign.describe();
  const std::string fresh =
      "&min_position=" + std::to_string(foreign.body.value("position", std::int64_t{0})) + "&wait_ms=10000";
  Reply platform_view =
      s.query("GET", "/v1/policy-values/" + concurrent + "?user_id=platform-admin" + fresh, kAdminToken);
  ASSERT_EQ(platform_view.status, 200) << platform_view.describe();
  EXPECT_EQ(platform_view.body["value"], 50) << platform_view.describe();
  EXPECT_EQ(platform_view.body["is_default"], true);
  // Within acme, acme's own value still answers.
  Reply acme_view = s.query("GET", "/v1/policy-values/" + concurrent + "?user_id=platform-admin" + fresh, kAcmeReader);
  ASSERT_EQ(acme_view.status, 200) << acme_view.describe();
  EXPECT_EQ(acme_view.body["value"], 1) << acme_view.describe();

  // The platform sets rate limits, for acme too.
  Reply platform_sets =
      s.command("policy_value.set",
                {{"key", api_limit}, {"scope", {{"org_id", "org-acme"}}}, {"value", 600}, {"reason", "tenancy e2e"}},
                kAdminToken);
  EXPECT_EQ(platform_sets.status, 200) << platform_sets.describe();

  // Every refusal is an AccessRefused row acme's auditor sees.
  const Json rows = s.refusals_seen_by(kAcmeAuditor, [](const Json& items) {
    int n = 0;
    for (const auto& row : items) n += row["after"].value("reason", "") == "platform_only_key";
    return n >= 4;
  });
  int platform_only = 0;
  for (const auto& row : rows) {
    const Json& p = row["after"];
    if (p.value("reason", "") != "platform_only_key") continue;
    ++platform_only;
    EXPECT_EQ(p["actor_id"], "acme-tenant-admin") << row.dump();
    EXPECT_EQ(p["target"], "policy_value.set") << row.dump();
    EXPECT_EQ(p["route_family"], "policy_value.write") << row.dump();
    EXPECT_EQ(p["method"], "COMMAND") << row.dump();
    EXPECT_EQ(row["tenant"], "org-acme") << row.dump();
  }
  EXPECT_EQ(platform_only, 4) << rows.dump();
}

}  // namespace
