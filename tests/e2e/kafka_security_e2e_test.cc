// Commands over Kafka through the real services and the real broker
// (README "Commands over Kafka"): the producer's authenticated Kafka principal
// is its identity. A command on producer P's topic acts as P's mapped ledger
// principal; a bearer token in a record header is refused, never honoured; a
// producer can write neither another producer's topic nor ledger.events.

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <string>

#include "adapters/identity/kafka_producers.h"
#include "adapters/kafka/kafka.h"
#include "tests/support/e2e_stack.h"
#include "tests/support/e2e_support.h"

namespace {

using namespace std::chrono_literals;
using Json = nlohmann::json;
using Stack = ledger::testing::ServiceStack;

ledger::commands::Principal principal(std::string tenant, std::string type, std::string id,
                                      std::vector<std::string> roles) {
  ledger::commands::Principal p;
  p.tenant = std::move(tenant);
  p.actor = {.type = std::move(type), .id = std::move(id), .roles = std::move(roles)};
  return p;
}

// Produces one record as `who` to `topic`: the flush outcome.
ledger::domain::Result<void> produce_as(const std::string& who, const std::string& topic) {
  auto producer = ledger::adapters::kafka::KafkaProducer::create({.brokers = ledger::testing::kafka_brokers(),
                                                                  .security = ledger::testing::kafka_security_as(who),
                                                                  .message_timeout_ms = 8000});
  if (!producer) return std::unexpected(producer.error());
  if (auto ok = (*producer)->produce(topic, "forged", R"({"command_id":"forged"})"); !ok) return ok;
  return (*producer)->flush(15s);
}

TEST(KafkaSecurityE2e, ProducerPrincipalIsTheIdentityAndTokensAreNotHonoured) {
  Stack s("kafka_security_e2e");
  ASSERT_TRUE(s.start());
  const std::string writer =
      s.producer_for(principal("platform", "service_account", "kafka-writer", {"platform_admin"}));
  const std::string reader = s.producer_for(principal("org-acme", "service_account", "kafka-reader", {"reader"}));
  ASSERT_NE(writer.front(), '!') << writer;
  ASSERT_NE(reader.front(), '!') << reader;

  // 1. A command on the writer's topic acts as the writer's mapped principal.
  const Json define = {{"type", "policy_key.define"},
                       {"key", "kafkasec.limit"},
                       {"value_type", "int"},
                       {"default", 5},
                       {"min", 0},
                       {"max", 9}};
  ASSERT_TRUE(s.publish_as(writer, "kafkasec-define-1", define));
  const Json applied = s.result_of("kafkasec-define-1");
  ASSERT_EQ(applied.value("status", ""), "accepted") << applied.dump() << s.describe_logs();
  EXPECT_EQ(s.sql("SELECT (actor->>'id') || ' ' || (actor->>'type') || ' ' || tenant FROM ledger.events "
                  "WHERE command_id = 'kafkasec-define-1'"),
            "kafka-writer service_account platform");

  // 2. The mapped roles decide, not anything in the record: the reader's
  // producer may not define keys.
  Json other = define;
  other["key"] = "kafkasec.other";
  ASSERT_TRUE(s.publish_as(reader, "kafkasec-define-2", other));
  EXPECT_EQ(s.result_of("kafkasec-define-2").value("code", ""), "forbidden");

  // 3. A token header is refused, even a platform admin's on a reader's topic.
  ASSERT_TRUE(s.publish_as(reader, "kafkasec-define-3", other, {{"authorization", "Bearer dev-platform-admin"}}));
  const Json refused = s.result_of("kafkasec-define-3");
  EXPECT_EQ(refused.value("status", ""), "rejected") << refused.dump();
  EXPECT_EQ(refused.value("code", ""), "kafka_token_header_refused") << refused.dump();
  EXPECT_EQ(s.sql("SELECT count(*) FROM ledger.events WHERE command_id IN ('kafkasec-define-2', 'kafkasec-define-3')"),
            "0");

  // 4. The broker refuses a producer on another producer's topic and on
  // ledger.events (only the relay writes it).
  for (const std::string& topic :
       {ledger::adapters::identity::producer_topic(s.commands_topic(), writer), s.events_topic()}) {
    auto r = produce_as(reader, topic);
    ASSERT_FALSE(r.has_value()) << reader << " wrote " << topic;
    EXPECT_EQ(r.error().code, "kafka_not_authorized") << topic << ": " << r.error().message;
  }
}

}  // namespace
