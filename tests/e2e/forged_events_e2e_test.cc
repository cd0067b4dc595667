// Issue 10, item 4: nothing on `ledger.events` is applied unless it
// continues the hash chain. Through the real processes: a forged
// PolicyValueSet with zeroed hashes at the projector's checkpoint + 1 and a
// junk record are produced straight onto the stack's events topic with a
// plain Kafka producer, then genuine commands follow. The forged value never
// reaches the read models, the genuine event at that position and every
// later one are applied, the projector keeps running and raises an alarm
// (log line, counter on /metrics, detail on /readyz), and the auditor's
// replay from Kafka reports the same records.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <array>
#include <cstdio>
#include <memory>

#include "events/codec/json_codec.h"
#include "tests/support/e2e_stack.h"
#include "tests/support/process.h"

namespace ledger {
namespace {

using namespace std::chrono_literals;
using testing::eventually;
using testing::Reply;
using Json = nlohmann::json;

constexpr const char* kKey = "forgery.test_value";
constexpr std::int64_t kForgedValue = 999'999;

std::int64_t lowest_checkpoint(testing::ServiceStack& s) {
  const std::string v = s.sql("SELECT coalesce(min(position), 0) FROM rm.checkpoints");
  return v.empty() ? 0 : std::stoll(v);
}

// The record an attacker with write access to the topic would produce: a
// well-formed envelope claiming `position`, with zeroed hashes.
std::string forged_value_set(std::int64_t position) {
  events::EventMeta m;
  m.global_position = events::GlobalPosition{position};
  m.stream_id = std::string("policy-key:") + kKey;
  m.stream_version = events::StreamVersion{2};
  m.event_id = "00000000-0000-4000-8000-000000000666";
  m.occurred_at = events::Instant{1'780'272'000'000'000};
  m.recorded_at = m.occurred_at;
  m.actor = {"user", "mallory", {"platform_admin"}};
  m.tenant = "org-acme";
  m.correlation_id = "forged";
  m.command_id = "forged";
  events::PolicyValueSet set;
  set.key = kKey;
  set.scope = {events::ScopeLevel::kOrganization, "org-acme"};
  set.before = events::PolicyValue{std::int64_t{10}};
  set.before_source = events::BeforeSource::kScope;
  set.after = events::PolicyValue{kForgedValue};
  set.effective_at = m.occurred_at;
  set.reason = "forged";
  auto r = codec::record(m, set, events::kGenesisHash);
  r.prev_hash = std::string(64, '0');
  r.hash = std::string(64, '0');
  return codec::to_json_text(r);
}

using CliRun = testing::CommandRun;

// The command with its stderr, to completion.
CliRun run(const std::string& cmd) { return testing::run_command(cmd + " 2>&1"); }

TEST(ForgedEventsE2e, AForgedEventAndJunkOnTheEventsTopicAreNeverAppliedAndRaiseAnAlarm) {
  testing::ServiceStack s("forged_events_e2e");
  ASSERT_TRUE(s.start());
  s.ok("policy_key.define", {{"key", kKey},
                             {"value_type", "int"},
                             {"default", 1},
                             {"min", 0},
                             {"max", 1'000'000},
                             {"description", "forgery e2e"}});
  const std::int64_t before = s.ok(
      "policy_value.set", {{"key", kKey}, {"scope", {{"org_id", "org-acme"}}}, {"value", 10}, {"reason", "genuine"}});
  ASSERT_GT(before, 0);
  ASSERT_TRUE(eventually(60s, [&] { return lowest_checkpoint(s) >= before; })) << s.describe_logs();
  const std::int64_t target = lowest_checkpoint(s) + 1;

  // The attack: junk, then the forgery at checkpoint + 1.
  {
    auto producer = adapters::kafka::KafkaProducer::create(
        // As the broker's super user: a forger who got past the ACLs (only the
        // relay may write the events topic), so the consumers' own check is tested.
        {.brokers = testing::kafka_brokers(), .security = testing::kafka_security(), .client_id = "mallory"});
    ASSERT_TRUE(producer.has_value()) << producer.error().message;
    ASSERT_TRUE((*producer)->produce(s.events_topic(), "org-acme", "this is not an event {", {}).has_value());
    ASSERT_TRUE((*producer)->produce(s.events_topic(), "org-acme", R"({"global_position": "x"})", {}).has_value());
    ASSERT_TRUE((*producer)->produce(s.events_topic(), "org-acme", forged_value_set(target), {}).has_value());
    ASSERT_TRUE((*producer)->flush(30s).has_value());
  }

  // Genuine commands: the first lands at exactly the forged position.
  const std::int64_t genuine = s.ok(
      "policy_value.set",
      {{"key", kKey}, {"scope", {{"org_id", "org-acme"}}}, {"value", 20}, {"old_value", 10}, {"reason", "genuine"}});
  ASSERT_EQ(genuine, target);
  const std::int64_t later = s.ok(
      "policy_value.set", {{"key", kKey}, {"scope", {{"org_id", "org-globex"}}}, {"value", 30}, {"reason", "genuine"}});
  ASSERT_TRUE(eventually(90s, [&] { return lowest_checkpoint(s) >= later; }))
      << "the projector stopped: " << s.describe_logs();

  // The forged value is nowhere; the genuine event at its position and the
  // later one are applied.
  EXPECT_EQ(s.sql("SELECT count(*) FROM rm.policy_values WHERE value::text = '" + std::to_string(kForgedValue) + "'"),
            "0");
  EXPECT_EQ(s.sql("SELECT count(*) FROM rm.audit_log WHERE reason = 'forged' OR actor_id = 'mallory'"), "0");
  EXPECT_EQ(s.sql("SELECT event_id::text FROM rm.audit_log WHERE position = " + std::to_string(target)),
            s.sql("SELECT event_id::text FROM ledger.events WHERE global_position = " + std::to_string(target)));
  EXPECT_EQ(s.sql("SELECT count(*) FROM rm.audit_log WHERE position = " + std::to_string(later)), "1");
  Reply acme = s.query(
      "GET", std::string("/v1/policy-values/") + kKey + "?org_id=org-acme&min_position=" + std::to_string(later),
      testing::kAdminToken);
  ASSERT_EQ(acme.status, 200) << acme.describe();
  EXPECT_EQ(acme.body["value"], 20);
  Reply globex = s.query(
      "GET", std::string("/v1/policy-values/") + kKey + "?org_id=org-globex&min_position=" + std::to_string(later),
      testing::kAdminToken);
  ASSERT_EQ(globex.status, 200) << globex.describe();
  EXPECT_EQ(globex.body["value"], 30);
  // Those answers came from ledger-query's in-memory read models, fed by its
  // own consumer of the same topic through the same check (issue 12): it
  // refused the forgery too and raised its own alarm.
  EXPECT_EQ(acme.read_model, "memory");
  EXPECT_EQ(globex.read_model, "memory");
  const std::string alarm = "chain alarm: reason=hash_mismatch position=" + std::to_string(target);
  const std::string all_logs = s.logs();
  int alarms = 0;
  for (auto at = all_logs.find(alarm); at != std::string::npos; at = all_logs.find(alarm, at + 1)) ++alarms;
  EXPECT_EQ(alarms, 2) << "one alarm by the projector, one by ledger-query";

  // The alarm: readiness detail, counter, log line.
  Reply ready = s.projector_status("/readyz");
  ASSERT_EQ(ready.status, 200) << ready.describe();
  EXPECT_EQ(ready.body["chain"]["status"], "alarm") << ready.body.dump();
  EXPECT_EQ(ready.body["chain"]["by_reason"].value("junk_record", 0), 2) << ready.body.dump();
  EXPECT_EQ(ready.body["chain"]["by_reason"].value("hash_mismatch", 0), 1) << ready.body.dump();
  Reply metrics = s.projector_status("/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.error.find("ledger_projector_chain_alarms_total{reason=\"hash_mismatch\"} 1"), std::string::npos)
      << metrics.error;
  EXPECT_NE(metrics.error.find("ledger_projector_chain_alarms_total{reason=\"junk_record\"} 2"), std::string::npos)
      << metrics.error;
  EXPECT_NE(s.logs().find("chain alarm: reason=hash_mismatch position=" + std::to_string(target)), std::string::npos);
  EXPECT_NE(s.logs().find("chain alarm: reason=junk_record"), std::string::npos);

  // The auditor's replay from Kafka goes through the same check: the read
  // models it rebuilds equal the live ones, and the refused records are
  // findings (exit 1).
  const auto& db = s.database();
  const CliRun replay =
      run("LEDGER_PG_URL='" + db.url_for("ledger_auditor") + "' LEDGER_KAFKA_BROKERS='" + testing::kafka_brokers() +
          "' LEDGER_EVENTS_TOPIC='" + s.events_topic() + "' '" + std::string(LEDGER_BINARY_DIR) +
          "/services/ledger-audit' replay --source kafka --schema rm_forged_replay --json");
  EXPECT_EQ(replay.status, 1) << replay.out;
  const auto line = replay.out.substr(replay.out.find("{\"chain_alarms\""));
  Json report = Json::parse(line.substr(0, line.find('\n')), nullptr, false);
  ASSERT_TRUE(report.is_object()) << replay.out;
  EXPECT_TRUE(report["identical"].get<bool>()) << replay.out;
  std::map<std::string, int> reasons;
  for (const auto& a : report["chain_alarms"]) ++reasons[a["reason"].get<std::string>()];
  EXPECT_EQ(reasons["junk_record"], 2) << replay.out;
  EXPECT_EQ(reasons["hash_mismatch"], 1) << replay.out;
}

}  // namespace
}  // namespace ledger
