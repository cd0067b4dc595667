// Layered configuration (seed 004) through the real services: PUTs on
// ledger-command become ConfigLayerSet events in PostgreSQL, the relay
// publishes them to ledger.events, and ledger-query answers the layers,
// their history and the resolved view from its in-memory read model.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <fstream>

#include "tests/support/e2e_stack.h"

namespace {

using ledger::testing::kAdminToken;
using ledger::testing::Reply;
using Json = nlohmann::json;
using namespace std::chrono_literals;

const std::string kAcmeAdmin = "Bearer dev-acme-tenant-admin";      // acme-tenant-admin, org-acme
const std::string kGlobexAdmin = "Bearer dev-globex-tenant-admin";  // org-globex
const std::string kAcmeReader = "Bearer dev-acme-reader";
const std::string kGlobexReader = "Bearer dev-globex-reader";

Json put_body(Json value, const std::string& reason = "e2e") {
  return {{"value", std::move(value)}, {"reason", reason}};
}

std::string at(std::int64_t position) { return "min_position=" + std::to_string(position) + "&wait_ms=10000"; }

// The seed's example notification_config, verbatim.
Json seed_notification_config() {
  return Json::parse(R"({
    "webhook": {"endpoints": [{"url": "https://approval.example.com/hook", "headers": {"X-Env": "prod"},
      "auth": {"type": "bearer", "token": "***"}, "secret": "hmac-secret", "timeout_seconds": 30,
      "retry_attempts": 3, "backoff": {"initial_seconds": 1, "factor": 2, "max_seconds": 8}}]},
    "email": {"approval_recipients": ["oncall@example.com"], "default_recipients": ["sre@example.com"],
      "from_email": "no-reply@example.com"},
    "approver_groups": {"risk_levels": {"low": ["sre@"], "high": ["secops@"]},
      "action_overrides": {"increase_memory": ["platform@"]}},
    "escalation": {"poll_interval_seconds": 60, "escalation_window_minutes": 60, "max_hops": 2}})");
}

TEST(ConfigE2e, LayersRolesPrecedenceHistoryAndPreciseInvalidation) {
  ledger::testing::ServiceStack s("config_e2e");
  ASSERT_TRUE(s.start());

  // Global keys: platform_admin only; is_public gates tenants; requires_restart answered.
  Reply g = s.command_http("PUT", "/config/global/approval_timeout_minutes",
                           {{"value", 45}, {"reason", "e2e"}, {"is_public", true}});
  ASSERT_EQ(g.status, 200) << g.describe();
  EXPECT_EQ(g.body["cache_key"], "global_approval_timeout_minutes");
  EXPECT_EQ(g.body["requires_restart"], false);
  g = s.command_http("PUT", "/config/global/internal_flag", {{"value", "secret-ops"}, {"reason", "e2e"}});
  ASSERT_EQ(g.status, 200) << g.describe();
  g = s.command_http("PUT", "/config/global/cache_default_ttl",
                     {{"value", 600}, {"reason", "e2e"}, {"is_public", true}, {"requires_restart", true}});
  ASSERT_EQ(g.status, 200) << g.describe();
  EXPECT_EQ(g.body["requires_restart"], true);
  EXPECT_EQ(s.command_http("PUT", "/config/global/x", put_body(1), kAcmeAdmin).status, 403);
  EXPECT_EQ(s.command_http("PUT", "/config/service-types/cloud_run", put_body(Json::object()), kAcmeAdmin).status, 403);

  ASSERT_EQ(s.command_http("PUT", "/config/service-types/cloud_run",
                           put_body({{"min_instances", 1},
                                     {"max_instances", 10},
                                     {"scaling_limits", {{"cpu", 4}}},
                                     {"monitoring", {{"cpu", 80}}}}))
                .status,
            200);

  // Tenant layers: the tenant's admin; expected_version is optimistic concurrency.
  Json risk = put_body({{"max_cost_impact_auto", 20.0},
                        {"monitoring", {{"cpu", 70}, {"mem", 90}}},
                        {"min_instances", 2},
                        {"region", "us"}});
  risk["expected_version"] = 0;
  Reply r = s.command_http("PUT", "/tenants/org-acme/config/risk", risk, kAcmeAdmin);
  ASSERT_EQ(r.status, 200) << r.describe();
  EXPECT_EQ(r.body["cache_key"], "risk_config_org-acme");
  EXPECT_EQ(r.body["stream_version"], 1);
  r = s.command_http("PUT", "/tenants/org-acme/config/risk", risk, kAcmeAdmin);
  EXPECT_EQ(r.status, 409) << r.describe();
  EXPECT_EQ(r.code(), "stream_version_conflict");
  r = s.command_http("PUT", "/tenants/org-acme/config/risk", put_body({{"x", 1}}), kGlobexAdmin);
  EXPECT_EQ(r.status, 403) << r.describe();
  EXPECT_EQ(r.code(), "forbidden");
  EXPECT_EQ(s.command_http("PUT", "/tenants/org-acme/config/risk", put_body({{"x", 1}}), kAcmeReader).status, 403);
  EXPECT_EQ(s.command_http("GET", "/tenants/org-acme/config/risk", nullptr, kAcmeAdmin).status, 405);

  ASSERT_EQ(
      s.command_http("PUT", "/tenants/org-acme/config/agents/scaler", put_body({{"min_instances", 3}}), kAcmeAdmin)
          .status,
      200);
  ASSERT_EQ(s.command_http("PUT", "/tenants/org-acme/services/svc1",
                           put_body({{"max_instances", 4}, {"monitoring", {{"mem", 50}}}}), kAcmeAdmin)
                .status,
            200);
  ASSERT_EQ(
      s.command_http("PUT", "/tenants/org-acme/projects/p1/config", put_body({{"region", "eu"}}), kAcmeAdmin).status,
      200);
  // The same write as a command on ledger.commands (a platform admin's).
  ASSERT_TRUE(s.publish("cfg-kafka-1",
                        {{"type", "config.agent.set"},
                         {"tenant_id", "org-acme"},
                         {"agent_type", "kafka_agent"},
                         {"value", {{"via", "kafka"}}},
                         {"reason", "e2e"}},
                        kAdminToken));
  Json result = s.result_of("cfg-kafka-1");
  ASSERT_EQ(result.value("status", ""), "accepted") << result.dump();
  const std::int64_t last = result["position"].get<std::int64_t>();

  // Precedence: service -> agent -> tenant_risk -> service_type -> global (public) -> process.
  const std::string resolved =
      "/tenants/org-acme/config/resolved?agent_type=scaler&service_type=cloud_run"
      "&service_id=svc1&project_id=p1&" +
      at(last);
  Reply v = s.query("GET", resolved, kAcmeReader);
  ASSERT_EQ(v.status, 200) << v.describe() << s.describe_logs();
  const Json& c = v.body["config"];
  const Json& src = v.body["sources"];
  EXPECT_EQ(c["max_instances"], 4);
  EXPECT_EQ(src["max_instances"]["layer"], "service");
  EXPECT_EQ(src["max_instances"]["precedence"], 0);
  EXPECT_EQ(src["max_instances"]["updated_by"]["id"], "acme-tenant-admin");
  EXPECT_EQ(c["min_instances"], 3);
  EXPECT_EQ(src["min_instances"]["layer"], "agent");
  EXPECT_EQ(c["max_cost_impact_auto"], 20.0);
  EXPECT_EQ(src["max_cost_impact_auto"]["layer"], "tenant_risk");
  EXPECT_EQ(c["scaling_limits"], Json({{"cpu", 4}}));
  EXPECT_EQ(src["scaling_limits"]["layer"], "service_type");
  EXPECT_EQ(c["approval_timeout_minutes"], 45);
  EXPECT_EQ(src["approval_timeout_minutes"]["layer"], "global");
  EXPECT_EQ(src["cache_default_ttl"]["requires_restart"], true);
  EXPECT_FALSE(c.contains("internal_flag"));  // not public
  EXPECT_EQ(c["approval_webhook_timeout_seconds"], 30);
  EXPECT_EQ(src["approval_webhook_timeout_seconds"]["layer"], "process");
  EXPECT_EQ(src["approval_webhook_timeout_seconds"]["precedence"], 5);
  // Shallow: the service layer's monitoring replaces the lower ones whole.
  EXPECT_EQ(c["monitoring"], Json({{"mem", 50}}));
  EXPECT_EQ(c["region"], "us");                            // the project layer is not in the seed's order...
  EXPECT_EQ(v.body["project"], Json({{"region", "eu"}}));  // ...it is answered beside it

  // Layers, last updated by/at per key, history with before/after.
  risk.erase("expected_version");
  risk["value"]["max_cost_impact_auto"] = 25.0;
  risk["expected_version"] = 1;
  r = s.command_http("PUT", "/tenants/org-acme/config/risk", risk, kAdminToken);
  ASSERT_EQ(r.status, 200) << r.describe();
  const std::int64_t second = r.body["position"].get<std::int64_t>();
  v = s.query("GET", "/tenants/org-acme/config/risk?" + at(second), kAcmeReader);
  ASSERT_EQ(v.status, 200) << v.describe();
  EXPECT_EQ(v.body["version"], 2);
  EXPECT_EQ(v.body["keys"]["max_cost_impact_auto"]["updated_by"]["id"], "platform-admin");
  EXPECT_EQ(v.body["keys"]["region"]["updated_by"]["id"], "acme-tenant-admin");
  EXPECT_FALSE(v.body["keys"]["region"]["updated_at"].get<std::string>().empty());
  v = s.query("GET", "/tenants/org-acme/config/risk/history?" + at(second), kAcmeAdmin);
  ASSERT_EQ(v.status, 200) << v.describe();
  ASSERT_EQ(v.body["items"].size(), 2u);
  EXPECT_TRUE(v.body["items"][0]["before"].is_null());
  EXPECT_EQ(v.body["items"][1]["before"]["max_cost_impact_auto"], 20.0);
  EXPECT_EQ(v.body["items"][1]["after"]["max_cost_impact_auto"], 25.0);
  v = s.query("GET", "/tenants/org-acme/services?" + at(second), kAcmeReader);
  ASSERT_EQ(v.status, 200) << v.describe();
  ASSERT_EQ(v.body["items"].size(), 1u);
  EXPECT_EQ(v.body["items"][0]["subject"], "svc1");
  EXPECT_EQ(s.query("GET", "/tenants/org-acme/services/svc1", kAcmeReader).body["value"]["max_instances"], 4);
  EXPECT_EQ(s.query("GET", "/tenants/org-acme/projects/p1/config", kAcmeReader).body["value"]["region"], "eu");
  EXPECT_EQ(s.query("GET", "/tenants/org-acme/config/agents/scaler/history", kAcmeReader).body["items"].size(), 1u);
  EXPECT_EQ(s.query("GET", "/config/service-types/cloud_run", kGlobexReader).body["value"]["max_instances"], 10);

  // Global reads: tenants see public keys only.
  EXPECT_EQ(s.query("GET", "/config/global/approval_timeout_minutes", kGlobexReader).body["value"], 45);
  v = s.query("GET", "/config/global/internal_flag", kGlobexReader);
  EXPECT_EQ(v.status, 404) << v.describe();
  EXPECT_EQ(v.code(), "unknown_config_key");
  EXPECT_EQ(s.query("GET", "/config/global/internal_flag", kAdminToken).body["value"], "secret-ops");

  // Another tenant's reader is refused, and the refusal is audited.
  v = s.query("GET", "/tenants/org-acme/config/risk", kGlobexReader);
  EXPECT_EQ(v.status, 403) << v.describe();
  EXPECT_EQ(v.code(), "forbidden");
  const Json refusals = s.refusals_seen_by("Bearer dev-auditor", [](const Json& items) {
    for (const auto& i : items) {
      if (i.dump().find("/tenants/org-acme/config/risk") != std::string::npos &&
          i.dump().find("tenant_mismatch") != std::string::npos) {
        return true;
      }
    }
    return false;
  });
  EXPECT_FALSE(refusals.empty()) << s.describe_logs();

  // Precise invalidation: a write to globex's risk layer leaves acme's
  // resolved views cached and invalidates globex's only.
  const std::string acme_view = "/tenants/org-acme/config/resolved?agent_type=scaler&" + at(second);
  const std::string globex_view = "/tenants/org-globex/config/resolved?" + at(second);
  s.query("GET", acme_view, kAcmeReader);
  EXPECT_EQ(s.query("GET", acme_view, kAcmeReader).body["cache"], "hit");
  s.query("GET", globex_view, kGlobexReader);
  EXPECT_EQ(s.query("GET", globex_view, kGlobexReader).body["cache"], "hit");
  r = s.command_http("PUT", "/tenants/org-globex/config/risk", put_body({{"min_instances", 9}}), kGlobexAdmin);
  ASSERT_EQ(r.status, 200) << r.describe();
  const std::string after = at(r.body["position"].get<std::int64_t>());
  v = s.query("GET", "/tenants/org-acme/config/resolved?agent_type=scaler&" + after, kAcmeReader);
  EXPECT_EQ(v.body["cache"], "hit") << v.describe();
  v = s.query("GET", "/tenants/org-globex/config/resolved?" + after, kGlobexReader);
  EXPECT_EQ(v.body["cache"], "miss") << v.describe();
  EXPECT_EQ(v.body["config"]["min_instances"], 9);
}

TEST(ConfigE2e, NotificationConfigIsValidatedBeforeAnythingIsWritten) {
  ledger::testing::ServiceStack s("config_validation_e2e");
  ASSERT_TRUE(s.start());
  Reply r = s.command_http(
      "PUT", "/tenants/org-acme/config/risk",
      put_body({{"notification_config", seed_notification_config()},
                {"global_settings", {{"max_cost_impact_auto", 15.0}, {"approval_timeout_minutes", 30}}}}),
      kAcmeAdmin);
  ASSERT_EQ(r.status, 200) << r.describe() << s.describe_logs();
  const std::int64_t accepted = r.body["position"].get<std::int64_t>();

  struct Broken {
    std::string what;
    std::function<void(Json&)> edit;
    std::string path;
  };
  const std::vector<Broken> broken = {
      {"bearer without token", [](Json& n) { n["webhook"]["endpoints"][0]["auth"].erase("token"); },
       "/notification_config/webhook/endpoints/0/auth"},
      {"unknown auth type", [](Json& n) { n["webhook"]["endpoints"][0]["auth"]["type"] = "digest"; },
       "/notification_config/webhook/endpoints/0/auth/type"},
      {"max_hops not an integer", [](Json& n) { n["escalation"]["max_hops"] = "two"; },
       "/notification_config/escalation/max_hops"},
      {"from_email not an address", [](Json& n) { n["email"]["from_email"] = "nobody"; },
       "/notification_config/email/from_email"},
      {"webhook with neither url nor endpoints", [](Json& n) { n["webhook"] = Json::object(); },
       "/notification_config/webhook"},
      {"timeout below 1", [](Json& n) { n["webhook"]["endpoints"][0]["timeout_seconds"] = 0; },
       "/notification_config/webhook/endpoints/0/timeout_seconds"},
      {"unknown escalation field", [](Json& n) { n["escalation"]["hops"] = 2; }, "/notification_config/escalation"},
  };
  for (const auto& b : broken) {
    Json n = seed_notification_config();
    b.edit(n);
    r = s.command_http("PUT", "/tenants/org-acme/config/risk", put_body({{"notification_config", n}}), kAcmeAdmin);
    EXPECT_EQ(r.status, 422) << b.what << ": " << r.describe();
    EXPECT_EQ(r.code(), "config_schema_violation") << b.what;
    EXPECT_EQ(r.body["evidence"]["path"], b.path) << b.what << ": " << r.describe();
  }
  r = s.command_http("PUT", "/tenants/org-acme/config/risk",
                     put_body({{"global_settings", {{"approval_timeout_minutes", "thirty"}}}}), kAcmeAdmin);
  EXPECT_EQ(r.status, 422) << r.describe();
  EXPECT_EQ(r.body["evidence"]["path"], "/global_settings/approval_timeout_minutes");
  // The same refusal on ledger.commands.
  Json n = seed_notification_config();
  n["escalation"]["max_hops"] = -1;
  ASSERT_TRUE(s.publish("cfg-kafka-bad",
                        {{"type", "config.tenant_risk.set"},
                         {"tenant_id", "org-acme"},
                         {"value", {{"notification_config", n}}},
                         {"reason", "e2e"}},
                        kAdminToken));
  Json result = s.result_of("cfg-kafka-bad");
  EXPECT_EQ(result.value("code", ""), "config_schema_violation") << result.dump();

  // Nothing of the refused ones was written.
  Reply v = s.query("GET", "/tenants/org-acme/config/risk/history?" + at(accepted), kAcmeReader);
  ASSERT_EQ(v.status, 200) << v.describe();
  EXPECT_EQ(v.body["items"].size(), 1u);
  // A reader sees the secrets masked (issue 16 part 4: no secrets:read).
  Json masked = seed_notification_config();
  masked["webhook"]["endpoints"][0]["secret"] = "***";
  EXPECT_EQ(v.body["items"][0]["after"]["notification_config"], masked);
}

TEST(ConfigE2e, ReloadReReadsProcessSettingsMarksPendingRestartAndReportsPartialFailure) {
  const std::string file = ::testing::TempDir() + "config_reload_e2e_settings.json";
  std::ofstream(file) << R"({"approval_webhook_timeout_seconds": 45})";
  ledger::testing::ServiceStack s("config_reload_e2e");
  s.set_env("LEDGER_CONFIG_PROCESS_SETTINGS_FILE", file);
  ASSERT_TRUE(s.start());
  Reply g = s.command_http("PUT", "/config/global/cache_default_ttl",
                           {{"value", 600}, {"reason", "e2e"}, {"is_public", true}, {"requires_restart", true}});
  ASSERT_EQ(g.status, 200) << g.describe();
  EXPECT_EQ(g.body["requires_restart"], true);
  const std::string view = "/tenants/org-acme/config/resolved?";
  Reply v = s.query("GET", view + at(g.body["position"].get<std::int64_t>()), kAcmeReader);
  ASSERT_EQ(v.status, 200) << v.describe() << s.describe_logs();
  EXPECT_EQ(v.body["config"]["approval_webhook_timeout_seconds"], 45);
  EXPECT_EQ(v.body["config"]["cache_default_ttl"], 600);
  EXPECT_EQ(v.body["sources"]["cache_default_ttl"]["pending_restart"], true) << v.describe();

  // Only platform_admin reloads.
  EXPECT_EQ(s.command_http("POST", "/config/reload", {{"reload_env", true}}, kAcmeAdmin).status, 403);
  // dry_run writes nothing.
  Reply d = s.command_http("POST", "/config/reload", {{"reload_env", true}, {"dry_run", true}});
  ASSERT_EQ(d.status, 200) << d.describe();
  EXPECT_EQ(d.body["status"], "dry_run");
  EXPECT_TRUE(d.body["event_ids"].empty());

  std::ofstream(file, std::ios::trunc) << R"({"approval_webhook_timeout_seconds": 60})";
  Reply r = s.command_http("POST", "/config/reload",
                           Json::parse(R"({"reload_env": true, "invalidate": {"all": true, "tenant_ids": []},
                                          "reinit": {"configuration_service": true, "dynamic_config_service": true},
                                          "dry_run": false})"));
  ASSERT_EQ(r.status, 200) << r.describe();
  EXPECT_EQ(r.body["status"], "ok");
  EXPECT_EQ(r.body["reloaded_env"], true);
  EXPECT_EQ(r.body["invalidated"]["all"], true);
  EXPECT_EQ(r.body["reinitialized"], Json({"configuration_service", "dynamic_config_service"}));
  EXPECT_FALSE(r.body["timestamp"].get<std::string>().empty());
  v = s.query("GET", view + at(r.body["position"].get<std::int64_t>()), kAcmeReader);
  ASSERT_EQ(v.status, 200) << v.describe();
  EXPECT_EQ(v.body["config"]["approval_webhook_timeout_seconds"], 60);
  EXPECT_EQ(v.body["sources"]["cache_default_ttl"]["pending_restart"], false) << v.describe();

  // A settings file that cannot be read: 207, the failing part under errors,
  // the running services keep their previous settings.
  std::ofstream(file, std::ios::trunc) << "not json";
  r = s.command_http("POST", "/config/reload", {{"reload_env", true}, {"invalidate", {{"tenant_ids", {"org-acme"}}}}});
  EXPECT_EQ(r.status, 207) << r.describe();
  EXPECT_EQ(r.body["status"], "partial");
  ASSERT_EQ(r.body["errors"].size(), 1u) << r.describe();
  EXPECT_EQ(r.body["errors"][0]["action"], "reload_env");
  EXPECT_EQ(r.body["errors"][0]["code"], "invalid_process_settings");
  // The ConfigReloaded event records it too (the writer checked the same
  // settings); the successful reload before recorded none.
  const std::string reloads =
      "SELECT payload->'errors' FROM ledger.events WHERE event_type = 'ConfigReloaded' "
      "ORDER BY global_position";
  EXPECT_EQ(s.sql(reloads + " DESC LIMIT 1"), R"(["reload_env: invalid_process_settings"])");
  EXPECT_EQ(s.sql(reloads + " DESC OFFSET 1 LIMIT 1"), "[]");
  v = s.query("GET", view + at(r.body["position"].get<std::int64_t>()), kAcmeReader);
  ASSERT_EQ(v.status, 200) << v.describe();
  EXPECT_EQ(v.body["config"]["approval_webhook_timeout_seconds"], 60);
}

}  // namespace
