// The event schemas (events/schemas/) against live events: a history with
// every event type, written through the real command path (JSON command
// bodies decoded by commands/decode.h, decided and appended by the
// CommandService on PostgreSQL, with the chain anchor signing and a secrets
// sealer configured), then every stored payload and every envelope as the
// relay publishes it (codec::to_json_text) is validated against its schema.
#include <gtest/gtest.h>

#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "adapters/crypto/envelope_sealer.h"
#include "adapters/postgres/event_store.h"
#include "adapters/system/clock.h"
#include "commands/chain_anchor.h"
#include "commands/command_service.h"
#include "commands/decode.h"
#include "events/codec/chain.h"
#include "events/codec/json_codec.h"
#include "tests/support/event_schema_check.h"
#include "tests/support/test_env.h"

namespace ledger {
namespace {

using Json = nlohmann::json;

constexpr std::int64_t kT0 = 1'780'272'000'000'000;  // 2026-06-01T00:00:00Z
constexpr std::int64_t kSecond = 1'000'000;

std::string config_file(const char* name) {
  std::ifstream in(std::string(LEDGER_SOURCE_DIR) + "/config/" + name);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class EventSchemasLive : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = testing::create_database("event_schemas_live");
    store_ = std::make_unique<adapters::postgres::PgEventStore>(db_.app_url, clock_);
    auto key = codec::ChainSigningKey::from_pem(config_file("dev-only-chain-anchor-key.pem"));
    ASSERT_TRUE(key.has_value()) << key.error();
    anchor_ = std::make_unique<commands::ChainAnchor>(*store_, *store_, clock_, *key,
                                                      commands::ChainAnchor::Options{.every_events = 20, .every = {}});
    adapters::crypto::Key256 kek{};
    for (std::size_t i = 0; i < kek.size(); ++i) kek[i] = static_cast<std::uint8_t>(i * 7 + 1);
    sealer_ = std::make_unique<adapters::crypto::EnvelopeSealer>(kek, keys_);
    commands::CommandService::Options options;
    options.sweep_interval = {};
    options.anchor = anchor_.get();
    options.config_sealer = sealer_.get();
    service_ = std::make_unique<commands::CommandService>(*store_, clock_, options);
    service_->start();
  }
  void TearDown() override {
    service_.reset();
    anchor_.reset();
    store_.reset();
  }

  // Decodes `body` as a `type` command and submits it as `who`.
  domain::Result<commands::Accepted> submit(const std::string& type, const Json& body, const commands::Principal& who) {
    clock_.advance_micros(kSecond);
    auto decoded = commands::decode_command(type, body);
    if (!decoded) return std::unexpected(decoded.error());
    commands::CommandRequest r{{"cmd-" + std::to_string(++commands_), who, "corr-" + std::to_string(commands_), ""},
                               std::move(decoded->command),
                               decoded->expected_version};
    return service_->submit_async(std::move(r)).get();
  }
  void run(const std::string& type, const Json& body) {
    auto out = submit(type, body, admin_);
    EXPECT_TRUE(out.has_value()) << type << " " << body.dump() << ": "
                                 << (out ? "" : out.error().code + ": " + out.error().message);
  }
  std::string last_payload_field(const std::string& type, const std::string& field) {
    const std::string sql = "SELECT payload->>'" + field + "' FROM ledger.events WHERE event_type = '" + type +
                            "' ORDER BY global_position DESC LIMIT 1";
    return testing::sql_scalar(db_.admin_url, sql);
  }

  // Every kind of event the ledger writes, through its commands.
  void write_history() {
    // policy keys and values
    run("policy_key.define", {{"key", "schema.window_seconds"},
                              {"value_type", "int"},
                              {"default", 60},
                              {"min", 1},
                              {"max", 3600},
                              {"description", "a window"}});
    run("policy_key.define", {{"key", "schema.isolation"},
                              {"value_type", "string"},
                              {"default", "user-revoke"},
                              {"enum", {"user-revoke", "full-reimage"}},
                              {"write_audience", "tenant"}});
    run("policy_key.define", {{"key", "rate_limit.schema_flag"}, {"value_type", "bool"}, {"default", false}});
    // registries
    run("registry.register", {{"kind", "product"}, {"entry_id", "gpuaas"}, {"description", "GPUs as a service"}});
    run("registry.register", {{"kind", "usage_unit"}, {"entry_id", "gpu"}});
    run("registry.register",
        {{"kind", "resource_type"}, {"entry_id", "gpu_node"}, {"attributes", {{"product", "gpuaas"}}}});
    run("registry.register", {{"kind", "quota_dimension"},
                              {"entry_id", "gpu.count"},
                              {"attributes", {{"product", "gpuaas"}, {"unit", "gpu"}}}});
    run("registry.register", {{"kind", "quota_dimension"},
                              {"entry_id", "gpu.count"},
                              {"attributes", {{"product", "gpuaas"}, {"resource_type", "gpu_node"}, {"unit", "gpu"}}}});
    // plans of the entitlements' product space first: organizations are assigned them
    run("plan.define", {{"name", "pro"}, {"displayName", "Professional"}, {"description", "For teams"}});
    run("plan.define", {{"name", "enterprise"}});
    run("plan.define", {{"name", "legacy"}});
    run("plan.update", {{"plan_id", "pro"}, {"displayName", "Pro"}, {"description", "For growing teams"}});
    run("plan.archive", {{"plan_id", "legacy"}, {"reason", "sunset"}});
    // hierarchy
    run("organization.create", {{"organization_id", "org-acme"}, {"name", "Acme"}, {"plan_id", "pro"}});
    run("organization.create", {{"organization_id", "org-globex"}, {"plan_id", "pro"}});
    run("organization.change_plan", {{"organization_id", "org-acme"}, {"plan_id", "enterprise"}});
    run("department.create",
        {{"department_id", "dept-research"}, {"organization_id", "org-acme"}, {"name", "Research"}});
    run("department.create", {{"department_id", "dept-vision"}, {"organization_id", "org-acme"}});
    run("department.move", {{"department_id", "dept-vision"}, {"parent_department_id", "dept-research"}});
    run("project.create", {{"project_id", "proj-llm"},
                           {"organization_id", "org-acme"},
                           {"department_id", "dept-research"},
                           {"name", "LLM training"}});
    run("project.move", {{"project_id", "proj-llm"}, {"department_id", "dept-vision"}});
    run("principal.create", {{"principal_id", "key-ci"},
                             {"principal_type", "api_key"},
                             {"project_id", "proj-llm"},
                             {"name", "CI key"},
                             {"expires_at", "2027-01-01T00:00:00Z"}});
    run("principal.create", {{"principal_id", "alice"}, {"principal_type", "user"}, {"project_id", "proj-llm"}});
    // policy values at several scopes, now and later
    run("policy_value.set", {{"key", "schema.window_seconds"},
                             {"scope", {{"org_id", "org-acme"}}},
                             {"value", 120},
                             {"reason", "customer request"}});
    run("policy_value.set", {{"key", "schema.window_seconds"},
                             {"scope", {{"org_id", "org-acme"}}},
                             {"value", 240},
                             {"reason", "again"},
                             {"effective_at", "2026-07-01T00:00:00Z"}});
    run("policy_value.set", {{"key", "schema.isolation"},
                             {"scope", {{"user_id", "alice"}}},
                             {"value", "full-reimage"},
                             {"reason", "café ✓ \"quoted\""}});
    run("policy_value.set",
        {{"key", "rate_limit.schema_flag"}, {"scope", {{"plan", "pro"}}}, {"value", true}, {"reason", "plan default"}});
    // ceilings and delegations
    const Json org = {{"level", "organization"}, {"id", "org-acme"}};
    const Json project = {{"level", "project"}, {"id", "proj-llm"}};
    run("ceiling.set", {{"scope", org}, {"dimension", "gpu.count"}, {"quantity", 64}, {"reason", "budget"}});
    run("ceiling.set", {{"scope", project}, {"dimension", "gpu.count"}, {"quantity", 16}, {"reason", "budget"}});
    run("ceiling.set", {{"scope", project}, {"dimension", "gpu.count"}, {"quantity", 12}, {"reason", "budget cut"}});
    run("ceiling.set", {{"scope", project},
                        {"dimension", "gpu.count"},
                        {"window", "day"},
                        {"region", "us-east"},
                        {"quantity", 100},
                        {"reason", "daily"}});
    run("ceiling.clear", {{"scope", project},
                          {"dimension", "gpu.count"},
                          {"window", "day"},
                          {"region", "us-east"},
                          {"reason", "no longer needed"}});
    run("ceiling.delegate", {{"scope", org}, {"dimension", "gpu.count"}, {"max_quantity", 128}, {"reason", "burst"}});
    run("ceiling.revoke_delegation", {{"scope", org}, {"dimension", "gpu.count"}, {"reason", "burst ended"}});
    // a reservation through its lifecycle
    run("reservation.draft", {{"reservation_id", "res-h100"},
                              {"owner", project},
                              {"kind", "gpu_nodes"},
                              {"dimension", "gpu.count"},
                              {"region", "us-east"},
                              {"sku_or_model", "h100"},
                              {"quantity", 8},
                              {"window_start", "2026-05-31T00:00:00Z"},
                              {"window_end", "2026-12-31T00:00:00Z"},
                              {"attributes", {{"sku", "h100"}}},
                              {"reason", "training run"}});
    const Json res = {{"reservation_id", "res-h100"}, {"organization_id", "org-acme"}};
    auto with = [](Json j, const Json& more) {
      j.update(more);
      return j;
    };
    run("reservation.activate", with(res, {{"reason", "approved"}}));
    run("reservation.consume", with(res, {{"quantity", 5}, {"reason", "job 42"}}));
    run("reservation.release", with(res, {{"quantity", 2}, {"reason", "job 41 done"}}));
    run("reservation.consume", with(res, {{"quantity", 5}}));  // the last units: exhausted
    run("reservation.suspend", res);
    run("reservation.resume", res);
    run("reservation.suspend", with(res, {{"reason", "maintenance"}}));
    run("reservation.retire", with(res, {{"reason", "done"}}));
    // access control: a refusal (another organization's admin) and revocations
    const commands::Principal globex{{"user", "globex-admin", {"tenant_admin"}}, "org-globex"};
    auto refused =
        submit("ceiling.set", {{"scope", org}, {"dimension", "gpu.count"}, {"quantity", 1}, {"reason", "x"}}, globex);
    EXPECT_FALSE(refused.has_value());
    run("token.revoke", {{"tenant", "org-acme"}, {"principal_id", "key-ci"}, {"reason", "rotated"}});
    run("token.revoke", {{"tenant", "org-acme"}, {"token_id", "Zm9vYmFyYmF6cXV4MTIzNA"}, {"reason", "laptop stolen"}});
    // an application and its policy chain
    run("application.register", {{"application_id", "app-123"}, {"organization_id", "org-acme"}, {"name", "API"}});
    run("application.rename", {{"application_id", "app-123"}, {"organization_id", "org-acme"}, {"name", "API (EU)"}});
    run("app_policy.attach", {{"application_id", "app-123"},
                              {"organization_id", "org-acme"},
                              {"policy_type", "rate_limit"},
                              {"config", {{"requests_per_minute", 1000}, {"burst", 50}}}});
    const std::string policy = last_payload_field("PolicyAttached", "policy_id");
    run("app_policy.update", {{"policy_id", policy},
                              {"config", {{"requests_per_minute", 100}, {"burst", 10}}},
                              {"enabled", false},
                              {"reason", "launch week"}});
    run("app_policy.detach", {{"policy_id", policy}, {"reason", "not needed"}});
    run("application.retire", {{"application_id", "app-123"}, {"organization_id", "org-acme"}, {"reason", "replaced"}});
    // plan entitlements
    run("capability.define", {{"name", "export-data"}, {"description", "Export data"}});
    run("capability.define", {{"name", "old-export"}});
    run("capability.deprecate", {{"capability_id", "cap-old-export"}, {"reason", "replaced by export-data"}});
    run("capability.retire", {{"capability_id", "cap-old-export"}, {"reason", "no longer offered"}});
    run("policy.create", {{"capabilityId", "cap-export-data"},
                          {"name", "Export Data Policy"},
                          {"rules", {{"type", "plan-allowlist"}, {"allowedPlans", {"enterprise"}}}}});
    run("policy.create_version",
        {{"policy_id", "pol-export-data"},
         {"changelog", "open to pro"},
         {"rules",
          {{"type", "plan-allowlist"}, {"allowedPlans", {"pro", "enterprise"}}, {"denyOverrides", {"legacy"}}}}});
    run("policy.activate", {{"policy_id", "pol-export-data"},
                            {"version_id", "pol-export-data-v1"},
                            {"environment", "dev"},
                            {"changelog", "first"}});
    run("policy.activate", {{"policy_id", "pol-export-data"},
                            {"version_id", "pol-export-data-v2"},
                            {"environment", "dev"},
                            {"changelog", "second"}});
    run("policy.archive_version",
        {{"policy_id", "pol-export-data"}, {"version_id", "pol-export-data-v1"}, {"reason", "replaced"}});
    run("entitlements.configure", {{"require_progression", true}});
    run("entitlements.configure", {{"require_progression", true}, {"shadow_max_age_seconds", 3600}});
    // layered configuration
    run("config.global.set",
        {{"key", "feature_flags"}, {"value", {{"beta", true}}}, {"reason", "launch"}, {"is_public", true}});
    run("config.service_type.set",
        {{"service_type", "cloud_run"}, {"value", {{"max_instances", 10}}}, {"reason", "r"}});

    run("config.tenant_risk.set",
        {{"tenant_id", "org-acme"}, {"value", {{"max_cost_impact_auto", 15.5}}}, {"reason", "seed 004 defaults"}});
    run("config.agent.set",
        {{"tenant_id", "org-acme"}, {"agent_type", "cost_agent"}, {"value", {{"enabled", true}}}, {"reason", "r"}});
    run("config.project.set",
        {{"tenant_id", "org-acme"}, {"project_id", "proj-llm"}, {"value", {{"tier", "gold"}}}, {"reason", "r"}});
    run("config.service.set",
        {{"tenant_id", "org-acme"}, {"service_id", "svc-1"}, {"value", {{"replicas", 3}}}, {"reason", "r"}});
    run("config.reload", {{"reload_env", true},
                          {"invalidate", {{"tenant_ids", {"org-acme"}}}},
                          {"reinit", {{"configuration_service", true}}}});
    ASSERT_TRUE(sealer_->seal("org-acme", "s3cret").has_value());  // a data key to shred
    run("config.secrets.shred", {{"tenant_id", "org-acme"}, {"reason", "customer offboarded"}});
    run("config.secrets.shred", {{"tenant_id", "org-globex"}, {"reason", "had none"}});
  }

  testing::TestDatabase db_;
  adapters::system::ManualClock clock_{events::Instant{kT0}};
  std::unique_ptr<adapters::postgres::PgEventStore> store_;
  std::unique_ptr<commands::ChainAnchor> anchor_;
  adapters::crypto::MemoryKeyStore keys_;
  std::unique_ptr<adapters::crypto::EnvelopeSealer> sealer_;
  std::unique_ptr<commands::CommandService> service_;
  const commands::Principal admin_{{"user", "schema-test", {"platform_admin"}}, "platform"};
  int commands_ = 0;
};

TEST_F(EventSchemasLive, EveryStoredPayloadAndPublishedEnvelopeValidates) {
  testing::EventSchemas schemas;
  ASSERT_TRUE(schemas.load_errors().empty()) << ::testing::PrintToString(schemas.load_errors());
  write_history();
  service_->stop();

  // The envelopes as the relay publishes them on ledger.events.
  adapters::postgres::PgEventReader reader(db_.app_url);
  auto recorded = reader.read_after(events::GlobalPosition{0}, 100'000);
  ASSERT_TRUE(recorded.has_value()) << recorded.error().message;
  std::map<std::string, int> per_type;
  for (const auto& r : *recorded) {
    const Json envelope = Json::parse(codec::to_json_text(r));
    auto bad = schemas.event_violation(envelope);
    EXPECT_FALSE(bad.has_value()) << "position " << r.meta.global_position << ": " << *bad << "\n" << envelope.dump();
    ++per_type[r.event_type];
  }
  // The payloads as PostgreSQL holds them (jsonb), read without the codec.
  const Json rows = Json::parse(testing::sql_scalar(
      db_.admin_url,
      "SELECT coalesce(json_agg(json_build_array(global_position, event_type, schema_version, payload) "
      "ORDER BY global_position), '[]')::text FROM ledger.events"));
  ASSERT_EQ(rows.size(), recorded->size());
  for (const auto& row : rows) {
    auto bad = schemas.payload_violation(row[1].get<std::string>(), row[2].get<int>(), row[3]);
    EXPECT_FALSE(bad.has_value()) << "position " << row[0] << ": " << *bad << "\n" << row[3].dump();
  }

  // The history holds every event type at its current version.
  std::set<std::string> missing;
  for (const auto& ev : testing::codec_event_versions()) missing.insert(ev.type);
  for (const auto& [type, n] : per_type) missing.erase(type);
  EXPECT_TRUE(missing.empty()) << "no live event of " << ::testing::PrintToString(missing);
  EXPECT_GE(per_type["ChainHeadSigned"], 2);
  std::cout << "[ live     ] " << recorded->size() << " events of " << per_type.size() << " types validated\n";
}

}  // namespace
}  // namespace ledger
