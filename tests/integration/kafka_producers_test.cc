// The topic -> principal mapping of commands over Kafka
// (adapters/identity/kafka_producers.h). Pure logic, no servers; it lives
// with the integration tests because it is part of the services library.

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "adapters/identity/kafka_producers.h"

namespace {

using ledger::adapters::identity::KafkaProducers;
using ledger::adapters::identity::principal_for_record;
using ledger::adapters::kafka::KafkaMessage;

KafkaMessage record(std::string topic, ledger::adapters::kafka::KafkaHeaders headers = {}) {
  KafkaMessage m;
  m.topic = std::move(topic);
  m.key = "c1";
  m.value = "{}";
  m.headers = std::move(headers);
  return m;
}

KafkaProducers producers() {
  auto p = KafkaProducers::from_json(nlohmann::json::parse(R"({"producers": [
      {"kafka_principal": "billing-feed", "tenant": "org-acme",
       "actor": {"type": "service_account", "id": "acme-billing", "roles": ["service"]}}]})"));
  EXPECT_TRUE(p.has_value());
  return *p;
}

TEST(KafkaProducers, TopicPatternMatchesOnlyProducerTopics) {
  EXPECT_EQ(ledger::adapters::identity::producer_topics_pattern("ledger.commands"),
            R"(^ledger\.commands\.[a-z0-9_-]+$)");
  EXPECT_EQ(ledger::adapters::identity::producer_topic("ledger.commands", "billing-feed"),
            "ledger.commands.billing-feed");
  EXPECT_TRUE(ledger::adapters::identity::valid_producer_name("billing-feed_2"));
  for (const char* bad : {"", "Billing", "a.b", "a b", "a/b", "ledger.commands-dlq"}) {
    EXPECT_FALSE(ledger::adapters::identity::valid_producer_name(bad)) << bad;
  }
}

TEST(KafkaProducers, TheTopicNamesThePrincipal) {
  const KafkaMessage m = record("ledger.commands.billing-feed");
  auto p = principal_for_record(m, "ledger.commands", producers());
  ASSERT_TRUE(p.has_value()) << p.error().code;
  EXPECT_EQ(p->tenant, "org-acme");
  EXPECT_EQ(p->actor.type, "service_account");
  EXPECT_EQ(p->actor.id, "acme-billing");
  EXPECT_EQ(p->actor.roles, std::vector<std::string>{"service"});
}

TEST(KafkaProducers, TokenHeadersUnknownProducersAndForeignTopicsAreRefused) {
  const KafkaMessage with_token = record("ledger.commands.billing-feed", {{"authorization", "Bearer x"}});
  EXPECT_EQ(principal_for_record(with_token, "ledger.commands", producers()).error().code,
            "kafka_token_header_refused");
  const KafkaMessage unknown = record("ledger.commands.someone-else");
  EXPECT_EQ(principal_for_record(unknown, "ledger.commands", producers()).error().code, "kafka_producer_unknown");
  for (const char* topic :
       {"ledger.commands", "ledger.commands-dlq", "ledger.events", "ledger.commandsX.billing-feed"}) {
    const KafkaMessage foreign = record(topic);
    EXPECT_EQ(principal_for_record(foreign, "ledger.commands", producers()).error().code, "kafka_topic_unknown")
        << topic;
  }
}

TEST(KafkaProducers, MalformedFilesAreRefused) {
  for (const char* doc : {R"({})", R"({"producers": [{"kafka_principal": "A B", "tenant": "t",
                             "actor": {"type": "user", "id": "x"}}]})",
                          R"({"producers": [{"kafka_principal": "a", "actor": {"type": "user", "id": "x"}}]})"}) {
    auto p = KafkaProducers::from_json(nlohmann::json::parse(doc));
    ASSERT_FALSE(p.has_value()) << doc;
    EXPECT_EQ(p.error().code, "kafka_producers_malformed");
  }
}

}  // namespace
