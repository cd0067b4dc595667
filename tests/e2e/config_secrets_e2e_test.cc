// Configuration secrets through the real services (issue 16 part 4):
// webhook tokens, passwords, API keys and HMAC secrets PUT on ledger-command
// are sealed before the ConfigLayerSet event exists, so no plaintext sits in
// PostgreSQL (ledger.events), on Kafka (ledger.events topic) or in a
// `ledger-audit export`; ledger-query answers them masked ("***") unless the
// caller has secrets:read; the hash chain verifies over the sealed form.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "adapters/crypto/envelope_sealer.h"
#include "commands/idempotency.h"
#include "tests/support/e2e_stack.h"
#include "tests/support/process.h"

namespace {

using ledger::testing::kAdminToken;
using ledger::testing::Reply;
using Json = nlohmann::json;
using namespace std::chrono_literals;

const std::string kAcmeAdmin = "Bearer dev-acme-tenant-admin";  // tenant_admin of org-acme
const std::string kAcmeReader = "Bearer dev-acme-reader";

// Every plaintext carries this marker, so one search finds any of them.
const std::string kMarker = "PLAINTEXT-c0ffee";

Json notification_with_secrets() {
  return Json::parse(R"({
    "webhook": {"endpoints": [
      {"url": "https://approval.example.com/hook", "auth": {"type": "bearer", "token": "tok-PLAINTEXT-c0ffee"},
       "secret": "hmac-PLAINTEXT-c0ffee", "timeout_seconds": 30},
      {"url": "https://b.example.com/hook", "auth": {"type": "basic", "username": "ops", "password": "pw-PLAINTEXT-c0ffee"}},
      {"url": "https://c.example.com/hook", "auth": {"type": "api_key", "api_key": "key-PLAINTEXT-c0ffee",
       "header_name": "X-API-Key"}}]},
    "email": {"from_email": "no-reply@example.com"}})");
}

std::string at(std::int64_t position) { return "min_position=" + std::to_string(position) + "&wait_ms=10000"; }

std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  return out + "'";
}

// Every record of every partition of `topic` (0..partitions-1), from the
// log start to the end offset, raw bytes ("" when a partition cannot be read).
std::string whole_topic(const std::string& topic, int partitions) {
  std::string all;
  for (int p = 0; p < partitions; ++p) {
    auto reader = ledger::adapters::kafka::KafkaPartitionReader::create({.brokers = ledger::testing::kafka_brokers(),
                                                                         .security = ledger::testing::kafka_security(),
                                                                         .topic = topic,
                                                                         .partition = p,
                                                                         .start_offset = 0});
    if (!reader) return {};
    auto end = (*reader)->high_watermark(30s);
    if (!end) return {};
    // Records below the log start (deleted) are never delivered: a partition
    // that stays silent for 3 s short of its end has nothing more to give.
    std::int64_t next = 0;
    auto last_progress = std::chrono::steady_clock::now();
    while (next < *end && std::chrono::steady_clock::now() - last_progress < 3s) {
      auto batch = (*reader)->poll(100, 200ms);
      if (!batch) return {};
      for (const auto& m : *batch) {
        all += m.key + "\n" + m.value + "\n";
        next = m.offset + 1;
        last_progress = std::chrono::steady_clock::now();
      }
    }
  }
  return all;
}

ledger::testing::CommandRun audit(const std::string& args) {
  return ledger::testing::run_command(quote(std::string(LEDGER_BINARY_DIR) + "/services/ledger-audit") + " " + args +
                                      " 2>&1");
}

// Every record of the topic up to the first one holding `until`, raw bytes.
std::string topic_bytes(const std::string& topic, const std::string& until) {
  auto consumer =
      ledger::adapters::kafka::KafkaConsumer::create({.brokers = ledger::testing::kafka_brokers(),
                                                      .security = ledger::testing::kafka_security(),
                                                      .group_id = ledger::testing::unique_name("e2e-secrets"),
                                                      .topics = {topic}});
  if (!consumer) return {};
  std::string all;
  ledger::testing::eventually(60s, [&] {
    auto batch = (*consumer)->poll(100, 200ms);
    if (!batch) return false;
    for (const auto& m : *batch) all += m.key + "\n" + m.value + "\n";
    return all.find(until) != std::string::npos;
  });
  return all;
}

TEST(ConfigSecretsE2e, SecretsAreSealedInStoreKafkaAndExportAndMaskedOnRead) {
  ledger::testing::ServiceStack s("config_secrets_e2e");
  ASSERT_TRUE(s.start()) << s.describe_logs();

  Reply r = s.command_http(
      "PUT", "/tenants/org-acme/config/risk",
      {{"value", {{"notification_config", notification_with_secrets()}, {"region", "eu"}}}, {"reason", "webhooks"}},
      kAcmeAdmin);
  ASSERT_EQ(r.status, 200) << r.describe();
  const std::int64_t pos = r.body["position"].get<std::int64_t>();

  // The idempotency record keeps a keyed digest of this request, not the
  // plain SHA-256 a guessed secret could be checked against.
  {
    const Json sent = {{"value", {{"notification_config", notification_with_secrets()}, {"region", "eu"}}},
                       {"reason", "webhooks"},
                       {"tenant_id", "org-acme"}};
    const std::string plain = ledger::commands::request_hash("config.tenant_risk.set", sent);
    ledger::adapters::crypto::MemoryKeyStore no_keys;
    const ledger::adapters::crypto::EnvelopeSealer same_kek(
        *ledger::adapters::crypto::parse_kek(s.env_value("LEDGER_CONFIG_KEK")), no_keys);
    const std::string stored =
        s.sql("SELECT request_hash FROM ledger.command_outcomes WHERE position = " + std::to_string(pos));
    EXPECT_NE(stored, plain);
    EXPECT_EQ(stored, same_kek.keyed_digest(plain));
  }

  // The event store: the event holds sealed values only.
  EXPECT_EQ(s.sql("SELECT count(*) FROM ledger.events WHERE event_type = 'ConfigLayerSet'"), "1");
  EXPECT_EQ(s.sql("SELECT count(*) FROM ledger.events WHERE payload::text LIKE '%" + kMarker + "%'"), "0");
  EXPECT_EQ(s.sql("SELECT count(*) FROM ledger.events WHERE payload::text LIKE '%$sealed%AES-256-GCM%'"), "1");
  EXPECT_EQ(s.sql("SELECT payload->'after'->'notification_config'->'webhook'->'endpoints'->0->'auth'->'token'->"
                  "'$sealed'->>'alg' FROM ledger.events WHERE event_type = 'ConfigLayerSet'"),
            "AES-256-GCM");
  // The data key is in its own table, wrapped.
  EXPECT_EQ(s.sql("SELECT count(*) FROM config_secrets.data_keys WHERE tenant_id = 'org-acme'"), "1");

  // Reads: masked for the tenant's admin and reader, plaintext for secrets:read (platform_admin).
  for (const auto& token : {kAcmeAdmin, kAcmeReader}) {
    Reply g = s.query("GET", "/tenants/org-acme/config/risk?" + at(pos), token);
    ASSERT_EQ(g.status, 200) << g.describe();
    const Json& eps = g.body["value"]["notification_config"]["webhook"]["endpoints"];
    EXPECT_EQ(eps[0]["auth"]["token"], "***");
    EXPECT_EQ(eps[0]["secret"], "***");
    EXPECT_EQ(eps[1]["auth"]["password"], "***");
    EXPECT_EQ(eps[2]["auth"]["api_key"], "***");
    EXPECT_EQ(eps[1]["auth"]["username"], "ops");
    EXPECT_EQ(g.body.dump().find(kMarker), std::string::npos);
    Reply h = s.query("GET", "/tenants/org-acme/config/risk/history?" + at(pos), token);
    ASSERT_EQ(h.status, 200) << h.describe();
    EXPECT_EQ(h.body.dump().find(kMarker), std::string::npos) << h.describe();
    EXPECT_EQ(h.body["items"][0]["after"]["notification_config"]["webhook"]["endpoints"][0]["auth"]["token"], "***");
    Reply v = s.query("GET", "/tenants/org-acme/config/resolved?" + at(pos), token);
    ASSERT_EQ(v.status, 200) << v.describe();
    EXPECT_EQ(v.body.dump().find(kMarker), std::string::npos) << v.describe();
    EXPECT_EQ(v.body["config"]["notification_config"]["webhook"]["endpoints"][0]["secret"], "***");
  }
  Reply admin = s.query("GET", "/tenants/org-acme/config/risk?" + at(pos), kAdminToken);
  ASSERT_EQ(admin.status, 200) << admin.describe();
  EXPECT_EQ(admin.body["value"]["notification_config"], notification_with_secrets());
  Reply resolved = s.query("GET", "/tenants/org-acme/config/resolved?" + at(pos), kAdminToken);
  EXPECT_EQ(resolved.body["config"]["notification_config"], notification_with_secrets()) << resolved.describe();

  // A PUT that sends back what a masked read answered keeps the sealed secrets.
  Json edited = {{"notification_config", notification_with_secrets()}, {"region", "us"}};
  edited["notification_config"]["webhook"]["endpoints"][0]["auth"]["token"] = "***";
  r = s.command_http("PUT", "/tenants/org-acme/config/risk", {{"value", edited}, {"reason", "region"}}, kAcmeAdmin);
  ASSERT_EQ(r.status, 200) << r.describe();
  admin = s.query("GET", "/tenants/org-acme/config/risk?" + at(r.body["position"].get<std::int64_t>()), kAdminToken);
  EXPECT_EQ(admin.body["value"]["notification_config"]["webhook"]["endpoints"][0]["auth"]["token"],
            "tok-PLAINTEXT-c0ffee");

  // Kafka: the raw records of ledger.events hold no plaintext.
  const std::string bytes = topic_bytes(s.events_topic(), "\"region\":\"us\"");
  ASSERT_NE(bytes.find("ConfigLayerSet"), std::string::npos) << "the config events never reached the topic";
  EXPECT_NE(bytes.find("$sealed"), std::string::npos);
  EXPECT_EQ(bytes.find(kMarker), std::string::npos);

  // ledger-audit: the chain verifies over the sealed form, and an export holds no plaintext.
  const std::string auditor = s.database().url_for("ledger_auditor");
  auto verified = audit("verify --pg-url " + quote(auditor));
  EXPECT_EQ(verified.status, 0) << verified.out;
  const auto file = std::filesystem::temp_directory_path() / ledger::testing::unique_name("secrets-export");
  auto exported = audit("export --pg-url " + quote(auditor) + " --out " + quote(file.string()));
  ASSERT_EQ(exported.status, 0) << exported.out;
  std::stringstream ss;
  ss << std::ifstream(file).rdbuf();
  std::filesystem::remove(file);
  EXPECT_NE(ss.str().find("ConfigLayerSet"), std::string::npos);
  EXPECT_EQ(ss.str().find(kMarker), std::string::npos);
}

// Crypto-shredding: once platform_admin shreds a tenant's data key, its
// secrets read "<shredded>" even with secrets:read (also after a restart of
// ledger-query, whose key cache is then empty), the key row is gone, the
// act is an event without key material, and the chain still verifies.
TEST(ConfigSecretsE2e, ShreddingMakesATenantsSecretsUnrecoverable) {
  ledger::testing::ServiceStack s("config_shred_e2e");
  ASSERT_TRUE(s.start()) << s.describe_logs();
  Reply r = s.command_http("PUT", "/tenants/org-acme/config/risk",
                           {{"value", {{"notification_config", notification_with_secrets()}}}, {"reason", "webhooks"}},
                           kAcmeAdmin);
  ASSERT_EQ(r.status, 200) << r.describe();
  r = s.command_http("PUT", "/tenants/org-globex/config/risk",
                     {{"value", {{"notification_config", notification_with_secrets()}}}, {"reason", "webhooks"}},
                     "Bearer dev-globex-tenant-admin");
  ASSERT_EQ(r.status, 200) << r.describe();
  Reply g = s.query("GET", "/tenants/org-acme/config/risk?" + at(r.body["position"].get<std::int64_t>()), kAdminToken);
  ASSERT_EQ(g.body["value"]["notification_config"], notification_with_secrets()) << g.describe();
  const std::string key_id = s.sql("SELECT key_id FROM config_secrets.data_keys WHERE tenant_id = 'org-acme'");
  ASSERT_EQ(key_id.size(), 32u);

  // Only platform_admin may shred.
  r = s.command_http("POST", "/tenants/org-acme/config/secrets/shred", {{"reason", "offboarding"}}, kAcmeAdmin);
  EXPECT_EQ(r.status, 403) << r.describe();
  r = s.command_http("POST", "/tenants/org-acme/config/secrets/shred", {{"reason", "offboarding"}}, kAdminToken);
  ASSERT_EQ(r.status, 200) << r.describe();
  const std::int64_t pos = r.body["position"].get<std::int64_t>();

  EXPECT_EQ(s.sql("SELECT count(*) FROM config_secrets.data_keys WHERE tenant_id = 'org-acme'"), "0");
  EXPECT_EQ(s.sql("SELECT count(*) FROM config_secrets.data_keys WHERE tenant_id = 'org-globex'"), "1");
  EXPECT_EQ(s.sql("SELECT payload->'key_ids'->>0 FROM ledger.events WHERE event_type = 'ConfigSecretsShredded'"),
            key_id);
  EXPECT_EQ(s.sql("SELECT count(*) FROM ledger.events WHERE payload::text LIKE '%" + kMarker + "%'"), "0");

  auto check = [&](const std::string& why) {
    SCOPED_TRACE(why);
    Reply a = s.query("GET", "/tenants/org-acme/config/risk?" + at(pos), kAdminToken);
    ASSERT_EQ(a.status, 200) << a.describe();
    const Json& eps = a.body["value"]["notification_config"]["webhook"]["endpoints"];
    EXPECT_EQ(eps[0]["auth"]["token"], "<shredded>");
    EXPECT_EQ(eps[0]["secret"], "<shredded>");
    EXPECT_EQ(eps[1]["auth"]["password"], "<shredded>");
    EXPECT_EQ(a.body.dump().find(kMarker), std::string::npos);
    Reply h = s.query("GET", "/tenants/org-acme/config/risk/history?" + at(pos), kAdminToken);
    EXPECT_EQ(h.body.dump().find(kMarker), std::string::npos) << h.describe();
    Reply v = s.query("GET", "/tenants/org-acme/config/resolved?" + at(pos), kAdminToken);
    EXPECT_EQ(v.body.dump().find(kMarker), std::string::npos) << v.describe();
    // Another tenant's secrets are untouched.
    Reply other = s.query("GET", "/tenants/org-globex/config/risk?" + at(pos), kAdminToken);
    EXPECT_EQ(other.body["value"]["notification_config"], notification_with_secrets()) << other.describe();
  };
  check("live");
  ASSERT_TRUE(s.restart_query());
  // A restarted ledger-query answers 503 snapshot_not_ready until its
  // in-memory model has caught up with the ledger; its /readyz says when.
  ASSERT_TRUE(ledger::testing::eventually(60s, [&] { return s.query("GET", "/readyz", kAdminToken).status == 200; }))
      << s.describe_logs();
  check("after a restart of ledger-query");

  const std::string bytes = topic_bytes(s.events_topic(), "ConfigSecretsShredded");
  ASSERT_NE(bytes.find("ConfigSecretsShredded"), std::string::npos);
  EXPECT_EQ(bytes.find(kMarker), std::string::npos);
  auto verified = audit("verify --pg-url " + quote(s.database().url_for("ledger_auditor")));
  EXPECT_EQ(verified.status, 0) << verified.out;
}

// A secret published on Kafka is already in clear on the producer's topic
// when the ledger reads it. The ledger refuses it (422 secrets_over_kafka:
// send it over HTTPS), never copies it to the dead-letter topic, and deletes
// the record from its topic once answered (Kafka DeleteRecords), so no
// consumer reading the topic from its start can find it. Also when the
// record is undecodable, and without failing its neighbours.
TEST(ConfigSecretsE2e, SecretsSentOverKafkaAreRefusedAndDeletedFromTheTopic) {
  ledger::testing::ServiceStack s("config_secrets_kafka_e2e");
  ASSERT_TRUE(s.start()) << s.describe_logs();
  auto principal = ledger::testing::dev_token_principal(kAcmeAdmin);
  ASSERT_TRUE(principal);
  const std::string producer = s.producer_for(*principal);
  ASSERT_FALSE(producer.empty() || producer.front() == '!') << producer;
  const std::string topic = ledger::adapters::identity::producer_topic(s.commands_topic(), producer);

  const Json with_secrets = {{"type", "config.tenant_risk.set"},
                             {"tenant_id", "org-acme"},
                             {"value", {{"notification_config", notification_with_secrets()}}},
                             {"reason", "webhooks over kafka"}};
  Json broken = with_secrets;  // an unknown field: the record cannot be decoded at all
  broken["not_a_field"] = true;
  const Json plain = {{"type", "config.tenant_risk.set"},
                      {"tenant_id", "org-acme"},
                      {"value", {{"region", "eu"}}},
                      {"reason", "no secrets"}};
  ASSERT_TRUE(s.publish_as(producer, "kafka-secret-1", with_secrets));
  ASSERT_TRUE(s.publish_as(producer, "kafka-secret-broken", broken));
  ASSERT_TRUE(s.publish_as(producer, "kafka-plain-1", plain));

  Json refused = s.result_of("kafka-secret-1");
  EXPECT_EQ(refused["status"], "rejected") << refused;
  EXPECT_EQ(refused["code"], "secrets_over_kafka") << refused;
  Json undecodable = s.result_of("kafka-secret-broken");
  EXPECT_EQ(undecodable["status"], "rejected") << undecodable;
  Json accepted = s.result_of("kafka-plain-1");
  ASSERT_EQ(accepted["status"], "accepted") << accepted << s.describe_logs();

  // The producer's topic, every partition read from its start to its end:
  // the plain record is still there, the two holding secrets are gone.
  std::string bytes;
  const bool purged = ledger::testing::eventually(
      90s,
      [&] {
        bytes = whole_topic(topic, 3);
        return bytes.find("kafka-plain-1") != std::string::npos && bytes.find(kMarker) == std::string::npos;
      },
      1s);
  EXPECT_TRUE(purged) << bytes << s.describe_logs();
  EXPECT_EQ(bytes.find("kafka-secret-1"), std::string::npos) << bytes;

  // The dead-letter copy of the undecodable record: why and where from, none of its bytes.
  const std::string dead = topic_bytes(s.dead_letter_topic(), "redacted");
  EXPECT_NE(dead.find("redacted"), std::string::npos) << s.describe_logs();
  EXPECT_EQ(dead.find(kMarker), std::string::npos) << dead;
  EXPECT_EQ(dead.find("kafka-secret-broken"), std::string::npos) << dead;

  // Nothing reached the store; the answers carry no secret either.
  EXPECT_EQ(s.sql("SELECT count(*) FROM ledger.events WHERE payload::text LIKE '%" + kMarker + "%'"), "0");
  EXPECT_EQ(s.sql("SELECT count(*) FROM ledger.events WHERE event_type = 'ConfigLayerSet'"), "1");
  EXPECT_EQ(topic_bytes(s.results_topic(), "kafka-plain-1").find(kMarker), std::string::npos);
}

}  // namespace
